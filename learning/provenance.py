"""Where a checkpoint or an iteration came from: the command line, the code's git commit, the time.

Saved with every checkpoint (``config.json``'s ``provenance``) and every cycle iteration, so a
figure can be traced to the exact code and command that made it. The commit is the repository
this package runs from (None when it is not a git checkout, e.g. an installed wheel); ``dirty``
says whether tracked files differed from it.
"""

from __future__ import annotations

import functools
import shlex
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@functools.lru_cache(maxsize=1)
def code_version() -> dict:
    def git(*args: str) -> subprocess.CompletedProcess | None:
        try:
            return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return None

    head = git("rev-parse", "HEAD")
    if head is None or head.returncode != 0:
        return {"git_commit": None, "dirty": None}
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"git_commit": head.stdout.strip(), "dirty": None if status is None else bool(status.stdout.strip())}


def provenance() -> dict:
    return {"command": shlex.join(sys.argv), **code_version(), "saved_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
