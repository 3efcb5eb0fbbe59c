"""Cobot Magic without the wire: site files and presets, gripper metres, the Piper JointState
command and state, status flags, frame resizing, and the CDR bytes of the messages it speaks."""

from __future__ import annotations

import json
import math
import struct

import numpy as np
import pytest

from robot.aloha.messages import Header, Image, JointState, Time, Twist, Vector3
from robot.aloha.site import SiteConfig, SiteConfigError
from robot.cobot_magic.arms import piper_command, piper_qpos7
from robot.cobot_magic.cameras import resize_frame
from robot.cobot_magic.messages import Bool, PiperStatusMsg, status_fault
from robot.cobot_magic.site import PIPER_GRIPPER, PIPER_LOWER, PIPER_UPPER, SITES_DIR, CobotMagicSite, load_cobot_site
from robot.safety import SafetyFilter
from robot.sites import load_robot_site


def write(tmp_path, data) -> str:
    path = tmp_path / "site.json"
    path.write_text(json.dumps(data))
    return str(path)


def preset(name: str = "piper_ros2.json") -> dict:
    return json.loads((SITES_DIR / name).read_text())


def test_presets_load_with_their_topic_names():
    ros2 = load_robot_site(SITES_DIR / "piper_ros2.json")
    assert isinstance(ros2, CobotMagicSite) and ros2.control_rate_hz == 25.0
    assert (ros2.arms["left"].command, ros2.arms["left"].state) == ("/joint_states_l", "/joint_states_single_l")
    assert (ros2.arms["right"].command, ros2.arms["right"].state) == ("/joint_states_r", "/joint_states_single_r")
    puppet = load_robot_site(SITES_DIR / "puppet_master.json")
    assert (puppet.arms["left"].state, puppet.arms["left"].command) == ("/puppet/joint_left", "/master/joint_left")
    assert puppet.arms["right"].status == "/puppet/arm_status_right"
    for site in (ros2, puppet):
        assert [(c.name, c.topic) for c in site.cameras] == [
            ("cam_high", "/camera_f/color/image_raw"), ("cam_left_wrist", "/camera_l/color/image_raw"),
            ("cam_right_wrist", "/camera_r/color/image_raw")]
        assert (site.cameras[0].topic_height, site.cameras[0].topic_width) == (480, 640)
        assert site.base_cmd_vel == "/cmd_vel" and site.base_keepalive_s < 0.5
        assert (site.limits.lower, site.limits.upper) == (PIPER_LOWER, PIPER_UPPER)
    assert isinstance(load_robot_site(SITES_DIR.parent.parent / "aloha" / "sites" / "sim.json"), SiteConfig)


BAD = {
    "unknown robot": ({"robot": "ur5"}, r"robot 'ur5'; expected one of \['interbotix_aloha', 'cobot_magic'\]"),
    "one arm": ({"arms": {"left": preset()["arms"]["left"]}}, r"arms has sides \['left'\]"),
    "relative topic": ({"arms": {**preset()["arms"], "right": {**preset()["arms"]["right"], "state": "js"}}},
                       r"arms\.right: state 'js'; expected an absolute ROS topic name"),
    "keep-alive too slow": ({"base_keepalive_s": 0.4}, r"base_keepalive_s 0\.4; expected in \(0, 0\.25\)"),
    "start outside limits": ({"start_pose": [0, -0.5, 0, 0, 0, 0]}, r"start_pose .* outside the joint limits at joints \[1\]"),
    "rate": ({"control_rate_hz": 0}, r"control_rate_hz 0\.0; expected 1\.\.200"),
    "force": ({"gripper_force": 5}, r"gripper_force 5\.0; expected 0\.5\.\.3"),
    "step cap": ({"limits": {"max_step_deg": 90}}, r"limits: max_step_deg 90\.0; expected in \(0, 45\]"),
    "leader is the command": ({"arms": {**preset()["arms"], "left": {**preset()["arms"]["left"],
                                                                      "leader": "/joint_states_l"}}},
                              r"arms\.left: leader '/joint_states_l' is also the command topic"),
    "enable state": ({"arms": {**preset()["arms"], "left": {**preset()["arms"]["left"], "enable_state": "on"}}},
                     r"arms\.left: enable_state 'on'; expected an absolute ROS topic name"),
    "teleop base on cmd_vel": ({"teleop_cmd_vel": "/cmd_vel"},
                               r"teleop_cmd_vel '/cmd_vel' with base_cmd_vel '/cmd_vel'; expected a base to drive, "
                               r"on a topic other than the operator's"),
    "camera field": ({"cameras": [{"name": "cam_high"}]}, r"cameras\[0\]\.topic: missing; expected a string"),
}


