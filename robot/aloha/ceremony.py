"""ALOHA's opening ceremony, before every teleoperated episode on an Interbotix ALOHA.

Without it a leader may start far from its follower, which then closes the gap at the step cap
(~250 deg/s). Run at reset, once the followers are at the start pose (``MobileAloha.scene_ready``):

1. powered leaders (``site.leaders_powered``): torque on, a slow move to the start pose through a
   safety filter of their own, then the leader grippers' torque off so the operator can squeeze them;
2. wait for the operator to close both leader grippers, refusing to start while any leader joint is
   more than ``max_gap_rad`` from its follower's (each such joint named, with its gap);
3. powered leaders: arm torque off, so the operator moves them by hand. (Leaders only: a follower's
   torque is never turned off.)

It gives up with RobotError after ``timeout_s``, saying what it was still waiting for.
"""

from __future__ import annotations

import time
from typing import Callable

import numpy as np

from robot.aloha.glide import glide
from robot.aloha.site import SIDES
from robot.features import ARM_INDICES, GRIPPER_INDICES, JOINT_NAMES
from robot.robot import RobotError
from robot.safety import SafetyFilter

MAX_START_GAP_RAD = 0.1
# A leader gripper reading (normalised, 0 closed .. 1 open) at or below this is squeezed closed
# (ALOHA's threshold, 0 rad on the leader's gripper joint, is ~0.06 with Interbotix's constants).
LEADER_GRIPPER_CLOSED = 0.1
START_TIMEOUT_S = 120.0


def start_refusal(leaders: np.ndarray, followers: np.ndarray,
                  max_gap_rad: float = MAX_START_GAP_RAD) -> tuple[str, str] | None:
    """Why teleop may not start with these 14-D poses, as (what, details), or None: arm joints too
    far apart, else grippers not closed."""
    far = [f"{JOINT_NAMES[i]} {abs(leaders[i] - followers[i]):.2f} rad" for i in ARM_INDICES
           if abs(leaders[i] - followers[i]) > max_gap_rad]
    if far:
        return ("leader far from its follower",
                f"{', '.join(far)} (limit {max_gap_rad} rad); bring the leader to the follower's pose")
    open_ = [JOINT_NAMES[i] for i in GRIPPER_INDICES if leaders[i] > LEADER_GRIPPER_CLOSED]
    if open_:
        return "close both leader grippers to start", f"{', '.join(open_)} open"
    return None


def opening_ceremony(robot, leaders: dict, *, max_gap_rad: float = MAX_START_GAP_RAD,
                     timeout_s: float = START_TIMEOUT_S, say: Callable[[str], None] = print) -> None:
    """``robot``: a connected MobileAloha whose followers are at the start pose; ``leaders``: its
    leader Arms by side (``robot.leader_arms()``). Returns once the operator has started."""
    site = robot.site
    period, age = site.control_period_s, site.bounds.joint_state_age_s

    def read_leaders() -> np.ndarray:
        return np.concatenate([leaders[side].qpos7(age) for side in SIDES])

    def command_leaders(command: np.ndarray) -> None:
        leaders["left"].command(command[0:7])
        leaders["right"].command(command[7:14])

    if site.leaders_powered:
        for arm in leaders.values():
            arm.set_torque("arm", True)
            arm.set_torque("gripper", True)
        glide(read_leaders, command_leaders, SafetyFilter(site.limits.safety_limits()), robot.start_arm_pose,
              robot.reset_duration_s, period)
        for arm in leaders.values():
            arm.set_torque("gripper", False)  # the operator squeezes it to start
    deadline = time.monotonic() + timeout_s
    said = None
    while (why := start_refusal(read_leaders(), robot.observe().qpos, max_gap_rad)) is not None:
        if why[0] != said:  # say it again only when the reason changes, not its numbers
            said = why[0]
            say(f"{why[0]}: {why[1]}")
        if time.monotonic() > deadline:
            raise RobotError(f"teleop not started within {timeout_s:.0f}s: {why[0]}: {why[1]}")
        time.sleep(period)
    if site.leaders_powered:
        for arm in leaders.values():
            arm.set_torque("arm", False)  # a leader is moved by the operator's hand
    say("started")
