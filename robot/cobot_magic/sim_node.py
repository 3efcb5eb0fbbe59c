"""The MuJoCo ALOHA published as a Cobot Magic on the site's ROS 2 topics, over Cyclone DDS.

What each Piper driver node does (joint state ``joint0..joint6`` with the gripper in metres;
JointState commands; ``enable_flag`` and ``enable_srv``; a PiperStatusMsg status), leader arms
where the site names them (replaying the task's scripted expert, waiting for the followers, as
the Interbotix node's leaders do), camera frames on Image topics, and a Tracer base that stops
when /cmd_vel falls silent for 500 ms. Where the site names them, each arm's enable state
(``enable_state``, std_msgs/Bool) and an operator's joystick velocity (``teleop_cmd_vel``,
``operator_twist``) are published too. Like the real
driver, an arm ignores commands until enabled. Tests can refuse an arm's enable
(``refuse_enable``) or raise a status flag (``status``).

The sim's arms are vx300s: a Piper joint vector maps onto them by flipping the shoulder, elbow and
wrist-angle signs (``PIPER_TO_SIM``), a calibration of this sim, not a claim about the hardware.

Run: ``python -m robot.cobot_magic.sim_node --site <site file> --loopback``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from robot.aloha.messages import Header, JointState, Twist, Vector3, stamp
from robot.aloha.sim_node import SimNode, serve
from robot.aloha.site import SIDES
from robot.cobot_magic.arms import piper_qpos7
from robot.cobot_magic.messages import ENABLE, Bool, PiperStatusMsg
from robot.cobot_magic.site import PIPER_STATE_NAMINGS, TRACER_TIMEOUT_S, CobotMagicSite, load_cobot_site

PIPER_TO_SIM = np.array([1.0, -1.0, -1.0, 1.0, -1.0, 1.0])  # its own inverse


class CobotSimNode(SimNode):
    def __init__(self, site: CobotMagicSite, task: str = "transfer_cube", seed: int = 0):
        super().__init__(site, task, seed)
        self.enabled = {side: False for side in SIDES}
        self.refuse_enable: set[str] = set()  # sides whose drivers never report enabled
        self.disables = 0  # enable_flag false / enable_srv false received: must stay 0
        self.status = {side: PiperStatusMsg(ctrl_mode=0x01) for side in SIDES}  # tests raise flags here
        self.commands_heard = {side: 0 for side in SIDES}
        self.operator_twist = (0.1, 0.0)  # (v_x, omega_z) on teleop_cmd_vel, where the site names it

    def _topic_cameras(self) -> list:
        return [camera.topic_config() for camera in self.site.cameras]

    def _wire(self) -> None:
        t = self.transport
        self._state_pubs, self._status_pubs, self._enable_pubs = {}, {}, {}
        self._operator_pub = t.publisher(self.site.teleop_cmd_vel, Twist) if self.site.teleop_cmd_vel else None
        for side in SIDES:
            topics = self.site.arms[side]
            self._state_pubs[side] = t.publisher(topics.state, JointState)
            if topics.leader:  # leaders replay the task's scripted expert, waiting for the followers
                self._state_pubs[topics.leader] = t.publisher(topics.leader, JointState)
            self._status_pubs[side] = t.publisher(topics.status, PiperStatusMsg)
            if topics.enable_state:
                self._enable_pubs[side] = t.publisher(topics.enable_state, Bool)
            t.subscribe(topics.command, JointState, self._on_command(side))
            t.subscribe(topics.enable_flag, Bool, self._on_enable_flag(side))
            t.serve(topics.enable_service, ENABLE, self._on_enable_service(side))
        self._wire_cameras_and_base()

    def _set_enabled(self, side: str, enable: bool) -> None:
        if not enable:
            self.disables += 1
        self.enabled[side] = enable and side not in self.refuse_enable

    def _on_enable_flag(self, side):
        def handle(message: Bool) -> None:
            self._set_enabled(side, bool(message.data))
        return handle

    def _on_enable_service(self, side):
        def handle(request) -> dict:
            self._set_enabled(side, bool(request.enable_request))
            return {"enable_response": self.enabled[side] == bool(request.enable_request)}
        return handle

    def _on_command(self, side):
        def handle(message: JointState) -> None:
            if not self.enabled[side] or self.status[side].arm_status != 0:
                return  # the driver ignores commands until enabled, and in e-stop
            pose = piper_qpos7(message, self.site.gripper, self.site.arms[side].command)
            offset = 0 if side == "left" else 7
            with self._lock:
                self.goal[offset:offset + 6] = PIPER_TO_SIM * pose[:6]
                self.goal[offset + 6] = float(np.clip(pose[6], 0.0, 1.0))
                self.commands_heard[side] += 1
        return handle

    def _publish_states(self) -> None:
        from robot.sim.aloha_sim import arm_qpos14
        if self.base_heard is not None and time.monotonic() - self.base_heard > TRACER_TIMEOUT_S:
            self.base_velocity = (0.0, 0.0)  # the Tracer's own command timeout
        qpos = arm_qpos14(self.sim.data.qpos, self.sim.config.gripper)
        now = time.time()
        for side, offset in (("left", 0), ("right", 7)):
            topics = self.site.arms[side]
            if topics.state not in self.muted:
                self._state_pubs[side](self._joint_state(qpos[offset:offset + 7], now))
            if topics.status not in self.muted:
                self._status_pubs[side](self.status[side])
            if topics.leader and topics.leader not in self.muted:
                self._state_pubs[topics.leader](self._joint_state(self._leader_pose(side, qpos), now))
            if side in self._enable_pubs and topics.enable_state not in self.muted and self.ticks % 10 == 0:  # 10 Hz
                self._enable_pubs[side](Bool(data=self.enabled[side]))
        operator = self.site.teleop_cmd_vel
        if operator and operator not in self.muted and self.ticks % 2 == 0:  # a joystick node at 50 Hz
            v_x, omega_z = self.operator_twist
            self._operator_pub(Twist(linear=Vector3(x=v_x), angular=Vector3(z=omega_z)))
        self._advance_leaders(qpos)

    def _joint_state(self, sim_pose7: np.ndarray, now: float) -> JointState:
        joints = PIPER_TO_SIM * sim_pose7[:6]
        gripper = self.site.gripper.position(float(np.clip(sim_pose7[6], 0.0, 1.0)))
        # The older driver's names; commands arrive with the newer ones: both are read.
        return JointState(header=Header(stamp=stamp(now)), name=list(PIPER_STATE_NAMINGS[0]),
                          position=[*map(float, joints), gripper], velocity=[0.0] * 7, effort=[0.0] * 7)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cobot_magic.sim_node", description=__doc__.split("\n\n")[0])
    parser.add_argument("--site", required=True, help="a Cobot Magic site file")
    parser.add_argument("--task", default="transfer_cube")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--loopback", action="store_true", help="keep DDS on the loopback interface")
    args = parser.parse_args(argv)
    return serve(load_cobot_site(args.site), task=args.task, seed=args.seed, loopback=args.loopback,
                 node_class=CobotSimNode)


if __name__ == "__main__":
    raise SystemExit(main())
