"""The arms' description as numbers (``ArmKinematics``): serial chains of links with one joint
each, the camera's pose and field of view. A config, apart from the network that draws it
(``arm_pose.py``), so that reading a world model's configuration needs no torch -- the CLI
lists and checks models without loading it. The robot side (``robot/sim/kinematics.py``)
writes it; a checkpoint carries it, so loading one needs no robot model.
"""

from __future__ import annotations

from dataclasses import dataclass

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
