"""Render a camera view for a store's sim episodes that lack it, by replaying them (resumable).

    .venv/bin/python benchmarks/add_view.py --db DB --task transfer_cube --camera cam_high_task

Every episode that has frames of ``--like`` (the camera it was recorded with) gets the new stream,
expert demos first, then evaluation and policy rollouts, so a world model or reward model can be
trained and judged on the view with the same episodes and splits as on the camera. Interrupt it
at any time: each episode's stream is added whole, and a rerun skips the episodes that have it.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import robot  # noqa: F401  (headless GL before mujoco loads)
from robot.sim.replay import add_view
from storage import EpisodeFilter, TrajectoryStore

SOURCE_ORDER = ("expert", "eval", "policy", "training")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--task", default="transfer_cube")
    parser.add_argument("--camera", default="cam_high_task", help="the camera or view to render")
    parser.add_argument("--size", type=int, nargs=2, default=(96, 128), metavar=("H", "W"))
    parser.add_argument("--like", default="cam_high", help="episodes with this camera get the new one")
    args = parser.parse_args()
    with TrajectoryStore(args.db) as store:
        episodes = [e for source in SOURCE_ORDER for e in store.episodes(EpisodeFilter(task=args.task, source=source))
                    if args.like in store.cameras(e.id)]
        start = time.perf_counter()

        def progress(done, total, episode_id):
            if done % 10 == 0 or done == total:
                print(f"{done}/{total} episodes (last {episode_id}), {time.perf_counter() - start:.0f} s", flush=True)

        rendered, diverged = add_view(store, [e.id for e in episodes], args.camera, tuple(args.size), progress)
        print(f"rendered {args.camera} for {rendered} episodes; {len(episodes) - rendered - len(diverged)} had it; "
              f"{len(diverged)} diverged in replay and stay without it: {diverged}")


if __name__ == "__main__":
    main()
