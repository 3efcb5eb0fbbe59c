"""The RealSense path through librealsense itself: frames written by a software device into a
recording, played back by a pipeline, checked by serial number; and service errors over DDS."""

from __future__ import annotations

import time

import numpy as np
import pytest

from aloha_wire import sim_site  # sets CYCLONEDDS_URI first

from robot.aloha.cameras import RealSenseCamera
from robot.aloha.dds_transport import DdsTransport
from robot.aloha.messages import TORQUE_ENABLE
from robot.aloha.realsense_recording import record_color_frames
from robot.aloha.site import CameraConfig
from robot.aloha.transport import TransportError
from robot.robot import RobotError


@pytest.fixture
def recording(tmp_path):
    frames = np.zeros((20, 48, 64, 3), np.uint8)
    frames[..., 0] = np.arange(20, dtype=np.uint8)[:, None, None] * 10
    frames[:, :, 32:, 2] = 200
    return record_color_frames(tmp_path / "cam.db3", "123456789", frames), frames


def test_realsense_frames_round_trip_by_serial(recording):
    path, frames = recording
    camera = RealSenseCamera(CameraConfig(name="cam_high", serial="123456789", playback=str(path), height=48, width=64,
                                          fps=30))
    camera.start(timeout_s=5)
    try:
        time.sleep(0.3)
        frame, age = camera.latest()
        # fresh: the software device is fed every 33 ms (0.31 s was seen beside the other xdist worker)
        assert frame.shape == (48, 64, 3) and frame.dtype == np.uint8 and age < 0.5
        assert frame[0, 0, 0] in frames[:, 0, 0, 0] and (frame[:, 32:, 2] == 200).all()
        deadline = time.monotonic() + 3  # a rate needs two frames: under load the second may come late
        while camera.rate_hz() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert camera.rate_hz() > 10
    finally:
        camera.stop()


def test_realsense_wrong_serial_or_size_is_refused(recording):
    path, _ = recording
    wrong = RealSenseCamera(CameraConfig(name="cam_high", serial="999", playback=str(path), height=48, width=64, fps=30))
    with pytest.raises(RobotError, match="camera cam_high: device serial 123456789, expected 999"):
        wrong.start(timeout_s=5)
    size = RealSenseCamera(CameraConfig(name="cam_high", serial="123456789", playback=str(path)))
    with pytest.raises(RobotError, match=r"cam_high .*cannot start a 640x480 rgb8"):
        size.start(timeout_s=5)


def test_absent_device_and_bad_recording_input():
    absent = RealSenseCamera(CameraConfig(name="cam_low", serial="000000000000", height=48, width=64))
    with pytest.raises(RobotError, match="cam_low \\(serial 000000000000\\): cannot start"):
        absent.start(timeout_s=1)
    with pytest.raises(ValueError, match="expected a .db3 file"):
        record_color_frames("x.bag", "1", np.zeros((1, 8, 8, 3), np.uint8))


def test_service_without_a_server_is_a_clear_error():
    with DdsTransport(sim_site().domain_id) as transport:
        with pytest.raises(TransportError, match=r"service /follower_left/torque_enable .*TorqueEnable.* not available"):
            transport.call("/follower_left/torque_enable", TORQUE_ENABLE, timeout_s=0.3, cmd_type="group",
                           name="arm", enable=True)
