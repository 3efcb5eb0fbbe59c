"""Health checks of a Mobile ALOHA site: is every device there, is every topic fresh and fast?

``diagnose`` listens for ``listen_s`` and returns one Check per device or topic: joint states of
each arm (rate vs nominal; below the site's minimum is a failure), each camera (RealSense by
serial, or its Image topic), and whether the followers' command topics and the base's cmd_vel
have a subscriber (the driver). It commands nothing. The first lines say what it ran on: the
transport (and why not rclpy, where ``auto`` fell back), the Python and the ROS 2 sourced.
"""

from __future__ import annotations

import os
import platform
import time
from dataclasses import dataclass

from robot.aloha.messages import Image, JointGroupCommand, JointSingleCommand, JointState, Twist
from robot.aloha.site import SIDES, CameraConfig, SiteConfig
from robot.aloha.transport import Transport, open_transport


@dataclass(frozen=True)
class Check:
    name: str  # topic or device
    ok: bool
    detail: str


def diagnose(site: SiteConfig, listen_s: float = 1.5, transport: Transport | None = None) -> list[Check]:
    own = transport is None
    transport = transport or open_transport(site.transport, site.domain_id, node_name="wmpo_doctor")
    try:
        states = {f"/{ns}/joint_states": transport.subscribe(f"/{ns}/joint_states", JointState)
                  for group in (site.followers, site.leaders) for ns in (group[s] for s in SIDES)}
        images = {c.name: transport.subscribe(c.topic, Image, sensor_data=True)
                  for c in site.cameras if c.source == "topic"}
        commands = {}
        for side in SIDES:
            ns = site.followers[side]
            commands[f"/{ns}/commands/joint_group"] = JointGroupCommand
            commands[f"/{ns}/commands/joint_single"] = JointSingleCommand
        if site.base_cmd_vel:
            commands[site.base_cmd_vel] = Twist
        probed = probe_commands(transport, commands)
        time.sleep(listen_s)
        checks = [rate_check(topic, sub, site.bounds.joint_state_hz, site.bounds.joint_state_min_hz)
                  for topic, sub in states.items()]
        for camera in site.cameras:
            if camera.source == "topic":
                checks.append(rate_check(f"camera {camera.name} ({camera.topic})", images[camera.name],
                                          camera.fps, site.bounds.camera_min_hz))
            else:
                checks.append(_realsense_check(camera))
        return environment_checks(transport) + checks + subscriber_checks(transport, probed)
    finally:
        if own:
            transport.close()


def environment_checks(transport: Transport) -> list[Check]:
    """What the checks ran on: informational lines, never a failure by themselves."""
    transport_detail = transport.name + (f" (rclpy not used: {transport.why})" if transport.why else "")
    distro = os.environ.get("ROS_DISTRO")
    return [Check("transport", True, transport_detail),
            Check("python", True, f"{platform.python_version()} ({platform.python_implementation()})"),
            Check("ros", True, f"ROS 2 {distro}" if distro else "no ROS 2 sourced (ROS_DISTRO unset)")]


def probe_commands(transport: Transport, commands: dict[str, type]) -> list[str]:
    """Writers on the command topics, so the driver's readers match them; nothing is ever written.
    The topics probed ([] where the transport cannot count subscribers)."""
    if not hasattr(transport, "subscriber_count"):
        return []
    for topic, kind in commands.items():
        transport.publisher(topic, kind)  # the writer stays with the transport
    return list(commands)


def subscriber_checks(transport: Transport, topics: list[str]) -> list[Check]:
    """Whether a driver subscribes to each probed command topic."""
    checks = []
    for topic in topics:
        count = transport.subscriber_count(topic)
        checks.append(Check(topic, count > 0, f"{count} subscriber(s)" if count else
                            "no subscriber: the driver is not listening for commands"))
    return checks


def rate_check(name: str, subscription, nominal_hz: float, min_hz: float) -> Check:
    message, age = subscription.latest()
    if message is None:
        return Check(name, False, "missing: nothing received")
    rate = subscription.rate_hz()
    if rate is None:
        return Check(name, False, f"one message only, {age:.2f}s ago (nominal {nominal_hz:.0f} Hz)")
    if rate < min_hz:
        return Check(name, False, f"too slow: {rate:.1f} Hz (nominal {nominal_hz:.0f} Hz, minimum {min_hz:.0f} Hz)")
    return Check(name, True, f"{rate:.1f} Hz (nominal {nominal_hz:.0f} Hz)")


def _realsense_check(camera: CameraConfig) -> Check:
    name = f"camera {camera.name} (serial {camera.serial or '-'})"
    try:
        import pyrealsense2 as rs
    except ImportError as exc:
        return Check(name, False, f"pyrealsense2 does not import ({exc}); it needs libusb-1.0-0")
    if camera.playback:
        from robot.aloha.cameras import RealSenseCamera
        source = RealSenseCamera(camera)
        try:
            source.start(timeout_s=3.0)
            time.sleep(0.5)
            rate = source.rate_hz()
            return Check(name, True, f"playing {camera.playback}, {rate or 0:.1f} Hz")
        except Exception as exc:
            return Check(name, False, str(exc))
        finally:
            source.stop()
    serials = [d.get_info(rs.camera_info.serial_number) for d in rs.context().query_devices()]
    if camera.serial in serials:
        return Check(name, True, "connected")
    return Check(name, False, f"missing: connected RealSense serials are {serials or 'none'}")


def report(checks: list[Check]) -> str:
    width = max((len(c.name) for c in checks), default=0)
    lines = [f"{'ok ' if c.ok else 'BAD'}  {c.name:<{width}}  {c.detail}" for c in checks]
    bad = sum(not c.ok for c in checks)
    lines.append("all green" if not bad else f"{bad} of {len(checks)} checks failed")
    return "\n".join(lines)
