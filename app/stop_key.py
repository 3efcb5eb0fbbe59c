"""The operator's stop key: space or 's' at the terminal stops the running episode on a real robot.

While an episode runs, a thread reads the terminal in cbreak mode (a key arrives without Enter) and
never blocks the control loop: it waits on ``select`` in short turns. A stop key sets the
``threading.Event`` the rollout loop checks every control step, which then holds the arms
(re-sending the last command, never torque off), zeroes the base and ends the episode (stored
unlabelled, end "stop").
A prompt during the episode (the scene reset) reads the terminal inside ``paused()``, so the
watcher does not eat its keys.
"""

from __future__ import annotations

import os
import select
import sys
import termios
import threading
import tty
from contextlib import contextmanager

STOP_KEYS = (b" ", b"s", b"S")
HINT = "press space or s to stop the robot"


class StopKey:
    _active: "StopKey | None" = None  # the watcher running now, which ``paused`` pauses

    def __init__(self, fd: int | None = None, stop: threading.Event | None = None):
        self.fd = sys.stdin.fileno() if fd is None else fd
        self.stop = stop or threading.Event()
        self._lock = threading.Lock()  # held while the watcher reads: a pause waits for it
        self._reading = threading.Event()
        self._done = threading.Event()
        self._saved = None

    def press(self) -> None:
        """What a stop key does: ask the running episode to stop."""
        self.stop.set()

    def __enter__(self) -> threading.Event:
        self._cbreak()
        self._reading.set()
        self._thread = threading.Thread(target=self._watch, name="stop key", daemon=True)
        self._thread.start()
        StopKey._active = self
        return self.stop

    def __exit__(self, *exc) -> None:
        StopKey._active = None
        self._done.set()
        self._thread.join(timeout=1)
        self._restore()

    def _watch(self) -> None:
        while not self._done.is_set():
            with self._lock:
                if not self._reading.is_set():
                    key = None
                elif select.select([self.fd], [], [], 0.05)[0]:
                    key = os.read(self.fd, 1)
                    if not key:
                        return  # the terminal closed
                else:
                    continue
            if key is None:
                self._done.wait(0.05)
            elif key in STOP_KEYS:
                self.press()

    def _cbreak(self) -> None:
        if os.isatty(self.fd):
            self._saved = termios.tcgetattr(self.fd)
            tty.setcbreak(self.fd)

    def _restore(self) -> None:
        if self._saved is not None:
            termios.tcsetattr(self.fd, termios.TCSADRAIN, self._saved)
            self._saved = None

    @staticmethod
    @contextmanager
    def paused():
        """Read the terminal as usual (a prompt) while the running watcher, if any, waits."""
        watcher = StopKey._active
        if watcher is None:
            yield
            return
        with watcher._lock:
            watcher._reading.clear()
            watcher._restore()
        try:
            yield
        finally:
            watcher._cbreak()
            watcher._reading.set()