@pytest.mark.parametrize("case", BAD)
def test_bad_field_is_named(tmp_path, case):
    changes, message = BAD[case]
    with pytest.raises(SiteConfigError, match=message) as raised:
        load_robot_site(write(tmp_path, {**preset(), **changes}))
    assert "site.json" in str(raised.value)


def test_an_interbotix_site_refuses_another_robot(tmp_path):
    with pytest.raises(SiteConfigError, match=r"robot 'cobot_magic'; expected 'interbotix_aloha'"):
        from robot.aloha.site import load_site
        load_site(SITES_DIR / "piper_ros2.json")
    assert load_cobot_site(write(tmp_path, preset("puppet_master.json"))).name == "cobot-magic-puppet-master"


def test_gripper_metres_map_to_normalised_and_back():
    assert PIPER_GRIPPER.normalise_position(0.08) == pytest.approx(1.0)
    assert PIPER_GRIPPER.normalise_position(0.0) == pytest.approx(0.0)
    assert PIPER_GRIPPER.normalise_position(0.02) == pytest.approx(0.25)
    assert PIPER_GRIPPER.joint(0.5) == pytest.approx(0.04)  # the command is in metres too


def test_piper_command_and_state():
    command = piper_command(np.array([0.1, 0.5, -0.5, 0.0, 0.2, -0.1, 0.5]), PIPER_GRIPPER, 40, 1.5)
    assert command.name == ["joint1", "joint2", "joint3", "joint4", "joint5", "joint6", "gripper"]  # read by name
    np.testing.assert_allclose(command.position, [0.1, 0.5, -0.5, 0.0, 0.2, -0.1, 0.04])
    assert command.velocity[6] == 40 and command.effort[6] == 1.5  # speed percent, gripper force
    assert piper_command(np.array([0] * 6 + [7.0]), PIPER_GRIPPER, 30, 1).position[6] == pytest.approx(0.08)
    # A state is read by name; unnamed states (7 positions) are taken in order.
    names = [f"joint{i}" for i in range(7)]
    state = JointState(name=names[::-1], position=[0.06, -0.1, 0.2, 0.0, -0.5, 0.5, 0.1])
    np.testing.assert_allclose(piper_qpos7(state, PIPER_GRIPPER, "/s"), [0.1, 0.5, -0.5, 0.0, 0.2, -0.1, 0.75])
    newer = JointState(name=["joint1", "joint2", "joint3", "joint4", "joint5", "joint6", "gripper"],
                       position=[0.1, 0.5, -0.5, 0.0, 0.2, -0.1, 0.02])  # Piper_ros's newer naming
    np.testing.assert_allclose(piper_qpos7(newer, PIPER_GRIPPER, "/s"), [0.1, 0.5, -0.5, 0.0, 0.2, -0.1, 0.25])
    np.testing.assert_allclose(piper_qpos7(JointState(position=[0.0] * 6 + [0.08]), PIPER_GRIPPER, "/s")[6], 1.0)
    with pytest.raises(Exception, match=r"/s: joint state names \['joint0', .*'joint5'\] with 6 positions; expected"):
        piper_qpos7(JointState(name=names[:6], position=[0.0] * 6), PIPER_GRIPPER, "/s")


def test_status_flags_that_stop_an_episode():
    assert status_fault(PiperStatusMsg(ctrl_mode=1)) is None
    assert status_fault(PiperStatusMsg(arm_status=0x01)) == "arm_status EMERGENCY_STOP"
    assert status_fault(PiperStatusMsg(arm_status=0x07)) == "arm_status COLLISION_OCCURRED"
    assert status_fault(PiperStatusMsg(arm_status=0x04, joint_2_angle_limit=True)) == \
        "arm_status TARGET_POS_EXCEEDS_LIMIT, joint limit flag on joints [2]"
    assert status_fault(PiperStatusMsg(joint_6_angle_limit=True)) == "joint limit flag on joints [6]"
    assert status_fault(PiperStatusMsg(arm_status=0x42)) == "arm_status unknown code 0x42"


def test_a_partial_limits_field_keeps_the_piper_limits(tmp_path):
    site = load_cobot_site(write(tmp_path, {**preset(), "limits": {"max_step_deg": 2}}))
    assert (site.limits.lower, site.limits.upper, site.limits.max_step_deg) == (PIPER_LOWER, PIPER_UPPER, 2.0)


