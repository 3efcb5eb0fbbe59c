"""CobotMagic: AgileX's Cobot Magic (two Piper followers, Image-topic cameras, Tracer base) behind
the Robot interface, over ROS 2 (rclpy on the robot PC, else Cyclone DDS).

It is a MobileAloha with Piper arms: the same reset to a start pose through the safety filter, the
same staleness bounds, the same hold-by-re-sending. What differs: connect runs the enable
handshake (ArmNotEnabledError names the arm that will not enable); an arm whose status reports a
fault (e-stop, collision, limit) ends the episode with ArmFaultError while both arms hold
position -- never a disable, which cuts motor power. The base (caps, keep-alive inside the Tracer's
timeout, zero on every stop) is MobileAloha's. The control rate comes from the site
(default 25 Hz).
"""

from __future__ import annotations

import time

from robot.aloha.backend import MobileAloha
from robot.aloha.site import SIDES
from robot.aloha.transport import Transport, open_transport
from robot.cobot_magic.arms import ArmFaultError, PiperArm, PiperJoints
from robot.cobot_magic.cameras import ResizedTopicCamera
from robot.cobot_magic.site import CobotMagicSite
from robot.cobot_magic.stamp_sync import synchronise
from robot.robot import Observation, RobotError


class CobotMagic(MobileAloha):
    driver = "the Piper driver node"

    def __init__(self, site: CobotMagicSite, transport: Transport | None = None, *, reset_duration_s: float = 2.0):
        super().__init__(site, transport, reset_duration_s=reset_duration_s)
        self.start_arm_pose = site.start_pose

    # -- lifecycle ----------------------------------------------------------------------------------

    def _connect(self) -> None:
        site, bounds = self.site, self.site.bounds
        self.transport = self._given_transport or open_transport(site.transport, site.domain_id)
        try:
            self.followers = {side: PiperArm(self.transport, side, site.arms[side], site.gripper,
                                             speed_percent=site.speed_percent, gripper_force=site.gripper_force)
                              for side in SIDES}
            self._start_base()
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

    # -- control ------------------------------------------------------------------------------------

    def _observe(self) -> Observation:
        faults = [f"{side} arm: {fault}" for side, arm in self.followers.items() if (fault := arm.fault())]
        if faults:
            self._stop("arm_fault")
            topics = ", ".join(arm.topics.status for arm in self.followers.values())
            raise ArmFaultError(f"{'; '.join(faults)} (status {topics}); holding position, base stopped, episode stopped")
        sync_s = self._pick_synced()
        observation = super()._observe()  # on stale data it holds the arms and stops the base
        stamps = self._stamps()
        known = [stamp for stamp in stamps.values() if stamp is not None]
        observation.info["stamps"] = stamps
        observation.info["sync_s"] = sync_s  # None: some source lagged, the latest of each was used
        observation.info["stamp_spread_s"] = max(known) - min(known) if known else None
        return observation

    def _sources(self) -> dict:
        """The synced sources by name: ``left_arm``, ``right_arm`` and each camera."""
        return {f"{side}_arm": arm for side, arm in self.followers.items()} | dict(self.cameras)

    def _pick_synced(self) -> float | None:
        """Point every camera at the frame AgileX's rule picks (``stamp_sync``: the oldest of the
        cameras' newest stamps, which both arms must have reached); the sync time, or None -- and
        every camera at its latest frame -- while some source lags it. Two departures from their
        recorder: the control loop waits for a lagging source only briefly, and qpos stays the
        arms' latest state (newer than the frames by at most the cameras' lag), because the safety
        filter measures from the present. The stored stamps say which was used."""
        sources = self._sources()
        # Like their recorder, wait for a source that has not reached the sync time yet -- but only
        # one joint-state period: an arm state due any moment, not a stalled stream.
        started = time.perf_counter()
        deadline = started + 1.0 / self.site.bounds.joint_state_hz
        while (synced := synchronise({name: source.history() for name, source in sources.items()},
                                     leading=list(self.cameras))) is None and time.perf_counter() < deadline:
            time.sleep(0.002)
        self.device_s += time.perf_counter() - started
        for name, camera in self.cameras.items():
            camera.picked = None if synced is None else synced.picked[name][1]
        return None if synced is None else synced.time_s

    def _stamps(self) -> dict[str, float | None]:
        """Driver timestamps (s) of the joint states and frames this observation is made of."""
        return {name: source.stamp_s() for name, source in self._sources().items()}
