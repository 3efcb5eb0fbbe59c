"""Health checks of a Mobile ALOHA site: is every device there, is every topic fresh and fast?

``diagnose`` listens for ``listen_s`` and returns one Check per device or topic: joint states of
each arm (rate vs nominal; below the site's minimum is a failure), each camera (RealSense by
serial, or its Image topic; per topic camera also the frames dropped and the skew between
cameras), whether the followers' command topics and the base's cmd_vel have a subscriber (the
driver), and each driver service the backend calls (found or not). It commands nothing and calls
no service. The first lines say what it ran on: the transport (and why not rclpy, where ``auto``
fell back), the Python and the ROS 2 sourced.
"""

from __future__ import annotations

import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path

from robot.aloha.messages import (OPERATING_MODES, REBOOT, REGISTER_VALUES, TORQUE_ENABLE, Image, JointGroupCommand,
                                  JointSingleCommand, JointState, Twist, seconds)
from robot.aloha.site import SIDES, CameraConfig, SiteConfig
from robot.aloha.transport import Transport, open_transport
from robot.camera_frames import dropped_frames


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
        for subscription in images.values():
            subscription.keep_recent(4096)  # every frame's stamp while we listen: drops and skew
        commands = {}
        for side in SIDES:
            ns = site.followers[side]
            commands[f"/{ns}/commands/joint_group"] = JointGroupCommand
            commands[f"/{ns}/commands/joint_single"] = JointSingleCommand
        if site.base_cmd_vel:
            commands[site.base_cmd_vel] = Twist
        probed = probe_commands(transport, commands)
        services = site_services(site)
        for service, (service_type, _) in services.items():
            transport.service_available(service, service_type)  # discovery starts while we listen
        time.sleep(listen_s)
        checks = [rate_check(topic, sub, site.bounds.joint_state_hz, site.bounds.joint_state_min_hz)
                  for topic, sub in states.items()]
        for camera in site.cameras:
            if camera.source == "topic":
                checks.append(rate_check(f"camera {camera.name} ({camera.topic})", images[camera.name],
                                          camera.fps, site.bounds.camera_min_hz))
            else:
                checks.append(_realsense_check(camera))
        checks += frame_checks([c for c in site.cameras if c.source == "topic"], images)
        if (buffer := receive_buffer_check(site.cameras)) is not None:
            checks.append(buffer)
        return (environment_checks(transport) + checks + subscriber_checks(transport, probed)
                + service_checks(transport, services))
    finally:
        if own:
            transport.close()


def frame_checks(cameras: list[CameraConfig], images: dict) -> list[Check]:
    """Per topic camera, the frames dropped while listening (gaps in the header stamps longer than
    1.5 frame periods), and the skew between the cameras' newest stamps (up to a frame period of it
    is only their phase). Counts to read, not failures: the rate check judges the stream."""
    checks, newest = [], {}
    for camera in cameras:
        stamps = [seconds(message.header.stamp) for message in images[camera.name].recent()]
        if len(stamps) < 2:
            continue
        dropped = dropped_frames(stamps, range(len(stamps)), 1 / camera.fps)  # every message received: counts 0, 1..
        checks.append(Check(f"camera {camera.name} frames", True, f"{dropped} dropped of {len(stamps) + dropped} "
                            f"in {stamps[-1] - stamps[0]:.1f}s (gaps in the stamps at {camera.fps} fps)"))
        newest[camera.name] = stamps[-1]
    if len(newest) > 1:
        spread = max(newest.values()) - min(newest.values())
        checks.append(Check("camera skew", True, f"{spread * 1000:.0f} ms between the newest frames' stamps of "
                            f"{', '.join(newest)}"))
    return checks


RMEM_MAX = Path("/proc/sys/net/core/rmem_max")
IMAGE_OVERHEAD_BYTES = 1024  # an Image message beyond its pixels: header, encoding, RTPS and CDR framing


