"""Site configuration of a Mobile ALOHA: namespaces, cameras, gripper constants, limits, bounds.

Typed dataclasses, each checked in ``__post_init__``, loaded from a JSON file. Every error
names the bad field by its path in the file (``cameras[1].serial``) and what was expected.
Gripper normalisation: ``normalised = (x - close) / (open - close)``, observed from the finger's
linear position (m), commanded in motor radians. The defaults are Interbotix's ROS 2 values.
"""

from __future__ import annotations

import json
import math
import types
import typing
from dataclasses import MISSING, dataclass, field, fields, is_dataclass
from pathlib import Path

from robot.safety import VX300S_LOWER, VX300S_UPPER, SafetyLimits

SIDES = ("left", "right")
SITES_DIR = Path(__file__).parent / "sites"
# Upper bounds a site may set its base caps to: the SLATE driver's own clamp (1 m/s), and a turn rate
# at which a tall robot with arms out stays upright.
MAX_BASE_LINEAR_MPS = 1.0
MAX_BASE_ANGULAR_RPS = 1.5
MAX_GRIPPER_CURRENT_LIMIT = 1193  # the XM430-W350's own ceiling


class SiteConfigError(ValueError):
    """A site file is unreadable or a field has a bad value; the message names the field."""


@dataclass(frozen=True)
class GripperConstants:
    """Open / closed gripper: finger linear position (m) and gripper motor joint (rad)."""

    position_open: float
    position_close: float
    joint_open: float
    joint_close: float

    def __post_init__(self):
        if self.position_open == self.position_close:
            raise SiteConfigError(f"position_open == position_close == {self.position_open}; expected different values")
        if self.joint_open == self.joint_close:
            raise SiteConfigError(f"joint_open == joint_close == {self.joint_open}; expected different values")

    def normalise_position(self, metres: float) -> float:
        return (metres - self.position_close) / (self.position_open - self.position_close)

    def normalise_joint(self, radians: float) -> float:
        return (radians - self.joint_close) / (self.joint_open - self.joint_close)

    def position(self, normalised: float) -> float:
        return normalised * (self.position_open - self.position_close) + self.position_close

    def joint(self, normalised: float) -> float:
        return normalised * (self.joint_open - self.joint_close) + self.joint_close


FOLLOWER_GRIPPER = GripperConstants(position_open=0.0579, position_close=0.0440, joint_open=1.6214, joint_close=0.6197)
LEADER_GRIPPER = GripperConstants(position_open=0.0323, position_close=0.0185, joint_open=0.8298, joint_close=-0.0552)


@dataclass(frozen=True)
class CameraConfig:
    """One RealSense colour camera. ``source``: "realsense" (pyrealsense2, by serial; ``playback``
    a recorded .db3/.bag file instead of the device) or "topic" (a ROS sensor_msgs/Image topic,
    e.g. from realsense2_camera or the simulated node)."""

    name: str
    serial: str = ""
    source: str = "realsense"
    topic: str = ""
    playback: str = ""
    height: int = 480
    width: int = 640
    # ALOHA runs its RealSenses at 60 fps with auto-exposure off: at 30 fps ~40% of 50 Hz steps reuse a
    # frame, and auto-exposure in dim light lengthens the exposure and lowers the frame rate.
    fps: int = 60
    auto_exposure: bool = False
    exposure: int = 0  # with auto_exposure off: the colour sensor's exposure (device units); 0 keeps its own

    def __post_init__(self):
        if self.source not in ("realsense", "topic"):
            raise SiteConfigError(f"source {self.source!r}; expected 'realsense' or 'topic'")
        if self.source == "realsense" and not (self.serial or self.playback):
            raise SiteConfigError(f"camera {self.name}: serial is empty; expected the RealSense serial number")
        if self.source == "topic" and not self.topic.startswith("/"):
            raise SiteConfigError(f"camera {self.name}: topic {self.topic!r}; expected a ROS topic name like "
                                  f"'/{self.name}/camera/color/image_rect_raw'")
        if not (8 <= self.height <= 2160 and 8 <= self.width <= 3840):
            raise SiteConfigError(f"camera {self.name}: size {self.height}x{self.width}; expected 8..2160 x 8..3840")
        if self.fps not in (6, 15, 30, 60, 90):
            raise SiteConfigError(f"camera {self.name}: fps {self.fps}; expected one of 6, 15, 30, 60, 90")
        if self.exposure < 0 or (self.exposure and self.auto_exposure):
            raise SiteConfigError(f"camera {self.name}: exposure {self.exposure} with auto_exposure "
                                  f"{self.auto_exposure}; expected 0, or a positive exposure with auto_exposure off")


