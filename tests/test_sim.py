"""The MuJoCo ALOHA sim: features, reproducible resets, cameras, scene variations."""

import numpy as np
import pytest

from robot.robot import RobotError
from robot.sim.aloha_sim import AlohaSim, SimConfig
from robot.sim.scene import SceneConfig
from robot.sim.tasks import ObjectRange


def test_features_known_before_connecting():
    sim = AlohaSim(SimConfig(task="insertion", cameras={"cam_high": (48, 64), "cam_left_wrist": (24, 32)}))
    assert sim.features.cameras == {"cam_high": (48, 64, 3), "cam_left_wrist": (24, 32, 3)}
    assert sim.features.action_dim == 14 and sim.features.joint_names[6] == "left_gripper"
    assert sim.features.control_period_s == 0.02
    assert not sim.is_connected
    with pytest.raises(RobotError, match="not connected"):
        sim.reset(0)


def test_same_seed_same_scene_and_first_frame():
    with AlohaSim(SimConfig(cameras={"cam_high": (48, 64)})) as sim:
        first = sim.reset(7)
        sim.send_action(first.qpos + 0.05)
        sim.observe()
        again = sim.reset(7)
        other = sim.reset(8)
    np.testing.assert_array_equal(first.env_state, again.env_state)
    np.testing.assert_array_equal(first.frames["cam_high"], again.frames["cam_high"])
    np.testing.assert_array_equal(first.qpos, again.qpos)
    assert not np.array_equal(first.env_state, other.env_state)
    assert not np.array_equal(first.frames["cam_high"], other.frames["cam_high"])


def test_only_requested_cameras_at_requested_sizes():
    config = SimConfig(cameras={"cam_high": (40, 56), "cam_right_wrist": (20, 28)})
    with AlohaSim(config) as sim:
        frames = sim.reset(0).frames
    assert {name: f.shape for name, f in frames.items()} == {"cam_high": (40, 56, 3), "cam_right_wrist": (20, 28, 3)}
    assert all(f.dtype == np.uint8 and f.std() > 5 for f in frames.values())
    with AlohaSim(SimConfig(cameras={})) as blind:
        assert blind.reset(0).frames == {}
    with pytest.raises(ValueError, match="do not exist in the sim"):
        SimConfig(cameras={"cam_nose": (8, 8)})


def test_explicit_object_poses_and_bad_ones():
    with AlohaSim(SimConfig(cameras={})) as sim:
        pose = np.array([0.05, 0.5, 0.02, 1, 0, 0, 0])
        np.testing.assert_allclose(sim.reset(pose).env_state[:7], pose, atol=1e-9)
        with pytest.raises(ValueError, match=r"expected \(7,\) finite"):
            sim.reset(np.array([0.05, 0.5, np.nan, 1, 0, 0, 0]))


def test_scene_variations_are_configuration():
    base = SimConfig(cameras={"cam_high": (48, 64)})
    varied = SimConfig(cameras={"cam_high": (48, 64)}, scene=SceneConfig(
        table_texture="checker", table_rgb=(0.9, 0.9, 0.9), background_rgb=(0.2, 0.4, 0.8),
        object_rgba={"red_box": (0.0, 1.0, 0.0, 1.0)},
        object_ranges={"box": ObjectRange(x=(0.15, 0.15), y=(0.45, 0.45), z=0.02)}))
    with AlohaSim(base) as sim:
        plain = sim.reset(3)
    with AlohaSim(varied) as sim:
        changed = sim.reset(3)
    assert np.abs(plain.frames["cam_high"].astype(int) - changed.frames["cam_high"]).mean() > 10
    np.testing.assert_allclose(changed.env_state[:3], [0.15, 0.45, 0.02])
    green = changed.frames["cam_high"].reshape(-1, 3).astype(int)
    assert ((green[:, 1] > 150) & (green[:, 0] < 80)).any()  # the cube is green now
    with pytest.raises(ValueError, match="table_texture"):
        SceneConfig(table_texture="marble")
    with pytest.raises(ValueError, match="task transfer_cube has geoms"):
        with AlohaSim(SimConfig(scene=SceneConfig(object_rgba={"red_peg": (1, 1, 1, 1)}))) as sim:
            pass


def test_a_saved_state_continues_exactly_as_the_first_time():
    with AlohaSim(SimConfig(cameras={"cam_high": (48, 64)})) as sim:
        target = sim.reset(3).qpos.copy()
        for _ in range(5):
            sim.send_action(target + 0.02)
            sim.observe()
        state = sim.save_state()

        def continue_for(steps):
            for _ in range(steps):
                sim.send_action(target - 0.03)
                observation = sim.observe()
            return observation

        first = continue_for(10)
        restored = sim.restore_state(state)
        assert np.abs(restored.qpos - first.qpos).max() > 0.01  # back before the continuation
        again = continue_for(10)
        sim.reset(4)
        with pytest.raises(TypeError, match="what save_state returned"):
            sim.restore_state("not a state")
    np.testing.assert_array_equal(first.qpos, again.qpos)
    np.testing.assert_array_equal(first.env_state, again.env_state)
    np.testing.assert_array_equal(first.frames["cam_high"], again.frames["cam_high"])


def test_joint_position_control_reaches_target():
    with AlohaSim(SimConfig(cameras={})) as sim:
        target = sim.reset(0).qpos.copy()
        target[0] += 0.05  # left waist
        target[13] = 1.0  # right gripper open
        for _ in range(50):
            sim.send_action(target)
            observation = sim.observe()
    assert observation.qpos[0] == pytest.approx(target[0], abs=0.01)
    assert observation.qpos[13] > 0.9
