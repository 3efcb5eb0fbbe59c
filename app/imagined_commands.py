"""The commands imagination is driven by: the policy's actions as the robot would execute them."""

from __future__ import annotations

import numpy as np
import torch

from learning.world_model.imagination import CommandFilter
from robot.features import start_pose
from robot.safety import SafetyFilter, SafetyLimits


def safety_command_filter(limits: SafetyLimits = SafetyLimits()) -> CommandFilter:
    """Imagination's commands as a robot would execute them: each action of a chunk through the
    robot's safety filter (joint limits, the per-step cap), the previous command standing in for
    the measured joints, which imagination does not have; the start pose before the first one.
    The world model learned from filtered commands -- a sim episode of the base policy has
    ~450 interventions -- and the raw actions would ask it for motions it never saw."""
    start = start_pose()

    def apply(actions: torch.Tensor, previous: torch.Tensor | None) -> torch.Tensor:
        safety = SafetyFilter(limits)
        raw = actions.double().cpu().numpy()
        sent = np.empty_like(raw)
        for b in range(len(raw)):
            present = start if previous is None else previous[b].double().cpu().numpy()
            for k in range(raw.shape[1]):
                present = safety.filter(raw[b, k], present, present)
                sent[b, k] = present
        return torch.from_numpy(sent).to(actions.device, actions.dtype)

    return apply