def test_step_cap_relative_to_the_last_command_too():
    site = load_cobot_site(SITES_DIR / "piper_ros2.json")
    safety = SafetyFilter(site.limits.safety_limits())
    step = math.radians(3.0)
    last = np.array([0.0, 1.0, -1.0, 0.0, 0.0, 0.0, 0.5] * 2)
    present = last.copy()
    present[0] = 0.5  # the joint swung far past its last command (an oscillation, a push)
    sent = safety.filter(np.full(14, 0.6), present, last)
    assert sent[0] == pytest.approx(step)  # towards the present, one step from the last command
    assert sent[7] == pytest.approx(step)  # an arm where both agree: one step as before


def test_piper_limits_and_step_cap_through_the_safety_filter():
    site = load_cobot_site(SITES_DIR / "piper_ros2.json")
    safety = SafetyFilter(site.limits.safety_limits())
    present = np.array([0.0, 1.0, -0.01, 0.0, 0.0, 0.0, 0.5] * 2)
    sent = safety.filter(np.full(14, 10.0), present, present)
    step = math.radians(site.limits.max_step_deg)
    np.testing.assert_allclose(sent[[0, 1, 3, 4, 5]], present[[0, 1, 3, 4, 5]] + step)
    assert sent[2] == 0.0  # j3's upper limit is 0: the cap would allow -0.01 + step, the limit wins
    assert sent[6] == 1.0 and safety.counts["step_cap"] == 1 and safety.counts["joint_limit"] == 1
    low = safety.filter(np.full(14, -10.0), present, present)
    assert low[1] == pytest.approx(1.0 - step) and low[4] == pytest.approx(-step)


def test_resize_frame_area_and_nearest():
    frame = np.zeros((480, 640, 3), np.uint8)
    frame[:, 320:] = 200
    small = resize_frame(frame, 96, 128)
    assert small.shape == (96, 128, 3) and (small[:, :64] == 0).all() and (small[:, 64:] == 200).all()
    odd = resize_frame(frame, 100, 100)
    assert odd.shape == (100, 100, 3) and odd[0, 0, 0] == 0 and odd[0, 99, 0] == 200
    assert resize_frame(frame, 480, 640) is frame


# -- CDR: the bytes a ROS 2 node puts on the wire (XCDR1, little endian, after a 4-byte header) ----


def cdr_string(text: str) -> bytes:
    data = text.encode() + b"\0"
    return struct.pack("<I", len(data)) + data


def pad(buffer: bytes, alignment: int) -> bytes:
    return buffer + b"\0" * (-(len(buffer)) % alignment)  # offsets count from after the header


HEADER = b"\x00\x01\x00\x00"  # CDR_LE


def test_cdr_bytes_of_bool_twist_jointstate_image():
    assert Bool(data=True).serialize(use_version_2=False) == HEADER + b"\x01"
    twist = Twist(linear=Vector3(x=0.5), angular=Vector3(z=-1.25))
    assert twist.serialize(use_version_2=False) == HEADER + struct.pack("<6d", 0.5, 0, 0, 0, 0, -1.25)

    stamp = struct.pack("<iI", 7, 500) + cdr_string("f")
    joint = pad(stamp, 4) + struct.pack("<I", 2) + cdr_string("joint0")
    joint = pad(joint, 4) + cdr_string("joint6")
    joint = pad(joint, 4) + struct.pack("<I", 2)
    joint = pad(joint, 8) + struct.pack("<2d", 0.25, 0.04)
    joint += struct.pack("<I", 0)
    joint = pad(joint, 4) + struct.pack("<I", 1)
    joint = pad(joint, 8) + struct.pack("<d", 1.5)
    message = JointState(header=Header(stamp=Time(sec=7, nanosec=500), frame_id="f"), name=["joint0", "joint6"],
                         position=[0.25, 0.04], velocity=[], effort=[1.5])
    assert message.serialize(use_version_2=False) == HEADER + joint

    image = pad(stamp, 4) + struct.pack("<II", 1, 2) + cdr_string("rgb8") + b"\x00"
    image = pad(image, 4) + struct.pack("<I", 6) + struct.pack("<I", 6) + bytes(range(6))
    message = Image(header=Header(stamp=Time(sec=7, nanosec=500), frame_id="f"), height=1, width=2, encoding="rgb8",
                    is_bigendian=0, step=6, data=bytes(range(6)))
    assert message.serialize(use_version_2=False) == HEADER + image


