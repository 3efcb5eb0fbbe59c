"""The safety filter every command to an arm passes through, sim or real.

It clamps to per-joint limits and the gripper range, caps each arm joint's change per
step relative to the *present* position (and keeps to the limits even from a present
position past them), refuses NaN/inf -- in the command or the measured position -- by
holding position, and holds
position for the watchdog and the operator stop (by re-sending the last command). It never turns torque off: an arm without
torque falls. A mobile base's velocity command is clamped to the base caps (``filter_base``).
Every intervention is counted by kind; the counts are stored with the episode.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from robot.features import ARM_INDICES, GRIPPER_INDICES

# vx300s joint limits (URDF; the same as the sim actuators' ctrlrange), radians.
VX300S_LOWER = (-3.14158, -1.85005, -1.76278, -3.14158, -1.8675, -3.14158)
VX300S_UPPER = (3.14158, 1.25664, 1.6057, 3.14158, 2.23402, 3.14158)

INTERVENTIONS = ("non_finite", "joint_limit", "gripper_range", "step_cap", "watchdog", "operator_stop",
                 "sensor_non_finite", "arm_fault",  # arm_fault: the arm's own status reported e-stop, collision...
                 "base_cap",  # a base velocity beyond the site's caps was clamped
                 "frozen_state",  # joint states stopped changing while the arm was commanded to move
                 "tracking_error")  # a joint stayed too far from its command for too long (a blocked arm)


def _both_arms(arm: tuple[float, ...], gripper: float) -> tuple[float, ...]:
    return (*arm, gripper, *arm, gripper)


@dataclass(frozen=True)
class SafetyLimits:
    lower: tuple[float, ...] = _both_arms(VX300S_LOWER, 0.0)
    upper: tuple[float, ...] = _both_arms(VX300S_UPPER, 1.0)
    # lerobot's ALOHA default: 5 degrees per step. Grippers are exempt: a gripper closed on
    # an object sits far from its target, and that gap is what holds the object.
    max_step_rad: float = math.radians(5.0)
    # Also cap each arm joint's change relative to the LAST COMMAND (0: off, the default). The cap
    # relative to the present position alone lets consecutive commands differ by far more than
    # the cap while a joint moves, and with the sensing delay it can drive an oscillation (seen on
    # the sim's wrist at 25 Hz); AgileX's own inference caps relative to the last command.
    max_command_step_rad: float = 0.0
    # Mobile base velocity caps (m/s, rad/s), applied to every base command.
    max_base_linear_mps: float = 0.3
    max_base_angular_rps: float = 0.5

    def __post_init__(self):
        if len(self.lower) != 14 or len(self.upper) != 14:
            raise ValueError(f"limits need 14 values each, got {len(self.lower)} and {len(self.upper)}")
        bad = [i for i in range(14) if not self.lower[i] < self.upper[i]]
        if bad:
            raise ValueError(f"lower limit not below upper limit at joints {bad}")
        if not self.max_step_rad > 0:
            raise ValueError(f"max_step_rad {self.max_step_rad}; expected > 0")
        if not self.max_command_step_rad >= 0:
            raise ValueError(f"max_command_step_rad {self.max_command_step_rad}; expected >= 0 (0: off)")
        if not (self.max_base_linear_mps > 0 and self.max_base_angular_rps > 0):
            raise ValueError(f"base caps {self.max_base_linear_mps} m/s, {self.max_base_angular_rps} rad/s; "
                             f"expected > 0")


@dataclass
class SafetyFilter:
    limits: SafetyLimits = field(default_factory=SafetyLimits)
    counts: Counter = field(default_factory=Counter)

    def __post_init__(self):
        self._lower = np.asarray(self.limits.lower)
        self._upper = np.asarray(self.limits.upper)
        self._arm = np.asarray(ARM_INDICES)
        self._grippers = np.asarray(GRIPPER_INDICES)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def reset_counts(self) -> None:
        self.counts.clear()

    def filter(self, action, present: np.ndarray, holding: np.ndarray) -> np.ndarray:
        """The command to send for ``action``, given the present joint positions and the
        command that holds the arms where they are (the last one sent)."""
        target = np.asarray(action, dtype=np.float64)
        if target.shape != (14,):
            raise ValueError(f"action has shape {target.shape}, expected (14,)")
        if not np.isfinite(target).all():
            return self.hold(holding, "non_finite")
        present = np.asarray(present, dtype=np.float64)
        if present.shape != (14,):
            raise ValueError(f"present position has shape {present.shape}, expected (14,)")
        if not np.isfinite(present[self._arm]).all():  # a dead joint sensor: no position to step from
            return self.hold(holding, "sensor_non_finite")
        safe = target.copy()
        arm, grip = self._arm, self._grippers
        safe[arm] = np.clip(safe[arm], self._lower[arm], self._upper[arm])
        past_limit = (safe[arm] != target[arm]).any()
        safe[grip] = np.clip(safe[grip], self._lower[grip], self._upper[grip])
        if (safe[grip] != target[grip]).any():
            self.counts["gripper_range"] += 1
        step = self.limits.max_step_rad
        capped = np.clip(safe[arm], present[arm] - step, present[arm] + step)
        command_step = self.limits.max_command_step_rad
        if command_step:  # where the present-relative window is out of reach, move towards it
            last = np.asarray(holding, dtype=np.float64)[arm]
            capped = np.clip(capped, last - command_step, last + command_step)
        if (capped != safe[arm]).any():
            self.counts["step_cap"] += 1
            safe[arm] = capped
        # An arm already past a limit (pushed there, or a miscalibrated encoder) would be capped to
        # a command past it too: the limit wins, though the way back may be more than one step.
        inside = np.clip(safe[arm], self._lower[arm], self._upper[arm])
        if past_limit or (inside != safe[arm]).any():
            self.counts["joint_limit"] += 1
            safe[arm] = inside
        return safe

    def filter_base(self, linear_x: float, angular_z: float) -> tuple[float, float]:
        """The base velocity (m/s, rad/s) to send for a requested one: each clamped to its cap
        (counted ``base_cap``); a non-finite request stops the base (counted ``non_finite``)."""
        if not (math.isfinite(linear_x) and math.isfinite(angular_z)):
            self.counts["non_finite"] += 1
            return 0.0, 0.0
        v_cap, w_cap = self.limits.max_base_linear_mps, self.limits.max_base_angular_rps
        safe = (min(max(float(linear_x), -v_cap), v_cap), min(max(float(angular_z), -w_cap), w_cap))
        if safe != (linear_x, angular_z):
            self.counts["base_cap"] += 1
        return safe

    def hold(self, holding: np.ndarray, reason: str) -> np.ndarray:
        """Re-send the holding command (clamped into limits) and count why.

        A position-controlled arm holds still by keeping its last goal. Commanding the
        *measured* position instead lets it sag under gravity a little more every step."""
        if reason not in INTERVENTIONS:
            raise ValueError(f"unknown intervention {reason!r}; expected one of {INTERVENTIONS}")
        self.counts[reason] += 1
        return np.clip(np.asarray(holding, dtype=np.float64), self._lower, self._upper)
