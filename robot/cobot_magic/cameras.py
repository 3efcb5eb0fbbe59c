"""Cameras on ROS Image topics (Orbbec Dabai, RealSense or any driver), resized for the policy.

The frame keeps the driver's header stamp, so each observation can say when each picture was
taken (``stamp_s``); AgileX's recorder pairs cameras and arms by those stamps.
"""

from __future__ import annotations

import numpy as np

from robot.aloha.cameras import TopicCamera
from robot.aloha.messages import seconds
from robot.aloha.transport import Transport
from robot.cobot_magic.site import CobotCamera


class ResizedTopicCamera(TopicCamera):
    """A TopicCamera whose frames come out at the policy's size (``camera.height`` x ``camera.width``)."""

    def __init__(self, camera: CobotCamera, transport: Transport):
        super().__init__(camera.topic_config(), transport)
        self.size = (camera.height, camera.width)

    def latest(self):
        frame, age = super().latest()
        return (None, None) if frame is None else (resize_frame(frame, *self.size), age)

    def stamp_s(self) -> float | None:
        """The driver's timestamp of the latest frame (s, its clock), None before the first."""
        message = None if self._subscription is None else self._subscription.latest()[0]
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
