"""The Tracer base's command: a keep-alive that re-sends the velocity, and decays it to zero.

The Tracer stops by itself when /cmd_vel falls silent for ~500 ms, so a dead process stops the
base. While our process lives, a thread re-sends the commanded velocity every ``keepalive_s``
(well inside that timeout), but only while the controller keeps renewing it: a ``drive`` not
renewed within ``hold_s`` (a stalled control loop) decays to zero. ``stop`` publishes zero at once.
"""

from __future__ import annotations

import math
import threading
import time
from typing import Callable

from robot.aloha.messages import Twist, Vector3


class BaseKeepAlive:
    def __init__(self, publish: Callable[[Twist], None], keepalive_s: float, hold_s: float):
        self._publish = publish
        self.keepalive_s = keepalive_s
        self.hold_s = hold_s
        self._lock = threading.Lock()
        self._velocity = (0.0, 0.0)
        self._renewed = time.monotonic()
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._run, name="base keep-alive", daemon=True)
        self._thread.start()

    def drive(self, linear_x: float, angular_z: float) -> None:
        if not (math.isfinite(linear_x) and math.isfinite(angular_z)):
            raise ValueError(f"base velocity ({linear_x}, {angular_z}); expected finite numbers")
        with self._lock:
            self._velocity, self._renewed = (float(linear_x), float(angular_z)), time.monotonic()
        self._send()

    def stop(self) -> None:
        """Zero velocity now (every stop: fault, stale data, disconnect)."""
        with self._lock:
            self._velocity = (0.0, 0.0)
        self._send()

    def velocity(self) -> tuple[float, float]:
        with self._lock:
            if time.monotonic() - self._renewed > self.hold_s:
                self._velocity = (0.0, 0.0)
            return self._velocity

    def _send(self) -> None:
        linear_x, angular_z = self.velocity()
        self._publish(Twist(linear=Vector3(x=linear_x), angular=Vector3(z=angular_z)))

    def _run(self) -> None:
        while not self._closed.wait(self.keepalive_s):
            self._send()

    def close(self) -> None:
        """Stop the base and the thread."""
        self._closed.set()
        self._thread.join(timeout=2 * self.keepalive_s + 1)
        self.stop()
