"""The Robot interface shared by the MuJoCo sim and the real Mobile ALOHA.

Modelled on lerobot's Robot: features known before connecting, connect/disconnect (or a
``with`` block), and ``send_action`` returning the command actually sent after the safety
filter -- which is what gets recorded. Subclasses implement the ``_``-methods only, so no
command can reach an arm without passing the filter.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field, replace

import numpy as np

from robot.camera_views import CameraView
from robot.features import RobotFeatures
from robot.safety import SafetyFilter


class RobotError(RuntimeError):
    """A robot could not do what was asked (not connected, device missing, stale data...)."""


class OperatorStopError(RobotError):
    """The operator pressed stop: the arms are held, the base stopped, the run ended."""


@dataclass
class Observation:
    qpos: np.ndarray  # float64 (14,), present joint positions, grippers normalised
    frames: dict[str, np.ndarray]  # camera -> uint8 (H, W, 3)
    success: bool | None = None  # the robot's own verdict; None where it cannot tell
    env_state: np.ndarray | None = None  # object poses (sim only; privileged, for experts)
    info: dict = field(default_factory=dict)
    t: int = 0  # control steps since reset; set by the rollout loop


class Robot(ABC):
    features: RobotFeatures

    def __init__(self, safety: SafetyFilter | None = None):
        self.safety = safety or SafetyFilter()
        self._connected = False
        self._present: np.ndarray | None = None
        self._holding: np.ndarray | None = None  # the last command sent: re-sending it holds still
        # Seconds the backend spent in physics, rendering or device I/O; the rollout loop
        # subtracts it to measure its own overhead.
        self.device_s = 0.0
        self._views: dict[str, tuple[CameraView, tuple[int, int]]] = {}
        self._view_sources_only: set[str] = set()

    def cut_views(self, views: dict[str, tuple[CameraView, tuple[int, int]]], keep: set[str] = frozenset()) -> None:
        """From now on every observation carries each view (name -> (view, size)), cut from its
        camera's picture and resized; the cameras they are cut from leave the observation unless in
        ``keep``. How a real camera gives the sim's task-region view (robot/camera_views.py)."""
        self._views = dict(views)
        self._view_sources_only = {view.camera for view, _ in views.values()} - set(keep)
        cameras = {name: shape for name, shape in self.features.cameras.items() if name not in self._view_sources_only}
        fps = {name: rate for name, rate in self.features.camera_fps.items() if name not in self._view_sources_only}
        for name, (view, (height, width)) in views.items():
            cameras[name] = (height, width, self.features.cameras[view.camera][2])
            if view.camera in self.features.camera_fps:
                fps[name] = self.features.camera_fps[view.camera]
        self.features = replace(self.features, cameras=cameras, camera_fps=fps)

    def _with_views(self, observation: Observation) -> Observation:
        if self._views:
            frames = dict(observation.frames)
            for name, (view, size) in self._views.items():
                frames[name] = view.crop(observation.frames[view.camera], size)
            observation.frames = {name: frame for name, frame in frames.items() if name not in self._view_sources_only}
        return observation

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def is_connected(self) -> bool:
        return self._connected

    def connect(self) -> None:
        if not self._connected:
            self._connect()
            self._connected = True

    def disconnect(self) -> None:
        if self._connected:
            self._disconnect()
            self._connected = False

    def __enter__(self) -> "Robot":
        self.connect()
        return self

    def __exit__(self, *exc) -> None:
        self.disconnect()

    # -- control -----------------------------------------------------------------------------

    def reset(self, initial_state=None) -> Observation:
        """Bring the robot (and, in sim, the scene) to ``initial_state``; the first observation."""
        self._require_connected()
        self.safety.reset_counts()
        observation = self._with_views(self._reset(initial_state))
        self._present = observation.qpos
        self._holding = observation.qpos.copy()  # backends start with goals at the reset pose
        return observation

    def observe(self) -> Observation:
        self._require_connected()
        observation = self._with_views(self._observe())
        self._present = observation.qpos
        return observation

    def send_action(self, action) -> np.ndarray:
        """Send ``action`` through the safety filter; returns the command actually sent."""
        present = self._present_qpos()
        command = self.safety.filter(action, present, self._holding)
        self._command(command)
        self._holding = command
        return command

    def hold(self, reason: str) -> np.ndarray:
        """Hold position (watchdog, operator stop): re-send the last command; returns it."""
        self._present_qpos()
        command = self.safety.hold(self._holding, reason)
        self._command(command)
        self._holding = command
        return command

    def go_to_sleep(self) -> None:
        """End of a session: a real robot's arms move slowly, through the safety filter, to their rest
        pose (torque stays on). The sim has nothing to do."""

    def base_command(self) -> tuple[float, float] | None:
        """The mobile base's velocity being sent now, [v_x (m/s), omega_z (rad/s)]; None for a
        robot without a base (the sim). Recorded per step as the episode's ``base_action``."""
        return None

    def _present_qpos(self) -> np.ndarray:
        self._require_connected()
        if self._present is None:
            raise RobotError("no observation yet: call reset() before sending actions")
        return self._present

    def _require_connected(self) -> None:
        if not self._connected:
            raise RobotError(f"{type(self).__name__} is not connected; call connect() or use `with`")

    # -- what a backend implements -----------------------------------------------------------

    @abstractmethod
    def _connect(self) -> None: ...

    @abstractmethod
    def _disconnect(self) -> None: ...

    @abstractmethod
    def _reset(self, initial_state) -> Observation: ...

    @abstractmethod
    def _observe(self) -> Observation: ...

    @abstractmethod
    def _command(self, command: np.ndarray) -> None:
        """Send an already-filtered 14-D command to the arms."""
