"""The operator's stop key and the sleep pose on an Interbotix ALOHA, against the simulated node over
Cyclone DDS (loopback): the key, written to a real pseudo-terminal, stops a policy run and a teleop
demo (arms held, base zeroed, the episode stored unlabelled with end "stop", no sleep afterwards);
a clean session ends with the followers moved slowly, through the safety filter, to the sleep pose
with torque on."""

from __future__ import annotations

import os
import threading
import time

import numpy as np
import pytest

from aloha_wire import sim_site, wait_for  # sets CYCLONEDDS_URI first

from app.stop_key import StopKey
from robot.aloha.backend import MobileAloha
from robot.aloha.sim_node import SimNode
from robot.aloha.teleop import record_teleop_demo
from robot.factory import Operator
from robot.rollout import RolloutConfig, record_rollout
from storage import EpisodeInfo, TrajectoryStore


@pytest.fixture
def pty():
    """A pseudo-terminal: (the operator's end to type into, the program's end StopKey reads)."""
    operator, program = os.openpty()
    yield operator, program
    os.close(operator)
    os.close(program)


class DriveAndType:
    """A policy that holds the arms and drives the base; at call ``at`` the operator types ``key``."""

    def __init__(self, robot, fd: int, key: bytes, at: int = 5):
        self.robot, self.fd, self.key, self.at, self.calls = robot, fd, key, at, 0

    def reset(self):
        self.calls = 0

    def __call__(self, observation, instruction=""):
        self.calls += 1
        self.robot.drive(0.2, 0.3)
        if self.calls == self.at:
            os.write(self.fd, self.key)
        return observation.qpos[None, :]


def stored_stop(store, result) -> bool:
    """The stopped episode is kept, unlabelled, marked as stopped."""
    import json
    episode = store.episode(result.episode_id)
    return episode.success is None and json.loads(episode.extra_json)["end"] == "stop"


def test_the_stop_key_on_a_terminal_stops_a_policy_run(tmp_path, pty):
    operator_end, program_end = pty
    site = sim_site(cameras=())
    operator = Operator(stop_key=lambda: StopKey(fd=program_end))  # as terminal_operator() makes it
    with SimNode(site) as node, TrajectoryStore(tmp_path / "wmpo.db") as store, \
            MobileAloha(site, reset_duration_s=0.1) as robot:
        info = EpisodeInfo(task="transfer_cube", robot_kind="real", source="policy")
        policy = DriveAndType(robot, operator_end, b"x s")  # 'x' is not a stop key; 's' is
        with operator.watching_stop() as stop:
            result = record_rollout(store, robot, policy, info, config=RolloutConfig(horizon=200), stop=stop)
        assert result.end == "stop" and result.steps < 40  # within a few control periods of the key
        assert robot.safety.counts["operator_stop"] == 1  # held by re-sending the last command
        assert wait_for(lambda: node.base_velocity == (0.0, 0.0), 0.1) < 0.1
        assert all(node.motors["left"].torque.values()) and all(node.motors["right"].torque.values())
        assert stored_stop(store, result)
        goal = node.goal.copy()
        robot.go_to_sleep()  # after an operator stop the arms stay where they are held
        time.sleep(0.1)
        np.testing.assert_array_equal(node.goal, goal)


def test_the_stop_key_stops_a_teleop_demo_and_a_prompt_reads_the_terminal(tmp_path, pty):
    operator_end, program_end = pty
    site = sim_site(cameras=())
    with SimNode(site), TrajectoryStore(tmp_path / "wmpo.db") as store, \
            MobileAloha(site, reset_duration_s=0.1) as robot:
        with StopKey(fd=program_end) as stop:
            with StopKey.paused():  # a prompt (the scene reset) gets its keys; they stop nothing
                os.write(operator_end, b"s\n")
                time.sleep(0.2)
                assert os.read(program_end, 16) == b"s\n" and not stop.is_set()
            threading.Timer(1.0, lambda: os.write(operator_end, b" ")).start()
            result = record_teleop_demo(store, robot, "transfer_cube", horizon=400, stop=stop, say=lambda _: None)
        assert result.end == "stop" and result.steps < 400
        assert robot.safety.counts["operator_stop"] == 1
        assert stored_stop(store, result)


def test_a_clean_session_ends_in_the_sleep_pose_through_the_safety_filter():
    site = sim_site(cameras=(), sleep_duration_s=1.5)
    with SimNode(site) as node, MobileAloha(site, reset_duration_s=0.1) as robot:
        robot.reset()
        sent = []
        command = robot._command
        robot._command = lambda c: (sent.append((robot._observe().qpos, c)), command(c))  # watch what is sent
        robot.go_to_sleep()
        time.sleep(0.5)
        reached = robot.observe().qpos
    arms = [0, 1, 2, 3, 4, 5, 7, 8, 9, 10, 11, 12]
    sleep_pose = np.array(site.sleep_pose * 2)
    np.testing.assert_allclose(node.goal[arms], sleep_pose, atol=1e-6)
    assert np.abs(reached[arms] - sleep_pose).max() < 0.1
    assert len(sent) == round(1.5 / site.control_period_s)  # one command per control period: slowly
    # every command within the step cap of the position it was sent from (the safety filter's 5 degrees)
    assert max(np.abs(c[arms] - present[arms]).max() for present, c in sent) <= np.radians(5) + 1e-9
    assert all(node.motors["left"].torque.values()) and all(node.motors["right"].torque.values())