@dataclass(frozen=True)
class ArmLimits:
    """Per-arm joint limits (rad, waist..wrist_rotate) and the per-step change cap (deg): relative to
    the present position, and (``max_command_step_deg`` > 0) to the last command as well."""

    lower: tuple[float, ...] = VX300S_LOWER
    upper: tuple[float, ...] = VX300S_UPPER
    max_step_deg: float = 5.0
    max_command_step_deg: float = 0.0  # 0: off

    def __post_init__(self):
        for name in ("lower", "upper"):
            if len(getattr(self, name)) != 6:
                raise SiteConfigError(f"{name} has {len(getattr(self, name))} values; expected 6 (one per arm joint)")
        bad = [i for i in range(6) if not self.lower[i] < self.upper[i]]
        if bad:
            raise SiteConfigError(f"lower not below upper at joints {bad}")
        if not 0 < self.max_step_deg <= 45:
            raise SiteConfigError(f"max_step_deg {self.max_step_deg}; expected in (0, 45]")
        if not 0 <= self.max_command_step_deg <= 45:
            raise SiteConfigError(f"max_command_step_deg {self.max_command_step_deg}; expected in [0, 45] (0: off)")

    def safety_limits(self) -> SafetyLimits:
        return SafetyLimits(lower=(*self.lower, 0.0, *self.lower, 0.0), upper=(*self.upper, 1.0, *self.upper, 1.0),
                            max_step_rad=math.radians(self.max_step_deg),
                            max_command_step_rad=math.radians(self.max_command_step_deg))


@dataclass(frozen=True)
class Bounds:
    """Staleness bounds (s): data older than this stops the episode. Rates (Hz): nominal and the
    least the doctor accepts."""

    joint_state_age_s: float = 0.1
    camera_age_s: float = 0.25
    joint_state_hz: float = 100.0
    joint_state_min_hz: float = 30.0
    camera_min_hz: float = 10.0
    connect_timeout_s: float = 5.0
    # Frozen joint states (robot/aloha/frozen.py): this many observations in a row commanded more
    # than frozen_move_rad away while no reading changes by more than frozen_noise_rad.
    frozen_cycles: int = 10
    frozen_noise_rad: float = 1e-4
    frozen_move_rad: float = 0.05
    # A camera whose device timestamp has not advanced for this many frame periods (1/fps) is frozen:
    # 4 frames is 67 ms at 60 fps, 133 ms at 30 fps -- sooner than camera_age_s, and it also catches a
    # driver re-sending its last frame.
    camera_frozen_frames: int = 4
    # Tracking error (robot/aloha/tracking.py): an arm joint further from its command than this fraction
    # of the per-step cap (limits.max_step_deg; 0.7 of 5 degrees is 0.061 rad) for tracking_cycles new
    # joint-state messages in a row (a blocked arm) stops the episode. A fraction, not radians: a blocked
    # arm is commanded at most one step cap away, so a limit at or above the cap could never trip.
    tracking_error_of_step: float = 0.7
    tracking_cycles: int = 25

    def __post_init__(self):
        for f in fields(self):
            if not getattr(self, f.name) > 0:
                raise SiteConfigError(f"{f.name} {getattr(self, f.name)}; expected > 0")
        if self.frozen_cycles < 2 or not self.frozen_move_rad > self.frozen_noise_rad:
            raise SiteConfigError(f"frozen_cycles {self.frozen_cycles}, frozen_move_rad {self.frozen_move_rad}, "
                                  f"frozen_noise_rad {self.frozen_noise_rad}; expected frozen_cycles >= 2 and "
                                  f"frozen_move_rad > frozen_noise_rad")
        if not self.tracking_error_of_step < 1:
            raise SiteConfigError(f"tracking_error_of_step {self.tracking_error_of_step}; expected in (0, 1): a "
                                  f"blocked arm is commanded at most one step cap (limits.max_step_deg) away")


