"""The safety filter: each intervention fires, is counted, and never drops the arms."""

import math

import numpy as np
import pytest

from robot.features import start_pose
from robot.safety import SafetyFilter, SafetyLimits
from robot.sim.aloha_sim import AlohaSim, SimConfig

PRESENT = start_pose(gripper=0.5)


def test_joint_limits_clamp_and_count():
    safety = SafetyFilter(SafetyLimits(max_step_rad=10.0))
    target = PRESENT.copy()
    target[1] = -3.0  # left shoulder beyond -1.85
    sent = safety.filter(target, PRESENT, PRESENT)
    assert sent[1] == pytest.approx(-1.85005)
    assert safety.counts == {"joint_limit": 1}


def test_gripper_range_clamps():
    safety = SafetyFilter()
    target = PRESENT.copy()
    target[6], target[13] = 1.4, -0.2
    sent = safety.filter(target, PRESENT, PRESENT)
    assert (sent[6], sent[13]) == (1.0, 0.0)
    assert safety.counts == {"gripper_range": 1}


def test_step_cap_relative_to_present_position_but_not_grippers():
    safety = SafetyFilter()
    target = PRESENT.copy()
    target[2] += 0.3  # left elbow, 17 degrees in one step
    target[13] = 0.0  # right gripper: closing on an object may sit far from its target
    sent = safety.filter(target, PRESENT, PRESENT)
    assert sent[2] == pytest.approx(PRESENT[2] + math.radians(5))
    assert sent[13] == 0.0
    assert safety.counts == {"step_cap": 1}


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_action_refused_by_holding(bad):
    safety = SafetyFilter()
    holding = PRESENT + 0.01
    target = PRESENT.copy()
    target[4] = bad
    np.testing.assert_array_equal(safety.filter(target, PRESENT, holding), holding)
    assert safety.counts == {"non_finite": 1}


def test_a_dead_joint_sensor_holds_position():
    """A NaN measured position leaves no position to cap the step from: hold, never send NaN."""
    safety = SafetyFilter()
    present = PRESENT.copy()
    present[9] = np.nan
    holding = PRESENT + 0.01
    np.testing.assert_array_equal(safety.filter(PRESENT, present, holding), holding)
    assert safety.counts == {"sensor_non_finite": 1}


def test_a_present_position_past_a_limit_never_yields_a_command_past_it():
    safety = SafetyFilter()
    present = PRESENT.copy()
    present[0] = 3.254  # past the waist's 3.14158: pushed there, or an encoder off by a turn's fraction
    sent = safety.filter(present, present, present)
    assert sent[0] == pytest.approx(3.14158) and np.isfinite(sent).all()
    assert safety.counts["joint_limit"] == 1


def test_wrong_shape_is_an_error_not_an_intervention():
    with pytest.raises(ValueError, match=r"shape \(7,\), expected \(14,\)"):
        SafetyFilter().filter(np.zeros(7), PRESENT, PRESENT)


def test_hold_resends_last_command_so_the_arm_does_not_sag():
    with AlohaSim(SimConfig(cameras={})) as sim:
        start = sim.reset(0).qpos
        for _ in range(100):
            sim.hold("watchdog")
            observation = sim.observe()
        assert sim.safety.counts == {"watchdog": 100}
    assert np.abs(observation.qpos - start).max() < 0.02


def test_limits_are_validated():
    with pytest.raises(ValueError, match="14 values"):
        SafetyLimits(lower=(0.0,) * 13)
    with pytest.raises(ValueError, match="max_step_rad"):
        SafetyLimits(max_step_rad=0.0)
