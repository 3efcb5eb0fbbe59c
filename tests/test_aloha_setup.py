"""Setting up an Interbotix ALOHA as ALOHA does: the gripper current limit through the RegisterValues
service at connect, a gripper reboot at every reset (Cyclone DDS on loopback, the simulated node),
and the RegisterValues request byte for byte as rosbags serialises the real service definition."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from aloha_wire import sim_site  # sets CYCLONEDDS_URI first

from robot.aloha.backend import MobileAloha
from robot.aloha.messages import RegisterValuesRequest, RegisterValuesResponse
from robot.aloha.site import SiteConfigError
from robot.aloha.sim_node import SimNode

# interbotix_xs_msgs/srv/RegisterValues.srv, request and response halves
REGISTER_VALUES_REQUEST = "string cmd_type\nstring name\nstring reg\nint32 value\n"
REGISTER_VALUES_RESPONSE = "int32[] values\n"


def test_register_values_request_and_response_match_rosbags_byte_for_byte():
    """rmw_cyclonedds sends a service request as the request header (client id, sequence number)
    followed by the .srv fields: our bytes must be exactly that around rosbags' CDR of the fields."""
    from rosbags.typesys import Stores, get_types_from_msg, get_typestore

    store = get_typestore(Stores.ROS2_HUMBLE)
    names = []
    for text, half in ((REGISTER_VALUES_REQUEST, "Request"), (REGISTER_VALUES_RESPONSE, "Response")):
        types = get_types_from_msg(text, f"interbotix_xs_msgs/srv/RegisterValues_{half}")
        store.register(types)
        names += list(types)  # rosbags files a .srv half under srv/msg/
    request_name, response_name = names
    request, response = store.types[request_name], store.types[response_name]
    header = struct.pack("<Qq", 0x1234_5678_9ABC_DEF0, 7)
    for name, reg, value in [("gripper", "current_limit", 300), ("arm", "Position_P_Gain", -1), ("", "", 0)]:
        theirs = bytes(store.serialize_cdr(request(cmd_type="single", name=name, reg=reg, value=value),
                                           request_name))
        ours = RegisterValuesRequest(client_id=0x1234_5678_9ABC_DEF0, sequence_number=7, cmd_type="single",
                                     name=name, reg=reg, value=value).serialize(use_version_2=False)
        assert ours == theirs[:4] + header + theirs[4:], (name, reg, value)
    for values in ([], [300], [1, -2, 3]):
        theirs = bytes(store.serialize_cdr(response(values=np.array(values, dtype=np.int32)),
                                           response_name))
        ours = RegisterValuesResponse(client_id=0x1234_5678_9ABC_DEF0, sequence_number=7,
                                      values=values).serialize(use_version_2=False)
        assert ours == theirs[:4] + header + theirs[4:], values


def test_current_limit_is_set_at_connect_and_the_grippers_reboot_at_every_reset():
    site = sim_site(cameras=(), gripper_current_limit=250)
    with SimNode(site) as node, MobileAloha(site, reset_duration_s=0.1) as robot:
        for side in ("left", "right"):
            calls = node.motors[side].calls
            registers = [call for call in calls if call[0] == "set_motor_registers"]
            assert registers == [("set_motor_registers", "gripper.current_limit", "250")]
            # after the operating modes (a mode change may reset it), before torque on, as ALOHA
            assert calls.index(registers[0]) == 3 and calls[4][0] == "torque_enable"
            assert node.motors[side].reboots == 1
        robot.reset()
        robot.reset()
        for side in ("left", "right"):
            assert node.motors[side].reboots == 3
            assert node.motors[side].calls[-2:] == [("reboot_motors", "gripper", "True")] * 2
            assert all(node.motors[side].torque.values())  # the reboot turns torque back on


def test_current_limit_zero_leaves_the_register_and_a_bad_one_is_named():
    site = sim_site(cameras=(), gripper_current_limit=0)
    with SimNode(site) as node, MobileAloha(site, reset_duration_s=0.1):
        assert not any(call[0] == "set_motor_registers" for call in node.motors["left"].calls)
    with pytest.raises(SiteConfigError, match=r"gripper_current_limit 5000; expected 0\.\.1193"):
        sim_site(gripper_current_limit=5000)