@dataclass(frozen=True)
class SiteConfig:
    name: str
    robot: str = "interbotix_aloha"  # which backend the file is for (robot/sites.py)
    transport: str = "auto"  # "auto": rclpy when it imports, else Cyclone DDS
    domain_id: int = 0
    followers: dict[str, str] = field(default_factory=lambda: {"left": "follower_left", "right": "follower_right"})
    leaders: dict[str, str] = field(default_factory=lambda: {"left": "leader_left", "right": "leader_right"})
    follower_gripper: GripperConstants = FOLLOWER_GRIPPER
    leader_gripper: GripperConstants = LEADER_GRIPPER
    cameras: tuple[CameraConfig, ...] = ()
    base_cmd_vel: str = "/mobile_base/cmd_vel"  # "" for a stationary ALOHA
    base_max_linear_mps: float = 0.3  # every base command is clamped to these (a safety intervention)
    base_max_angular_rps: float = 0.5
    base_keepalive_s: float = 0.05  # re-send the base command this often
    base_command_hold_s: float = 0.2  # the deadman: a drive() not renewed within this decays to zero
    limits: ArmLimits = field(default_factory=ArmLimits)
    bounds: Bounds = field(default_factory=Bounds)
    control_period_s: float = 0.02
    setup_services: bool = True  # reboot gripper, operating modes, current limit, torque on at connect
    # The follower grippers' Dynamixel current limit (units of 2.69 mA; ALOHA's 300 is ~0.8 A): set at
    # connect so a gripper closed on an object or a finger does not squeeze at full current. 0: leave it.
    gripper_current_limit: int = 300
    # Where the followers go, slowly and through the safety filter, at the end of a session (ALOHA's
    # follower sleep pose: folded, resting on the frame); torque stays on.
    sleep_pose: tuple[float, ...] = (0.0, -1.7, 1.55, 0.0, 0.65, 0.0)
    sleep_duration_s: float = 3.0
    # The opening ceremony of teleop: the leaders are powered (xs_sdk) and move to the start pose too.
    leaders_powered: bool = True

    def __post_init__(self):
        if self.robot != "interbotix_aloha":
            raise SiteConfigError(f"robot {self.robot!r}; expected 'interbotix_aloha'")
        check_middleware(self.transport, self.domain_id)
        for group in ("followers", "leaders"):
            namespaces = getattr(self, group)
            if set(namespaces) != set(SIDES):
                raise SiteConfigError(f"{group} has sides {sorted(namespaces)}; expected exactly {list(SIDES)}")
            for side, namespace in namespaces.items():
                if not namespace or "/" in namespace.strip("/"):
                    raise SiteConfigError(f"{group}.{side} {namespace!r}; expected a namespace like 'follower_{side}'")
        names = [camera.name for camera in self.cameras]
        if len(set(names)) != len(names):
            raise SiteConfigError(f"camera names {names} repeat; expected each once")
        if self.base_cmd_vel and not self.base_cmd_vel.startswith("/"):
            raise SiteConfigError(f"base_cmd_vel {self.base_cmd_vel!r}; expected a topic starting with '/' or ''")
        check_base(self)
        if not 0 <= self.gripper_current_limit <= MAX_GRIPPER_CURRENT_LIMIT:
            raise SiteConfigError(f"gripper_current_limit {self.gripper_current_limit}; expected "
                                  f"0..{MAX_GRIPPER_CURRENT_LIMIT} (Dynamixel units of 2.69 mA; ALOHA uses 300; 0 "
                                  f"leaves the motor's own)")
        check_pose("sleep_pose", self.sleep_pose)
        if not 0 < self.sleep_duration_s <= 30:
            raise SiteConfigError(f"sleep_duration_s {self.sleep_duration_s}; expected in (0, 30] s")
        if not 0.001 <= self.control_period_s <= 0.2:
            raise SiteConfigError(f"control_period_s {self.control_period_s}; expected 0.001..0.2")

    def topic(self, namespace: str, name: str) -> str:
        return f"/{namespace.strip('/')}/{name}"


def check_pose(name: str, pose: tuple[float, ...]) -> None:
    """An arm pose: 6 finite joint angles (rad). Outside the arm limits the safety filter clamps it."""
    if len(pose) != 6 or not all(math.isfinite(x) for x in pose):
        raise SiteConfigError(f"{name} {list(pose)}; expected 6 finite joint angles (waist..wrist_rotate, rad)")


def check_middleware(transport: str, domain_id: int) -> None:
    """The ``transport`` and ``domain_id`` fields every site file has."""
    if transport not in ("auto", "rclpy", "dds"):
        raise SiteConfigError(f"transport {transport!r}; expected 'auto', 'rclpy' or 'dds'")
    if not 0 <= domain_id <= 232:
        raise SiteConfigError(f"domain_id {domain_id}; expected 0..232 (ROS_DOMAIN_ID)")


