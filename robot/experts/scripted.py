"""ScriptedExpert: a chunked policy that demonstrates a sim task.

The plan lives in fingertip space (robot.experts.plans). To turn it into joint targets,
the expert runs the whole episode once in a private copy of the joint-controlled sim:
each step, inverse kinematics converts the planned fingertip poses to joint targets,
which pass the same safety filter and drive the same physics as the real episode, and
the plan is remade from the objects' true poses at its replan step. Replaying those
targets from the same start in the episode's sim reproduces that run step for step.
(ACT drives a mocap-welded copy of the arms instead; in MuJoCo 3 that weld is too soft
to hold the vx300s to its target -- centimetres off -- so grasps miss.)
"""

from __future__ import annotations

import mujoco
import numpy as np

from robot.experts.inverse_kinematics import ArmIK
from robot.experts.plans import PLANS, pose_at
from robot.robot import Observation
from robot.safety import SafetyFilter, SafetyLimits
from robot.sim.aloha_sim import (
    SimGripper,
    arm_qpos14,
    contacts,
    physics_steps_per_control,
    reset_scene,
    step_scene,
)
from robot.sim.scene import SceneConfig, build_model
from robot.sim.tasks import get_task

_models: dict[tuple[str, str], mujoco.MjModel] = {}


def _joint_model(task_name: str, scene: SceneConfig) -> mujoco.MjModel:
    key = (task_name, repr(scene))  # compiling takes ~0.1 s: once per process and scene
    if key not in _models:
        _models[key] = build_model(get_task(task_name), scene, max_render_size=(8, 8))
    return _models[key]


def plan_joint_trajectory(task_name: str, object_poses: np.ndarray, scene: SceneConfig = SceneConfig(),
                          gripper: SimGripper = SimGripper(), limits: SafetyLimits = SafetyLimits(),
                          horizon: int | None = None, control_period_s: float = 0.02) -> tuple[np.ndarray, int]:
    """Joint targets (horizon, 14) carrying out the task, and the best stage they reached.

    ``scene``, ``gripper``, ``limits`` and ``control_period_s`` must be the episode sim's, so
    that replaying the targets reproduces the planned run."""
    task = get_task(task_name)
    horizon = horizon or task.horizon
    model = _joint_model(task_name, scene)
    data = mujoco.MjData(model)
    substeps = physics_steps_per_control(model, control_period_s)
    reset_scene(model, data, np.asarray(object_poses, dtype=np.float64), gripper)
    arms = {"left": ArmIK(model, "left"), "right": ArmIK(model, "right")}
    tips = [arms[side].fingertip_pose(data.qpos) for side in ("left", "right")]
    plan = PLANS[task_name](tips[0], tips[1], data.qpos[16:].copy())
    safety = SafetyFilter(limits)
    geom_names = [model.geom(i).name for i in range(model.ngeom)]
    ik_seed = data.qpos.copy()  # IK starts from its own last solution, not the lagging arm
    present = arm_qpos14(data.qpos, gripper)
    holding = present.copy()
    trajectory = np.zeros((horizon, 14))
    best_stage = 0
    for t in range(horizon):
        if t == plan.replan_step:
            tips = [arms[side].fingertip_pose(data.qpos) for side in ("left", "right")]
            plan.replan(tips, data.qpos[16:].copy())
        target = np.zeros(14)
        for side, waypoints, joints in (("left", plan.left, slice(0, 6)), ("right", plan.right, slice(7, 13))):
            xyz, quat, grip = pose_at(waypoints, t)
            solution, _ = arms[side].solve(ik_seed, xyz, arms[side].facing(xyz, quat))
            ik_seed[arms[side].qpos_index] = solution
            target[joints] = solution
            target[joints.stop] = grip
        command = safety.filter(target, present, holding)
        trajectory[t] = holding = command
        step_scene(model, data, command, gripper, substeps)
        present = arm_qpos14(data.qpos, gripper)
        best_stage = max(best_stage, task.stage(contacts(data, geom_names)))
    return trajectory, best_stage


class ScriptedExpert:
    """Chunked policy: K joint targets per call from a trajectory planned on the first call."""

    def __init__(self, task: str, scene: SceneConfig = SceneConfig(), chunk_size: int = 8,
                 gripper: SimGripper = SimGripper(), limits: SafetyLimits = SafetyLimits()):
        self.task, self.scene, self.chunk_size = task, scene, chunk_size
        self.gripper, self.limits = gripper, limits
        self.planned_stage = 0
        self.reset()

    def reset(self) -> None:
        self._trajectory: np.ndarray | None = None
        self._t = 0

    def __call__(self, observation: Observation, instruction: str = "") -> np.ndarray:
        if self._trajectory is None:
            if observation.env_state is None:
                raise ValueError("the scripted expert needs the sim's object poses (observation.env_state)")
            self._trajectory, self.planned_stage = plan_joint_trajectory(
                self.task, observation.env_state, self.scene, self.gripper, self.limits)
        end = self._t + self.chunk_size
        idx = np.minimum(np.arange(self._t, end), len(self._trajectory) - 1)
        self._t = end
        return self._trajectory[idx].copy()
