"""Subprocess for the SIGKILL test: commits a few episodes, then streams one that never ends.

Usage: python kill_writer.py DB COMMITTED LENGTH [CODEC]
Prints "committed <id> <seed>" per finished episode and "streaming <id>" once the unfinished
episode has rows on disk; the test then kills this process with SIGKILL.
"""

import sys
import time

from episode_data import SPEC, episode_arrays, write_episode

from storage import EpisodeInfo, EpisodeSpec, TrajectoryStore

db, committed, length = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
spec = EpisodeSpec(cameras=SPEC.cameras, codec=sys.argv[4]) if len(sys.argv) > 4 else SPEC
store = TrajectoryStore(db)
for seed in range(committed):
    print(f"committed {write_episode(store, seed, length, spec=spec)} {seed}", flush=True)

actions, qpos, frames = episode_arrays(999, length)
writer = store.episode_writer(EpisodeInfo(task="transfer_cube", source="policy"), spec)
t = 0
while True:
    i = t % length
    writer.add_step(actions[i], qpos[i], {c: f[i] for c, f in frames.items()})
    t += 1
    if t == 3 * writer.flush_steps:
        time.sleep(2 * writer.flush_interval_s)  # let the first batches reach the file
        print(f"streaming {writer.episode_id}", flush=True)
    time.sleep(0.002)