def receive_buffer_check(cameras: list[CameraConfig], rmem_max: int | None = None) -> Check | None:
    """Whether the kernel lets a socket buffer hold one full-size Image message of the largest topic
    camera: DDS splits it into fragments that all wait in that buffer, and with Linux's default
    (208 KiB) a 640x480 rgb8 frame (900 KiB) loses fragments and never arrives whole. ``rmem_max``:
    net.core.rmem_max in bytes (default: read from /proc); None where there is no topic camera."""
    topic = [c for c in cameras if c.source == "topic"]
    if not topic:
        return None
    largest = max(topic, key=lambda c: c.height * c.width)
    needed = largest.height * largest.width * 3 + IMAGE_OVERHEAD_BYTES
    name = "socket receive buffer"
    if rmem_max is None:
        try:
            rmem_max = int(RMEM_MAX.read_text())
        except (OSError, ValueError) as exc:
            return Check(name, True, f"not checked: cannot read {RMEM_MAX} ({exc})")
    if rmem_max >= needed:
        return Check(name, True, f"net.core.rmem_max {rmem_max} bytes holds one {largest.width}x{largest.height} "
                                 f"image message ({needed} bytes)")
    advised = max(4 << 20, -(-2 * needed // (1 << 20)) << 20)  # two messages, whole MiB, at least 4 MiB
    return Check(name, False, f"net.core.rmem_max {rmem_max} bytes is below one {largest.width}x{largest.height} "
                              f"image message from {largest.name} ({needed} bytes): full-size frames over DDS will "
                              f"be lost; fix: sudo sysctl -w net.core.rmem_max={advised} (and add "
                              f"net.core.rmem_max={advised} to /etc/sysctl.d/10-dds.conf to keep it)")


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


def site_services(site: SiteConfig) -> dict[str, tuple]:
    """The driver services the backend calls: service -> (type, needed). The followers' set-up
    services are needed where the site sets them up; a leader's torque_enable where its leaders
    are powered (the opening ceremony)."""
    services = {}
    for side in SIDES:
        ns = site.followers[side]
        for name, service_type in (("reboot_motors", REBOOT), ("set_operating_modes", OPERATING_MODES),
                                   ("set_motor_registers", REGISTER_VALUES), ("torque_enable", TORQUE_ENABLE)):
            services[f"/{ns}/{name}"] = (service_type, site.setup_services)
    for side in SIDES:
        services[f"/{site.leaders[side]}/torque_enable"] = (TORQUE_ENABLE, site.leaders_powered)
    return services


def service_checks(transport: Transport, services: dict[str, tuple]) -> list[Check]:
    """One line per service probed: found, or not (a failure only where the backend needs it)."""
    checks = []
    for service, (service_type, needed) in services.items():
        if transport.service_available(service, service_type, timeout_s=0.2):
            checks.append(Check(f"service {service}", True, f"found ({service_type.name})"))
            continue
        why = "not found: no server"
        if transport.name == "Cyclone DDS":  # the usual cause on a stock robot PC
            why += " (services do not cross DDS vendors: run the driver with RMW_IMPLEMENTATION=rmw_cyclonedds_cpp)"
        checks.append(Check(f"service {service}", not needed, why if needed else f"{why}; not used by this site"))
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


def _realsense_check(camera: CameraConfig, listen_s: float = 0.5) -> Check:
    """The camera streams for ``listen_s``: its rate and (a device) the frames its numbering skipped.
    A camera that enumerates but will not stream (another process holds it) fails here. UNTESTED
    HERE on a device: CI has none; the playback path is the same code."""
    name = f"camera {camera.name} (serial {camera.serial or '-'})"
    try:
        import pyrealsense2 as rs
    except ImportError as exc:
        return Check(name, False, f"pyrealsense2 does not import ({exc}); it needs libusb-1.0-0")
    if not camera.playback:
        serials = [d.get_info(rs.camera_info.serial_number) for d in rs.context().query_devices()]
        if camera.serial not in serials:
            return Check(name, False, f"missing: connected RealSense serials are {serials or 'none'}")
    from robot.aloha.cameras import RealSenseCamera
    source = RealSenseCamera(camera)
    try:
        source.start(timeout_s=3.0)
        time.sleep(listen_s)
        if camera.playback:  # a file replays faster than real time, skipping frames: no drops to count
            return Check(name, True, f"playing {camera.playback}, {source.rate_hz() or 0:.1f} Hz")
        return Check(name, True, f"connected, streaming {source.rate_hz() or 0:.1f} Hz, {source.dropped} frames "
                                 f"dropped (gaps in the device's frame numbers)")
    except Exception as exc:  # reported, not raised: the doctor's job is to list every fault
        return Check(name, False, str(exc))
    finally:
        source.stop()


def report(checks: list[Check]) -> str:
    width = max((len(c.name) for c in checks), default=0)
    lines = [f"{'ok ' if c.ok else 'BAD'}  {c.name:<{width}}  {c.detail}" for c in checks]
    bad = sum(not c.ok for c in checks)
    lines.append("all green" if not bad else f"{bad} of {len(checks)} checks failed")
    return "\n".join(lines)
