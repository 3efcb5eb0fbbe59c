"""One Interbotix arm on ROS 2: its joint states in, its commands out, its set-up services.

Joint states arrive at ~100 Hz from ``xs_sdk`` as ``[waist .. wrist_rotate, gripper, left_finger,
right_finger]`` (read by name, not position). ``qpos7`` is ``[6 joints (rad), gripper (0 closed ..
1 open)]``: the follower's gripper from its finger's linear position, the leader's from its
gripper joint (as the ALOHA teleop does). Commands: arm group in radians, gripper in motor radians.
"""

from __future__ import annotations

import numpy as np

from robot.aloha.messages import (OPERATING_MODES, REBOOT, REGISTER_VALUES, TORQUE_ENABLE, JointGroupCommand,
                                  JointSingleCommand, JointState)
from robot.aloha.site import GripperConstants
from robot.aloha.transport import Transport
from robot.features import ARM_JOINTS
from robot.robot import RobotError


# ALOHA's spelling; xs_sdk hands it to Dynamixel Workbench as the control-table item name.
CURRENT_LIMIT_REGISTER = "current_limit"
REBOOT_GRIPPER = dict(cmd_type="single", name="gripper", enable=True, smart_reboot=False)


class Arm:
    def __init__(self, transport: Transport, namespace: str, gripper: GripperConstants, *, leader: bool = False):
        self.namespace = namespace.strip("/")
        self.gripper = gripper
        self.leader = leader
        self.transport = transport
        self.state_topic = f"/{self.namespace}/joint_states"
        self.joint_states = transport.subscribe(self.state_topic, JointState)
        self._publish_group = self._publish_single = None

    # -- reading ------------------------------------------------------------------------------------

    def qpos7(self, max_age_s: float) -> np.ndarray:
        """Present [6 joints, normalised gripper]; RobotError naming the topic if none or stale."""
        message = fresh_joint_state(self.joint_states, self.state_topic, max_age_s)
        return joint_state_qpos7(message, self.gripper, self.leader, self.state_topic)

    # -- commanding (followers) ---------------------------------------------------------------------

    def command(self, qpos7: np.ndarray) -> None:
        """Send [6 joints (rad), gripper normalised] as one group and one single command."""
        if self._publish_group is None:
            self._publish_group = self.transport.publisher(f"/{self.namespace}/commands/joint_group", JointGroupCommand)
            self._publish_single = self.transport.publisher(f"/{self.namespace}/commands/joint_single",
                                                            JointSingleCommand)
        self._publish_group(JointGroupCommand(name="arm", cmd=[float(x) for x in qpos7[:6]]))
        self._publish_single(JointSingleCommand(name="gripper", cmd=float(self.gripper.joint(float(qpos7[6])))))

    def set_up_follower(self, timeout_s: float = 5.0, current_limit: int = 0) -> None:
        """ALOHA's order: reboot the gripper motor, arm mode ``position``, gripper mode
        ``current_based_position`` (the stock config starts it in ``linear_position``, where
        commands are read as metres), the gripper's current limit (``current_limit`` > 0; ALOHA
        sets 300, so a gripper closed on an object or a finger does not squeeze at full current),
        torque on. Never torque off: the arm would fall."""
        ns = f"/{self.namespace}"
        calls = [(f"{ns}/reboot_motors", REBOOT, REBOOT_GRIPPER),
                 (f"{ns}/set_operating_modes", OPERATING_MODES, dict(cmd_type="group", name="arm", mode="position")),
                 (f"{ns}/set_operating_modes", OPERATING_MODES, dict(cmd_type="single", name="gripper",
                                                                      mode="current_based_position"))]
        if current_limit:
            calls.append((f"{ns}/set_motor_registers", REGISTER_VALUES,
                           dict(cmd_type="single", name="gripper", reg=CURRENT_LIMIT_REGISTER, value=current_limit)))
        calls += [(f"{ns}/torque_enable", TORQUE_ENABLE, dict(cmd_type="group", name="arm", enable=True)),
                  (f"{ns}/torque_enable", TORQUE_ENABLE, dict(cmd_type="single", name="gripper", enable=True))]
        for service, service_type, fields in calls:
            self._call(service, service_type, timeout_s, fields)

    def reboot_gripper(self, timeout_s: float = 5.0) -> None:
        """Reboot the gripper motor, torque back on (ALOHA does it at every reset: it clears a gripper
        that tripped its overload error while squeezing)."""
        self._call(f"/{self.namespace}/reboot_motors", REBOOT, timeout_s, REBOOT_GRIPPER)

    def set_torque(self, group: str, enable: bool, timeout_s: float = 5.0) -> None:
        """Torque on or off for ``group`` ("arm" or "gripper"). Off only ever for a leader, which the
        operator moves by hand; a follower without torque falls."""
        if enable is False and not self.leader:
            raise RobotError(f"{self.namespace}: refusing to turn a follower's torque off (the arm would fall)")
        self._call(f"/{self.namespace}/torque_enable", TORQUE_ENABLE, timeout_s,
                   dict(cmd_type="group" if group == "arm" else "single", name=group, enable=enable))

    def _call(self, service: str, service_type, timeout_s: float, fields: dict) -> None:
        try:
            self.transport.call(service, service_type, timeout_s=timeout_s, **fields)
        except RobotError as exc:
            raise RobotError(f"set-up of {self.namespace} failed at {service} {fields}: {exc}") from exc

def fresh_joint_state(subscription, topic: str, max_age_s: float) -> JointState:
    """The latest joint state on ``topic``; RobotError naming the topic if there is none or it is stale."""
    message, age = subscription.latest()
    if message is None:
        raise RobotError(f"no joint state received on {topic}")
    if age > max_age_s:
        raise RobotError(f"stale joint state on {topic}: {age * 1000:.0f} ms old (bound {max_age_s * 1000:.0f} ms)")
    return message


def joint_state_qpos7(message: JointState, gripper: GripperConstants, leader: bool, topic: str) -> np.ndarray:
    index = {name: i for i, name in enumerate(message.name)}
    wanted = (*ARM_JOINTS, "gripper" if leader else "left_finger")
    missing = [name for name in wanted if name not in index]
    if missing or len(message.position) != len(message.name):
        raise RobotError(f"{topic}: joint state lacks {missing or 'positions'}; names {list(message.name)}")
    joints = [message.position[index[name]] for name in ARM_JOINTS]
    raw = message.position[index[wanted[-1]]]
    grip = gripper.normalise_joint(raw) if leader else gripper.normalise_position(raw)
    return np.array([*joints, grip], dtype=np.float64)
