"""Site configuration of a Cobot Magic: topic names per arm, cameras, gripper range, limits, rates.

Loaded from a JSON file with ``"robot": "cobot_magic"`` (``robot.sites.load_robot_site`` picks the
backend from that field), checked field by field with the Mobile ALOHA site machinery, so an error
names the bad field by its path in the file. Two presets ship in ``sites/``: the ROS 2 Piper names
(``piper_ros2.json``) and the leader/follower launch's ``/puppet`` ``/master`` names
(``puppet_master.json``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from robot.aloha.site import (SIDES, ArmLimits, Bounds, CameraConfig, GripperConstants, SiteConfigError,
                              build_site, check_base, check_middleware, read_site_file)

SITES_DIR = Path(__file__).parent / "sites"

# Piper joint limits (rad), joints 1..6 (published as joint0..joint5).
PIPER_LOWER = (-2.618, 0.0, -2.967, -1.745, -1.22, -2.094)
PIPER_UPPER = (2.618, 3.14, 0.0, 1.745, 1.22, 2.094)
# Piper_ros's nodes name their joint states one of two ways (older: joint0..joint6, the last the
# gripper in metres; newer: joint1..joint6 and gripper). Commands use the newer names: the newer
# node reads a command's joints BY NAME (joint1..joint6; others count as 0!), the older by index,
# and both read the gripper at index 6.
PIPER_COMMAND_NAMES = ("joint1", "joint2", "joint3", "joint4", "joint5", "joint6", "gripper")
PIPER_STATE_NAMINGS = (("joint0", "joint1", "joint2", "joint3", "joint4", "joint5", "joint6"), PIPER_COMMAND_NAMES)
# The Piper gripper is observed and commanded in metres (0 closed .. 0.08 open), so its "joint"
# constants are metres too: normalise_position reads a state, position() makes a command.
PIPER_GRIPPER = GripperConstants(position_open=0.08, position_close=0.0, joint_open=0.08, joint_close=0.0)
TRACER_TIMEOUT_S = 0.5  # the Tracer base stops by itself when cmd_vel falls silent this long


def _topic(value: str, what: str, optional: bool = False) -> None:
    if optional and value == "":
        return
    if not value.startswith("/") or " " in value:
        raise SiteConfigError(f"{what} {value!r}; expected an absolute ROS topic name like '/joint_states_l'"
                              + (" or ''" if optional else ""))


@dataclass(frozen=True)
class ArmTopics:
    """One Piper arm's ROS names. ``state``/``command``/``leader``: sensor_msgs/JointState;
    ``status``: piper_msgs/PiperStatusMsg; ``enable_flag``: std_msgs/Bool; ``enable_service``:
    piper_msgs/srv/Enable, whose reply says whether all six motor drivers report enabled."""

    state: str
    command: str
    status: str
    enable_flag: str
    enable_service: str
    leader: str = ""  # the leader arm's joint state (teleop); "" where there is none
    # std_msgs/Bool: whether all six motor drivers report enabled, for the doctor. The stock Piper
    # node publishes no such topic (only enable_srv's reply, and calling it enables the arm); ""
    # where the driver does not publish one.
    enable_state: str = ""

    def __post_init__(self):
        for name in ("state", "command", "status", "enable_flag", "enable_service"):
            _topic(getattr(self, name), name)
        _topic(self.leader, "leader", optional=True)
        _topic(self.enable_state, "enable_state", optional=True)
        if self.leader and self.leader == self.command:
            raise SiteConfigError(f"leader {self.leader!r} is also the command topic: teleop would read its own "
                                  f"commands; expected the leader arm's own joint state topic")


@dataclass(frozen=True)
class CobotCamera:
    """A colour camera on a sensor_msgs/Image topic (rgb8). Frames arrive at ``topic_height`` x
    ``topic_width`` and are resized to ``height`` x ``width``, the size the policy expects."""

    name: str
    topic: str
    height: int = 96
    width: int = 128
    topic_height: int = 480
    topic_width: int = 640
    fps: int = 30

    def __post_init__(self):
        self.topic_config()  # the same checks as every camera

    def topic_config(self) -> CameraConfig:
        """The camera as it is on the wire (what TopicCamera and the sim node need)."""
        return CameraConfig(name=self.name, source="topic", topic=self.topic, height=self.topic_height,
                            width=self.topic_width, fps=self.fps)


@dataclass(frozen=True)
class PiperLimits(ArmLimits):
    """ArmLimits with the Piper's defaults, so a site file that sets only ``max_step_deg`` keeps the
    Piper's joint limits (not the vx300s's). The step is capped relative to the last command too,
    as AgileX's inference does."""

    lower: tuple[float, ...] = PIPER_LOWER
    upper: tuple[float, ...] = PIPER_UPPER
    max_step_deg: float = 3.0
    max_command_step_deg: float = 3.0


