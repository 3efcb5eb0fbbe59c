"""Damped least-squares inverse kinematics for one vx300s arm of the ALOHA model.

The end-effector frame is the "fingertip" frame the scene's mocap welds use: the gripper
link composed with the weld's relative pose, which puts it between the fingertips. IK
works on a scratch MjData, so it never disturbs the simulation it plans for.
"""

from __future__ import annotations

import mujoco
import numpy as np

from robot.safety import VX300S_LOWER, VX300S_UPPER

# Fingertip frame relative to the gripper link: the inverse of the weld relpose compiled
# into gym-aloha's mocap scenes (left (-0.1347, 0, 0.002), identity; right (0.1347, 0,
# 0.002), 180 degrees about z). 13.5 cm along the gripper, between the fingertips; the
# right arm's frame is turned so that both arms share one convention for orientations.
FINGERTIP_OFFSET = {"left": (np.array([0.1347, 0.0, -0.002]), np.array([1.0, 0, 0, 0])),
                    "right": (np.array([0.1347, 0.0, -0.002]), np.array([0.0, 0, 0, 1.0]))}


class ArmIK:
    def __init__(self, model: mujoco.MjModel, side: str, damping: float = 1e-3):
        self.model = model
        self.side = side
        self.body = model.body(f"vx300s_{side}/gripper_link").id
        first = model.joint(f"vx300s_{side}/waist").qposadr[0]
        self.qpos_index = np.arange(first, first + 6)
        self.dof_index = np.array([model.joint(f"vx300s_{side}/{j}").dofadr[0] for j in
                                   ("waist", "shoulder", "elbow", "forearm_roll", "wrist_angle", "wrist_rotate")])
        self.damping = damping
        self.data = mujoco.MjData(model)
        self._jacp = np.zeros((3, model.nv))
        self._jacr = np.zeros((3, model.nv))
        # The fingertip frame is gripper * offset; so gripper = fingertip * offset^-1.
        self._offset_pos, self._offset_quat = FINGERTIP_OFFSET[side]
        data = mujoco.MjData(model)
        mujoco.mj_kinematics(model, data)
        self.base_xy = data.xpos[model.body(f"vx300s_{side}/shoulder_link").id][:2].copy()
        self.forward = 1.0 if side == "left" else -1.0  # the arms face each other along x

    def facing(self, xyz: np.ndarray, quat: np.ndarray) -> np.ndarray:
        """``quat`` (given for an arm looking straight ahead) turned about z towards ``xyz``.

        The wrist is roll-pitch-roll, so it cannot yaw: an orientation fixed in the world,
        asked of an arm whose waist has turned towards an off-centre object, is reached only
        by rolling the forearm +-90 degrees, with the sign left to chance near the centre.
        Demonstrations whose joints differ by pi for one camera image cannot be imitated."""
        dx, dy = (np.asarray(xyz[:2]) - self.base_xy) * self.forward
        turn = np.array([np.cos(np.arctan2(dy, dx) / 2), 0.0, 0.0, np.sin(np.arctan2(dy, dx) / 2)])
        turned = np.zeros(4)
        mujoco.mju_mulQuat(turned, turn, np.asarray(quat, float))
        return turned

    def fingertip_pose(self, qpos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """World pose (xyz, quat wxyz) of the fingertip frame for the full model qpos."""
        self.data.qpos[:] = qpos
        mujoco.mj_kinematics(self.model, self.data)
        return self._tip_from_link(self.data.xpos[self.body], self.data.xquat[self.body])

    def solve(self, qpos: np.ndarray, xyz: np.ndarray, quat: np.ndarray, iterations: int = 30,
              tolerance: float = 1e-4) -> tuple[np.ndarray, float]:
        """Arm joints (6,) that bring the fingertip frame to (xyz, quat), starting from ``qpos``.

        Returns the joints and the remaining position error (m)."""
        link_xyz, link_quat = self._link_from_tip(np.asarray(xyz, float), np.asarray(quat, float) / np.linalg.norm(quat))
        data = self.data
        data.qpos[:] = qpos
        error = np.zeros(6)
        rotation = np.zeros(9)
        for _ in range(iterations):
            mujoco.mj_kinematics(self.model, data)
            mujoco.mj_comPos(self.model, data)
            error[:3] = link_xyz - data.xpos[self.body]
            local = np.zeros(3)
            mujoco.mju_subQuat(local, link_quat, data.xquat[self.body])
            mujoco.mju_quat2Mat(rotation, data.xquat[self.body])
            error[3:] = rotation.reshape(3, 3) @ local  # world-frame angular error
            if np.linalg.norm(error[:3]) < tolerance and np.linalg.norm(error[3:]) < 10 * tolerance:
                break
            mujoco.mj_jacBody(self.model, data, self._jacp, self._jacr, self.body)
            jac = np.vstack([self._jacp[:, self.dof_index], self._jacr[:, self.dof_index]])
            step = jac.T @ np.linalg.solve(jac @ jac.T + self.damping * np.eye(6), error)
            joints = data.qpos[self.qpos_index] + step
            data.qpos[self.qpos_index] = np.clip(joints, VX300S_LOWER, VX300S_UPPER)
        return data.qpos[self.qpos_index].copy(), float(np.linalg.norm(error[:3]))

    def _tip_from_link(self, link_xyz, link_quat):
        quat = np.zeros(4)
        mujoco.mju_mulQuat(quat, link_quat, _conjugate(self._offset_quat))
        offset = np.zeros(3)
        mujoco.mju_rotVecQuat(offset, self._offset_pos, link_quat)
        return link_xyz + offset, quat

    def _link_from_tip(self, tip_xyz, tip_quat):
        link_quat = np.zeros(4)
        mujoco.mju_mulQuat(link_quat, tip_quat, self._offset_quat)
        offset = np.zeros(3)
        mujoco.mju_rotVecQuat(offset, self._offset_pos, link_quat)
        return tip_xyz - offset, link_quat


def _conjugate(quat: np.ndarray) -> np.ndarray:
    return np.array([quat[0], -quat[1], -quat[2], -quat[3]])
