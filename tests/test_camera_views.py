"""Camera views: the sim renders a view as the exact crop of its camera, pose maps project into
it, and a stored sim episode gets a view it was not recorded with by replaying it."""

import numpy as np
import pytest
import torch

from robot.camera_views import VIEWS, CameraView  # robot first: it picks MuJoCo's offscreen GL
from learning.world_model.arm_pose import ArmKinematics, ArmPoseMaps
from robot.features import start_pose
from robot.robot import RobotError
from robot.rollout import RolloutConfig, record_rollout
from robot.sim.aloha_sim import AlohaSim, SimConfig
from robot.sim.kinematics import arm_kinematics
from robot.sim.replay import ReplayDivergedError, add_view, replay_frames
from storage import EpisodeInfo, StoreError
from tests.episode_data import write_episode

VIEW = VIEWS["cam_high_task"]


class Wobble:
    """A chunked policy that moves both arms a little around the start pose, so frames change."""

    def __init__(self):
        self.calls = 0

    def reset(self):
        self.calls = 0

    def __call__(self, observation, instruction):
        self.calls += 1
        chunk = np.tile(np.asarray(start_pose(gripper=0.5)), (4, 1))
        chunk[:, [0, 7]] += 0.02 * self.calls
        return chunk


def test_the_sim_renders_a_view_as_the_crop_of_its_camera():
    size = (48, 64)
    with AlohaSim(SimConfig(cameras={"cam_high": VIEW.source_size(size), "cam_high_task": size})) as sim:
        frames = sim.reset(3).frames
    top, left = round(VIEW.top * 96), round(VIEW.left * 128)
    np.testing.assert_array_equal(frames["cam_high_task"], frames["cam_high"][top:top + 48, left:left + 64])
    red = [((f[..., 0] > 150) & (f[..., 1] < 80)).sum() for f in (frames["cam_high_task"], frames["cam_high"])]
    assert red[0] == red[1] > 0  # the cube lies inside the box


def test_a_view_of_a_larger_picture_is_cut_and_resized():
    frame = np.zeros((480, 640, 3), np.uint8)
    frame[180:420, 160:480] = 200  # exactly the view's box
    view = VIEW.crop(frame, (96, 128))
    assert view.shape == (96, 128, 3) and (view == 200).all()
    with pytest.raises(ValueError, match="inside it"):
        CameraView("cam_high", top=0.6, height=0.5)
    with pytest.raises(ValueError, match="do not exist in the sim"):
        SimConfig(cameras={"cam_nowhere": (48, 64)})


def test_pose_maps_project_into_a_view_as_into_its_crop():
    full = ArmPoseMaps(ArmKinematics.from_json(arm_kinematics("cam_high")), (192, 256))
    view = ArmPoseMaps(ArmKinematics.from_json(arm_kinematics("cam_high_task")), (96, 128))
    points = full.points(torch.tensor(np.asarray(start_pose(gripper=0.5))[None], dtype=torch.float32))
    shift = torch.tensor([VIEW.top * 192, VIEW.left * 256])
    torch.testing.assert_close(view.project(points), full.project(points) - shift)
    # a checkpoint written before views existed loads as the whole picture
    old = {k: v for k, v in arm_kinematics("cam_high").items() if k != "image_crop"}
    assert ArmKinematics.from_json(old).image_crop == (0.0, 0.0, 1.0, 1.0)


def test_a_stored_sim_episode_gets_a_view_by_replay(store):
    size = (24, 32)
    with AlohaSim(SimConfig(cameras={"cam_high": VIEW.source_size(size)})) as sim:
        result = record_rollout(store, sim, Wobble(), EpisodeInfo(task="transfer_cube", source="eval", seed=5),
                                initial_state=5, config=RolloutConfig(horizon=12))
    episode_id = result.episode_id
    recorded = store.load_frames(episode_id, "cam_high")
    assert add_view(store, [episode_id], "cam_high_task", size) == (1, [])
    view = store.load_frames(episode_id, "cam_high_task")
    top, left = round(VIEW.top * 48), round(VIEW.left * 64)
    np.testing.assert_array_equal(view, recorded[:, top:top + 24, left:left + 32])  # the replay is the episode
    assert add_view(store, [episode_id], "cam_high_task", size) == (0, [])  # resumed: nothing twice

    steps = store.load_steps(episode_id)
    wrong = steps.qpos.copy()
    wrong[6:] += 0.1
    with pytest.raises(RobotError, match="left the recorded episode at step 6"):
        replay_frames("transfer_cube", 5, steps.actions, wrong, {"cam_high": size})
    with pytest.raises(RobotError, match="success=False, the recorded episode with success=True"):
        replay_frames("transfer_cube", 5, steps.actions, steps.qpos, {"cam_high": size}, success=True)


def test_adding_a_camera_to_an_episode_is_checked_and_whole(store):
    episode_id = write_episode(store, seed=1, length=10)
    with pytest.raises(StoreError, match=r"expected \(10, H, W, C\) uint8"):
        store.add_camera(episode_id, "cam_extra", np.zeros((9, 8, 8, 3), np.uint8))
    with pytest.raises(StoreError, match="already has camera 'cam_high'"):
        store.add_camera(episode_id, "cam_high", np.zeros((10, 8, 8, 3), np.uint8))
    assert "cam_extra" not in store.cameras(episode_id)
    frames = np.random.default_rng(0).integers(0, 256, (10, 8, 8, 3), dtype=np.uint8)
    store.add_camera(episode_id, "cam_extra", frames)
    np.testing.assert_array_equal(store.load_frames(episode_id, "cam_extra"), frames)
    made_up = write_episode(store, seed=7, length=4)  # joints no replay of seed 7 reaches
    assert add_view(store, [made_up], "cam_high_task", (24, 32)) == (0, [made_up])
    assert "cam_high_task" not in store.cameras(made_up)
    with pytest.raises(RobotError, match="not a seeded sim episode"):
        add_view(store, [write_episode(store, seed=None, length=4)], "cam_high_task", (24, 32))
