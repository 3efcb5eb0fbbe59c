"""Several stores on one file: in this process and in others, nothing written may be lost.

Regression: reading the file's header with open()/close() while this process had the
store open dropped SQLite's POSIX locks; another process's close then deleted the WAL
under us and a later commit vanished ("disk I/O error" or a silently lost row).
"""

import sqlite3
import subprocess
import sys
from pathlib import Path

from episode_data import write_episode

from storage import TrajectoryStore
from storage.clips import ClipDataset

HERE = Path(__file__).parent
CHILD = ("import sys; sys.path.insert(0, sys.argv[2]); from episode_data import write_episode; "
         "from storage import TrajectoryStore; s = TrajectoryStore(sys.argv[1]); write_episode(s, 9, 3); s.close()")


def test_commits_survive_another_process_closing_while_we_read(store_path, tmp_path):
    checkpoint = tmp_path / "policy"
    checkpoint.write_bytes(b"weights")
    store = TrajectoryStore(store_path)
    write_episode(store, 1, 10)
    clips = iter(ClipDataset(store_path, "cam_high", clip_len=4))  # a second engine, mid-read
    next(clips)
    also_open = TrajectoryStore(store_path, readonly=True)  # and a third
    subprocess.run([sys.executable, "-c", CHILD, str(store_path), str(HERE)], check=True)
    store.register_policy_version("after-child", checkpoint)
    store.log_metric("after-child", 1.0)
    also_open.close()
    store.close()
    raw = sqlite3.connect(store_path)
    assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert raw.execute("SELECT name FROM policy_versions").fetchall() == [("after-child",)]
    assert raw.execute("SELECT count(*) FROM episodes WHERE status = 'committed'").fetchone()[0] == 2
