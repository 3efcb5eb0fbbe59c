"""MobileAloha: the real robot (two vx300s followers, RealSense cameras, mobile base) behind the
Robot interface, over ROS 2 (rclpy on the robot PC, else Cyclone DDS).

Stale data is never acted on: an observation whose joint state or camera frame is older than
the site's bound holds position (re-sending the last command; never torque off) and raises
RobotError naming the topic or camera and its age, which ends the episode.
"""

from __future__ import annotations

import time
from typing import Callable

import numpy as np

from robot.aloha.arms import Arm
from robot.aloha.cameras import Camera, open_camera
from robot.aloha.messages import Twist, Vector3
from robot.aloha.site import SIDES, SiteConfig
from robot.aloha.transport import Transport, open_transport
from robot.features import START_ARM_POSE, RobotFeatures
from robot.robot import Observation, Robot, RobotError
from robot.safety import SafetyFilter


class StaleDataError(RobotError):
    """A joint state or camera frame was older than its bound; the robot is holding position."""


class MobileAloha(Robot):
    driver = "xs_sdk"  # what publishes the joint states, for error messages

    def __init__(self, site: SiteConfig, transport: Transport | None = None, *, reset_duration_s: float = 2.0):
        super().__init__(SafetyFilter(site.limits.safety_limits()))
        self.site = site
        self.features = RobotFeatures(cameras={c.name: (c.height, c.width, 3) for c in site.cameras},
                                      control_period_s=site.control_period_s, realtime=True)
        self.reset_duration_s = reset_duration_s
        # Called at every reset once the arms are at the start pose: the operator resets the scene
        # (a prompt, a button); None starts the episode at once.
        self.scene_ready: Callable[[], None] | None = None
        self.start_arm_pose = START_ARM_POSE  # per arm, what reset() moves to
        self._given_transport = transport
        self.transport: Transport | None = None
        self.followers: dict[str, Arm] = {}
        self.cameras: dict[str, Camera] = {}

    # -- lifecycle ----------------------------------------------------------------------------------

    def _connect(self) -> None:
        site, bounds = self.site, self.site.bounds
        self.transport = self._given_transport or open_transport(site.transport, site.domain_id)
        try:
            self.followers = {side: Arm(self.transport, site.followers[side], site.follower_gripper) for side in SIDES}
            self._wait_for_joint_states(bounds.connect_timeout_s)
            if site.setup_services:
                for arm in self.followers.values():
                    arm.set_up_follower(bounds.connect_timeout_s)
            self._start_cameras()
            self._publish_base = self.transport.publisher(site.base_cmd_vel, Twist) if site.base_cmd_vel else None
        except Exception:
            self._disconnect()
            raise

    def leader_arms(self) -> dict:
        """The leader arms' joint readers by side (teleop); each has qpos7(max_age_s), joint_states, state_topic."""
        self._require_connected()
        return {side: Arm(self.transport, self.site.leaders[side], self.site.leader_gripper, leader=True)
                for side in SIDES}

    def _start_cameras(self) -> None:
        for config in self.site.cameras:
            camera = self._open_camera(config)
            camera.start(self.site.bounds.connect_timeout_s)
            self.cameras[config.name] = camera

    def _open_camera(self, config) -> Camera:
        return open_camera(config, self.transport)

    def _wait_for_joint_states(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if all(arm.joint_states.latest()[0] is not None for arm in self.followers.values()):
                return
            time.sleep(0.01)
        missing = [arm.state_topic for arm in self.followers.values() if arm.joint_states.latest()[0] is None]
        raise RobotError(f"no joint states on {', '.join(missing)} within {timeout_s:.1f}s: is {self.driver} (or the "
                         f"simulated node) running on ROS domain {self.site.domain_id}?")

    def _disconnect(self) -> None:
        if self.transport is not None and getattr(self, "_publish_base", None) is not None:
            self._publish_base(Twist())  # the base stops; the arms keep their last goal (torque stays on)
        for camera in self.cameras.values():
            camera.stop()
        self.cameras = {}
        if self.transport is not None and self._given_transport is None:
            self.transport.close()
        self.transport = None

    # -- control ------------------------------------------------------------------------------------

    def _reset(self, initial_state) -> Observation:
        """Move both arms to the start pose over ``reset_duration_s`` (grippers stay), through the
        safety filter. ``initial_state`` cannot be set on a real robot: it must be None."""
        if initial_state is not None:
            raise RobotError(f"initial_state {initial_state!r}: a real robot cannot be put into a given scene; "
                             f"expected None")
        present = self._observe().qpos
        goal = present.copy()
        goal[0:6] = self.start_arm_pose
        goal[7:13] = self.start_arm_pose
        holding = present.copy()
        steps = max(1, round(self.reset_duration_s / self.site.control_period_s))
        for i in range(1, steps + 1):
            target = present + (goal - present) * i / steps
            holding = self.safety.filter(target, self._observe().qpos, holding)
            self._command(holding)
            time.sleep(self.site.control_period_s)
        self._holding = holding
        if self.scene_ready is not None:
            self.scene_ready()
        self.safety.reset_counts()  # the move to the start pose is not part of the episode
        return self._observe()

    def _observe(self) -> Observation:
        started = time.perf_counter()
        bounds = self.site.bounds
        try:
            qpos = np.concatenate([self.followers[side].qpos7(bounds.joint_state_age_s) for side in SIDES])
            frames = {name: self._fresh_frame(camera, bounds.camera_age_s) for name, camera in self.cameras.items()}
        except RobotError as exc:
            if self._holding is not None:
                self.hold("watchdog")
            raise StaleDataError(f"{exc}; holding position, episode stopped") from exc
        finally:
            self.device_s += time.perf_counter() - started
        return Observation(qpos=qpos, frames=frames, success=None)

    def _fresh_frame(self, camera: Camera, bound_s: float) -> np.ndarray:
        frame, age = camera.latest()
        if frame is None:
            raise RobotError(f"no frame from camera {camera.name} ({camera.source})")
        if age > bound_s:
            raise RobotError(f"stale frame from camera {camera.name} ({camera.source}): {age * 1000:.0f} ms old "
                             f"(bound {bound_s * 1000:.0f} ms)")
        expected = self.features.cameras[camera.name]
        if frame.shape != expected:
            raise RobotError(f"camera {camera.name}: frame shape {frame.shape}, expected {expected}")
        return frame

    def _command(self, command: np.ndarray) -> None:
        started = time.perf_counter()
        self.followers["left"].command(command[0:7])
        self.followers["right"].command(command[7:14])
        self.device_s += time.perf_counter() - started

    # -- mobile base --------------------------------------------------------------------------------

    def drive(self, linear_x: float, angular_z: float) -> None:
        """Base velocity (m/s, rad/s) on cmd_vel; ``drive(0, 0)`` stops it."""
        self._require_connected()
        if self._publish_base is None:
            raise RobotError("this site has no mobile base (base_cmd_vel is empty)")
        if not (np.isfinite(linear_x) and np.isfinite(angular_z)):
            raise ValueError(f"base velocity ({linear_x}, {angular_z}); expected finite numbers")
        self._publish_base(Twist(linear=Vector3(x=float(linear_x)), angular=Vector3(z=float(angular_z))))