def humble_messages():
    """Pairs (ours, rosbags') of the same JointState, Image, Twist and Bool, with frame ids, names
    and sizes that leave every alignment case (strings of each length mod 4, empty sequences)."""
    from rosbags.typesys import Stores, get_typestore

    store = get_typestore(Stores.ROS2_HUMBLE)
    types = store.types
    rng = np.random.default_rng(0)
    for i in range(6):
        stamp = (int(rng.integers(-2**31, 2**31)), int(rng.integers(0, 10**9)))
        frame_id = "cam_f"[:i]
        ours_header = Header(stamp=Time(sec=stamp[0], nanosec=stamp[1]), frame_id=frame_id)
        theirs_header = types["std_msgs/msg/Header"](
            stamp=types["builtin_interfaces/msg/Time"](sec=stamp[0], nanosec=stamp[1]), frame_id=frame_id)
        names = [f"joint{j}"[: 1 + (j + i) % 6] for j in range(i + 1)]
        position, velocity = rng.normal(size=len(names)), rng.normal(size=i % 2 * len(names))
        effort = rng.normal(size=i)
        yield "sensor_msgs/msg/JointState", store, JointState(
            header=ours_header, name=names, position=list(position), velocity=list(velocity), effort=list(effort)), \
            types["sensor_msgs/msg/JointState"](header=theirs_header, name=names, position=position,
                                                  velocity=velocity, effort=effort)
        height, width = 1 + i, 2 + i % 3
        pixels = rng.integers(0, 256, size=height * width * 3, dtype=np.uint8)
        yield "sensor_msgs/msg/Image", store, Image(
            header=ours_header, height=height, width=width, encoding="rgb8"[: 1 + i % 4], is_bigendian=i % 2,
            step=width * 3, data=pixels.tobytes()), \
            types["sensor_msgs/msg/Image"](header=theirs_header, height=height, width=width,
                                           encoding="rgb8"[: 1 + i % 4], is_bigendian=i % 2, step=width * 3,
                                           data=pixels)
        linear, angular = rng.normal(size=3), rng.normal(size=3)
        vector = types["geometry_msgs/msg/Vector3"]
        yield "geometry_msgs/msg/Twist", store, Twist(linear=Vector3(*linear), angular=Vector3(*angular)), \
            types["geometry_msgs/msg/Twist"](linear=vector(*linear), angular=vector(*angular))
        yield "std_msgs/msg/Bool", store, Bool(data=bool(i % 2)), types["std_msgs/msg/Bool"](data=bool(i % 2))


def test_cdr_bytes_match_rosbags_for_humble_types():
    """Byte for byte what rosbags' CDR serializer (an independent implementation of ROS 2's
    serialisation, with Humble's message definitions) makes of the same message, and back."""
    checked = set()
    for typename, store, ours, theirs in humble_messages():
        wire = ours.serialize(use_version_2=False)
        assert wire == bytes(store.serialize_cdr(theirs, typename)), typename
        # and each reads the other's bytes back to the same message (bytes compared: ours keeps
        # uint8[] as a list, rosbags as a numpy array)
        assert type(ours).deserialize(wire).serialize(use_version_2=False) == wire, typename
        assert bytes(store.serialize_cdr(store.deserialize_cdr(wire, typename), typename)) == wire, typename
        checked.add(typename)
    assert len(checked) == 4


def test_cdr_round_trip_of_piper_status():
    status = PiperStatusMsg(ctrl_mode=1, arm_status=7, err_code=-3, joint_4_angle_limit=True)
    data = status.serialize(use_version_2=False)
    assert data == HEADER + bytes([1, 7, 0, 0, 0, 0]) + b"\0\0" + struct.pack("<q", -3) + bytes([0, 0, 0, 1] + [0] * 8)
    assert PiperStatusMsg.deserialize(data) == status


def test_stamp_sync_takes_the_oldest_newest_camera_time_and_the_first_message_not_older():
    from robot.cobot_magic.stamp_sync import synchronise

    cameras = {"cam_high": [(0.900, "f0"), (0.933, "f1"), (0.966, "f2")],
               "cam_left_wrist": [(0.910, "l0"), (0.943, "l1")],  # the laggard: its newest sets the time
               "cam_right_wrist": [(0.950, "r0"), (0.983, "r1")]}
    arms = {"left_arm": [(0.940, "a0"), (0.942, "a1"), (0.945, "a2"), (0.950, "a3")],
            "right_arm": [(0.941, "b0"), (0.946, "b1")]}
    synced = synchronise(cameras | arms, leading=cameras)
    assert synced.time_s == 0.943
    assert {source: message for source, (_, message) in synced.picked.items()} == {
        "cam_high": "f2", "cam_left_wrist": "l1", "cam_right_wrist": "r0",
        "left_arm": "a2",  # 0.942 is nearer but older than the sync time: their rule never picks it
        "right_arm": "b1"}
    lagging = arms | {"right_arm": [(0.930, "b0")]}  # an arm that has not reached the sync time yet
    assert synchronise(cameras | lagging, leading=cameras) is None
    assert synchronise(cameras | {"left_arm": []}, leading=cameras) is None  # nothing heard from a source
    # Without cameras, the arms sync with each other.
    assert synchronise(arms, leading=cameras).time_s == 0.946
