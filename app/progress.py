"""One progress printer for long command-line work: demos, training, evaluation, import.

On a terminal it draws a bar per stage with its ETA (rich, which textual already brings). Anything
else -- a pipe, a log file, the UI, which reads a child command's output line by line -- gets
plain lines, ``[stage done/total] detail (ETA 2m10s)``, one per report.
"""

from __future__ import annotations

import atexit
import sys
import time
from typing import TextIO


def eta_text(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{seconds:02d}s" if minutes else f"{seconds}s"


class ProgressPrinter:
    def __init__(self, stream: TextIO | None = None, terminal: bool | None = None):
        self._stream, self._terminal = stream, terminal  # None: standard output as it is at each report
        self.first: dict[str, tuple[float, int]] = {}  # stage -> (time, done) at its first report
        self.bars = None
        self.tasks: dict[str, int] = {}

    @property
    def stream(self) -> TextIO:
        return self._stream or sys.stdout

    @property
    def terminal(self) -> bool:
        return self.stream.isatty() if self._terminal is None else self._terminal

    def __call__(self, stage: str, done: float, total: float, detail: str = "") -> None:
        now = time.monotonic()
        started, done_then = self.first.setdefault(stage, (now, done))
        eta = None
        if done > done_then and done < total:  # the rate since this stage's first report
            eta = (total - done) * (now - started) / (done - done_then)
        if self.terminal:
            self._bar(stage, done, total, detail)
            return
        counter = f"{stage} {done}/{total}" if stage else f"{done}/{total}"
        suffix = f" (ETA {eta_text(eta)})" if eta is not None else ""
        print(f"[{counter}] {detail}{suffix}", file=self.stream, flush=True)

    def _bar(self, stage: str, done: float, total: float, detail: str) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        if self.bars is None:
            self.bars = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeRemainingColumn(), TextColumn("{task.fields[detail]}"))
            self.bars.start()
            atexit.register(self.close)
        if stage not in self.tasks:
            self.tasks[stage] = self.bars.add_task(stage or "progress", total=total, detail="")
        self.bars.update(self.tasks[stage], completed=done, total=total, detail=detail)

    def close(self) -> None:
        if self.bars is not None:
            self.bars.stop()
            self.bars = None


PROGRESS = ProgressPrinter()  # the command line's: one process, one standard output
