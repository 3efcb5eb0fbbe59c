"""What an ALOHA robot looks like before it is connected: vectors, cameras, control period.

Action and qpos are 14-D: [left waist, shoulder, elbow, forearm_roll, wrist_angle,
wrist_rotate, gripper, right ... gripper]; joints in radians, grippers normalised
(0 closed .. 1 open). The same layout serves the sim and the real Mobile ALOHA.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

ARM_JOINTS = ("waist", "shoulder", "elbow", "forearm_roll", "wrist_angle", "wrist_rotate")
JOINT_NAMES = tuple(f"{side}_{joint}" for side in ("left", "right") for joint in (*ARM_JOINTS, "gripper"))
GRIPPER_INDICES = (6, 13)
ARM_INDICES = tuple(i for i in range(14) if i not in GRIPPER_INDICES)
CONTROL_PERIOD_S = 0.02  # 50 Hz
START_ARM_POSE = (0.0, -0.96, 1.16, 0.0, -0.3, 0.0)  # per arm, radians


@dataclass(frozen=True)
class RobotFeatures:
    """Known before connecting; a checkpoint or a store spec is checked against these."""

    cameras: dict[str, tuple[int, int, int]]  # name -> (height, width, channels)
    joint_names: tuple[str, ...] = JOINT_NAMES
    control_period_s: float = CONTROL_PERIOD_S
    realtime: bool = False  # True: the world moves on its own; the loop must keep the period
    camera_fps: dict[str, int] = field(default_factory=dict)  # name -> nominal frame rate; empty where none

    @property
    def action_dim(self) -> int:
        return len(self.joint_names)

    @property
    def qpos_dim(self) -> int:
        return len(self.joint_names)


def start_pose(gripper: float = 0.0) -> np.ndarray:
    """The 14-D start pose of both arms, grippers at ``gripper`` (normalised)."""
    arm = list(START_ARM_POSE)
    return np.array([*arm, gripper, *arm, gripper], dtype=np.float64)
