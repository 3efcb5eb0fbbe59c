"""The sim arm's kinematics in a world-model config: learning draws arm-pose maps from them
but knows no robot, so the app, which knows both, fills them in before training starts."""

from __future__ import annotations

from dataclasses import replace

from learning.world_model.kinematics import ArmKinematics
from learning.world_model.config import WorldModelConfig
from robot.sim.kinematics import arm_kinematics


def with_kinematics(config: WorldModelConfig) -> WorldModelConfig:
    """A config with arm-pose maps gets the robot's arm kinematics and its camera's pose."""
    if not config.pose_maps or config.kinematics is not None:
        return config
    return replace(config, kinematics=ArmKinematics.from_json(arm_kinematics(config.camera)))
