"""Where the commanded arms would be in the picture: maps the denoiser reads next to its context.

A joint-angle vector is a poor input for a convolutional network: turning it into "the gripper
moves 3 pixels left" must be learned through one global conditioning vector, and at small
scale it is not (measured: frames predicted with another episode's actions were as good as
with their own). Forward kinematics of the arms, projected through the camera, puts each
commanded pose where it belongs in the image: a few soft lines per arm, one channel per group
of links, that a convolution compares directly with the arm it sees.

``ArmKinematics`` (``kinematics.py``, re-exported here) is the robot's description as numbers
-- serial chains of links with one joint each, the camera's pose and field of view -- so a
checkpoint carries it and loading one needs no robot model.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from learning.world_model.kinematics import ArmKinematics

__all__ = ["ArmKinematics", "ArmPoseMaps"]


def _quaternion_matrix(q: torch.Tensor) -> torch.Tensor:
    """(..., 4) w, x, y, z -> (..., 3, 3)."""
    q = q / q.norm(dim=-1, keepdim=True)
    w, x, y, z = q.unbind(-1)
    rows = [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w),
            2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w),
            2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]
    return torch.stack(rows, -1).view(*q.shape[:-1], 3, 3)


def _axis_angle_matrix(axis: torch.Tensor, angle: torch.Tensor) -> torch.Tensor:
    """axis (3,) unit, angle (N,) -> (N, 3, 3) (Rodrigues)."""
    k = torch.zeros(3, 3, dtype=angle.dtype, device=angle.device)
    k[0, 1], k[0, 2], k[1, 0], k[1, 2], k[2, 0], k[2, 1] = -axis[2], axis[1], axis[2], -axis[0], -axis[1], axis[0]
    s, c = angle.sin()[:, None, None], angle.cos()[:, None, None]
    return torch.eye(3, dtype=angle.dtype, device=angle.device) + s * k + (1 - c) * (k @ k)


class ArmPoseMaps(nn.Module):
    """Actions (N, D) -> maps (N, channels, H, W) in [0, 1]: each channel the union of its
    segments, drawn as Gaussian lines where the commanded pose projects into the camera."""

    def __init__(self, kinematics: ArmKinematics, image_size: tuple[int, int]):
        super().__init__()
        k = kinematics
        self.kinematics, self.image_size = k, tuple(image_size)
        n = len(k.parents)
        self.register_buffer("positions", torch.tensor(k.positions, dtype=torch.float32).view(n, 3), persistent=False)
        self.register_buffer("rotations", _quaternion_matrix(torch.tensor(k.rotations, dtype=torch.float32).view(n, 4)),
                             persistent=False)
        axes = torch.tensor(k.joint_axes, dtype=torch.float32).view(n, 3)
        self.register_buffer("axes", axes / axes.norm(dim=-1, keepdim=True).clamp_min(1e-9), persistent=False)
        self.register_buffer("point_offsets", torch.tensor(k.point_offsets, dtype=torch.float32).view(-1, 3),
                             persistent=False)
        self.register_buffer("camera_position", torch.tensor(k.camera_position, dtype=torch.float32), persistent=False)
        self.register_buffer("camera_rotation", torch.tensor(k.camera_rotation, dtype=torch.float32).view(3, 3),
                             persistent=False)
        h, w = self.image_size
        rows, cols = torch.meshgrid(torch.arange(h, dtype=torch.float32) + 0.5,
                                    torch.arange(w, dtype=torch.float32) + 0.5, indexing="ij")
        self.register_buffer("pixel_rows", rows.reshape(1, 1, h * w), persistent=False)
        self.register_buffer("pixel_cols", cols.reshape(1, 1, h * w), persistent=False)
        segments = torch.tensor(k.segments, dtype=torch.long).view(-1, 3)
        self.register_buffer("segments", segments, persistent=False)

    def link_frames(self, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(N, D) -> each link's world position (N, L, 3) and rotation (N, L, 3, 3)."""
        k = self.kinematics
        n = len(actions)
        positions, rotations = [], []
        for i, parent in enumerate(k.parents):
            if parent < 0:
                parent_position = torch.zeros(n, 3, dtype=actions.dtype, device=actions.device)
                parent_rotation = torch.eye(3, dtype=actions.dtype, device=actions.device).expand(n, 3, 3)
            else:
                parent_position, parent_rotation = positions[parent], rotations[parent]
            position = parent_position + parent_rotation @ self.positions[i]
            rotation = parent_rotation @ self.rotations[i]
            kind = k.joint_kinds[i]
            if kind != "fixed":
                value = k.joint_scale[i] * actions[:, k.joint_index[i]] + k.joint_offset[i]
                if kind == "hinge":
                    rotation = rotation @ _axis_angle_matrix(self.axes[i], value)
                else:
                    position = position + (rotation @ self.axes[i]) * value[:, None]
            positions.append(position)
            rotations.append(rotation)
        return torch.stack(positions, 1), torch.stack(rotations, 1)

    def points(self, actions: torch.Tensor) -> torch.Tensor:
        """(N, D) -> the points' world positions (N, P, 3)."""
        positions, rotations = self.link_frames(actions)
        links = list(self.kinematics.point_links)
        return positions[:, links] + (rotations[:, links] @ self.point_offsets[:, :, None]).squeeze(-1)

    def project(self, points: torch.Tensor) -> torch.Tensor:
        """World points (N, P, 3) -> (row, column) pixel coordinates (N, P, 2) at the image size."""
        top, left, crop_h, crop_w = self.kinematics.image_crop
        h, w = self.image_size[0] / crop_h, self.image_size[1] / crop_w  # the whole picture, at the frames' scale
        camera = (points - self.camera_position) @ self.camera_rotation  # coordinates along the camera's axes
        depth = (-camera[..., 2]).clamp_min(1e-3)  # the camera looks along its -z
        focal = 0.5 * h / math.tan(math.radians(self.kinematics.camera_fovy_deg) / 2)
        return torch.stack([h / 2 - focal * camera[..., 1] / depth - top * h,
                            w / 2 + focal * camera[..., 0] / depth - left * w], -1)

    def forward(self, actions: torch.Tensor) -> torch.Tensor:
        pixels = self.project(self.points(actions.float()))  # (N, P, 2)
        a, b = pixels[:, self.segments[:, 0], None], pixels[:, self.segments[:, 1], None]  # (N, S, 1, 2)
        (ar, ac), (dr, dc) = a.unbind(-1), (b - a).unbind(-1)  # rows and columns apart: (N, S, 1) each
        to_r, to_c = self.pixel_rows - ar, self.pixel_cols - ac  # (N, S, HW)
        t = ((to_r * dr + to_c * dc) / (dr * dr + dc * dc).clamp_min(1e-6)).clamp_(0, 1)
        distance2 = (to_r - t * dr).square_() + (to_c - t * dc).square_()  # to the nearest point of each segment
        # each channel: its nearest segment at each pixel
        channel = self.segments[:, 2]
        nearest = torch.stack([distance2[:, channel == c].amin(1) for c in range(self.kinematics.channels)], 1)
        maps = torch.exp(nearest * (-0.5 / self.kinematics.line_width_px ** 2))
        return maps.view(len(actions), self.kinematics.channels, *self.image_size)
