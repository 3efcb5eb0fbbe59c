"""The ALOHA arms' kinematics and a camera, as numbers: what the world model's arm-pose maps need.

Read from the sim's MuJoCo model (the vx300s geometry is the real arms' geometry) and written
as a plain dict of the fields of ``learning.world_model.arm_pose.ArmKinematics``. The camera
is the sim's; a real site whose cam_high is mounted elsewhere would write its calibrated pose
into the same fields.
"""

from __future__ import annotations

import mujoco
import numpy as np

from robot.camera_views import view_of
from robot.sim.aloha_sim import SIM_CAMERAS, SIM_PICTURES, SimGripper
from robot.sim.scene import SceneConfig, build_model
from robot.sim.tasks import get_task

ARMS = ("left", "right")  # the action vector: left arm's 6 joints and gripper, then the right's
LINKS = ("shoulder_link", "upper_arm_link", "upper_forearm_link", "lower_forearm_link", "wrist_link",
         "gripper_link", "left_finger_link", "right_finger_link")
GRIPPER_BAR_M = 0.1  # the gripper's length past its link's origin, drawn as the last arm segment
# Channels: 0/1 the left/right arm's links, 2/3 its fingers (two dots whose distance is the opening).
ARM_CHANNEL, FINGER_CHANNEL = (0, 1), (2, 3)


def arm_kinematics(camera: str = "cam_high", gripper: SimGripper = SimGripper()) -> dict:
    """``camera``: a sim camera, or a view cropped from one (its box becomes ``image_crop``)."""
    if camera not in SIM_PICTURES:
        raise ValueError(f"camera {camera!r}; expected one of {SIM_PICTURES}")
    view = view_of(camera)
    crop = (0.0, 0.0, 1.0, 1.0) if view is None else (view.top, view.left, view.height, view.width)
    camera = camera if view is None else view.camera
    model = build_model(get_task("transfer_cube"), SceneConfig())
    data = mujoco.MjData(model)
    mujoco.mj_forward(model, data)
    parents, positions, rotations, kinds, axes, index, scale, offset = [], [], [], [], [], [], [], []
    points, point_offsets, segments = [], [], []
    for a, arm in enumerate(ARMS):
        bodies = [f"vx300s_{arm}"] + [f"vx300s_{arm}/{link}" for link in LINKS]
        first = len(parents)
        for i, name in enumerate(bodies):
            body = model.body(name)
            parent = model.body_parentid[body.id]
            parents.append(-1 if parent == 0 else first + bodies.index(model.body(parent).name))
            positions += [float(v) for v in model.body_pos[body.id]]
            rotations += [float(v) for v in model.body_quat[body.id]]
            joints = [j for j in range(model.njnt) if model.jnt_bodyid[j] == body.id]
            if not joints:  # the arm's base
                kinds.append("fixed")
                axes += [0.0, 0.0, 1.0]
                index.append(0)
                scale.append(0.0)
                offset.append(0.0)
                continue
            j = joints[0]
            if len(joints) > 1 or np.any(model.jnt_pos[j]):
                raise ValueError(f"{name}: expected one joint at the body's origin")
            kinds.append("hinge" if model.jnt_type[j] == mujoco.mjtJoint.mjJNT_HINGE else "slide")
            axes += [float(v) for v in model.jnt_axis[j]]
            link = LINKS[i - 1] if i else ""
            if "finger" in link:
                sign = 1.0 if link.startswith("left") else -1.0
                index.append(7 * a + 6)
                scale.append(sign * (gripper.open_m - gripper.close_m))
                offset.append(sign * gripper.close_m)
            else:
                index.append(7 * a + i - 1)
                scale.append(1.0)
                offset.append(0.0)
        link = {name: first + k for k, name in enumerate(["base", *LINKS])}
        p = len(points)
        for name, at in (("upper_arm_link", 0.0), ("upper_forearm_link", 0.0), ("wrist_link", 0.0),
                         ("gripper_link", 0.0), ("gripper_link", GRIPPER_BAR_M)):
            points.append(link[name])
            point_offsets += [at, 0.0, 0.0]
        for start in range(4):
            segments += [p + start, p + start + 1, ARM_CHANNEL[a]]
        for finger, y in (("left_finger_link", -0.013), ("right_finger_link", 0.013)):
            points.append(link[finger])
            point_offsets += [0.025, y, 0.0]
            segments += [len(points) - 1, len(points) - 1, FINGER_CHANNEL[a]]
    cam = model.camera(SIM_CAMERAS[camera])
    return {"parents": parents, "positions": positions, "rotations": rotations, "joint_kinds": kinds,
            "joint_axes": axes, "joint_index": index, "joint_scale": scale, "joint_offset": offset,
            "point_links": points, "point_offsets": point_offsets, "segments": segments, "channels": 4,
            "camera_position": [float(v) for v in data.cam_xpos[cam.id]],
            "camera_rotation": [float(v) for v in data.cam_xmat[cam.id]],
            "camera_fovy_deg": float(model.cam_fovy[cam.id]), "image_crop": list(crop)}
