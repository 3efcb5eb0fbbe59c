"""A slow move of both arms to a pose, every step through the safety filter.

What reset (to the start pose), the opening ceremony (the powered leaders to the start pose) and the
end of a session (to the sleep pose) share: a straight line from the present pose over
``duration_s``, one command per control period, each clamped to the joint limits and capped per
step relative to the *present* position by ``safety.filter``. The grippers keep their present value.
"""

from __future__ import annotations

import time
from typing import Callable, Sequence

import numpy as np

from robot.safety import SafetyFilter


def glide(read: Callable[[], np.ndarray], send: Callable[[np.ndarray], None], safety: SafetyFilter,
          arm_pose: Sequence[float], duration_s: float, period_s: float,
          holding: np.ndarray | None = None) -> np.ndarray:
    """Move both arms to ``arm_pose`` (6 joints, rad, the same for each arm). ``read()``: the present
    14-D pose (raises on stale data, which stops the move); ``send(command)``: one 14-D command;
    ``holding``: the command in force (default: the present pose). Returns the last command sent."""
    if len(arm_pose) != 6:
        raise ValueError(f"arm pose has {len(arm_pose)} values; expected 6 (waist..wrist_rotate)")
    present = read()
    goal = present.copy()
    goal[0:6] = arm_pose
    goal[7:13] = arm_pose
    holding = present.copy() if holding is None else holding
    steps = max(1, round(duration_s / period_s))
    for i in range(1, steps + 1):
        holding = safety.filter(present + (goal - present) * i / steps, read(), holding)
        send(holding)
        time.sleep(period_s)
    return holding
