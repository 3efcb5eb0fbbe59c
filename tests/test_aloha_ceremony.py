"""The opening ceremony of teleop on an Interbotix ALOHA, against the simulated node over Cyclone DDS
(loopback): powered leaders are moved to the start pose; the operator closes both leader grippers to
begin; a leader joint more than 0.1 rad from its follower is refused, by name and gap."""

from __future__ import annotations

import threading

import pytest

from aloha_wire import sim_site  # sets CYCLONEDDS_URI first

from robot.aloha.backend import MobileAloha
from robot.aloha.ceremony import opening_ceremony
from robot.aloha.sim_node import SimNode
from robot.aloha.teleop import LeaderPolicy, record_teleop_demo
from robot.robot import RobotError
from storage import TrajectoryStore


def leaders_of(robot) -> dict:
    """The robot's leader arms, once each has published (as record_teleop_demo waits for them)."""
    policy = LeaderPolicy(robot)
    policy.wait_ready(5.0)
    return policy.leaders


def test_a_leader_far_from_its_follower_is_refused_by_joint_and_gap(tmp_path):
    site = sim_site(cameras=(), leaders_powered=False)  # nothing can move the leaders: the operator must
    said = []
    with SimNode(site) as node, TrajectoryStore(tmp_path / "wmpo.db") as store, \
            MobileAloha(site, reset_duration_s=0.1) as robot:
        node.leader_offsets["left"][1] = 0.6  # the operator holds the left leader's shoulder up
        with pytest.raises(RobotError, match=r"teleop not started within 1s: leader far from its follower: "
                                             r"left_shoulder 0\.[5-7]\d rad(, \w+ 0\.\d\d rad)* \(limit 0\.1 rad\)"):
            record_teleop_demo(store, robot, "transfer_cube", horizon=20, start_timeout_s=1.0, say=said.append)
        assert store.count_episodes() == 0
        assert robot.safety.counts["step_cap"] == 0  # the followers never chased the leader
        assert all(node.motors["left"].torque.values())  # held, torque on
        assert node.leader_motors["left"].calls == []  # unpowered leaders are not commanded
    assert len(said) == 1 and said[0].startswith("leader far from its follower: left_shoulder")


def test_the_operator_starts_by_closing_both_leader_grippers():
    site = sim_site(cameras=())
    said = []
    with SimNode(site) as node, MobileAloha(site, reset_duration_s=0.1) as robot:
        node.leader_offsets["right"][6] = 0.9  # the right leader gripper open
        threading.Timer(0.5, lambda: node.leader_offsets["right"].__setitem__(6, 0.0)).start()  # ...then squeezed
        robot.scene_ready = lambda: opening_ceremony(robot, leaders_of(robot), timeout_s=5.0, say=said.append)
        robot.reset()
    assert len(said) == 2 and said[0].startswith("close both leader grippers to start: ") and said[1] == "started"
    assert "right_gripper" in said[0]


def test_powered_leaders_are_moved_to_the_start_pose_then_released():
    site = sim_site(cameras=())  # leaders_powered: the default
    said = []
    with SimNode(site) as node, MobileAloha(site, reset_duration_s=0.2) as robot:
        node.leader_offsets["left"][1] = 0.6
        node.leader_offsets["right"][2] = -0.4
        held = {}

        def ceremony():
            opening_ceremony(robot, leaders_of(robot), timeout_s=5.0, say=said.append)
            held.update({side: node.leader_hold[side] for side in ("left", "right")})  # released by now

        robot.scene_ready = ceremony
        robot.reset()
        for side in ("left", "right"):
            assert node.leader_motors[side].calls == [
                ("torque_enable", "arm", "True"), ("torque_enable", "gripper", "True"),
                ("torque_enable", "gripper", "False"),  # the operator may squeeze it
                ("torque_enable", "arm", "False")]  # started: the operator's hand moves it
            assert held[side] is None
    # Moved to the start pose (never "far"); the sim's operator squeezed the grippers once released.
    assert said[-1] == "started" and not any(line.startswith("leader far") for line in said), said
