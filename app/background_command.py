"""A `wmpo-app` command in a child process: what the UI uses for long training work.

Training and the cycle run in their own process so the UI stays responsive and a stop is
a plain signal: every one of those commands is resumable from the store (a stopped cycle
continues with `cycle --resume`). Output goes line by line to the caller and to a log file.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path


class BackgroundCommand:
    def __init__(self, db: Path, args: list[str], log_path: Path):
        self.db, self.args, self.log_path = Path(db), list(args), Path(log_path)
        self.process: subprocess.Popen | None = None

    @property
    def command_line(self) -> str:
        return "wmpo-app " + " ".join(self.args)

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen([sys.executable, "-m", "app.cli", "--db", str(self.db), *self.args],
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                        text=True, bufsize=1, env=env, start_new_session=True)

    def lines(self) -> Iterator[str]:
        """Each output line as it comes (blocking: call from a worker thread), also appended to the log."""
        assert self.process is not None and self.process.stdout is not None, "start() first"
        with open(self.log_path, "a") as log:
            log.write(f"$ {self.command_line}\n")
            for line in self.process.stdout:
                log.write(line)
                log.flush()
                yield line.rstrip("\n")
        self.process.wait()

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def returncode(self) -> int | None:
        return None if self.process is None else self.process.returncode

    def stop(self) -> None:
        """SIGTERM to the command's process group: it ends where it is; the store keeps what was committed."""
        if self.running:
            os.killpg(self.process.pid, signal.SIGTERM)