def check_base(site) -> None:
    """The base fields every site file has: velocity caps, keep-alive period and deadman."""
    if not 0 < site.base_max_linear_mps <= MAX_BASE_LINEAR_MPS:
        raise SiteConfigError(f"base_max_linear_mps {site.base_max_linear_mps}; expected in (0, {MAX_BASE_LINEAR_MPS}] m/s")
    if not 0 < site.base_max_angular_rps <= MAX_BASE_ANGULAR_RPS:
        raise SiteConfigError(f"base_max_angular_rps {site.base_max_angular_rps}; expected in "
                              f"(0, {MAX_BASE_ANGULAR_RPS}] rad/s")
    if not 0 < site.base_keepalive_s <= 0.25:
        raise SiteConfigError(f"base_keepalive_s {site.base_keepalive_s}; expected in (0, 0.25] s")
    if not site.base_keepalive_s <= site.base_command_hold_s <= 2.0:
        raise SiteConfigError(f"base_command_hold_s {site.base_command_hold_s}; expected base_keepalive_s..2.0 s")


def base_safety_limits(limits: SafetyLimits, site) -> SafetyLimits:
    """The arms' safety limits with the site's base caps."""
    return _replace(limits, max_base_linear_mps=site.base_max_linear_mps,
                    max_base_angular_rps=site.base_max_angular_rps)


# -- loading ----------------------------------------------------------------------------------------


def load_site(path: Path | str) -> SiteConfig:
    """Read and check a site file; SiteConfigError names the file and the bad field."""
    path = Path(path)
    data = read_site_file(path)
    if data.get("robot", "interbotix_aloha") != "interbotix_aloha":  # before its fields confuse the checks
        raise SiteConfigError(f"site file {path}: robot {data['robot']!r}; expected 'interbotix_aloha' (load a "
                              f"Cobot Magic site with robot.sites.load_robot_site)")
    site = build_site(SiteConfig, data, path)
    # A playback file is relative to the site file, so a site folder can travel whole.
    cameras = tuple(camera if not camera.playback or Path(camera.playback).is_absolute() else
                    _replace(camera, playback=str(path.parent / camera.playback)) for camera in site.cameras)
    return _replace(site, cameras=cameras)


def read_site_file(path: Path | str) -> dict:
    """The JSON object in a site file; SiteConfigError if it is missing or not JSON."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise SiteConfigError(f"site file {path} does not exist") from None
    except json.JSONDecodeError as exc:
        raise SiteConfigError(f"site file {path}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise SiteConfigError(f"site file {path}: expected a JSON object, got {type(data).__name__}")
    return data


def build_site(cls, data: dict, path: Path | str):
    """A checked site config of dataclass ``cls``; the error names the file and the bad field."""
    try:
        return build(cls, data, "")
    except SiteConfigError as exc:
        raise SiteConfigError(f"site file {path}: {exc}") from None


def _replace(obj, **changes):
    from dataclasses import replace
    return replace(obj, **changes)


def build(cls, data, path: str):
    """``cls`` (a dataclass) from JSON ``data``, checking every field's type against its annotation."""
    if not isinstance(data, dict):
        raise SiteConfigError(f"{path or 'the file'}: expected a JSON object, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise SiteConfigError(f"{_join(path, unknown[0])}: unknown field; expected one of {sorted(known)}")
    values = {}
    for name, f in known.items():
        where = _join(path, name)
        if name not in data:
            if f.default is MISSING and f.default_factory is MISSING:
                raise SiteConfigError(f"{where}: missing; expected a {_describe(hints[name])}")
            continue
        values[name] = _value(hints[name], data[name], where)
    try:
        return cls(**values)
    except SiteConfigError as exc:
        raise SiteConfigError(f"{path}: {exc}" if path else str(exc)) from None


def _value(hint, value, where: str):
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if is_dataclass(hint):
        return build(hint, value, where)
    if origin is tuple:
        if not isinstance(value, list):
            raise SiteConfigError(f"{where}: expected a list of {_describe(args[0])}, got {json.dumps(value)}")
        return tuple(_value(args[0], item, f"{where}[{i}]") for i, item in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise SiteConfigError(f"{where}: expected an object, got {json.dumps(value)}")
        return {k: _value(args[1], v, f"{where}.{k}") for k, v in value.items()}
    if hint is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if hint in (str, int, bool) and type(value) is hint:
        return value
    raise SiteConfigError(f"{where}: expected a {_describe(hint)}, got {json.dumps(value)}")


def _describe(hint) -> str:
    if is_dataclass(hint):
        return f"{hint.__name__} object"
    origin = typing.get_origin(hint)
    if origin is tuple:
        return f"list of {_describe(typing.get_args(hint)[0])}"
    if origin is dict:
        return "object"
    return {str: "string", int: "integer", float: "number", bool: "boolean"}.get(hint, str(hint))


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name
