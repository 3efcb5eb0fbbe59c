"""RealSense settings and recovery through librealsense itself: auto-exposure off and the exposure
set on a software device's colour sensor (what a pipeline start does to a device), and a pipeline
stopped and started again by its reader thread (what follows a hardware reset), on a recording.

A hardware reset itself cannot run here: a software device cannot join a pipeline's context in
librealsense 2.59 (``software_device.add_to`` leaves ``query_devices`` empty), and a recording has
no hardware to reset, so the restart is exercised on playback."""

from __future__ import annotations

import time

import numpy as np
import pytest

from robot.aloha.cameras import RealSenseCamera, set_exposure
from robot.aloha.realsense_recording import record_color_frames
from robot.aloha.site import CameraConfig, SiteConfigError
from robot.robot import RobotError

rs = pytest.importorskip("pyrealsense2")


def colour_sensor(with_options: bool):
    device = rs.software_device()
    sensor = device.add_sensor("Color")
    if with_options:
        sensor.add_option(rs.option.enable_auto_exposure, rs.option_range(0, 1, 1, 1), True)
        sensor.add_option(rs.option.exposure, rs.option_range(1, 10000, 1, 1), True)
        sensor.set_option(rs.option.enable_auto_exposure, 1)  # as a RealSense starts
        sensor.set_option(rs.option.exposure, 166)
    return device, sensor


def test_auto_exposure_goes_off_and_the_exposure_is_set_by_default_and_by_the_site():
    device, sensor = colour_sensor(with_options=True)
    set_exposure(rs, sensor, CameraConfig(name="cam_high", serial="1"), "camera cam_high")
    assert sensor.get_option(rs.option.enable_auto_exposure) == 0  # ALOHA's default
    assert sensor.get_option(rs.option.exposure) == 166  # 0 in the site: the sensor keeps its own
    set_exposure(rs, sensor, CameraConfig(name="cam_high", serial="1", exposure=100), "camera cam_high")
    assert sensor.get_option(rs.option.exposure) == 100
    assert CameraConfig(name="cam_high", serial="1").fps == 60


def test_a_sensor_without_the_option_or_a_contradictory_site_is_a_clear_error():
    device, sensor = colour_sensor(with_options=False)
    with pytest.raises(RobotError, match=r"camera cam_high \(serial 1\): the colour sensor has no "
                                         r"Enable Auto Exposure option; expected a RealSense colour sensor that has it"):
        set_exposure(rs, sensor, CameraConfig(name="cam_high", serial="1"), "camera cam_high (serial 1)")
    with pytest.raises(SiteConfigError, match=r"exposure 100 with auto_exposure True; expected 0, or a positive"):
        CameraConfig(name="cam_high", serial="1", auto_exposure=True, exposure=100)


def test_the_reader_restarts_the_pipeline_and_frames_flow_again(tmp_path):
    frames = np.zeros((30, 48, 64, 3), np.uint8)
    frames[..., 1] = np.arange(30, dtype=np.uint8)[:, None, None] * 8
    path = record_color_frames(tmp_path / "cam.db3", "123456789", frames)
    camera = RealSenseCamera(CameraConfig(name="cam_high", serial="123456789", playback=str(path), height=48,
                                          width=64, fps=30))
    camera.start(timeout_s=5)
    try:
        time.sleep(0.3)  # stopping a playback moments after it started races librealsense's reader
        camera.restart()
        deadline = time.monotonic() + 5
        while camera.restarts == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert camera.restarts == 1 and camera.restart_error is None
        restarted = time.monotonic()

        def new_frame() -> bool:  # one that arrived after the restart, from the new pipeline
            frame, age = camera.latest()
            return frame.shape == (48, 64, 3) and age < time.monotonic() - restarted

        deadline = time.monotonic() + 5
        while not new_frame() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert new_frame()
    finally:
        camera.stop()
