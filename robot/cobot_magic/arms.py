"""One Piper arm behind its ROS driver node: joint state in, JointState commands out, the enable
handshake, and the status flags.

State and command are sensor_msgs/JointState: six joints in rad and the gripper in metres
(0..0.08); names as in ``site.PIPER_STATE_NAMINGS``. ``qpos7`` is ``[6 joints (rad), gripper
(0 closed .. 1 open)]``. In a command, ``velocity[6]`` is the driver's speed percent and ``effort[6]`` the gripper force (0.5..3 N).
The driver ignores commands until enabled; it never gets a disable from us: disabling cuts
motor power at once and the arm falls.
"""

from __future__ import annotations

import time

import numpy as np

from robot.aloha.arms import fresh_joint_state
from robot.aloha.messages import Header, JointState, seconds, stamp
from robot.aloha.site import GripperConstants
from robot.aloha.transport import Transport, TransportError
from robot.cobot_magic.messages import ENABLE, Bool, PiperStatusMsg, status_fault
from robot.cobot_magic.site import PIPER_COMMAND_NAMES, PIPER_STATE_NAMINGS, ArmTopics
from robot.robot import RobotError

ENABLE_FLAG_REPEAT_S = 0.2  # re-send enable_flag while waiting: a latecomer driver still hears it


class ArmNotEnabledError(RobotError):
    """An arm did not report all its motor drivers enabled; nothing was commanded."""


class ArmFaultError(RobotError):
    """An arm's status reported a fault (e-stop, collision, limit...); the robot is holding position."""


class PiperJoints:
    """A Piper's joint state topic, read: a follower's, or a leader's (teleop; never commanded)."""

    def __init__(self, transport: Transport, state_topic: str, gripper: GripperConstants):
        self.gripper = gripper
        self.state_topic = state_topic
        self.joint_states = transport.subscribe(state_topic, JointState)

    def qpos7(self, max_age_s: float) -> np.ndarray:
        """Present [6 joints, normalised gripper]; RobotError naming the topic if none or stale."""
        return piper_qpos7(fresh_joint_state(self.joint_states, self.state_topic, max_age_s), self.gripper,
                           self.state_topic)

    def history(self) -> list[tuple[float, JointState]]:
        """(driver stamp s, state) of the latest state, or nothing yet: what the stamp sync sees of
        an arm. Only the latest, as qpos7 reads only the latest: the safety filter measures every
        command from where the arm is now, never from where it was when a frame was taken."""
        message = self.joint_states.latest()[0]
        return [] if message is None else [(seconds(message.header.stamp), message)]

    def stamp_s(self) -> float | None:
        """The driver's stamp of the state qpos7 reads, None before the first."""
        message = self.joint_states.latest()[0]
        return None if message is None else seconds(message.header.stamp)


class PiperArm(PiperJoints):
    def __init__(self, transport: Transport, side: str, topics: ArmTopics, gripper: GripperConstants, *,
                 speed_percent: int = 30, gripper_force: float = 1.0):
        super().__init__(transport, topics.state, gripper)
        self.side = side
        self.topics = topics
        self.transport = transport
        self.speed_percent = speed_percent
        self.gripper_force = gripper_force
        self.status = transport.subscribe(topics.status, PiperStatusMsg)
        self._publish_command = transport.publisher(topics.command, JointState)
        self._publish_enable = transport.publisher(topics.enable_flag, Bool)

    # -- reading ------------------------------------------------------------------------------------

    def fault(self) -> str | None:
        """Why the arm's last status forbids commanding it, or None (no status yet is no fault: the
        staleness of the joint state already guards a silent driver)."""
        message, _ = self.status.latest()
        return None if message is None else status_fault(message)

    # -- commanding ---------------------------------------------------------------------------------

    def command(self, qpos7: np.ndarray) -> None:
        self._publish_command(piper_command(qpos7, self.gripper, self.speed_percent, self.gripper_force))

    def enable(self, timeout_s: float) -> None:
        """The enable handshake: enable_flag true (the driver enables and starts accepting commands),
        then enable_srv, whose reply is true only once all six motor drivers report enabled."""
        deadline = time.monotonic() + timeout_s
        self._publish_enable(Bool(data=True))
        try:
            reply = self.transport.call(self.topics.enable_service, ENABLE, timeout_s=timeout_s, enable_request=True)
        except TransportError as exc:
            raise ArmNotEnabledError(f"{self.side} arm: no answer from {self.topics.enable_service} "
                                     f"({exc}); is its Piper node running and the CAN bus up?") from exc
        while not reply.enable_response:
            if time.monotonic() > deadline:
                raise ArmNotEnabledError(
                    f"{self.side} arm did not report enabled within {timeout_s:.1f}s ({self.topics.enable_service} "
                    f"answered enable_response=false): check its e-stop, power and CAN cable; nothing was commanded")
            time.sleep(ENABLE_FLAG_REPEAT_S)
            self._publish_enable(Bool(data=True))
            reply = self.transport.call(self.topics.enable_service, ENABLE,
                                        timeout_s=max(0.1, deadline - time.monotonic()), enable_request=True)


def piper_qpos7(message: JointState, gripper: GripperConstants, topic: str) -> np.ndarray:
    """[6 joints (rad), gripper normalised] from a Piper JointState (read by name when named)."""
    if message.name:
        index = {name: i for i, name in enumerate(message.name)}
        naming = next((n for n in PIPER_STATE_NAMINGS if all(name in index for name in n)), None)
        if naming is None or len(message.position) != len(message.name):
            expected = " or ".join(str(list(naming)) for naming in PIPER_STATE_NAMINGS)
            raise RobotError(f"{topic}: joint state names {list(message.name)} with {len(message.position)} positions; "
                             f"expected one position for each of {expected}")
        values = [message.position[index[name]] for name in naming]
    elif len(message.position) >= 7:
        values = list(message.position[:7])
    else:
        raise RobotError(f"{topic}: joint state has {len(message.position)} unnamed positions; expected 7")
    return np.array([*values[:6], gripper.normalise_position(values[6])], dtype=np.float64)


def piper_command(qpos7: np.ndarray, gripper: GripperConstants, speed_percent: int, gripper_force: float) -> JointState:
    """The driver's command: positions in rad and metres; velocity[6] speed %, effort[6] gripper force."""
    grip = float(np.clip(qpos7[6], 0.0, 1.0))
    return JointState(header=Header(stamp=stamp(time.time())), name=list(PIPER_COMMAND_NAMES),
                      position=[*(float(x) for x in qpos7[:6]), gripper.joint(grip)],
                      velocity=[0.0] * 6 + [float(speed_percent)], effort=[0.0] * 6 + [float(gripper_force)])
