"""Cross-vendor wire check: a real rclpy node (Fast DDS, Humble's default RMW) and this project's
Cyclone DDS transport exchange JointState, Image and Twist over loopback, in both directions, each
side decoding with its own type definitions -- a wrong field order or type name in messages.py
fails here, where our own sim node would agree with it.

rclpy comes from PyPI's ``ros-rclpy`` wheels (ROS 2 Kilted, cp311 manylinux) in a separate Python,
which ``./run.sh test`` installs into ``.rosvenv`` in the background and names in ``WMPO_ROS_PYTHON``
(by hand: ``python -m venv .rosvenv && .rosvenv/bin/pip install ros-rclpy ros-sensor-msgs
ros-geometry-msgs ros-rmw-fastrtps-cpp``). They are not a dependency of the project (their numpy pin
differs); the tests are skipped, saying why, where that Python is missing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from aloha_wire import next_domain  # sets CYCLONEDDS_URI first

from robot.aloha.dds_transport import DdsTransport
from robot.aloha.messages import Header, Image, JointState, Time, Twist, Vector3

# Fast DDS 3 (ROS 2 Jazzy and later) announces XTypes type objects that Cyclone 11 rejects ("ddsi_xt_type_
# add_typeobj with invalid type object"); readers and writers of types with sequences (JointState, Image)
# then never match, while Twist does. Cyclone's compatibility option (eclipse-cyclonedds/cyclonedds#2333)
# ignores the type information of vendor 1.15 (eProsima) and matches by type name. A robot PC on Humble
# (Fast DDS 2.6) sends no such type objects.
COMPATIBILITY = "<Compatibility><IgnoreTypeInformation>1.15</IgnoreTypeInformation></Compatibility>"
ROS_PYTHON = os.environ.get("WMPO_ROS_PYTHON", sys.executable)
PEER = Path(__file__).parent / "rclpy_peer.py"


def _rclpy_missing() -> str | None:
    status = os.environ.get("WMPO_ROS_INSTALL_STATUS")  # run.sh installs the wheels while the suite runs
    deadline = time.monotonic() + 900
    while status and not Path(status).exists() and time.monotonic() < deadline:
        time.sleep(2)
    if status and not Path(status).exists():
        return f"the ros-rclpy wheels were still installing after 15 minutes ({status} not written)"
    try:
        probe = subprocess.run([ROS_PYTHON, "-c", "import rclpy, sensor_msgs.msg, geometry_msgs.msg"],
                               capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{ROS_PYTHON} does not run: {exc}"
    if probe.returncode:
        return (f"rclpy does not import in {ROS_PYTHON} ({probe.stderr.strip().splitlines()[-1]}); set "
                f"WMPO_ROS_PYTHON to a Python with the ros-rclpy wheels (see this file's docstring)")
    return None


@pytest.fixture(scope="module", autouse=True)
def rclpy_installed():
    """Checked when the first test here runs, not when the suite is collected: by then run.sh's
    background install has had the rest of the suite's time."""
    why = _rclpy_missing()
    if why is not None:
        pytest.skip(why)


@pytest.fixture
def peer():
    domain = next_domain()
    env = {**os.environ, "RMW_IMPLEMENTATION": "rmw_fastrtps_cpp", "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST"}
    env.pop("CYCLONEDDS_URI", None)
    process = subprocess.Popen([ROS_PYTHON, str(PEER), str(domain)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=env)
    lines: list[dict] = []
    ready = threading.Event()

    def read():
        for line in process.stdout:
            if line.strip() == "ready":
                ready.set()
            elif line.startswith("{"):
                lines.append(json.loads(line))

    threading.Thread(target=read, daemon=True).start()
    try:
        assert ready.wait(30), process.stderr.read() if process.poll() is not None else "peer not ready in 30 s"
        yield domain, lines
    finally:
        process.kill()
        process.wait(timeout=10)


def wait_until(condition, timeout_s: float):
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_jointstate_image_and_twist_cross_between_rclpy_and_cyclone(peer):
    domain, heard_by_ros = peer
    joints = JointState(header=Header(stamp=Time(sec=7, nanosec=8), frame_id="follower_right"),
                        name=["waist", "elbow"], position=[0.25, -1.5], velocity=[0.0, 0.125], effort=[3.0, -4.0])
    image = Image(header=Header(frame_id="cam_high"), height=2, width=2, encoding="rgb8", step=6, data=bytes(range(12)))
    twist = Twist(linear=Vector3(x=0.3), angular=Vector3(z=-0.5))
    previous = os.environ["CYCLONEDDS_URI"]
    os.environ["CYCLONEDDS_URI"] = previous.replace("</General>", "</General>" + COMPATIBILITY)  # read at the first
    try:  # participant of this (fresh) domain
        transport = DdsTransport(domain)
    finally:
        os.environ["CYCLONEDDS_URI"] = previous
    try:
        from_ros = {"joint_states": transport.subscribe("/wmpo_probe/from_ros/joint_states", JointState),
                    "image": transport.subscribe("/wmpo_probe/from_ros/image", Image, sensor_data=True),
                    "cmd_vel": transport.subscribe("/wmpo_probe/from_ros/cmd_vel", Twist)}
        sends = [(transport.publisher("/wmpo_probe/to_ros/joint_states", JointState), joints),
                 (transport.publisher("/wmpo_probe/to_ros/image", Image, sensor_data=True), image),
                 (transport.publisher("/wmpo_probe/to_ros/cmd_vel", Twist), twist)]

        def all_heard() -> bool:
            for publish, message in sends:
                publish(message)
            return len(heard_by_ros) == 3 and all(sub.latest()[0] is not None for sub in from_ros.values())

        assert wait_until(all_heard, 20), (heard_by_ros, {k: s.latest()[0] for k, s in from_ros.items()})
        got = {kind: sub.latest()[0] for kind, sub in from_ros.items()}
    finally:
        transport.close()  # the peer is another process: no in-process writer to race the close
    ros = {line["kind"]: line for line in heard_by_ros}
    assert ros["joint_states"] == {"kind": "joint_states", "stamp": [7, 8], "frame_id": "follower_right",
                                   "name": ["waist", "elbow"], "position": [0.25, -1.5], "velocity": [0.0, 0.125],
                                   "effort": [3.0, -4.0]}
    assert ros["image"] == {"kind": "image", "height": 2, "width": 2, "encoding": "rgb8", "is_bigendian": 0,
                            "step": 6, "data": list(range(12))}
    assert ros["cmd_vel"] == {"kind": "cmd_vel", "linear": [0.3, 0.0, 0.0], "angular": [0.0, 0.0, -0.5]}
    j = got["joint_states"]
    assert (j.header.stamp.sec, j.header.stamp.nanosec, j.header.frame_id) == (12, 345, "follower_left")
    assert (list(j.name), list(j.position), list(j.velocity), list(j.effort)) == (
        ["waist", "shoulder", "gripper"], [0.5, -0.96, 1.25], [0.1, 0.0, -0.2], [1.0, 2.0, 3.0])
    i = got["image"]
    assert (i.header.frame_id, i.height, i.width, i.encoding, i.step, bytes(i.data)) == (
        "cam_high", 2, 3, "rgb8", 9, bytes(range(18)))
    t = got["cmd_vel"]
    assert (t.linear.x, t.linear.y, t.angular.z) == (0.25, 0.0, -0.5)
