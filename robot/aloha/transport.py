"""One small interface for talking ROS 2: publish, subscribe, call a service, serve one.

Two implementations: ``RclpyTransport`` (the robot PC, ROS 2 Humble) and ``DdsTransport``
(plain Cyclone DDS, wire-compatible with ROS 2 topics; no ROS install needed). Topics are ROS
names (``/follower_left/joint_states``); message types are the structs of ``messages``.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from abc import ABC, abstractmethod
from collections import deque
from typing import Any, Callable

from robot.robot import RobotError


class TransportError(RobotError):
    """The middleware could not do what was asked (no reply, nothing listening, no ROS install)."""


class Subscription:
    """The latest message on a topic and when it arrived (host monotonic clock, s), plus a
    running count so callers can measure the rate."""

    def __init__(self, topic: str, callback: Callable[[Any], None] | None = None):
        self.topic = topic
        self._callback = callback
        self._lock = threading.Lock()
        self._latest: Any = None
        self._arrived: float | None = None
        self.count = 0
        self.first_arrival: float | None = None
        self._recent: deque | None = None  # the last few messages, where a caller asked for them

    def keep_recent(self, n: int) -> None:
        """Also keep the last ``n`` messages (``recent``): sources synced by timestamp need them."""
        with self._lock:
            self._recent = deque(maxlen=n)

    def recent(self) -> list:
        """The kept messages, oldest first (empty unless ``keep_recent`` was called)."""
        with self._lock:
            return list(self._recent or ())

    def deliver(self, message: Any) -> None:
        now = time.monotonic()
        with self._lock:
            self._latest, self._arrived = message, now
            if self._recent is not None:
                self._recent.append(message)
            self.count += 1
            if self.first_arrival is None:
                self.first_arrival = now
        if self._callback is not None:
            self._callback(message)

    def latest(self) -> tuple[Any, float | None]:
        """(message, age in s); (None, None) before the first message."""
        with self._lock:
            if self._arrived is None:
                return None, None
            return self._latest, time.monotonic() - self._arrived

    def rate_hz(self) -> float | None:
        """Mean arrival rate since the first message; None before two messages."""
        with self._lock:
            if self.count < 2 or self._arrived is None or self._arrived <= self.first_arrival:
                return None
            return (self.count - 1) / (self._arrived - self.first_arrival)


class Transport(ABC):
    """Publish/subscribe by ROS topic name and message struct; call/serve ROS services."""

    name = "?"  # which middleware, for doctor and errors
    why = ""  # why rclpy was not used, where ``auto`` fell back to DDS

    @abstractmethod
    def publisher(self, topic: str, message_type: type) -> Callable[[Any], None]:
        """A function that publishes one message of ``message_type`` on ``topic``."""

    @abstractmethod
    def subscribe(self, topic: str, message_type: type, callback: Callable[[Any], None] | None = None,
                  sensor_data: bool = False) -> Subscription:
        """Keep the latest message on ``topic``; ``sensor_data``: best-effort QoS (images)."""

    @abstractmethod
    def call(self, service: str, service_type, timeout_s: float = 2.0, **fields) -> Any:
        """Call ``service`` with a request made of ``fields``; the response, or TransportError."""

    @abstractmethod
    def serve(self, service: str, service_type, handler: Callable[[Any], dict | None]) -> None:
        """Answer requests on ``service``: ``handler(request)`` runs, then a response goes back with the
        fields it returned (None: an empty response)."""

    @abstractmethod
    def service_available(self, service: str, service_type, timeout_s: float = 0.0) -> bool:
        """Whether a server for ``service`` answers within ``timeout_s``; nothing is called."""

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> "Transport":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def open_transport(kind: str = "auto", domain_id: int | None = None, node_name: str = "wmpo") -> Transport:
    """``auto``: rclpy when it imports (robot PC), else Cyclone DDS -- saying why on stderr, in one
    line. ``domain_id`` defaults to $ROS_DOMAIN_ID, then 0, as in ROS 2. The transport's ``name``
    says which it is and ``why`` (empty unless ``auto`` fell back) why rclpy was not used."""
    if kind not in ("auto", "rclpy", "dds"):
        raise ValueError(f"transport {kind!r}; expected 'auto', 'rclpy' or 'dds'")
    if domain_id is None:
        domain_id = int(os.environ.get("ROS_DOMAIN_ID", "0"))
    why = ""
    if kind in ("auto", "rclpy"):
        try:
            from robot.aloha.rclpy_transport import RclpyTransport
            return RclpyTransport(domain_id, node_name)
        except ImportError as exc:
            if kind == "rclpy":
                raise TransportError(f"transport 'rclpy' asked for, but rclpy does not import ({rclpy_missing(exc)}): "
                                     f"source /opt/ros/humble/setup.bash and the Interbotix workspace first") from None
            why = rclpy_missing(exc)
            # Loud on purpose: a silent fallback shows up much later as "no server matched".
            print(f"transport auto: rclpy not used ({why}); using Cyclone DDS", file=sys.stderr, flush=True)
    from robot.aloha.dds_transport import DdsTransport
    transport = DdsTransport(domain_id)
    transport.why = why
    return transport


def rclpy_missing(exc: ImportError) -> str:
    """Why rclpy did not import, with the usual cause: ROS not sourced, or a Python other than the
    one ROS was built for (Humble's rclpy is built for Python 3.10)."""
    python = f"Python {sys.version_info.major}.{sys.version_info.minor}"
    distro = os.environ.get("ROS_DISTRO")
    if not distro:
        return f"{exc}; no ROS 2 sourced (ROS_DISTRO unset), {python}"
    return f"{exc}; ROS 2 {distro} is sourced but its rclpy does not load in {python} (Humble's is built for 3.10)"