@dataclass(frozen=True)
class CobotMagicSite:
    name: str
    robot: str = "cobot_magic"
    transport: str = "auto"  # "auto": rclpy when it imports, else Cyclone DDS
    domain_id: int = 0
    arms: dict[str, ArmTopics] = field(default_factory=dict)
    gripper: GripperConstants = PIPER_GRIPPER
    cameras: tuple[CobotCamera, ...] = ()
    base_cmd_vel: str = "/cmd_vel"  # geometry_msgs/Twist to the Tracer; "" for no base
    # geometry_msgs/Twist from the operator during teleop-record (a joystick node's output); each
    # step it passes the safety filter's base caps to base_cmd_vel. "" for none: the base holds still.
    teleop_cmd_vel: str = ""
    base_max_linear_mps: float = 0.3  # every base command is clamped to these (a safety intervention)
    base_max_angular_rps: float = 0.5
    base_keepalive_s: float = 0.1  # re-send the base command this often (well inside the Tracer's timeout)
    base_command_hold_s: float = 0.3  # a drive() not renewed within this decays to zero velocity
    limits: PiperLimits = field(default_factory=PiperLimits)
    bounds: Bounds = field(default_factory=lambda: Bounds(joint_state_hz=200.0))
    control_rate_hz: float = 25.0
    start_pose: tuple[float, ...] = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0)  # per arm, rad (Piper's rest pose)
    speed_percent: int = 30  # command velocity[6]: the driver's motion speed, percent
    gripper_force: float = 1.0  # command effort[6]: gripper force, 0.5..3 (the driver's clamp)
    enable_timeout_s: float = 6.0  # the stock enable_srv itself waits up to 5 s for the drivers

    def __post_init__(self):
        if self.robot != "cobot_magic":
            raise SiteConfigError(f"robot {self.robot!r}; expected 'cobot_magic'")
        check_middleware(self.transport, self.domain_id)
        if set(self.arms) != set(SIDES):
            raise SiteConfigError(f"arms has sides {sorted(self.arms)}; expected exactly {list(SIDES)}")
        names = [camera.name for camera in self.cameras]
        if len(set(names)) != len(names):
            raise SiteConfigError(f"camera names {names} repeat; expected each once")
        _topic(self.base_cmd_vel, "base_cmd_vel", optional=True)
        _topic(self.teleop_cmd_vel, "teleop_cmd_vel", optional=True)
        if self.teleop_cmd_vel and (not self.base_cmd_vel or self.teleop_cmd_vel == self.base_cmd_vel):
            raise SiteConfigError(f"teleop_cmd_vel {self.teleop_cmd_vel!r} with base_cmd_vel {self.base_cmd_vel!r}; "
                                  f"expected a base to drive, on a topic other than the operator's")
        if not 0 < self.base_keepalive_s < TRACER_TIMEOUT_S / 2:
            raise SiteConfigError(f"base_keepalive_s {self.base_keepalive_s}; expected in (0, {TRACER_TIMEOUT_S / 2}) "
                                  f"s, well inside the Tracer's {TRACER_TIMEOUT_S} s command timeout")
        check_base(self)
        if not 1.0 <= self.control_rate_hz <= 200.0:
            raise SiteConfigError(f"control_rate_hz {self.control_rate_hz}; expected 1..200")
        if len(self.start_pose) != 6:
            raise SiteConfigError(f"start_pose has {len(self.start_pose)} values; expected 6 (one per arm joint)")
        outside = [i for i in range(6) if not self.limits.lower[i] <= self.start_pose[i] <= self.limits.upper[i]]
        if outside:
            raise SiteConfigError(f"start_pose {list(self.start_pose)} is outside the joint limits at joints {outside}")
        if not 1 <= self.speed_percent <= 100:
            raise SiteConfigError(f"speed_percent {self.speed_percent}; expected 1..100")
        if not 0.5 <= self.gripper_force <= 3.0:
            raise SiteConfigError(f"gripper_force {self.gripper_force}; expected 0.5..3")
        if not 0 < self.enable_timeout_s <= 30:
            raise SiteConfigError(f"enable_timeout_s {self.enable_timeout_s}; expected in (0, 30]")

    @property
    def control_period_s(self) -> float:
        return 1.0 / self.control_rate_hz


def load_cobot_site(path: Path | str) -> CobotMagicSite:
    """Read and check a Cobot Magic site file; SiteConfigError names the file and the bad field."""
    return build_site(CobotMagicSite, read_site_file(path), path)
