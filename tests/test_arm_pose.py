"""Arm-pose maps from the sim's own kinematics: forward kinematics agrees with MuJoCo's, the
lines land where the rendered arms are, and a world model reads them end to end."""

from dataclasses import replace

import numpy as np
import pytest
import torch

from app.arm_kinematics import with_kinematics  # imports robot first: it picks MuJoCo's offscreen GL
from learning.checkpoints import save_checkpoint
from learning.world_model.arm_pose import ArmKinematics, ArmPoseMaps
from learning.world_model.config import profile
from learning.world_model.training import WORLD_MODEL_KIND, load_world_model
from learning.world_model.world_model import WorldModel
from robot.features import start_pose
from robot.sim.aloha_sim import SimGripper, arm_actuators
from robot.sim.kinematics import ARMS, LINKS, arm_kinematics
from robot.sim.scene import SceneConfig, build_model
from robot.sim.tasks import get_task

import mujoco  # noqa: E402  (after robot, which sets MUJOCO_GL)

SIZE = (96, 128)


@pytest.fixture(scope="module")
def sim():
    model = build_model(get_task("transfer_cube"), SceneConfig())
    return model, mujoco.MjData(model)


@pytest.fixture(scope="module")
def maps():
    return ArmPoseMaps(ArmKinematics.from_json(arm_kinematics("cam_high")), SIZE)


def random_poses(n, seed=0):
    rng = np.random.default_rng(seed)
    poses = np.asarray(start_pose(gripper=0.5)) + rng.uniform(-0.5, 0.5, (n, 14))
    poses[:, [6, 13]] = rng.uniform(0, 1, (n, 2))
    return poses


def test_forward_kinematics_agrees_with_mujoco(sim, maps):
    model, data = sim
    names = [f"vx300s_{arm}" + (f"/{link}" if link else "") for arm in ARMS for link in ["", *LINKS]]
    for pose in random_poses(4):
        data.qpos[:16] = arm_actuators(pose, SimGripper())
        mujoco.mj_kinematics(model, data)
        positions, _ = maps.link_frames(torch.tensor(pose[None], dtype=torch.float32))
        expected = np.stack([data.xpos[model.body(n).id] for n in names])
        np.testing.assert_allclose(positions[0].numpy(), expected, atol=1e-5)


def test_lines_land_on_the_rendered_arms(sim, maps):
    model, data = sim
    renderer = mujoco.Renderer(model, *SIZE)
    pictures, drawn = [], []
    for pose in random_poses(2, seed=3):
        data.qpos[:16] = arm_actuators(pose, SimGripper())
        mujoco.mj_forward(model, data)
        renderer.update_scene(data, camera="top")
        pictures.append(renderer.render().astype(int))
        drawn.append(maps(torch.tensor(pose[None], dtype=torch.float32))[0, :2].amax(0).numpy() > 0.5)
    renderer.close()
    changed = np.abs(pictures[0] - pictures[1]).sum(-1) > 30  # where either pose has an arm and the other not
    for lines in drawn:
        on_arm = (lines & changed).sum() / lines.sum()
        assert lines.sum() > 50 and on_arm > 0.5, f"{on_arm:.0%} of the drawn lines are on the moved arms"


def test_world_model_with_pose_maps_trains_saves_and_predicts(tmp_path):
    config = with_kinematics(replace(profile("tiny"), pose_maps=True))
    with pytest.raises(ValueError, match="needs the robot's kinematics"):
        WorldModel(replace(config, kinematics=None))
    model = WorldModel(config)
    c, w, (h, wd) = config.context_frames, config.action_window, config.image_size
    batch = {"frames": torch.randint(0, 256, (2, c + 1, h, wd, 3), dtype=torch.uint8),
             "first": torch.randint(0, 256, (2, h, wd, 3), dtype=torch.uint8),
             "actions": torch.tensor(random_poses(2 * w), dtype=torch.float32).view(2, w, 14)}
    loss, _ = model.loss(batch)
    loss.backward()
    assert torch.isfinite(loss) and model.net.conv_out.weight.grad.abs().sum() > 0
    pixels, _ = model._conditioning(batch["frames"][:, :c], batch["first"], batch["actions"])
    maps = pixels[:, 3 * (c + 1):]  # after the context and the anchor: 4 channels at 2 instants
    assert maps.shape[1] == 8 and maps.amax() > 0.4 and not torch.equal(maps[0], maps[1])
    save_checkpoint(tmp_path / "wm", model, {"kind": WORLD_MODEL_KIND, "world_model": config.to_json()})
    restored = load_world_model(tmp_path / "wm")
    assert restored.config == config  # the kinematics travel in the checkpoint's JSON
    frame = restored.predict(batch["frames"][:, :c], batch["first"], batch["actions"])
    assert frame.shape == (2, h, wd, 3) and frame.dtype == torch.uint8


def test_malformed_kinematics_are_refused():
    good = arm_kinematics()
    with pytest.raises(ValueError, match="positions has 3 numbers"):
        ArmKinematics.from_json({**good, "positions": [0.0, 0.0, 0.0]})
    with pytest.raises(ValueError, match="segments"):
        ArmKinematics.from_json({**good, "segments": [0, 1, 9]})
