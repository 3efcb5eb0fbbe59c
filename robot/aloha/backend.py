"""MobileAloha: the real robot (two vx300s followers, RealSense cameras, mobile base) behind the
Robot interface, over ROS 2 (rclpy on the robot PC, else Cyclone DDS).

Stale data is never acted on: an observation whose joint state or camera frame is older than
the site's bound holds position (re-sending the last command; never torque off) and raises
RobotError naming the topic or camera and its age, which ends the episode. So does a joint
stream that stops changing while the arm is commanded to move (``robot.aloha.frozen``):
FrozenJointStateError. So does a joint that stays too far from its command (``robot.aloha.tracking``,
a blocked arm): TrackingError, after which the arms hold where they are measured.

The base: every command passes the safety filter's caps (``SafetyFilter.filter_base``); a keep-alive
re-sends it and zeroes it when the controller stops renewing it (``robot.aloha.base``); every hold,
operator stop, error and disconnect sends zero.
"""

from __future__ import annotations

import math
import time
from typing import Callable

import numpy as np

from robot.aloha.arms import Arm
from robot.aloha.base import BaseKeepAlive
from robot.aloha.cameras import Camera, open_camera
from robot.aloha.frozen import FreezeDetector, FreezeRule
from robot.aloha.glide import glide
from robot.aloha.messages import Twist
from robot.aloha.site import SIDES, SiteConfig, base_safety_limits
from robot.aloha.tracking import TrackingMonitor, TrackingRule
from robot.aloha.transport import Transport, open_transport
from robot.features import ARM_INDICES, START_ARM_POSE, RobotFeatures
from robot.robot import Observation, Robot, RobotError
from robot.safety import SafetyFilter


class StaleDataError(RobotError):
    """A joint state or camera frame was older than its bound; the robot is holding position."""


class FrozenJointStateError(RobotError):
    """An arm's joint states stopped changing while it was commanded to move (a driver re-publishing
    its last read after a bus fault, or a blocked arm); the robot is holding position."""


class TrackingError(RobotError):
    """An arm joint stayed further than the site's limit from its command for too many cycles (an arm
    blocked by the table, a tripped motor); the robot is holding where the arms are measured."""


