"""Teleoperated demos on a Cobot Magic: the leader Pipers drive the followers (``LeaderPolicy``:
leader states as actions, through the safety filter), and the operator drives the Tracer.

The operator's base velocity arrives as a geometry_msgs/Twist on the site's ``teleop_cmd_vel``
(a joystick node's output). Each control step passes it to ``CobotMagic.drive``: the safety
filter's base caps, the keep-alive, zero on every stop. The rollout loop records what was sent,
as the episode's ``base_action``, exactly as on a policy run.
"""

from __future__ import annotations

from robot.aloha.messages import Twist
from robot.aloha.teleop import MAX_START_GAP_RAD, LeaderPolicy
from robot.cobot_magic.backend import CobotMagic
from robot.robot import Observation


class CobotLeaderPolicy(LeaderPolicy):
    def __init__(self, robot: CobotMagic, max_start_gap_rad: float = MAX_START_GAP_RAD):
        super().__init__(robot, max_start_gap_rad)
        self.robot = robot
        topic = robot.site.teleop_cmd_vel
        self.operator_base = robot.transport.subscribe(topic, Twist) if topic else None

    def __call__(self, observation: Observation, instruction: str = ""):
        chunk = super().__call__(observation, instruction)  # leader checks first: a refused start drives nothing
        if self.operator_base is not None:
            self.robot.drive(*self.operator_velocity())
        return chunk

    def operator_velocity(self) -> tuple[float, float]:
        """The operator's latest (v_x m/s, omega_z rad/s); zero before the first and once older than
        the site's ``base_command_hold_s`` (a joystick node that stopped must not keep the base going)."""
        message, age = self.operator_base.latest()
        if message is None or age > self.robot.site.base_command_hold_s:
            return 0.0, 0.0
        return float(message.linear.x), float(message.angular.z)
