"""CobotMagic: AgileX's Cobot Magic (two Piper followers, Image-topic cameras, Tracer base) behind
the Robot interface, over ROS 2 (rclpy on the robot PC, else Cyclone DDS).

It is a MobileAloha with Piper arms: the same reset to a start pose through the safety filter, the
same staleness bounds, the same hold-by-re-sending. What differs: connect runs the enable
handshake (ArmNotEnabledError names the arm that will not enable); an arm whose status reports a
fault (e-stop, collision, limit) ends the episode with ArmFaultError while both arms hold
position -- never a disable, which cuts motor power; every stop zeroes the base, and a keep-alive
re-sends the base command inside the Tracer's timeout. The control rate comes from the site
(default 25 Hz).
"""

from __future__ import annotations

import numpy as np

from robot.aloha.backend import MobileAloha
from robot.aloha.messages import Twist, seconds
from robot.aloha.site import SIDES
from robot.aloha.transport import Transport, open_transport
from robot.cobot_magic.arms import ArmFaultError, PiperArm, PiperJoints
from robot.cobot_magic.base import BaseKeepAlive
from robot.cobot_magic.cameras import ResizedTopicCamera
from robot.cobot_magic.site import CobotMagicSite
from robot.robot import Observation, RobotError


class CobotMagic(MobileAloha):
    driver = "the Piper driver node"

    def __init__(self, site: CobotMagicSite, transport: Transport | None = None, *, reset_duration_s: float = 2.0):
        super().__init__(site, transport, reset_duration_s=reset_duration_s)
        self.start_arm_pose = site.start_pose
        self.base: BaseKeepAlive | None = None

    # -- lifecycle ----------------------------------------------------------------------------------

    def _connect(self) -> None:
        site, bounds = self.site, self.site.bounds
        self.transport = self._given_transport or open_transport(site.transport, site.domain_id)
        self._publish_base = None  # the keep-alive owns the base
        try:
            self.followers = {side: PiperArm(self.transport, side, site.arms[side], site.gripper,
                                             speed_percent=site.speed_percent, gripper_force=site.gripper_force)
                              for side in SIDES}
            if site.base_cmd_vel:
                self.base = BaseKeepAlive(self.transport.publisher(site.base_cmd_vel, Twist), site.base_keepalive_s,
                                          site.base_command_hold_s)
            self._wait_for_joint_states(bounds.connect_timeout_s)
            for arm in self.followers.values():
                arm.enable(site.enable_timeout_s)
            self._start_cameras()
        except Exception:
            self._disconnect()
            raise

    def leader_arms(self) -> dict[str, PiperJoints]:
        """The leader arms' joint readers by side (teleop: leader states as actions)."""
        self._require_connected()
        missing = [side for side in SIDES if not self.site.arms[side].leader]
        if missing:
            raise RobotError(f"site {self.site.name}: arms {missing} have no leader topic; expected arms.<side>.leader, "
                             f"the leader arm's JointState topic (e.g. '/master/joint_left'), for teleoperation")
        return {side: PiperJoints(self.transport, self.site.arms[side].leader, self.site.gripper) for side in SIDES}

    def _open_camera(self, config) -> ResizedTopicCamera:
        return ResizedTopicCamera(config, self.transport)

    def _disconnect(self) -> None:
        if self.base is not None:
            self.base.close()  # publishes zero; the arms keep their last goal (never disabled)
            self.base = None
        super()._disconnect()

    # -- control ------------------------------------------------------------------------------------

    def _observe(self) -> Observation:
        faults = [f"{side} arm: {fault}" for side, arm in self.followers.items() if (fault := arm.fault())]
        if faults:
            self._stop("arm_fault")
            topics = ", ".join(arm.topics.status for arm in self.followers.values())
            raise ArmFaultError(f"{'; '.join(faults)} (status {topics}); holding position, base stopped, episode stopped")
        try:
            observation = super()._observe()
        except RobotError:
            self._stop_base()  # MobileAloha already held the arms
            raise
        stamps = self._stamps()
        known = [stamp for stamp in stamps.values() if stamp is not None]
        observation.info["stamps"] = stamps
        # AgileX's recorder aligns its sources at the oldest of their newest stamps; with the latest
        # message per source, the spread between them is what that alignment would remove.
        observation.info["stamp_spread_s"] = max(known) - min(known) if known else None
        return observation

    def _stamps(self) -> dict[str, float | None]:
        """Driver timestamps (s) of the joint states and frames this observation is made of."""
        stamps = {}
        for side, arm in self.followers.items():
            message, _ = arm.joint_states.latest()
            stamps[f"{side}_arm"] = None if message is None else seconds(message.header.stamp)
        for name, camera in self.cameras.items():
            stamps[name] = camera.stamp_s()
        return stamps

    def hold(self, reason: str) -> np.ndarray:
        """Hold the arms (re-send the last command) and stop the base: every stop stops both."""
        command = super().hold(reason)
        self._stop_base()
        return command

    def _stop(self, reason: str) -> None:
        if self._holding is not None:
            self.hold(reason)
        self._stop_base()

    def _stop_base(self) -> None:
        if self.base is not None:
            self.base.stop()

    # -- mobile base --------------------------------------------------------------------------------

    def drive(self, linear_x: float, angular_z: float) -> None:
        """Base velocity (m/s, rad/s); it must be renewed within the site's base_command_hold_s or it
        decays to zero. ``drive(0, 0)`` stops the base."""
        self._require_connected()
        if self.base is None:
            raise RobotError("this site has no mobile base (base_cmd_vel is empty)")
        self.base.drive(linear_x, angular_z)
