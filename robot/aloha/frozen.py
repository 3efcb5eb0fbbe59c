"""Frozen joint states: a driver that keeps publishing the last positions it read.

xs_sdk re-publishes the last joint states when a bus read fails (an E-stop, a USB fault), with
fresh stamps, so arrival time alone cannot tell. An arm is judged frozen when, for ``cycles``
observations in a row, it was commanded away from where it reads (by more than ``move_rad`` on
some arm joint) and yet no arm joint's reading changed by more than ``noise_rad`` (under one
encoder tick). A blocked arm (pushing on the table) looks the same, and is as much a fault.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class FreezeRule:
    cycles: int = 10  # new joint-state messages in a row (the backend feeds only new ones: a control loop
    # faster than the driver is no evidence of a freeze)
    noise_rad: float = 1e-4  # readings within this count as identical
    move_rad: float = 0.05  # commanded this far from the reading counts as "commanded to move"

    def __post_init__(self):
        if self.cycles < 2 or not (self.noise_rad >= 0 and self.move_rad > self.noise_rad):
            raise ValueError(f"freeze rule {self}; expected cycles >= 2 and move_rad > noise_rad >= 0")


class FreezeDetector:
    """Fed one arm's 6 arm joints per observation: the reading and the command in force."""

    def __init__(self, rule: FreezeRule):
        self.rule = rule
        self._readings: deque = deque(maxlen=rule.cycles)
        self._moving: deque = deque(maxlen=rule.cycles)

    def update(self, reading: np.ndarray, command: np.ndarray | None) -> str | None:
        """A description of the freeze once the rule holds, else None."""
        reading = np.asarray(reading, dtype=np.float64)
        gap = 0.0 if command is None else float(np.abs(np.asarray(command) - reading).max())
        self._readings.append(reading)
        self._moving.append(gap > self.rule.move_rad)
        if len(self._readings) < self.rule.cycles or not all(self._moving):
            return None
        spread = float(np.ptp(np.stack(self._readings), axis=0).max())
        if spread > self.rule.noise_rad:
            return None
        return (f"joint states unchanged (spread {spread:.1e} rad) for {self.rule.cycles} cycles while commanded "
                f"{gap:.3f} rad away")

    def clear(self) -> None:
        self._readings.clear()
        self._moving.clear()
