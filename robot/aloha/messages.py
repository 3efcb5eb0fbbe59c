"""ROS 2 message and service types as Cyclone DDS structs, wire-compatible with ROS 2 Humble.

ROS 2 maps ``pkg/msg/Name`` to the DDS type ``pkg::msg::dds_::Name_`` with the fields of the
``.msg`` file in order, and topic ``/x`` to DDS topic ``rt/x``. A service ``pkg/srv/Name`` is a
request type ``pkg::srv::dds_::Name_Request_`` on topic ``rq/<service>Request`` and a reply type
``..._Response_`` on ``rr/<service>Reply``; rmw_cyclonedds prefixes both with a request header
(the client's 64-bit id and a sequence number), which is how the reply finds its caller.
An empty ROS 2 struct carries one ``uint8 structure_needs_at_least_one_member``.
"""

# No `from __future__ import annotations`: cyclonedds reads the field types at run time.
from dataclasses import dataclass, field

from cyclonedds.idl import IdlStruct
from cyclonedds.idl.types import float32, float64, int32, int64, sequence, uint8, uint32, uint64


@dataclass
class Time(IdlStruct, typename="builtin_interfaces::msg::dds_::Time_"):
    sec: int32 = 0
    nanosec: uint32 = 0


@dataclass
class Header(IdlStruct, typename="std_msgs::msg::dds_::Header_"):
    stamp: Time = field(default_factory=Time)
    frame_id: str = ""


@dataclass
class JointState(IdlStruct, typename="sensor_msgs::msg::dds_::JointState_"):
    header: Header = field(default_factory=Header)
    name: sequence[str] = field(default_factory=list)
    position: sequence[float64] = field(default_factory=list)
    velocity: sequence[float64] = field(default_factory=list)
    effort: sequence[float64] = field(default_factory=list)


@dataclass
class Image(IdlStruct, typename="sensor_msgs::msg::dds_::Image_"):
    header: Header = field(default_factory=Header)
    height: uint32 = 0
    width: uint32 = 0
    encoding: str = ""
    is_bigendian: uint8 = 0
    step: uint32 = 0
    data: sequence[uint8] = field(default_factory=bytes)


@dataclass
class Vector3(IdlStruct, typename="geometry_msgs::msg::dds_::Vector3_"):
    x: float64 = 0.0
    y: float64 = 0.0
    z: float64 = 0.0


@dataclass
class Twist(IdlStruct, typename="geometry_msgs::msg::dds_::Twist_"):
    linear: Vector3 = field(default_factory=Vector3)
    angular: Vector3 = field(default_factory=Vector3)


@dataclass
class JointGroupCommand(IdlStruct, typename="interbotix_xs_msgs::msg::dds_::JointGroupCommand_"):
    name: str = ""
    cmd: sequence[float32] = field(default_factory=list)


@dataclass
class JointSingleCommand(IdlStruct, typename="interbotix_xs_msgs::msg::dds_::JointSingleCommand_"):
    name: str = ""
    cmd: float32 = 0.0


# -- services: the wire form rmw_cyclonedds uses (request header, then the .srv fields) ------------


@dataclass
class TorqueEnableRequest(IdlStruct, typename="interbotix_xs_msgs::srv::dds_::TorqueEnable_Request_"):
    client_id: uint64 = 0  # request header: which client asked...
    sequence_number: int64 = 0  # ...and which of its calls this is
    cmd_type: str = ""  # "group" or "single"
    name: str = ""
    enable: bool = False


@dataclass
class TorqueEnableResponse(IdlStruct, typename="interbotix_xs_msgs::srv::dds_::TorqueEnable_Response_"):
    client_id: uint64 = 0
    sequence_number: int64 = 0
    structure_needs_at_least_one_member: uint8 = 0


@dataclass
class RebootRequest(IdlStruct, typename="interbotix_xs_msgs::srv::dds_::Reboot_Request_"):
    client_id: uint64 = 0
    sequence_number: int64 = 0
    cmd_type: str = ""
    name: str = ""
    enable: bool = False  # torque the motors on after the reboot
    smart_reboot: bool = False


@dataclass
class RebootResponse(IdlStruct, typename="interbotix_xs_msgs::srv::dds_::Reboot_Response_"):
    client_id: uint64 = 0
    sequence_number: int64 = 0
    structure_needs_at_least_one_member: uint8 = 0


@dataclass
class OperatingModesRequest(IdlStruct, typename="interbotix_xs_msgs::srv::dds_::OperatingModes_Request_"):
    client_id: uint64 = 0
    sequence_number: int64 = 0
    cmd_type: str = ""
    name: str = ""
    mode: str = ""
    profile_type: str = "velocity"
    profile_velocity: int32 = 0
    profile_acceleration: int32 = 0


@dataclass
class OperatingModesResponse(IdlStruct, typename="interbotix_xs_msgs::srv::dds_::OperatingModes_Response_"):
    client_id: uint64 = 0
    sequence_number: int64 = 0
    structure_needs_at_least_one_member: uint8 = 0


@dataclass
class RegisterValuesRequest(IdlStruct, typename="interbotix_xs_msgs::srv::dds_::RegisterValues_Request_"):
    client_id: uint64 = 0
    sequence_number: int64 = 0
    cmd_type: str = ""
    name: str = ""
    reg: str = ""  # the Dynamixel control-table item, e.g. ALOHA's "current_limit"
    value: int32 = 0  # what to set it to (ignored by get_motor_registers)


@dataclass
class RegisterValuesResponse(IdlStruct, typename="interbotix_xs_msgs::srv::dds_::RegisterValues_Response_"):
    client_id: uint64 = 0
    sequence_number: int64 = 0
    values: sequence[int32] = field(default_factory=list)  # filled by get_motor_registers only


REQUEST_HEADER = ("client_id", "sequence_number")


@dataclass(frozen=True)
class ServiceType:
    """A ROS 2 service type: its name (``pkg/srv/Name``) and its wire request / response structs."""

    name: str
    request: type
    response: type


TORQUE_ENABLE = ServiceType("interbotix_xs_msgs/srv/TorqueEnable", TorqueEnableRequest, TorqueEnableResponse)
REBOOT = ServiceType("interbotix_xs_msgs/srv/Reboot", RebootRequest, RebootResponse)
OPERATING_MODES = ServiceType("interbotix_xs_msgs/srv/OperatingModes", OperatingModesRequest, OperatingModesResponse)
REGISTER_VALUES = ServiceType("interbotix_xs_msgs/srv/RegisterValues", RegisterValuesRequest, RegisterValuesResponse)


def ros_type_name(struct: type) -> str:
    """``sensor_msgs::msg::dds_::JointState_`` -> ``sensor_msgs/msg/JointState`` (what rclpy imports)."""
    package, kind, _, name = struct.__idl_typename__.split("::")
    return f"{package}/{kind}/{name.rstrip('_')}"


def stamp(seconds: float) -> Time:
    whole = int(seconds)
    return Time(sec=whole, nanosec=int((seconds - whole) * 1e9))


def seconds(time: Time) -> float:
    return time.sec + time.nanosec * 1e-9
