"""A mobile base's velocity command: a keep-alive that re-sends it, and a deadman that zeroes it.

Shared by every backend with a differential base (the Interbotix Mobile ALOHA's, the Cobot Magic's
Tracer). Velocities arrive already capped by the safety filter (``SafetyFilter.filter_base``).
While our process lives, a thread re-sends the commanded velocity every ``keepalive_s`` (inside
the base driver's own command timeout, where it has one), but only while the controller keeps
renewing it: a ``drive`` not renewed within ``hold_s`` (a stalled control loop) decays to zero.
``stop`` publishes zero at once; ``close`` (and interpreter exit, should nobody close it) too.
A killed process sends nothing more: then only the driver's own timeout stops the base.
"""

from __future__ import annotations

import atexit
import math
import threading
import time
from typing import Callable

from robot.aloha.messages import Twist, Vector3


class BaseKeepAlive:
    def __init__(self, publish: Callable[[Twist], None], keepalive_s: float, hold_s: float):
        if not 0 < keepalive_s <= hold_s:
            raise ValueError(f"keepalive_s {keepalive_s}, hold_s {hold_s}; expected 0 < keepalive_s <= hold_s")
        self._publish = publish
        self.keepalive_s = keepalive_s
        self.hold_s = hold_s
        self._lock = threading.Lock()
        # One write at a time: a stop is never overtaken by a keep-alive re-send of the old velocity,
        # and a DDS writer is not entered from two threads at once (seen to stall with a local reader).
        self._send_lock = threading.Lock()
        self._velocity = (0.0, 0.0)
        self._renewed = time.monotonic()
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._run, name="base keep-alive", daemon=True)
        self._thread.start()
        atexit.register(self.close)  # an exit without disconnect still sends zero

    def drive(self, linear_x: float, angular_z: float) -> None:
        """Command (m/s, rad/s), already through the safety filter; renew it within ``hold_s``."""
        if not (math.isfinite(linear_x) and math.isfinite(angular_z)):
            raise ValueError(f"base velocity ({linear_x}, {angular_z}); expected finite numbers")
        with self._lock:
            self._velocity, self._renewed = (float(linear_x), float(angular_z)), time.monotonic()
        self._send()

    def stop(self) -> None:
        """Zero velocity now (every stop: hold, fault, stale data, disconnect)."""
        with self._lock:
            self._velocity = (0.0, 0.0)
        self._send()

    def velocity(self) -> tuple[float, float]:
        """What the base is being sent now (zero once the deadman has fired)."""
        with self._lock:
            if time.monotonic() - self._renewed > self.hold_s:
                self._velocity = (0.0, 0.0)
            return self._velocity

    def _send(self) -> None:
        with self._send_lock:
            linear_x, angular_z = self.velocity()
            self._publish(Twist(linear=Vector3(x=linear_x), angular=Vector3(z=angular_z)))

    def _run(self) -> None:
        while not self._closed.wait(self.keepalive_s):
            self._send()

    def close(self) -> None:
        """Stop the base and the thread (idempotent)."""
        if self._closed.is_set():
            return
        self._closed.set()
        atexit.unregister(self.close)
        self._thread.join(timeout=2 * self.keepalive_s + 1)
        self.stop()