class MobileAloha(Robot):
    driver = "xs_sdk"  # what publishes the joint states, for error messages

    def __init__(self, site: SiteConfig, transport: Transport | None = None, *, reset_duration_s: float = 2.0):
        super().__init__(SafetyFilter(base_safety_limits(site.limits.safety_limits(), site)))
        self.site = site
        self.features = RobotFeatures(cameras={c.name: (c.height, c.width, 3) for c in site.cameras},
                                      control_period_s=site.control_period_s, realtime=True,
                                      camera_fps={c.name: c.fps for c in site.cameras})
        self.reset_duration_s = reset_duration_s
        # Called at every reset once the arms are at the start pose: the operator resets the scene
        # (a prompt, a button); None starts the episode at once.
        self.scene_ready: Callable[[], None] | None = None
        self.start_arm_pose = START_ARM_POSE  # per arm, what reset() moves to
        self._given_transport = transport
        self.transport: Transport | None = None
        self.followers: dict[str, Arm] = {}
        self.cameras: dict[str, Camera] = {}
        self.base: BaseKeepAlive | None = None
        bounds = site.bounds
        rule = FreezeRule(bounds.frozen_cycles, bounds.frozen_noise_rad, bounds.frozen_move_rad)
        self._freeze = {side: FreezeDetector(rule) for side in SIDES}
        tracking = TrackingRule(bounds.tracking_error_of_step * math.radians(site.limits.max_step_deg),
                                bounds.tracking_cycles)
        self._tracking = {side: TrackingMonitor(tracking) for side in SIDES}
        # CobotMagic reuses this backend with its own site: the Interbotix-only steps (gripper reboot at
        # reset, sleep pose at the end) check this.
        self.interbotix = isinstance(site, SiteConfig)
        self.operator_stopped = False  # an operator stop this session: the arms stay where they are held
        self._judged_state: dict[str, object] = {}  # per side, the joint-state message last judged
        self._last_command: np.ndarray | None = None  # what the arms were last sent (freeze checks)
        self._camera_stamps: dict[str, tuple[float, float]] = {}  # camera -> (device stamp, when it last changed)

    # -- lifecycle ----------------------------------------------------------------------------------

    def _connect(self) -> None:
        site, bounds = self.site, self.site.bounds
        self.operator_stopped = False
        self.transport = self._given_transport or open_transport(site.transport, site.domain_id)
        try:
            self.followers = {side: Arm(self.transport, site.followers[side], site.follower_gripper) for side in SIDES}
            self._start_base()
            self._wait_for_joint_states(bounds.connect_timeout_s)
            if site.setup_services:
                for arm in self.followers.values():
                    arm.set_up_follower(bounds.connect_timeout_s, site.gripper_current_limit)
            self._start_cameras()
        except Exception:
            self._disconnect()
            raise

    def _start_base(self) -> None:
        if self.site.base_cmd_vel:
            self.base = BaseKeepAlive(self.transport.publisher(self.site.base_cmd_vel, Twist),
                                      self.site.base_keepalive_s, self.site.base_command_hold_s)

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
        if self.base is not None:
            self.base.close()  # publishes zero; the arms keep their last goal (torque stays on)
            self.base = None
        for camera in self.cameras.values():
            camera.stop()
        self.cameras = {}
        if self.transport is not None and self._given_transport is None:
            self.transport.close()
        self.transport = None

    # -- control ------------------------------------------------------------------------------------

    def _reset(self, initial_state) -> Observation:
        """Reboot the follower grippers (Interbotix, as ALOHA does at every reset: it clears a gripper
        overload error), then move both arms to the start pose over ``reset_duration_s`` (grippers
        stay), through the safety filter. ``initial_state`` cannot be set on a real robot: it must be None."""
        if initial_state is not None:
            raise RobotError(f"initial_state {initial_state!r}: a real robot cannot be put into a given scene; "
                             f"expected None")
        for detector in (*self._freeze.values(), *self._tracking.values()):
            detector.clear()
        if self.interbotix and self.site.setup_services:
            for arm in self.followers.values():
                arm.reboot_gripper(self.site.bounds.connect_timeout_s)
        holding = self._glide(self.start_arm_pose, self.reset_duration_s)
        self._holding = holding
        if self.scene_ready is not None:
            self.scene_ready()
        self.safety.reset_counts()  # the move to the start pose is not part of the episode
        return self._observe()

    def _glide(self, arm_pose, duration_s: float) -> np.ndarray:
        """Both followers slowly to ``arm_pose`` through the safety filter; the last command sent."""
        return glide(lambda: self._observe().qpos, self._command, self.safety, arm_pose, duration_s,
                     self.site.control_period_s, self._holding)

    def go_to_sleep(self) -> None:
        """End of a session: the followers move slowly, through the safety filter, to the site's sleep
        pose, and stay there with torque on (never torque off: the arms would fall). Skipped after an
        operator stop this session: the operator stopped the arms where they are."""
        self._require_connected()
        if not self.interbotix or self.operator_stopped:
            return
        self._stop_base()
        self._holding = self._glide(self.site.sleep_pose, self.site.sleep_duration_s)
        self.safety.reset_counts()  # not part of any episode

    def _observe(self) -> Observation:
        started = time.perf_counter()
        bounds = self.site.bounds
        try:
            qpos = np.concatenate([self.followers[side].qpos7(bounds.joint_state_age_s) for side in SIDES])
            frames = {name: self._fresh_frame(camera, bounds.camera_age_s) for name, camera in self.cameras.items()}
        except RobotError as exc:
            self._stop("watchdog")
            raise StaleDataError(f"{exc}; holding position, episode stopped") from exc
        finally:
            self.device_s += time.perf_counter() - started
        self._check_arms(qpos)
        observation = Observation(qpos=qpos, frames=frames, success=None)
        if self.interbotix:  # stored per step (extra["camera_frames"]): drops, skew and lag show afterwards
            observation.info["camera_frames"] = {name: (*camera.frame_id(), round(camera.latest()[1], 6))
                                                 for name, camera in self.cameras.items()}
        return observation

    def _check_arms(self, qpos: np.ndarray) -> None:
        """Frozen joint states, then tracking error (Interbotix), judged on new joint-state messages only."""
        frozen, stuck = [], []
        for side, offset in (("left", 0), ("right", 7)):
            latest = self.followers[side].joint_states.latest()[0]
            if latest is self._judged_state.get(side):
                continue  # no new message since the last observation (a loop faster than the driver): no evidence
            self._judged_state[side] = latest
            command = None if self._last_command is None else self._last_command[offset:offset + 6]
            topic = self.followers[side].state_topic
            if (why := self._freeze[side].update(qpos[offset:offset + 6], command)) is not None:
                frozen.append(f"{topic}: {why}")
            # Interbotix only: a Piper moves at its own speed_percent, so it may trail its command by far
            # more than one step cap without being blocked.
            if self.interbotix and (why := self._tracking[side].update(qpos[offset:offset + 6], command)):
                stuck.append(f"{topic}: {why}")
        if frozen:
            self._stop("frozen_state")
            raise FrozenJointStateError(f"{'; '.join(frozen)}: is {self.driver} reading the motors (E-stop, USB), "
                                        f"or is the arm blocked? Holding position, base stopped, episode stopped")
        if stuck:
            self._hold_measured(qpos, "tracking_error")
            raise TrackingError(f"tracking error, {'; '.join(stuck)}: is the arm blocked (table, object)? Holding "
                                f"where the arms are, base stopped, episode stopped")

    def _hold_measured(self, qpos: np.ndarray, reason: str) -> None:
        """Hold the arm joints where they are measured (grippers keep their command), and stop the base.
        Re-sending the last command would keep a blocked arm pushing into what blocks it."""
        if self._holding is not None:
            self._holding = self._holding.copy()
            arms = list(ARM_INDICES)
            self._holding[arms] = qpos[arms]
        self._stop(reason)

    def _fresh_frame(self, camera: Camera, bound_s: float) -> np.ndarray:
        frame, age = camera.latest()
        if frame is None:
            raise RobotError(f"no frame from camera {camera.name} ({camera.source})")
        if age > bound_s:
            raise RobotError(f"stale frame from camera {camera.name} ({camera.source}): {age * 1000:.0f} ms old "
                             f"(bound {bound_s * 1000:.0f} ms)")
        if self.interbotix:
            self._check_camera_advances(camera)
        expected = (*camera.size, 3)  # the camera's own size: the features may show views cut from it
        if frame.shape != expected:
            raise RobotError(f"camera {camera.name}: frame shape {frame.shape}, expected {expected}")
        return frame

    def _check_camera_advances(self, camera: Camera) -> None:
        """RobotError once the camera's device timestamp has stayed the same for more than
        ``bounds.camera_frozen_frames`` frame periods (a stalled stream, or a re-sent frame)."""
        stamp, _ = camera.frame_id()
        now = time.monotonic()
        seen = self._camera_stamps.get(camera.name)
        if seen is None or seen[0] != stamp:
            self._camera_stamps[camera.name] = (stamp, now)
            return
        frames = self.site.bounds.camera_frozen_frames
        bound_s = frames / camera.config.fps
        if now - seen[1] > bound_s:
            raise RobotError(f"frozen camera {camera.name} ({camera.source}): device timestamp {stamp:.3f} unchanged "
                             f"for {(now - seen[1]) * 1000:.0f} ms (bound {bound_s * 1000:.0f} ms, {frames} frames at "
                             f"{camera.config.fps} fps)")

    def _command(self, command: np.ndarray) -> None:
        started = time.perf_counter()
        self.followers["left"].command(command[0:7])
        self.followers["right"].command(command[7:14])
        self._last_command = np.array(command, dtype=np.float64)
        self.device_s += time.perf_counter() - started

    def hold(self, reason: str) -> np.ndarray:
        """Hold the arms (re-send the last command) and stop the base: every stop stops both."""
        self._stop_base()
        if reason == "operator_stop":
            self.operator_stopped = True
        return super().hold(reason)

    def _stop(self, reason: str) -> None:
        """Hold the arms where there is a command to hold, and stop the base in any case."""
        if self._holding is not None:
            self.hold(reason)
        self._stop_base()

    def _stop_base(self) -> None:
        if self.base is not None:
            self.base.stop()

    # -- mobile base --------------------------------------------------------------------------------

    def drive(self, linear_x: float, angular_z: float) -> tuple[float, float]:
        """Base velocity (m/s, rad/s) through the safety filter's caps; returns what was sent. It
        must be renewed within the site's base_command_hold_s or it decays to zero; ``drive(0, 0)``
        stops the base."""
        self._require_connected()
        if self.base is None:
            raise RobotError("this site has no mobile base (base_cmd_vel is empty)")
        sent = self.safety.filter_base(linear_x, angular_z)
        self.base.drive(*sent)
        return sent

    def base_command(self) -> tuple[float, float] | None:
        """The base velocity being sent now (zero after a stop or the deadman); None without a base."""
        return None if self.base is None else self.base.velocity()
