"""Health checks of a Cobot Magic site: every arm's joint state and status, every camera topic,
and whether the drivers listen for commands, enable_flag and cmd_vel. It commands nothing.

The enable state is read passively from the status topic (control mode and fault flags): the
stock Piper node reports enable only as enable_srv's reply, and calling that would enable the arm.
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
