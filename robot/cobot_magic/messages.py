"""The Cobot Magic's own ROS 2 types as Cyclone DDS structs (the common ones -- JointState, Image,
Twist -- are ``robot.aloha.messages``). Fields in the order of their .msg / .srv files:
std_msgs/Bool; piper_msgs/PiperStatusMsg and piper_msgs/srv/Enable from agilexrobotics/Piper_ros.
"""

# No `from __future__ import annotations`: cyclonedds reads the field types at run time.
from dataclasses import dataclass

from cyclonedds.idl import IdlStruct
from cyclonedds.idl.types import int64, uint8, uint64

from robot.aloha.messages import ServiceType


@dataclass
class Bool(IdlStruct, typename="std_msgs::msg::dds_::Bool_"):
    data: bool = False


@dataclass
class PiperStatusMsg(IdlStruct, typename="piper_msgs::msg::dds_::PiperStatusMsg_"):
    ctrl_mode: uint8 = 0
    arm_status: uint8 = 0
    mode_feedback: uint8 = 0
    teach_status: uint8 = 0
    motion_status: uint8 = 0
    trajectory_num: uint8 = 0
    err_code: int64 = 0
    joint_1_angle_limit: bool = False
    joint_2_angle_limit: bool = False
    joint_3_angle_limit: bool = False
    joint_4_angle_limit: bool = False
    joint_5_angle_limit: bool = False
    joint_6_angle_limit: bool = False
    communication_status_joint_1: bool = False
    communication_status_joint_2: bool = False
    communication_status_joint_3: bool = False
    communication_status_joint_4: bool = False
    communication_status_joint_5: bool = False
    communication_status_joint_6: bool = False


@dataclass
class EnableRequest(IdlStruct, typename="piper_msgs::srv::dds_::Enable_Request_"):
    client_id: uint64 = 0  # rmw_cyclonedds request header, as in robot.aloha.messages
    sequence_number: int64 = 0
    enable_request: bool = False


@dataclass
class EnableResponse(IdlStruct, typename="piper_msgs::srv::dds_::Enable_Response_"):
    client_id: uint64 = 0
    sequence_number: int64 = 0
    enable_response: bool = False


ENABLE = ServiceType("piper_msgs/srv/Enable", EnableRequest, EnableResponse)

# PiperStatusMsg.arm_status codes (piper_sdk, ArmMsgFeedbackStatusEnum.ArmStatus).
ARM_STATUS = {0x00: "NORMAL", 0x01: "EMERGENCY_STOP", 0x02: "NO_SOLUTION", 0x03: "SINGULARITY_POINT",
              0x04: "TARGET_POS_EXCEEDS_LIMIT", 0x05: "JOINT_COMMUNICATION_ERR", 0x06: "JOINT_BRAKE_NOT_RELEASED",
              0x07: "COLLISION_OCCURRED", 0x08: "OVERSPEED_DURING_TEACHING_DRAG", 0x09: "JOINT_STATUS_ERR",
              0x0A: "OTHER_ERR", 0x0B: "TEACHING_RECORD", 0x0C: "TEACHING_EXECUTION", 0x0D: "TEACHING_PAUSE",
              0x0E: "MAIN_CONTROLLER_NTC_OVER_TEMPERATURE", 0x0F: "RELEASE_RESISTOR_NTC_OVER_TEMPERATURE"}
CTRL_MODE = {0x00: "STANDBY", 0x01: "CAN_CTRL", 0x02: "TEACHING_MODE", 0x03: "ETHERNET_CONTROL_MODE",
             0x04: "WIFI_CONTROL_MODE", 0x05: "REMOTE_CONTROL_MODE", 0x06: "LINKAGE_TEACHING_INPUT_MODE",
             0x07: "OFFLINE_TRAJECTORY_MODE"}


def status_fault(status: PiperStatusMsg) -> str | None:
    """Why this status must stop an episode, or None. Every arm_status but NORMAL stops it (e-stop,
    collision, limit, communication...): a policy must not keep commanding an arm in any of them."""
    limits = [i for i in range(1, 7) if getattr(status, f"joint_{i}_angle_limit")]
    if status.arm_status != 0:
        name = ARM_STATUS.get(status.arm_status, f"unknown code 0x{status.arm_status:02X}")
        return f"arm_status {name}" + (f", joint limit flag on joints {limits}" if limits else "")
    if limits:
        return f"joint limit flag on joints {limits}"
    return None


def describe_status(status: PiperStatusMsg) -> str:
    mode = CTRL_MODE.get(status.ctrl_mode, f"0x{status.ctrl_mode:02X}")
    return f"ctrl_mode {mode}, {status_fault(status) or 'arm_status NORMAL'}"
