"""Write colour frames to a librealsense recording (.db3) through a software device.

The file plays back through an ordinary pipeline (``CameraConfig.playback``) and reports the
given serial number: a camera site can be exercised, offline, by librealsense itself.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np


def record_color_frames(path: Path | str, serial: str, frames: np.ndarray, fps: int = 30) -> Path:
    """``frames``: uint8 (T, H, W, 3) RGB. librealsense 2.59 writes rosbag2 files (suffix .db3)."""
    import pyrealsense2 as rs

    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames {frames.shape} {frames.dtype}; expected uint8 (T, H, W, 3)")
    path = Path(path)
    if path.suffix != ".db3":
        raise ValueError(f"recording {path}: expected a .db3 file (librealsense's rosbag2 format)")
    _, height, width, _ = frames.shape
    device = rs.software_device()
    device.register_info(rs.camera_info.serial_number, serial)
    device.register_info(rs.camera_info.name, "wmpo software camera")
    sensor = device.add_sensor("Color")
    intrinsics = rs.intrinsics()
    intrinsics.width, intrinsics.height = width, height
    intrinsics.fx = intrinsics.fy = float(width)
    intrinsics.ppx, intrinsics.ppy = width / 2, height / 2
    intrinsics.model = rs.distortion.none
    stream = rs.video_stream()
    stream.type, stream.index, stream.uid = rs.stream.color, 0, 0
    stream.width, stream.height, stream.fps, stream.bpp = width, height, fps, 3
    stream.fmt, stream.intrinsics = rs.format.rgb8, intrinsics
    profile = sensor.add_video_stream(stream)
    recorder = rs.recorder(str(path), device)
    recording = recorder.query_sensors()[0]
    recording.open(profile)
    received = []
    recording.start(lambda frame: received.append(frame.get_frame_number()))
    for number, frame in enumerate(frames):
        video = rs.software_video_frame()
        video.pixels = np.ascontiguousarray(frame)
        video.bpp, video.stride = 3, width * 3
        video.timestamp, video.domain = number * 1000.0 / fps, rs.timestamp_domain.system_time
        video.frame_number, video.profile = number, profile.as_video_stream_profile()
        sensor.on_video_frame(video)
    deadline = time.monotonic() + 2.0
    while len(received) < len(frames) and time.monotonic() < deadline:
        time.sleep(0.01)
    recording.stop()
    recording.close()
    del recording, recorder  # the file is finished when the recorder goes
    return path
