"""A writer process killed with SIGKILL mid-episode must leave a sound store."""

import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from episode_data import assert_episode_intact

from storage import TrajectoryStore

HERE = Path(__file__).parent


def start_writer(db: Path, committed: int, length: int) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(HERE / "kill_writer.py"), str(db), str(committed), str(length)],
        stdout=subprocess.PIPE, text=True, cwd=HERE)


def read_until_streaming(proc: subprocess.Popen, timeout_s: float = 60) -> tuple[dict, int]:
    committed, deadline = {}, time.monotonic() + timeout_s
    for line in proc.stdout:
        words = line.split()
        if words[0] == "committed":
            committed[int(words[1])] = int(words[2])
        elif words[0] == "streaming":
            return committed, int(words[1])
        assert time.monotonic() < deadline, "writer subprocess too slow"
    raise AssertionError(f"writer exited early with code {proc.wait()}")


@pytest.mark.parametrize("delay_s", [0.0, 0.13, 0.37])
def test_sigkill_mid_episode_leaves_store_sound(tmp_path, delay_s):
    db = tmp_path / "wmpo.db"
    proc = start_writer(db, committed=3, length=40)
    try:
        committed, staged_id = read_until_streaming(proc)
        time.sleep(delay_s)
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=10) == -signal.SIGKILL
    finally:
        proc.kill()

    raw = sqlite3.connect(db)
    assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    staged_steps = raw.execute("SELECT count(*) FROM steps WHERE episode_id=?", (staged_id,)).fetchone()[0]
    raw.close()
    assert staged_steps >= 75, "the kill should have hit an episode with rows on disk"

    with TrajectoryStore(db, readonly=True) as reader:  # before any recovery: already invisible
        assert [e.id for e in reader.episodes()] == sorted(committed)

    with TrajectoryStore(db) as store:
        assert store.integrity_check() == ["ok"]
        assert store.summary()["staged"] == 0  # the dead writer's rows were removed on open
        assert [e.id for e in store.episodes()] == sorted(committed)
        for episode_id, seed in committed.items():
            assert_episode_intact(store, episode_id, seed, length=40)
