"""Colour cameras: a RealSense through pyrealsense2 (by serial number), or a ROS Image topic.

Each camera keeps its latest frame and the host time it arrived; ``latest()`` returns the frame
with its age so the robot can refuse stale pictures. Frames are uint8 (H, W, 3) RGB.
"""

from __future__ import annotations

import contextlib
import threading
import time
from abc import ABC, abstractmethod
from pathlib import Path

import numpy as np

from robot.aloha.messages import Image, seconds
from robot.aloha.site import CameraConfig
from robot.aloha.transport import Subscription, Transport
from robot.robot import RobotError

TIMEOUTS_BEFORE_RESET = 5  # consecutive frame timeouts before a hardware reset of that device
RESTART_TIMEOUT_S = 10.0  # a reset RealSense leaves the bus and re-enumerates within a few seconds


class Camera(ABC):
    def __init__(self, config: CameraConfig):
        self.config = config
        self.name = config.name
        self.size = (config.height, config.width)  # what ``latest`` gives; a resizing camera sets its own

    @abstractmethod
    def start(self, timeout_s: float) -> None:
        """Start streaming and wait for the first frame (RobotError if none comes in time)."""

    @abstractmethod
    def latest(self) -> tuple[np.ndarray | None, float | None]:
        """(frame uint8 (H, W, 3), age in s); (None, None) before the first frame."""

    @abstractmethod
    def frame_id(self) -> tuple[float | None, int | None]:
        """(device timestamp in s, frames received so far) of the latest frame; (None, None) before the
        first. A stalled or re-sent frame shows as a timestamp that stays; drops as stamps advancing
        further than the count (``robot.camera_frames``): the device's own frame number would advance
        with the stamps whether the frame reached us or not."""

    @abstractmethod
    def rate_hz(self) -> float | None: ...

    @abstractmethod
    def stop(self) -> None: ...

    @property
    def source(self) -> str:
        """Where frames come from, for messages: serial number, file or topic."""
        c = self.config
        return c.topic if c.source == "topic" else (f"file {c.playback}" if c.playback else f"serial {c.serial}")

    def _wait_first(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while self.latest()[0] is None:
            if time.monotonic() > deadline:
                raise RobotError(f"camera {self.name} ({self.source}): no frame within {timeout_s:.1f}s")
            time.sleep(0.01)


class RealSenseCamera(Camera):
    """One pipeline per camera selected by serial; a reader thread keeps the latest frame.

    ``config.playback`` plays a recorded file (.db3 / .bag) instead of the device; its recorded
    serial must still match ``config.serial`` when one is given."""

    def __init__(self, config: CameraConfig):
        super().__init__(config)
        import pyrealsense2 as rs  # imported here: only this class needs librealsense (and libusb)

        self._rs = rs
        self._lock = threading.Lock()
        self._frame: np.ndarray | None = None
        self._arrived: float | None = None
        self._count, self._first = 0, None
        self._stamp_s: float | None = None  # the latest frame's device timestamp and number
        self._number: int | None = None
        self.dropped = 0  # frames missing from the device's numbering since start
        self._running = threading.Event()
        self._thread: threading.Thread | None = None
        self._pipeline = None
        self._restart_requested = threading.Event()
        self.resets = self.restarts = 0
        self.restart_error: str | None = None

    def start(self, timeout_s: float) -> None:
        self._open_pipeline()
        self._running.set()
        self._thread = threading.Thread(target=self._read, name=f"camera {self.name}", daemon=True)
        self._thread.start()
        self._wait_first(timeout_s)

    def restart(self) -> None:
        """Have the reader stop the pipeline and start a new one (what it does itself after a hardware
        reset); ``restarts`` counts those done, ``restart_error`` says why the last one failed."""
        self._restart_requested.set()

    def _open_pipeline(self) -> None:
        """A started pipeline on the device (by serial) or the playback file, exposure set (a device)."""
        rs, c = self._rs, self.config
        pipeline = rs.pipeline()
        config = rs.config()
        if c.playback:
            if not Path(c.playback).exists():
                raise RobotError(f"camera {self.name}: playback file {c.playback} does not exist")
            # The recorded serial is read from the file before any pipeline starts: stopping a
            # playback pipeline moments after it started races librealsense's reader (a segfault).
            serial = _recorded_serial(rs, c.playback)
            if c.serial and serial != c.serial:
                raise RobotError(f"camera {self.name}: device serial {serial}, expected {c.serial}")
            config.enable_device_from_file(c.playback, True)
        else:
            # pipeline.start would wait ~15 s for an absent device: look first.
            serials = [d.get_info(rs.camera_info.serial_number) for d in rs.context().query_devices()]
            if c.serial not in serials:
                raise RobotError(f"camera {self.name} ({self.source}): cannot start: not connected; connected "
                                 f"RealSense serials are {serials or 'none'}")
            config.enable_device(c.serial)
        config.enable_stream(rs.stream.color, c.width, c.height, rs.format.rgb8, c.fps)
        try:
            profile = pipeline.start(config)
        except RuntimeError as exc:
            raise RobotError(f"camera {self.name} ({self.source}): cannot start a {c.width}x{c.height} rgb8 "
                             f"@{c.fps} stream: {exc}") from exc
        device = profile.get_device()
        if not c.playback:  # a recording's options are read-only
            try:
                set_exposure(rs, device.first_color_sensor(), c, f"camera {self.name} ({self.source})")
            except Exception:
                pipeline.stop()
                raise
        self._pipeline, self._device = pipeline, device

    def _read(self) -> None:
        # The reader owns the pipeline once it runs: it stops it itself on its way out, so no other
        # thread ever stops a pipeline this one may be waiting on (librealsense crashes on that).
        try:
            self._read_frames()
        finally:
            if self._pipeline is not None:
                with contextlib.suppress(RuntimeError):
                    self._pipeline.stop()
                self._pipeline = None

    def _read_frames(self) -> None:
        timeouts = 0
        while self._running.is_set():
            if self._restart_requested.is_set():
                self._restart_requested.clear()
                if not self._restart():
                    return  # bounded: the staleness bound stops the episode, restart_error says why
            ok, frames = self._pipeline.try_wait_for_frames(200)
            if not ok:
                timeouts += 1
                if timeouts >= TIMEOUTS_BEFORE_RESET and not self.config.playback:
                    # A wedged RealSense recovers after a reset of that device (once per run of
                    # timeouts); the reset takes the device off the bus, so its pipeline is restarted.
                    with contextlib.suppress(RuntimeError):  # already off the bus: the restart waits all the same
                        self._device.hardware_reset()
                    self.resets += 1
                    timeouts = 0
                    self._restart_requested.set()
                continue
            timeouts = 0
            color = frames.get_color_frame()
            if not color:
                continue
            frame = np.asanyarray(color.get_data()).copy()
            now = time.monotonic()
            with self._lock:
                self._frame, self._arrived = frame, now
                number = int(color.get_frame_number())
                if self._number is not None and number > self._number + 1:  # (a replayed file starts over)
                    self.dropped += number - self._number - 1
                self._stamp_s, self._number = color.get_timestamp() / 1000.0, number
                self._count += 1
                self._first = self._first or now

    def _restart(self) -> bool:
        """Stop the pipeline and start a new one once the device is back (within RESTART_TIMEOUT_S);
        False, with ``restart_error`` set, if it does not come back."""
        with contextlib.suppress(RuntimeError):  # it went with the device
            self._pipeline.stop()
        self._pipeline = None
        deadline = time.monotonic() + RESTART_TIMEOUT_S
        while self._running.is_set():
            try:
                self._open_pipeline()
            except RobotError as exc:
                if time.monotonic() > deadline:
                    self.restart_error = f"no restart within {RESTART_TIMEOUT_S:.0f} s: {exc}"
                    return False
                time.sleep(0.5)
                continue
            self.restarts, self.restart_error = self.restarts + 1, None
            return True
        return False

    def latest(self):
        with self._lock:
            if self._frame is None:
                return None, None
            return self._frame, time.monotonic() - self._arrived

    def frame_id(self):
        with self._lock:
            return self._stamp_s, (self._count if self._stamp_s is not None else None)

    def rate_hz(self):
        with self._lock:
            if self._count < 2 or self._arrived <= self._first:
                return None
            return (self._count - 1) / (self._arrived - self._first)

    def stop(self) -> None:
        if self._thread is not None:
            self._running.clear()  # the reader stops its pipeline and ends (a restart in progress gives up)
            self._thread.join(timeout=RESTART_TIMEOUT_S)
            self._thread = None


def set_exposure(rs, sensor, config: CameraConfig, name: str) -> None:
    """The colour sensor's auto-exposure as the site says (ALOHA: off), and its exposure where the site
    gives one; RobotError naming the camera and the option the sensor lacks or refused."""
    settings = [(rs.option.enable_auto_exposure, float(config.auto_exposure))]
    if config.exposure:
        settings.append((rs.option.exposure, float(config.exposure)))
    for option, value in settings:
        if not sensor.supports(option):
            raise RobotError(f"{name}: the colour sensor has no {option} option; expected a RealSense colour "
                             f"sensor that has it")
        try:
            sensor.set_option(option, value)
        except RuntimeError as exc:
            raise RobotError(f"{name}: cannot set {option} to {value:g}: {exc}") from exc


def _recorded_serial(rs, path: str) -> str:
    context = rs.context()
    try:
        device = context.load_device(path)
    except RuntimeError as exc:
        raise RobotError(f"playback file {path}: not a RealSense recording: {exc}") from exc
    try:
        return device.get_info(rs.camera_info.serial_number)
    finally:
        context.unload_device(path)


class TopicCamera(Camera):
    """Frames from a sensor_msgs/Image topic (encoding rgb8), best-effort QoS like ROS sensor data."""

    def __init__(self, config: CameraConfig, transport: Transport):
        super().__init__(config)
        self._transport = transport
        self._subscription: Subscription | None = None

    def start(self, timeout_s: float) -> None:
        self._subscription = self._transport.subscribe(self.config.topic, Image, sensor_data=True)
        self._wait_first(timeout_s)

    def latest(self):
        if self._subscription is None:
            return None, None
        message, age = self._subscription.latest()
        if message is None:
            return None, None
        return image_array(message, self.config.topic), age

    def frame_id(self):
        """The Image header's stamp and the number of messages received."""
        message = None if self._subscription is None else self._subscription.latest()[0]
        if message is None:
            return None, None
        return seconds(message.header.stamp), self._subscription.count

    def rate_hz(self):
        return None if self._subscription is None else self._subscription.rate_hz()

    def stop(self) -> None:
        self._subscription = None


def image_array(message: Image, topic: str) -> np.ndarray:
    """A sensor_msgs/Image (rgb8) as uint8 (H, W, 3)."""
    if message.encoding != "rgb8":
        raise RobotError(f"{topic}: image encoding {message.encoding!r}; expected 'rgb8'")
    data = np.asarray(message.data, dtype=np.uint8)
    if message.step != message.width * 3 or data.size != message.height * message.step:
        raise RobotError(f"{topic}: {data.size} bytes for {message.height}x{message.width} rgb8 with step "
                         f"{message.step}; expected {message.height * message.width * 3} and step {message.width * 3}")
    return data.reshape(message.height, message.width, 3)


def image_message(frame: np.ndarray, stamp_s: float, frame_id: str) -> Image:
    from robot.aloha.messages import Header, stamp
    height, width, _ = frame.shape
    return Image(header=Header(stamp=stamp(stamp_s), frame_id=frame_id), height=height, width=width,
                 encoding="rgb8", step=width * 3, data=np.ascontiguousarray(frame, dtype=np.uint8).tobytes())


def open_camera(config: CameraConfig, transport: Transport) -> Camera:
    return TopicCamera(config, transport) if config.source == "topic" else RealSenseCamera(config)
