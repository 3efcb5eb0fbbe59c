"""Transport honesty: ``auto`` says in one line why rclpy was not used; doctor says what it ran on."""

from __future__ import annotations

import importlib.util

import pytest

from aloha_wire import sim_site  # sets CYCLONEDDS_URI first

from robot.aloha.doctor import diagnose
from robot.aloha.sim_node import SimNode
from robot.aloha.transport import open_transport


@pytest.mark.skipif(importlib.util.find_spec("rclpy") is not None, reason="rclpy imports here: no fallback")
def test_auto_says_why_rclpy_was_not_used(capsys, monkeypatch):
    monkeypatch.delenv("ROS_DISTRO", raising=False)
    transport = open_transport("auto", sim_site().domain_id)
    try:
        err = capsys.readouterr().err.strip().splitlines()
        assert transport.name == "Cyclone DDS" and "ROS_DISTRO unset" in transport.why
        assert len(err) == 1 and err[0].startswith("transport auto: rclpy not used (") and "Python 3." in err[0]
    finally:
        transport.close()


def test_doctor_names_transport_python_and_ros(monkeypatch):
    monkeypatch.setenv("ROS_DISTRO", "humble")
    site = sim_site(cameras=())
    with SimNode(site):
        checks = {check.name: check for check in diagnose(site, listen_s=0.3)}
    assert checks["transport"].detail == "Cyclone DDS"
    assert checks["python"].detail.startswith("3.")
    assert checks["ros"].detail == "ROS 2 humble"
