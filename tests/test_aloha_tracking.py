"""The tracking-error stop against the simulated node over DDS on loopback: a joint the node holds
still (an arm blocked by the table) while it is commanded on stops the episode within the site's
cycles, and the arms hold where they are (torque stays on)."""

from __future__ import annotations

import re
from dataclasses import replace

import numpy as np
import pytest

from aloha_wire import sim_site  # sets CYCLONEDDS_URI first

from robot.aloha.backend import MobileAloha, TrackingError
from robot.aloha.site import SITES_DIR, SiteConfig, SiteConfigError, build_site, read_site_file
from robot.aloha.sim_node import SimNode
from robot.aloha.tracking import TrackingMonitor, TrackingRule
from test_aloha_base import wait_for
from robot.rollout import RolloutConfig, record_rollout
from storage import EpisodeInfo, TrajectoryStore

SHOULDER = 1  # left shoulder in the 14-D qpos


class SweepThenPush:
    """A scripted policy: the left waist sweeps (so the arm is never frozen) and the left shoulder
    moves down at the step cap; at call ``block_at`` the node blocks the shoulder where it is."""

    def __init__(self, node, block_at: int):
        self.node, self.block_at, self.calls = node, block_at, 0

    def reset(self):
        self.calls = 0

    def __call__(self, observation, instruction=""):
        self.calls += 1
        if self.calls == self.block_at:
            self.node.blocked[SHOULDER] = float(observation.qpos[SHOULDER])
        chunk = np.repeat(observation.qpos[None, :], 4, axis=0)
        sign = 1 if self.calls % 2 else -1  # up and down: the shoulder stays in range while free
        if self.calls >= self.block_at:
            sign = 1  # into the table
        chunk[:, SHOULDER] = observation.qpos[SHOULDER] + sign * 0.08 * np.arange(1, 5)
        chunk[:, 0] = observation.qpos[0] + 0.01 * np.arange(1, 5)
        return chunk


def push(robot, observation, sign: float):
    """One control cycle at the step cap: the left shoulder by ``sign`` * 0.08 rad, the waist sweeping
    (so the arm is never frozen); waits for the driver's next joint-state message (one cycle of the rule)."""
    action = observation.qpos.copy()
    action[SHOULDER] += sign * 0.08
    action[0] += 0.01
    sent = robot.send_action(action)
    states = robot.followers["left"].joint_states
    seen = states.count
    wait_for(lambda: states.count > seen, 1.0)
    return sent, robot.observe()


def test_a_blocked_joint_stops_within_the_configured_cycles_and_holds_where_it_is():
    cycles = 8
    site = sim_site(cameras=(), bounds=replace(sim_site().bounds, tracking_cycles=cycles))
    with SimNode(site) as node, MobileAloha(site, reset_duration_s=0.1) as robot:
        observation = robot.reset()
        for k in range(4 * cycles):  # free motion at the step cap, up and down: never a stop
            _, observation = push(robot, observation, 1 if k // 4 % 2 == 0 else -1)
        node.blocked[SHOULDER] = float(observation.qpos[SHOULDER])  # the table
        with pytest.raises(TrackingError) as stop:
            for taken in range(1, 10 * cycles):
                push(robot, observation, 1)
        assert re.fullmatch(rf"tracking error, /follower_left/joint_states: shoulder 0\.0[6-9]\d rad from its command "
                            rf"for {cycles} cycles \(limit 0\.061 rad\): is the arm blocked \(table, object\)\? "
                            rf"Holding where the arms are, base stopped, episode stopped", str(stop.value)), stop.value
        assert taken <= cycles + 1  # the first pushing command is judged one message after it is sent
        assert robot.safety.counts["tracking_error"] == 1
        assert wait_for(lambda: abs(node.goal[SHOULDER] - node.blocked[SHOULDER]) < 0.02, 1.0) < 1.0  # not pushing on
        assert all(node.motors["left"].torque.values())  # never torque off


def test_a_tracking_error_ends_a_recorded_episode_unstored(tmp_path):
    site = sim_site(cameras=(), bounds=replace(sim_site().bounds, tracking_cycles=8))
    with SimNode(site) as node, TrajectoryStore(tmp_path / "wmpo.db") as store, \
            MobileAloha(site, reset_duration_s=0.1) as robot:
        info = EpisodeInfo(task="transfer_cube", robot_kind="real", source="policy")
        with pytest.raises(TrackingError, match=r"/follower_left/joint_states: shoulder .* for 8 cycles"):
            record_rollout(store, robot, SweepThenPush(node, block_at=8), info, config=RolloutConfig(horizon=400))
        assert robot.safety.counts["tracking_error"] == 1
        assert node.base_velocity == (0.0, 0.0)
        assert store.count_episodes() == 0


def test_the_monitor_names_the_joint_and_resets_on_a_good_cycle():
    monitor = TrackingMonitor(TrackingRule(limit_rad=0.05, cycles=3))
    command = np.zeros(6)
    far = np.array([0, 0, 0.07, 0, 0, 0])
    assert monitor.update(far, command) is None
    assert monitor.update(far, command) is None
    assert monitor.update(np.zeros(6), command) is None  # back on track: the count starts over
    assert monitor.update(far, command) is None
    assert monitor.update(far, command) is None
    assert monitor.update(far, command) == "elbow 0.070 rad from its command for 3 cycles (limit 0.050 rad)"
    assert monitor.update(far, None) is None  # nothing commanded: no evidence


def test_a_tracking_limit_at_or_beyond_the_step_cap_is_refused():
    data = read_site_file(SITES_DIR / "sim.json")
    data["bounds"]["tracking_error_of_step"] = 1.0
    with pytest.raises(SiteConfigError, match=r"sim.json: bounds: tracking_error_of_step 1.0; expected in \(0, 1\)"):
        build_site(SiteConfig, data, "sim.json")
