"""Teleoperated expert demonstrations: the leader arms drive the followers, recorded like any episode.

``LeaderPolicy`` is a ChunkPolicy whose one-action chunk is the leaders' present pose, so the
commands go through the robot's safety filter and the rollout loop records what was sent.
On an Interbotix ALOHA every episode starts with ALOHA's opening ceremony (``robot.aloha.ceremony``:
followers and powered leaders to the start pose, the operator closes both leader grippers to begin,
no joint more than 0.1 rad apart). Like GELLO, the policy itself also refuses a first step where a
leader and its follower differ by more than ``max_start_gap_rad`` (the Cobot Magic, which has no
ceremony): the followers would jump to the leaders.
"""

from __future__ import annotations

import threading

import numpy as np

from robot.aloha.backend import MobileAloha
from robot.aloha.ceremony import START_TIMEOUT_S, opening_ceremony
from robot.aloha.site import SIDES
from robot.features import ARM_INDICES, JOINT_NAMES
from robot.robot import Observation, RobotError
from robot.rollout import RolloutConfig, RolloutResult, record_rollout
from storage import EpisodeInfo, TrajectoryStore

MAX_START_GAP_RAD = 0.8


class LeaderPolicy:
    def __init__(self, robot: MobileAloha, max_start_gap_rad: float = MAX_START_GAP_RAD):
        if robot.transport is None:
            raise RobotError("connect the robot before making a LeaderPolicy (it shares the robot's transport)")
        self.leaders = robot.leader_arms()  # Interbotix or Piper leaders, read on the robot's transport
        self.max_age_s = robot.site.bounds.joint_state_age_s
        self.max_start_gap_rad = max_start_gap_rad
        self._checked = False

    def wait_ready(self, timeout_s: float) -> None:
        import time
        deadline = time.monotonic() + timeout_s
        while any(arm.joint_states.latest()[0] is None for arm in self.leaders.values()):
            if time.monotonic() > deadline:
                missing = [a.state_topic for a in self.leaders.values() if a.joint_states.latest()[0] is None]
                raise RobotError(f"no leader joint states on {', '.join(missing)} within {timeout_s:.1f}s")
            time.sleep(0.01)

    def reset(self) -> None:
        self._checked = False

    def __call__(self, observation: Observation, instruction: str = "") -> np.ndarray:
        """A (1, 14) chunk: the leaders' joints and normalised grippers (stale data raises)."""
        lead = np.concatenate([self.leaders[side].qpos7(self.max_age_s) for side in SIDES])
        if not self._checked:
            gap = np.abs(lead - observation.qpos)[list(ARM_INDICES)]
            worst = int(np.argmax(gap))
            if gap[worst] > self.max_start_gap_rad:
                joint = JOINT_NAMES[ARM_INDICES[worst]]
                raise RobotError(f"leader and follower differ by {gap[worst]:.2f} rad at {joint} (limit "
                                 f"{self.max_start_gap_rad} rad): bring the leader to the follower's pose first")
            self._checked = True
        return lead[None, :]


def record_teleop_demo(store: TrajectoryStore, robot: MobileAloha, task: str, *, instruction: str = "",
                       horizon: int = 400, success: bool | None = True,
                       stop: threading.Event | None = None, policy: LeaderPolicy | None = None,
                       start_timeout_s: float = START_TIMEOUT_S, say=print) -> RolloutResult:
    """Record one teleoperated expert episode (source "expert", robot_kind "real") into ``store``.

    The operator's verdict ``success`` labels the committed episode (label_source "operator").
    ``policy``: the teleop policy (``robot.sites.leader_policy``); default the leaders alone.
    An Interbotix ALOHA runs the opening ceremony first (``say`` tells the operator what it waits
    for; RobotError after ``start_timeout_s``). ``stop`` set (the operator's stop key) holds the
    arms, stops the base and ends the episode (stored unlabelled, end "stop")."""
    policy = policy or LeaderPolicy(robot)
    policy.wait_ready(robot.site.bounds.connect_timeout_s)
    info = EpisodeInfo(task=task, instruction=instruction, robot_kind="real", source="expert",
                       control_period_s=robot.features.control_period_s, extra={"site": robot.site.name})
    config = RolloutConfig(horizon=horizon, stop_on_success=False)
    scene_ready = robot.scene_ready
    if robot.interbotix:
        robot.scene_ready = lambda: opening_ceremony(robot, policy.leaders, timeout_s=start_timeout_s, say=say)
    try:
        result = record_rollout(store, robot, policy, info, config=config, stop=stop)
    finally:
        robot.scene_ready = scene_ready
    if result.episode_id is not None and success is not None and result.end != "stop":  # a stopped demo: unlabelled
        store.set_label(result.episode_id, success, "operator")
    return result
