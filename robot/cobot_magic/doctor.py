"""Health checks of a Cobot Magic site: every arm's joint state, status and enable state, every
camera topic, and whether the drivers listen for commands, enable_flag and cmd_vel. It commands
nothing, and never calls enable_srv: its reply is the stock Piper node's only report of the enable
state, and the call itself enables the arm. The enable state is read from the arm's
``enable_state`` topic (std_msgs/Bool) where the site names one (a driver that publishes it);
otherwise the line says it is unknown until connect.
"""

from __future__ import annotations

import time

from robot.aloha.doctor import Check, environment_checks, probe_commands, rate_check, subscriber_checks
from robot.aloha.messages import Image, JointState, Twist
from robot.aloha.site import SIDES
from robot.aloha.transport import Transport, open_transport
from robot.cobot_magic.messages import Bool, PiperStatusMsg, describe_status, status_fault
from robot.cobot_magic.site import CobotMagicSite

STATUS_MIN_HZ = 5.0  # the stock node publishes it with every joint state


def diagnose(site: CobotMagicSite, listen_s: float = 1.5, transport: Transport | None = None) -> list[Check]:
    own = transport is None
    transport = transport or open_transport(site.transport, site.domain_id, node_name="wmpo_doctor")
    try:
        states = {arm.state: transport.subscribe(arm.state, JointState) for arm in site.arms.values()}
        states |= {arm.leader: transport.subscribe(arm.leader, JointState) for arm in site.arms.values() if arm.leader}
        statuses = {side: transport.subscribe(site.arms[side].status, PiperStatusMsg) for side in SIDES}
        enables = {side: transport.subscribe(site.arms[side].enable_state, Bool)
                   for side in SIDES if site.arms[side].enable_state}
        images = {c.name: transport.subscribe(c.topic, Image, sensor_data=True) for c in site.cameras}
        commands = {topic: kind for arm in site.arms.values()
                    for topic, kind in ((arm.command, JointState), (arm.enable_flag, Bool))}
        if site.base_cmd_vel:
            commands[site.base_cmd_vel] = Twist
        probed = probe_commands(transport, commands)
        time.sleep(listen_s)
        checks = [rate_check(topic, sub, site.bounds.joint_state_hz, site.bounds.joint_state_min_hz)
                  for topic, sub in states.items()]
        checks += [_status_check(side, site.arms[side].status, statuses[side]) for side in SIDES]
        checks += [_enable_check(side, site.arms[side].enable_state, enables.get(side)) for side in SIDES]
        checks += [rate_check(f"camera {c.name} ({c.topic})", images[c.name], c.fps, site.bounds.camera_min_hz)
                   for c in site.cameras]
        return environment_checks(transport) + checks + subscriber_checks(transport, probed)
    finally:
        if own:
            transport.close()


def _status_check(side: str, topic: str, subscription) -> Check:
    name = f"{side} arm status ({topic})"
    rate = rate_check(name, subscription, STATUS_MIN_HZ, STATUS_MIN_HZ)
    if not rate.ok:
        return rate
    message, _ = subscription.latest()
    return Check(name, status_fault(message) is None, f"{describe_status(message)}; {rate.detail}")


def _enable_check(side: str, topic: str, subscription) -> Check:
    """An arm's enable state. Not enabled is no fault (the backend enables the arms at connect);
    a named enable_state topic that stays silent is."""
    if subscription is None:
        return Check(f"{side} arm enable state", True,
                     f"unknown: the stock Piper node publishes none (set arms.{side}.enable_state to a driver's "
                     f"std_msgs/Bool topic); the arm is enabled at connect")
    name = f"{side} arm enable state ({topic})"
    message, age = subscription.latest()
    if message is None:
        return Check(name, False, "missing: nothing received")
    state = "enabled" if message.data else "not enabled (the arm is enabled at connect)"
    return Check(name, True, f"{state}, {age:.2f}s ago")
