"""The MuJoCo ALOHA published as a Mobile ALOHA on ROS 2 topics, over Cyclone DDS.

What ``xs_sdk`` does for each follower (joint states at 100 Hz; arm group and gripper single
commands; reboot_motors / set_operating_modes / set_motor_registers / torque_enable services, each
request recorded), what a powered leader arm's ``xs_sdk`` does (joint states; torque_enable and arm
group commands, held while torqued on: the opening ceremony), camera frames as sensor_msgs/Image,
and cmd_vel. The
base stops by itself when cmd_vel falls silent for BASE_TIMEOUT_S, as the SLATE driver does. The
leaders play the task's scripted expert like an operator who waits for the followers: a leader
advances along the plan only while its follower keeps up, so teleop-record makes real demos.

Like the real driver, a follower gripper starts in ``linear_position`` mode (commands read as
metres) with torque on; commands to a torqued-off group are ignored.

Run: ``python -m robot.aloha.sim_node --site robot/aloha/sites/sim.json`` (or ``wmpo-app sim-node``).
"""

from __future__ import annotations

import argparse
import os
import signal
import threading
import time
from dataclasses import dataclass, field

import numpy as np

from robot.aloha.cameras import image_message
from robot.aloha.messages import (OPERATING_MODES, REBOOT, REGISTER_VALUES, TORQUE_ENABLE, Header, JointGroupCommand,
                                  JointSingleCommand, JointState, Image, Twist, stamp)
from robot.aloha.site import SIDES, SiteConfig, load_site
from robot.features import ARM_JOINTS
from robot.safety import SafetyFilter, SafetyLimits

STATE_PERIOD_S = 0.01  # joint states at 100 Hz, as xs_sdk
BASE_TIMEOUT_S = 0.3  # the SLATE base driver zeroes a cmd_vel not renewed within this
FOLLOW_TOLERANCE_RAD = 0.15  # a leader waits while its follower is further than this behind


@dataclass
class MotorGroups:
    """What the driver's services have set on one follower."""

    modes: dict[str, str] = field(default_factory=lambda: {"arm": "position", "gripper": "linear_position"})
    torque: dict[str, bool] = field(default_factory=lambda: {"arm": True, "gripper": True})
    reboots: int = 0
    registers: dict[str, int] = field(default_factory=dict)  # "gripper.current_limit" -> value
    calls: list[tuple[str, str, str]] = field(default_factory=list)  # (service, name, value) in order


