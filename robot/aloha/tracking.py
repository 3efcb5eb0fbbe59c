"""Tracking error: an arm joint that stays far from where it is commanded (blocked by the table).

The safety filter caps each command at ``max_step`` from the *present* position, so a blocked arm is
sent "present + max_step" for ever and pushes at full current. A joint is judged stuck when its
reading is further than ``limit_rad`` from the command in force for ``cycles`` new joint-state
messages in a row. In free motion the lag behind a command is the part of one capped step the arm
could not cover in one control period (at pi rad/s, ~0.063 of a 0.087 rad step in 20 ms), so the
limit sits between that lag and the step cap: the site sets it as a fraction of the cap
(``bounds.tracking_error_of_step``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from robot.features import ARM_JOINTS


@dataclass(frozen=True)
class TrackingRule:
    limit_rad: float = 0.06
    cycles: int = 25  # 0.5 s at 50 Hz

    def __post_init__(self):
        if not (self.limit_rad > 0 and self.cycles >= 1):
            raise ValueError(f"tracking rule {self}; expected limit_rad > 0 and cycles >= 1")


class TrackingMonitor:
    """Fed one arm's 6 arm joints per new joint-state message: the reading and the command in force."""

    def __init__(self, rule: TrackingRule):
        self.rule = rule
        self._over = np.zeros(len(ARM_JOINTS), dtype=int)  # per joint, messages in a row beyond the limit

    def update(self, reading: np.ndarray, command: np.ndarray | None) -> str | None:
        """A one-line description naming the joint, its error and the limit once the rule holds, else None."""
        if command is None:  # nothing commanded yet: no evidence
            self.clear()
            return None
        error = np.abs(np.asarray(command, dtype=np.float64) - np.asarray(reading, dtype=np.float64))
        self._over = np.where(error > self.rule.limit_rad, self._over + 1, 0)
        joint = int(self._over.argmax())
        if self._over[joint] < self.rule.cycles:
            return None
        return (f"{ARM_JOINTS[joint]} {error[joint]:.3f} rad from its command for {self.rule.cycles} cycles "
                f"(limit {self.rule.limit_rad:.3f} rad)")

    def clear(self) -> None:
        self._over[:] = 0
