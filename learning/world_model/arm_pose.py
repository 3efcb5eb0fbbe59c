"""Where the commanded arms would be in the picture: maps the denoiser reads next to its context.

A joint-angle vector is a poor input for a convolutional network: turning it into "the gripper
moves 3 pixels left" must be learned through one global conditioning vector, and at small
scale it is not (measured: frames predicted with another episode's actions were as good as
with their own). Forward kinematics of the arms, projected through the camera, puts each
commanded pose where it belongs in the image: a few soft lines per arm, one channel per group
of links, that a convolution compares directly with the arm it sees.

``ArmKinematics`` is the robot's description as numbers -- serial chains of links with one
joint each, the camera's pose and field of view -- so a checkpoint carries it and loading one
needs no robot model. The robot side (``robot/sim/kinematics.py``) writes it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from learning.configs import JsonConfig

JOINT_KINDS = ("fixed", "hinge", "slide")


@dataclass(frozen=True)
class ArmKinematics(JsonConfig):
    """L links in an order where parents come first; per link (flattened in tuples): its parent
    (-1: the world), position (3) and rotation (w, x, y, z) in the parent's frame, its joint kind
    and axis (3, in its own frame), and the joint's value from the action vector,
    ``scale * action[index] + offset``. P points, each a link and an offset in its frame;
    segments (point a, point b, channel) drawn between points (a == b: a dot). The camera:
    position, rotation matrix (9, row-major; columns are its x right, y up, z backwards, as
    in MuJoCo) and vertical field of view; ``image_crop``: the box (top, left, height, width, as
    fractions of the camera's picture) that the world model's frames show, for a cropped view."""

    parents: tuple[int, ...] = ()
    positions: tuple[float, ...] = ()
    rotations: tuple[float, ...] = ()
    joint_kinds: tuple[str, ...] = ()
    joint_axes: tuple[float, ...] = ()
    joint_index: tuple[int, ...] = ()
    joint_scale: tuple[float, ...] = ()
    joint_offset: tuple[float, ...] = ()
    point_links: tuple[int, ...] = ()
    point_offsets: tuple[float, ...] = ()
    segments: tuple[int, ...] = ()
    channels: int = 1
    camera_position: tuple[float, ...] = (0.0, 0.0, 1.0)
    camera_rotation: tuple[float, ...] = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)
    camera_fovy_deg: float = 45.0
    image_crop: tuple[float, ...] = (0.0, 0.0, 1.0, 1.0)
    line_width_px: float = 1.5  # the lines' Gaussian width, at the world model's image size

    def __post_init__(self):
        n, p = len(self.parents), len(self.point_links)
        sizes = {"positions": (len(self.positions), 3 * n), "rotations": (len(self.rotations), 4 * n),
                 "joint_kinds": (len(self.joint_kinds), n), "joint_axes": (len(self.joint_axes), 3 * n),
                 "joint_index": (len(self.joint_index), n), "joint_scale": (len(self.joint_scale), n),
                 "joint_offset": (len(self.joint_offset), n), "point_offsets": (len(self.point_offsets), 3 * p),
                 "camera_position": (len(self.camera_position), 3), "camera_rotation": (len(self.camera_rotation), 9),
                 "image_crop": (len(self.image_crop), 4)}
        for name, (got, expected) in sizes.items():
            if got != expected:
                raise ValueError(f"arm kinematics: {name} has {got} numbers, expected {expected}")
        if any(parent >= i for i, parent in enumerate(self.parents)):
            raise ValueError("arm kinematics: every link's parent must come before it (or be -1)")
        if set(self.joint_kinds) - set(JOINT_KINDS):
            raise ValueError(f"arm kinematics: joint kinds {sorted(set(self.joint_kinds))}; expected {JOINT_KINDS}")
        if len(self.segments) % 3 or any(not 0 <= c < self.channels for c in self.segments[2::3]):
            raise ValueError(f"arm kinematics: segments must be (a, b, channel) triples with channel < {self.channels}")
        if set(self.segments[2::3]) != set(range(self.channels)):
            raise ValueError(f"arm kinematics: every one of the {self.channels} channels needs a segment")
        if any(not 0 <= i < p for j, i in enumerate(self.segments) if j % 3 != 2):
            raise ValueError(f"arm kinematics: segments name points outside 0..{p - 1}")


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