class SimNode:
    def __init__(self, site: SiteConfig, task: str = "transfer_cube", seed: int = 0):
        from robot.aloha.dds_transport import DdsTransport
        from robot.sim.aloha_sim import AlohaSim, SimConfig

        self.site = site
        cameras = {c.name: (c.height, c.width) for c in self._topic_cameras()}
        # The driver does not filter: a permissive filter keeps AlohaSim's interface usable.
        loose = SafetyFilter(SafetyLimits(max_step_rad=np.pi))
        self.sim = AlohaSim(SimConfig(task=task, cameras=cameras, control_period_s=STATE_PERIOD_S), safety=loose)
        self.seed = seed
        self.transport = DdsTransport(site.domain_id)
        self.motors = {side: MotorGroups() for side in SIDES}
        # The leaders' xs_sdk (powered leaders): torque and arm commands. While a leader's arm is torqued
        # on and has been commanded, it holds the command; torqued off, the operator's hand moves it.
        self.leader_motors = {side: MotorGroups() for side in SIDES}
        self.leader_hold: dict[str, np.ndarray | None] = {side: None for side in SIDES}
        # Where the operator holds each leader off the expert's plan (7 values: joints, gripper):
        # tests of the opening ceremony.
        self.leader_offsets = {side: np.zeros(7) for side in SIDES}
        self.goal: np.ndarray | None = None
        self.base_velocity = (0.0, 0.0)
        self.base_heard: float | None = None  # monotonic time of the last cmd_vel
        self.muted: set[str] = set()  # topics not published (tests of staleness)
        # Joint-state topics re-published with the positions they had when frozen and fresh stamps, as
        # xs_sdk does when a bus read fails; image topics re-sending their last frame, stamp and all
        # (tests of frozen-value detection).
        self.frozen: set[str] = set()
        self._frozen_poses: dict[str, np.ndarray] = {}
        self._frozen_images: dict[str, Image] = {}  # image topics in ``frozen``: their last frame, re-sent
        # Joints held where they are whatever they are commanded, by index into the 14-D qpos (an arm
        # blocked by the table; tests of the tracking-error stop). The readings stay live.
        self.blocked: dict[int, float] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.ticks = 0

    # -- wiring -------------------------------------------------------------------------------------

    def _wire(self) -> None:
        site, t = self.site, self.transport
        self._state_pubs = {}
        for side in SIDES:
            ns = site.followers[side]
            self._state_pubs[f"/{ns}/joint_states"] = t.publisher(f"/{ns}/joint_states", JointState)
            t.subscribe(f"/{ns}/commands/joint_group", JointGroupCommand, self._on_group(side))
            t.subscribe(f"/{ns}/commands/joint_single", JointSingleCommand, self._on_single(side))
            t.serve(f"/{ns}/torque_enable", TORQUE_ENABLE, self._on_torque(side))
            t.serve(f"/{ns}/reboot_motors", REBOOT, self._on_reboot(side))
            t.serve(f"/{ns}/set_operating_modes", OPERATING_MODES, self._on_modes(side))
            t.serve(f"/{ns}/set_motor_registers", REGISTER_VALUES, self._on_registers(side))
            leader = site.leaders[side]
            self._state_pubs[f"/{leader}/joint_states"] = t.publisher(f"/{leader}/joint_states", JointState)
            t.serve(f"/{leader}/torque_enable", TORQUE_ENABLE, self._on_leader_torque(side))
            t.subscribe(f"/{leader}/commands/joint_group", JointGroupCommand, self._on_leader_group(side))
        self._wire_cameras_and_base()

    def _topic_cameras(self) -> list:
        """The CameraConfigs rendered and published on Image topics."""
        return [c for c in self.site.cameras if c.source == "topic"]

    def _wire_cameras_and_base(self) -> None:
        t = self.transport
        self._image_pubs = {c.topic: (c, t.publisher(c.topic, Image, sensor_data=True)) for c in self._topic_cameras()}
        if self.site.base_cmd_vel:
            t.subscribe(self.site.base_cmd_vel, Twist, self._on_cmd_vel)

    def _on_cmd_vel(self, message: Twist) -> None:
        self.base_velocity, self.base_heard = (message.linear.x, message.angular.z), time.monotonic()

    def _on_group(self, side):
        def handle(message: JointGroupCommand) -> None:
            if message.name != "arm" or len(message.cmd) != 6 or not self.motors[side].torque["arm"]:
                return  # the driver ignores other groups, wrong lengths, and torqued-off motors
            offset = 0 if side == "left" else 7
            with self._lock:
                self.goal[offset:offset + 6] = message.cmd
        return handle

    def _on_single(self, side):
        def handle(message: JointSingleCommand) -> None:
            motors = self.motors[side]
            if message.name != "gripper" or not motors.torque["gripper"]:
                return
            gripper = self.site.follower_gripper
            if motors.modes["gripper"] == "linear_position":  # the stock config's pitfall: metres
                normalised = gripper.normalise_position(message.cmd)
            else:
                normalised = gripper.normalise_joint(message.cmd)
            with self._lock:
                self.goal[6 if side == "left" else 13] = float(np.clip(normalised, 0.0, 1.0))
        return handle

    def _on_torque(self, side):
        def handle(request) -> None:
            for group in self._groups(request):
                self.motors[side].torque[group] = bool(request.enable)
            self.motors[side].calls.append(("torque_enable", request.name, str(request.enable)))
        return handle

    def _on_reboot(self, side):
        def handle(request) -> None:
            motors = self.motors[side]
            motors.reboots += 1
            for group in self._groups(request):
                motors.torque[group] = bool(request.enable)
            motors.calls.append(("reboot_motors", request.name, str(request.enable)))
        return handle

    def _on_modes(self, side):
        def handle(request) -> None:
            for group in self._groups(request):
                self.motors[side].modes[group] = request.mode
            self.motors[side].calls.append(("set_operating_modes", request.name, request.mode))
        return handle

    def _on_registers(self, side):
        def handle(request) -> None:
            motors = self.motors[side]
            motors.registers[f"{request.name}.{request.reg}"] = request.value
            motors.calls.append(("set_motor_registers", f"{request.name}.{request.reg}", str(request.value)))
        return handle

    def _on_leader_torque(self, side):
        def handle(request) -> None:
            motors = self.leader_motors[side]
            for group in self._groups(request):
                motors.torque[group] = bool(request.enable)
            if not motors.torque["arm"]:
                self.leader_hold[side] = None  # the operator's hand takes over
            motors.calls.append(("torque_enable", request.name, str(request.enable)))
        return handle

    def _on_leader_group(self, side):
        def handle(message: JointGroupCommand) -> None:
            if message.name == "arm" and len(message.cmd) == 6 and self.leader_motors[side].torque["arm"]:
                self.leader_hold[side] = np.array(message.cmd, dtype=np.float64)
        return handle

    @staticmethod
    def _groups(request) -> list[str]:
        return ["arm", "gripper"] if request.name == "all" else [request.name]

    # -- running ------------------------------------------------------------------------------------

    def start(self, timeout_s: float = 30.0) -> "SimNode":
        self._ready, self._failed = threading.Event(), []
        self._thread = threading.Thread(target=self._run, name="sim node", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout_s) or self._failed:
            self.stop()
            raise RuntimeError(f"the sim node did not start: {self._failed or 'timed out'}")
        return self

    def _start_sim(self) -> None:
        # The GL context is current on the thread that made it: the sim lives on the node's thread.
        self.sim.connect()
        observation = self.sim.reset(self.seed)
        self.goal = observation.qpos.copy()
        self._plan = self._expert_plan(observation)
        self._leader_t = 0
        self._wire()

    def _expert_plan(self, observation) -> np.ndarray:
        from robot.experts.scripted import ScriptedExpert
        expert = ScriptedExpert(self.sim.config.task, gripper=self.sim.config.gripper)
        plan = [expert(observation)]
        while len(np.concatenate(plan)) < self.sim.task.horizon:
            plan.append(expert(observation))
        return np.concatenate(plan)

    def _run(self) -> None:
        try:
            self._start_sim()
        except Exception as exc:
            self._failed.append(repr(exc))
            return
        finally:
            self._ready.set()
        try:
            self._loop()
        finally:
            self.sim.disconnect()

    def _loop(self) -> None:
        frame_every = {topic: max(1, round(1 / (c.fps * STATE_PERIOD_S))) for topic, (c, _) in self._image_pubs.items()}
        started = time.perf_counter()
        while not self._stop.is_set():
            with self._lock:
                goal = self.goal.copy()
            for index, position in self.blocked.items():
                goal[index] = position
            self.sim.send_action(goal)
            self._publish_states()
            if any(self.ticks % every == 0 for every in frame_every.values()):
                observation = self.sim.observe()
                for topic, (camera, publish) in self._image_pubs.items():
                    if self.ticks % frame_every[topic] == 0 and topic not in self.muted:
                        message = image_message(observation.frames[camera.name], time.time(), camera.name)
                        if topic in self.frozen:  # a driver re-sending its last frame, stamp and all
                            message = self._frozen_images.setdefault(topic, message)
                        publish(message)
            self.ticks += 1
            delay = started + self.ticks * STATE_PERIOD_S - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            elif delay < -0.5:  # fell far behind (a loaded machine): do not try to catch up
                started = time.perf_counter() - self.ticks * STATE_PERIOD_S

    def _publish_states(self) -> None:
        from robot.sim.aloha_sim import arm_qpos14
        if self.base_heard is not None and time.monotonic() - self.base_heard > BASE_TIMEOUT_S:
            self.base_velocity = (0.0, 0.0)  # the base driver's own command timeout
        qpos = arm_qpos14(self.sim.data.qpos, self.sim.config.gripper)
        now, site = time.time(), self.site
        for side, offset in (("left", 0), ("right", 7)):
            follower = qpos[offset:offset + 7]
            self._publish(f"/{site.followers[side]}/joint_states", follower, site.follower_gripper, now)
            self._publish(f"/{site.leaders[side]}/joint_states", self._leader_pose(side, qpos), site.leader_gripper, now)
        self._advance_leaders(qpos)

    def _advance_leaders(self, qpos: np.ndarray) -> None:
        """Advance the leaders when both followers keep up (the plan is at 50 Hz, states at 100 Hz)."""
        if self.ticks % 2 == 0 and self._leader_t < len(self._plan) - 1:
            lead = self._plan[self._leader_t]
            arms = [0, 1, 2, 3, 4, 5, 7, 8, 9, 10, 11, 12]
            if np.abs(lead[arms] - qpos[arms]).max() < FOLLOW_TOLERANCE_RAD:
                self._leader_t += 1

    def _leader_pose(self, side: str, qpos: np.ndarray) -> np.ndarray:
        offset = 0 if side == "left" else 7
        pose = self._plan[self._leader_t][offset:offset + 7] + self.leader_offsets[side]
        if (hold := self.leader_hold[side]) is not None:  # the opening ceremony holds the leader
            pose[:6] = hold
            if not self.leader_motors[side].torque["gripper"]:  # ...and frees its gripper: the operator
                pose[6] = self.leader_offsets[side][6]  # squeezes it closed to start (unless a test holds it open)
        return pose

    def _publish(self, topic: str, pose7: np.ndarray, gripper, now: float) -> None:
        if topic in self.muted:
            return
        if topic in self.frozen:
            pose7 = self._frozen_poses.setdefault(topic, np.array(pose7, dtype=np.float64))
        grip = float(pose7[6])
        finger = gripper.position(grip)
        message = JointState(header=Header(stamp=stamp(now)), name=[*ARM_JOINTS, "gripper", "left_finger", "right_finger"],
                             position=[*map(float, pose7[:6]), gripper.joint(grip), finger, -finger],
                             velocity=[0.0] * 9, effort=[0.0] * 9)
        self._state_pubs[topic](message)

    def stop(self) -> None:
        self._stop.set()
        if getattr(self, "_thread", None) is not None:
            self._thread.join(timeout=5)
        self.transport.close()

    def __enter__(self) -> "SimNode":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    from robot.aloha.site import SITES_DIR
    parser = argparse.ArgumentParser(prog="sim_node", description=__doc__.split("\n\n")[0])
    parser.add_argument("--site", default=str(SITES_DIR / "sim.json"))
    parser.add_argument("--task", default="transfer_cube")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--loopback", action="store_true", help="keep DDS on the loopback interface")
    args = parser.parse_args(argv)
    return serve(load_site(args.site), task=args.task, seed=args.seed, loopback=args.loopback)


def serve(site: SiteConfig, task: str = "transfer_cube", seed: int = 0, loopback: bool = False,
          node_class: type | None = None) -> int:
    """Run the node (``node_class``, default SimNode) until SIGINT/SIGTERM."""
    if loopback:
        from robot.aloha.dds_transport import loopback_config
        os.environ.setdefault("CYCLONEDDS_URI", loopback_config())
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    with (node_class or SimNode)(site, task, seed):
        print(f"sim node up: site {site.name}, task {task}, ROS domain {site.domain_id}", flush=True)
        done.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
