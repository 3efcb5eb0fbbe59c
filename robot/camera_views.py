"""Camera views: a region of one camera's picture, at the size the models read.

The top camera sees the whole table, but the task happens in a band across its middle: at
96x128 the cube is 15-22 pixels and the grippers a few more, too few for a small world model to
keep them through an imagined episode. A view crops the task region from a larger picture, so
the same 96x128 pixels carry the cube at twice the size (four times the pixels). It is a
crop, not another camera: a real RealSense frame (480x640) is cropped the same way, and the
arm-pose maps project through the same camera with the crop's offset and scale.

A view has a name of its own (``cam_high_task``) and is stored as a camera stream under it,
so policy, world model and reward model pick it like any camera; they must all read the same.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class CameraView:
    """``camera``'s picture cropped to the box (top, left, height, width), as fractions of the
    full picture. Keep height and width in the ratio of the view's size to the camera's (both
    4:3 here), so pixels stay square."""

    camera: str
    top: float = 0.0
    left: float = 0.0
    height: float = 1.0
    width: float = 1.0

    def __post_init__(self):
        if not (0 <= self.top and 0 <= self.left and 0 < self.height and 0 < self.width
                and self.top + self.height <= 1 + 1e-9 and self.left + self.width <= 1 + 1e-9):
            raise ValueError(f"view box (top {self.top}, left {self.left}, height {self.height}, width "
                             f"{self.width}); expected fractions of the picture, inside it")

    def source_size(self, size: tuple[int, int]) -> tuple[int, int]:
        """The full picture's size whose crop is exactly ``size`` (height, width) pixels."""
        h, w = size
        return round(h / self.height), round(w / self.width)

    def crop(self, frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        """The view of a full picture ``frame`` (H, W, C), at ``size``. A picture of
        ``source_size(size)`` is cut without resampling; any other one is cut and resized
        (area averaging) -- a real camera's 480x640 frame, say."""
        full_h, full_w = frame.shape[:2]
        top, left = round(self.top * full_h), round(self.left * full_w)
        box = frame[top:top + round(self.height * full_h), left:left + round(self.width * full_w)]
        if box.shape[:2] == tuple(size):
            return np.ascontiguousarray(box)
        from PIL import Image  # only for pictures of another size than the view's source

        return np.asarray(Image.fromarray(box).resize((size[1], size[0]), Image.BOX))


# The cube's band in the top view: across the episodes of transfer cube, the cube's centre lies
# in rows 0.49-0.64 and columns 0.48-0.61 of the picture, and the grippers meet it there; the arms
# move in rows 0.46-0.75. The half-size box around it keeps the grippers, the cube and the
# handover, and leaves out the arms' bases, whose joints the policy reads as numbers anyway.
VIEWS = {"cam_high_task": CameraView("cam_high", top=0.375, left=0.25, height=0.5, width=0.5)}


def view_of(name: str) -> CameraView | None:
    return VIEWS.get(name)
