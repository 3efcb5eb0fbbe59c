"""Teleop demos and the doctor's enable state on a Cobot Magic: `wmpo-app teleop-record` and
`wmpo-app doctor` against the Cobot Magic sim node over Cyclone DDS on loopback."""

from __future__ import annotations

import json
import time
from dataclasses import replace

import numpy as np
import pytest

from test_cobot_magic_wire import cobot_site, write_site  # sets CYCLONEDDS_URI first

from app.cli import main as cli_main
from robot.aloha.dds_transport import DdsTransport
from robot.aloha.messages import Twist
from robot.cobot_magic.arms import ArmNotEnabledError
from robot.cobot_magic.backend import CobotMagic
from robot.cobot_magic.sim_node import CobotSimNode
from robot.sites import leader_policy
from storage import EpisodeFilter, TrajectoryStore

LEADERS_START = (0.0, 0.96, -1.16, 0.0, 0.3, 0.0)  # where the sim's leaders start (its expert's first pose)


def with_arms(site, **fields_by_side):
    """The site with each arm's fields set: ``name=lambda side: value``."""
    return replace(site, arms={side: replace(arm, **{name: make(side) for name, make in fields_by_side.items()})
                               for side, arm in site.arms.items()})


def test_teleop_record_drives_followers_and_tracer_through_the_safety_filter(tmp_path, capsys):
    site = cobot_site(start_pose=LEADERS_START, teleop_cmd_vel="/joy_teleop/cmd_vel")
    site = with_arms(site, leader=lambda side: f"/master/joint_{side}")
    site_file = write_site(site, tmp_path / "cobot.json")
    db = tmp_path / "wmpo.db"
    wire = []
    with CobotSimNode(site) as node, DdsTransport(site.domain_id) as spy:
        spy.subscribe(site.base_cmd_vel, Twist, lambda m: wire.append((m.linear.x, m.angular.z)))
        node.operator_twist = (0.5, -0.8)  # the joystick asks for more than the caps (0.3 m/s, 0.5 rad/s)
        code = cli_main(["--db", str(db), "teleop-record", "--site", site_file, "--n", "1", "--horizon", "40",
                         "--label", "success", "--instruction", "pass the cube"])
        out = capsys.readouterr()
        disables = node.disables
    assert code == 0, out.err
    assert "demo 1/1: episode 1, 40 steps, end horizon" in out.out
    with TrajectoryStore(db) as store:
        [episode] = store.episodes(EpisodeFilter(source="expert"))
        steps = store.load_steps(episode.id)
    assert (episode.robot_kind, episode.length, episode.success, episode.label_source) == ("real", 40, True, "operator")
    extra = json.loads(episode.extra_json)
    # Leader states are the actions, follower states the qpos: the followers tracked the leaders.
    arms = [0, 1, 2, 3, 4, 5, 7, 8, 9, 10, 11, 12]
    assert np.abs(steps.qpos[1:, arms] - steps.actions[:-1, arms]).max() < 0.15
    # The base: each step's operator velocity, capped by the safety filter, is what was sent and recorded.
    base = np.array(extra["base_action"])
    assert base.shape == (40, 2)
    assert (np.abs(base[:, 0]) <= 0.3).all() and (np.abs(base[:, 1]) <= 0.5).all()
    assert (base == [0.3, -0.5]).all(axis=1).sum() >= 35, base  # the first steps may precede the first twist
    assert extra["safety"]["base_cap"] >= 35
    assert (0.3, -0.5) in wire and all(abs(v) <= 0.3 and abs(w) <= 0.5 for v, w in wire)
    assert wire[-1] == (0.0, 0.0) and disables == 0  # disconnect stopped the base; no arm was ever disabled


def test_teleop_record_names_the_missing_leaders(tmp_path, capsys):
    site = cobot_site(camera=False)
    site_file = write_site(site, tmp_path / "cobot.json")
    with CobotSimNode(site):
        code = cli_main(["--db", str(tmp_path / "wmpo.db"), "teleop-record", "--site", site_file, "--label", "success"])
    err = capsys.readouterr().err
    assert code == 2 and "have no leader topic; expected arms.<side>.leader" in err, err


def test_the_operator_base_velocity_stops_when_the_joystick_falls_silent():
    site = cobot_site(camera=False, start_pose=LEADERS_START, teleop_cmd_vel="/joy_teleop/cmd_vel")
    site = with_arms(site, leader=lambda side: f"/master/joint_{side}")
    with CobotSimNode(site) as node, CobotMagic(site, reset_duration_s=0.1) as robot:
        node.operator_twist = (0.2, 0.1)
        policy = leader_policy(robot)
        policy.wait_ready(5.0)
        observation = robot.reset()
        deadline = time.monotonic() + 5
        while policy.operator_velocity() != (0.2, 0.1) and time.monotonic() < deadline:
            time.sleep(0.02)
        policy(observation)
        assert robot.base_command() == (0.2, 0.1)
        node.muted.add(site.teleop_cmd_vel)  # the joystick node stops
        time.sleep(site.base_command_hold_s + 0.05)
        policy(robot.observe())
        assert robot.base_command() == (0.0, 0.0)


def test_doctor_reports_each_arms_enable_state_and_never_enables(tmp_path, capsys):
    site = cobot_site(camera=False, enable_timeout_s=1.0)
    stock_file = write_site(site, tmp_path / "stock.json")
    site = with_arms(site, enable_state=lambda side: f"/enable_state_{side[0]}")
    site_file = write_site(site, tmp_path / "cobot.json")
    db = str(tmp_path / "wmpo.db")
    with CobotSimNode(site) as node:
        code = cli_main(["--db", db, "doctor", "--site", site_file, "--listen", "0.8"])
        before = capsys.readouterr().out
        assert node.enabled == {"left": False, "right": False}  # the doctor enabled nothing
        node.refuse_enable.add("right")
        with pytest.raises(ArmNotEnabledError, match="right arm did not report enabled"):
            CobotMagic(site).connect()  # the left arm enables, the right one refuses
        code_after = cli_main(["--db", db, "doctor", "--site", site_file, "--listen", "0.8"])
        after = capsys.readouterr().out
        node.muted.add("/enable_state_r")
        code_silent = cli_main(["--db", db, "doctor", "--site", site_file, "--listen", "0.8"])
        silent = capsys.readouterr().out
        code_stock = cli_main(["--db", db, "doctor", "--site", stock_file, "--listen", "0.5"])
        stock = capsys.readouterr().out
        disables = node.disables
    print(before, after, silent, stock)

    def line(report: str, what: str) -> str:
        return next(x for x in report.splitlines() if what in x)

    assert code == 0 and code_after == 0, before + after
    assert "not enabled" in line(before, "left arm enable state (/enable_state_l)")
    assert "not enabled" in line(before, "right arm enable state (/enable_state_r)")
    assert "not enabled" not in line(after, "left arm enable state") and "enabled" in line(after, "left arm enable")
    assert "not enabled" in line(after, "right arm enable state")
    assert code_silent == 1 and line(silent, "right arm enable state").startswith("BAD")
    assert "missing" in line(silent, "right arm enable state")
    assert code_stock == 0 and "unknown: the stock Piper node publishes none" in line(stock, "left arm enable state")
    assert disables == 0
