"""Site files: the default loads, bad fields are named; gripper normalisation; joint limits."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from robot.aloha.arms import joint_state_qpos7
from robot.aloha.messages import JointState
from robot.aloha.site import (FOLLOWER_GRIPPER, LEADER_GRIPPER, SITES_DIR, GripperConstants, SiteConfigError,
                              load_site)
from robot.features import ARM_JOINTS
from robot.safety import SafetyFilter


def write(tmp_path, data) -> str:
    path = tmp_path / "site.json"
    path.write_text(json.dumps(data))
    return str(path)


def test_default_sim_site_loads():
    site = load_site(SITES_DIR / "sim.json")
    assert site.transport == "dds" and site.followers["left"] == "follower_left"
    assert [c.name for c in site.cameras] == ["cam_high"] and site.cameras[0].source == "topic"
    assert site.follower_gripper == FOLLOWER_GRIPPER and site.leader_gripper == LEADER_GRIPPER


BAD = {
    "wrong type": ({"name": "x", "cameras": [{"name": "c", "serial": 123}]},
                   r"cameras\[0\]\.serial: expected a string, got 123"),
    "missing name": ({}, r"name: missing; expected a string"),
    "unknown field": ({"name": "x", "bounds": {"camera_age": 1}}, r"bounds\.camera_age: unknown field"),
    "negative bound": ({"name": "x", "bounds": {"camera_age_s": -1}}, r"bounds: camera_age_s -1.0; expected > 0"),
    "one side": ({"name": "x", "followers": {"left": "follower_left"}}, r"followers has sides \['left'\]"),
    "short limits": ({"name": "x", "limits": {"lower": [0, 0]}}, r"limits: lower has 2 values; expected 6"),
    "no serial": ({"name": "x", "cameras": [{"name": "cam_high"}]}, r"cam_high: serial is empty"),
    "bad transport": ({"name": "x", "transport": "zenoh"}, r"transport 'zenoh'; expected"),
    "base too fast": ({"name": "x", "base_max_linear_mps": 2}, r"base_max_linear_mps 2.0; expected in \(0, 1.0\] m/s"),
    "no turning": ({"name": "x", "base_max_angular_rps": 0}, r"base_max_angular_rps 0.0; expected in \(0, 1.5\]"),
    "deadman": ({"name": "x", "base_command_hold_s": 0.01}, r"base_command_hold_s 0.01; expected base_keepalive_s"),
    "freeze": ({"name": "x", "bounds": {"frozen_cycles": 1}}, r"frozen_cycles 1, .*expected frozen_cycles >= 2"),
}


@pytest.mark.parametrize("case", BAD)
def test_bad_field_is_named(tmp_path, case):
    data, message = BAD[case]
    with pytest.raises(SiteConfigError, match=message) as raised:
        load_site(write(tmp_path, data))
    assert "site.json" in str(raised.value)


def test_not_json_and_missing_file(tmp_path):
    (tmp_path / "site.json").write_text("{name: x")
    with pytest.raises(SiteConfigError, match="not valid JSON"):
        load_site(tmp_path / "site.json")
    with pytest.raises(SiteConfigError, match="does not exist"):
        load_site(tmp_path / "nope.json")


def test_gripper_constants_from_robot_md():
    # Observation from the finger position (m), command in motor radians.
    assert FOLLOWER_GRIPPER.normalise_position(0.0579) == pytest.approx(1.0)
    assert FOLLOWER_GRIPPER.normalise_position(0.0440) == pytest.approx(0.0)
    assert FOLLOWER_GRIPPER.joint(1.0) == pytest.approx(1.6214) and FOLLOWER_GRIPPER.joint(0.0) == pytest.approx(0.6197)
    assert LEADER_GRIPPER.normalise_joint(0.8298) == pytest.approx(1.0)
    assert LEADER_GRIPPER.normalise_joint(-0.0552) == pytest.approx(0.0)
    assert LEADER_GRIPPER.normalise_position((0.0323 + 0.0185) / 2) == pytest.approx(0.5)
    for g in (FOLLOWER_GRIPPER, LEADER_GRIPPER):
        assert g.normalise_joint(g.joint(0.3)) == pytest.approx(0.3)
        assert g.normalise_position(g.position(0.7)) == pytest.approx(0.7)


def test_gripper_constants_are_configurable(tmp_path):
    ros1 = {"position_open": 0.05800, "position_close": 0.01844, "joint_open": 1.4910, "joint_close": -0.6213}
    site = load_site(write(tmp_path, {"name": "ros1", "follower_gripper": ros1}))
    assert site.follower_gripper == GripperConstants(**ros1)
    with pytest.raises(SiteConfigError, match="position_open == position_close"):
        GripperConstants(0.05, 0.05, 1.0, 0.0)


def test_joint_state_read_by_name_with_normalised_gripper():
    names = [*ARM_JOINTS, "gripper", "left_finger", "right_finger"]
    follower = JointState(name=names, position=[0.1, -0.9, 1.1, 0.0, -0.3, 0.2, 1.0, 0.0579, -0.0579])
    qpos = joint_state_qpos7(follower, FOLLOWER_GRIPPER, leader=False, topic="/f")
    np.testing.assert_allclose(qpos, [0.1, -0.9, 1.1, 0.0, -0.3, 0.2, 1.0])
    # Another order: joints are found by name; a leader's gripper comes from its gripper joint.
    leader = JointState(name=names[::-1], position=[-0.02, 0.02, -0.0552, 0.2, -0.3, 0.0, 1.1, -0.9, 0.1])
    np.testing.assert_allclose(joint_state_qpos7(leader, LEADER_GRIPPER, True, "/l"), [0.1, -0.9, 1.1, 0, -0.3, 0.2, 0])
    with pytest.raises(Exception, match=r"/f: joint state lacks \['left_finger'\]"):
        joint_state_qpos7(JointState(name=list(ARM_JOINTS), position=[0.0] * 6), FOLLOWER_GRIPPER, False, "/f")


def test_site_joint_limits_clamp_and_step_cap(tmp_path):
    lower, upper = [-1.0] * 6, [1.0] * 6
    site = load_site(write(tmp_path, {"name": "x", "limits": {"lower": lower, "upper": upper, "max_step_deg": 2}}))
    safety = SafetyFilter(site.limits.safety_limits())
    present = np.zeros(14)
    sent = safety.filter(np.full(14, 3.0), present, present)
    step = math.radians(2)
    np.testing.assert_allclose(sent[[0, 5, 7, 12]], step)  # clamped to 1.0, then capped to 2 degrees
    assert sent[6] == 1.0 and sent[13] == 1.0  # grippers clamp to 0..1
    assert safety.counts["joint_limit"] == 1 and safety.counts["step_cap"] == 1
