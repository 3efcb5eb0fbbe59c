"""Scripted experts succeed in the joint-controlled sim (the 50-seed rate: benchmarks/sim.py)."""

import numpy as np
import pytest

from robot.experts.inverse_kinematics import ArmIK
from robot.experts.scripted import ScriptedExpert, plan_joint_trajectory
from robot.rollout import run_rollout
from robot.sim.aloha_sim import AlohaSim, SimConfig
from robot.sim.scene import SceneConfig, build_model, sample_object_poses
from robot.sim.tasks import get_task


def test_inverse_kinematics_reaches_a_fingertip_pose():
    model = build_model(get_task("transfer_cube"), SceneConfig(), max_render_size=(8, 8))
    arm = ArmIK(model, "right")
    qpos = np.zeros(model.nq)
    qpos[8:14] = [0, -0.96, 1.16, 0, -0.3, 0]
    xyz, quat = arm.fingertip_pose(qpos)
    joints, error = arm.solve(qpos, xyz + [-0.05, 0.03, -0.08], quat)
    assert error < 1e-3
    qpos[arm.qpos_index] = joints
    reached, _ = arm.fingertip_pose(qpos)
    np.testing.assert_allclose(reached, xyz + [-0.05, 0.03, -0.08], atol=1e-3)


@pytest.mark.parametrize("task, seeds", [("transfer_cube", (1, 2)), ("insertion", (3, 4))])
def test_expert_succeeds_in_the_sim(task, seeds):
    with AlohaSim(SimConfig(task=task, cameras={})) as sim:
        for seed in seeds:
            result = run_rollout(sim, ScriptedExpert(task), initial_state=seed)
            assert result.success, f"{task} seed {seed} ended with {result.end}"
            assert sum(result.safety.values()) == 0


def test_wrist_rolls_stay_on_one_branch_wherever_the_cube_is():
    """Off-centre objects must not make the IK roll the forearm by +-pi/2 (see ArmIK.facing):
    demonstrations of one image would then differ by pi in two joints."""
    task = get_task("transfer_cube")
    for seed in (0, 1, 5):  # cubes left and right of the arms' line
        trajectory, stage = plan_joint_trajectory("transfer_cube", sample_object_poses(task, SceneConfig(), seed))
        assert stage == task.final_stage
        forearm_rolls = trajectory[:, [3, 10]]
        assert np.abs(forearm_rolls).max() < 0.3, f"seed {seed}: forearm roll reached {np.abs(forearm_rolls).max():.2f}"


def test_planned_trajectory_is_deterministic_and_within_limits():
    poses = sample_object_poses(get_task("insertion"), SceneConfig(), 5)
    first, stage = plan_joint_trajectory("insertion", poses)
    second, _ = plan_joint_trajectory("insertion", poses)
    np.testing.assert_array_equal(first, second)
    assert stage == 4 and first.shape == (400, 14)
    assert (first[:, [6, 13]] >= 0).all() and (first[:, [6, 13]] <= 1).all()


def test_expert_needs_the_object_poses():
    with AlohaSim(SimConfig(cameras={})) as sim:
        observation = sim.reset(0)
    observation.env_state = None
    with pytest.raises(ValueError, match="object poses"):
        ScriptedExpert("transfer_cube")(observation)
