"""Cameras on ROS Image topics (Orbbec Dabai, RealSense or any driver), resized for the policy.

The frame keeps the driver's header stamp, so each observation can say when each picture was
taken (``stamp_s``); the backend pairs cameras and arms by those stamps as AgileX's recorder does
(``stamp_sync``).
"""

from __future__ import annotations

import numpy as np

from robot.aloha.cameras import TopicCamera, image_array
from robot.aloha.messages import Image, seconds
from robot.aloha.transport import Transport
from robot.cobot_magic.site import CobotCamera


class ResizedTopicCamera(TopicCamera):
    """A TopicCamera whose frames come out at the policy's size (``camera.height`` x ``camera.width``),
    keeping its last few frames so the stamp sync can pick one (``picked``; None: the latest)."""

    HISTORY = 8  # frames kept for the stamp sync: ~0.25 s at 30 fps

    def __init__(self, camera: CobotCamera, transport: Transport):
        super().__init__(camera.topic_config(), transport)
        self.size = (camera.height, camera.width)
        self.picked: Image | None = None

    def start(self, timeout_s: float) -> None:
        super().start(timeout_s)
        self._subscription.keep_recent(self.HISTORY)

    def latest(self):
        """(frame at the policy's size, age of the stream's latest frame in s); the picked frame if
        there is one. (None, None) before the first frame."""
        message, age = (None, None) if self._subscription is None else self._subscription.latest()
        if message is None:
            return None, None
        chosen = message if self.picked is None else self.picked
        return resize_frame(image_array(chosen, self.config.topic), *self.size), age

    def history(self) -> list[tuple[float, Image]]:
        """(driver stamp s, image) of the kept frames, oldest first."""
        return [] if self._subscription is None else [(seconds(m.header.stamp), m) for m in self._subscription.recent()]

    def stamp_s(self) -> float | None:
        """The driver's timestamp of the frame ``latest`` gives (s, its clock), None before the first."""
        message = None if self._subscription is None else self._subscription.latest()[0]
        message = message if self.picked is None else self.picked
        return None if message is None else seconds(message.header.stamp)


def resize_frame(frame: np.ndarray, height: int, width: int) -> np.ndarray:
    """uint8 (H, W, 3) -> (height, width, 3) by area averaging when the size divides evenly (640x480
    to 128x96 does), else nearest neighbour. No dependency beyond numpy."""
    h, w, c = frame.shape
    if (h, w) == (height, width):
        return frame
    if h % height == 0 and w % width == 0:
        blocks = frame.reshape(height, h // height, width, w // width, c).astype(np.float32)
        return np.round(blocks.mean(axis=(1, 3))).astype(np.uint8)
    rows = (np.arange(height) * h // height).clip(0, h - 1)
    cols = (np.arange(width) * w // width).clip(0, w - 1)
    return frame[rows][:, cols]
