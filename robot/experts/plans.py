"""Fingertip-space plans for the two sim tasks, after the ACT scripted policies.

A plan gives, per arm, waypoints (step, fingertip xyz, quaternion wxyz, gripper 0..1);
between waypoints pose and gripper move linearly. Plans are made from the true object
poses, and at ``replan_step`` they are remade from where the objects really are by then
(a grasped object never sits exactly where the plan put it). Heights and timings are
tuned to our MuJoCo scene: grasp at the object's centre, wait for the fingers to close
before lifting.
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np


@dataclass(frozen=True)
class Waypoint:
    t: int
    xyz: np.ndarray
    quat: np.ndarray
    gripper: float


def axis_angle(axis: tuple[float, float, float], degrees: float) -> np.ndarray:
    quat = np.zeros(4)
    mujoco.mju_axisAngle2Quat(quat, np.asarray(axis, dtype=np.float64), np.radians(degrees))
    return quat


def pose_at(plan: list[Waypoint], t: int) -> tuple[np.ndarray, np.ndarray, float]:
    """Interpolated (xyz, quat, gripper) at step t; held after the last waypoint."""
    if t >= plan[-1].t:
        last = plan[-1]
        return last.xyz, last.quat, last.gripper
    after = next(i for i, w in enumerate(plan) if w.t > t)
    a, b = plan[after - 1], plan[after]
    f = (t - a.t) / (b.t - a.t)
    return a.xyz + (b.xyz - a.xyz) * f, a.quat + (b.quat - a.quat) * f, a.gripper + (b.gripper - a.gripper) * f


PICK_RIGHT = axis_angle((0, 1, 0), -60)  # fingers pitched down towards the table
PICK_LEFT = axis_angle((0, 1, 0), 60)
SIDE_LEFT = axis_angle((1, 0, 0), 90)  # left fingers vertical, to take the cube from the side
LEVEL = np.array([1.0, 0.0, 0.0, 0.0])


class TransferCubePlan:
    """The right arm picks the cube and lifts it to a meeting point; the left arm takes it."""

    replan_step = 240
    meet = np.array([0.0, 0.5, 0.25])

    def __init__(self, left0, right0, objects: np.ndarray):
        self.left0, cube = left0, objects[:3]
        right_xyz, right_quat = right0
        self.right = [
            Waypoint(0, right_xyz, right_quat, 0),
            Waypoint(90, cube + [0, 0, 0.08], PICK_RIGHT, 1),  # above the cube
            Waypoint(130, cube, PICK_RIGHT, 1),  # fingertips around it
            Waypoint(160, cube, PICK_RIGHT, 0),  # close
            Waypoint(180, cube, PICK_RIGHT, 0),  # let the fingers close before lifting
            Waypoint(215, self.meet + [0.05, 0, 0], PICK_RIGHT, 0),
            Waypoint(235, self.meet, PICK_RIGHT, 0),
            Waypoint(320, self.meet, PICK_RIGHT, 0),  # until the left gripper holds the cube
            Waypoint(340, self.meet, PICK_RIGHT, 1),  # let go
            Waypoint(380, self.meet + [0.1, 0, 0], PICK_RIGHT, 1),
            Waypoint(400, self.meet + [0.1, 0, 0], PICK_RIGHT, 1),
        ]
        self.left = self._left_to(self.meet + [0.01, 0, -0.02])

    def _left_to(self, cube: np.ndarray) -> list[Waypoint]:
        left_xyz, left_quat = self.left0
        return [
            Waypoint(0, left_xyz, left_quat, 0),
            Waypoint(100, self.meet + [-0.1, 0, -0.02], SIDE_LEFT, 1),  # wait beside the meeting point
            Waypoint(self.replan_step, self.meet + [-0.1, 0, -0.02], SIDE_LEFT, 1),
            Waypoint(280, cube, SIDE_LEFT, 1),  # reach around the cube
            Waypoint(300, cube, SIDE_LEFT, 0),  # close
            Waypoint(340, cube, SIDE_LEFT, 0),
            Waypoint(380, cube + [-0.12, 0, 0], LEVEL, 0),  # take it away
            Waypoint(400, cube + [-0.12, 0, 0], LEVEL, 0),
        ]

    def replan(self, tips, objects: np.ndarray) -> None:
        self.left = self._left_to(objects[:3].copy())  # meet the cube where it really is


class InsertionPlan:
    """Left arm lifts the socket, right arm the peg; the peg is pushed in along x."""

    replan_step = 270
    meet = np.array([0.0, 0.5, 0.15])

    def __init__(self, left0, right0, objects: np.ndarray):
        peg, socket = objects[:3], objects[7:10]
        (left_xyz, left_quat), (right_xyz, right_quat) = left0, right0
        self.left = [
            Waypoint(0, left_xyz, left_quat, 0),
            Waypoint(120, socket + [0, 0, 0.08], PICK_LEFT, 1),
            Waypoint(160, socket, PICK_LEFT, 1),
            Waypoint(190, socket, PICK_LEFT, 0),
            Waypoint(205, socket, PICK_LEFT, 0),
            Waypoint(270, self.meet + [-0.1, 0, 0], PICK_LEFT, 0),
            Waypoint(300, self.meet + [-0.05, 0, 0], PICK_LEFT, 0),
            Waypoint(400, self.meet + [-0.05, 0, 0], PICK_LEFT, 0),
        ]
        self.right = self._right_plan(right_xyz, right_quat, peg, self.meet + [0.1, 0, 0], self.meet + [0.05, 0, 0])

    @staticmethod
    def _right_plan(right_xyz, right_quat, peg, approach, final) -> list[Waypoint]:
        return [
            Waypoint(0, right_xyz, right_quat, 0),
            Waypoint(120, peg + [0, 0, 0.08], PICK_RIGHT, 1),
            Waypoint(160, peg, PICK_RIGHT, 1),
            Waypoint(190, peg, PICK_RIGHT, 0),
            Waypoint(205, peg, PICK_RIGHT, 0),
            Waypoint(270, approach, PICK_RIGHT, 0),
            Waypoint(310, approach, PICK_RIGHT, 0),
            Waypoint(370, final, PICK_RIGHT, 0),
            Waypoint(400, final, PICK_RIGHT, 0),
        ]

    def replan(self, tips, objects: np.ndarray) -> None:
        """Line the peg up with the socket from how each really sits in its gripper."""
        (left_tip, _), (right_tip, _) = tips
        peg, socket = objects[:3], objects[7:10]
        socket_final = self.meet + [-0.05, 0, 0] + (socket - left_tip)
        # The pin spans the socket's centre +-4 cm; the peg is 12 cm long: its centre must
        # come within 10 cm of the socket's centre along x for the peg to reach the pin.
        peg_final = socket_final + [0.085, 0, 0]
        grip = peg - right_tip
        old = self.right
        self.right = old[:6] + [
            Waypoint(310, peg_final + [0.05, 0, 0] - grip, PICK_RIGHT, 0),
            Waypoint(370, peg_final - grip, PICK_RIGHT, 0),
            Waypoint(400, peg_final - grip, PICK_RIGHT, 0),
        ]


PLANS = {"transfer_cube": TransferCubePlan, "insertion": InsertionPlan}
