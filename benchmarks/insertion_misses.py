"""Where a policy's insertion episodes fail: each stored sim episode is replayed from its seed with
the commands it sent (the sim is deterministic), and the peg and socket poses are read every step.

    .venv/bin/python benchmarks/insertion_misses.py --db DB --policy curve-view-200demos --episodes 60

Each episode gets one outcome: success; the two objects never lifted together; the peg lost (both
were lifted, the peg ends on the table); or other. For the episodes whose peg came level with the
socket (within 15 cm along the insertion axis x, heights within 5 cm) it prints the peg's offset
from the socket there; ``--policy expert`` does the same for the first demos (the offsets to compare with).
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

import numpy as np

import robot  # noqa: F401  (headless GL before mujoco loads)
from robot.sim.aloha_sim import AlohaSim, SimConfig
from storage import EpisodeFilter, TrajectoryStore

LIFTED_M = 0.05  # an object's centre this high above the table is held, not lying


def episodes_of(store: TrajectoryStore, policy: str, n: int):
    where = (EpisodeFilter(source="expert", task="insertion") if policy == "expert" else
             EpisodeFilter(source="eval", task="insertion", policy_version_id=store.find_policy_version(policy)))
    episodes = store.episodes(where)
    return [(e.seed, bool(e.success), store.load_steps(e.id).actions) for e in episodes[:n]]


def replay(seed: int, actions: np.ndarray) -> tuple[np.ndarray | None, float]:
    """The peg-minus-socket offset (m) at the closest approach along x while both are held (None:
    never both held), and the peg's final height (m)."""
    closest = None
    with AlohaSim(SimConfig(task="insertion", cameras={})) as sim:
        observation = sim.reset(seed)
        for action in actions:
            sim.send_action(action.astype(np.float64))
            observation = sim.observe()
            peg, socket = observation.env_state[:3], observation.env_state[7:10]
            both_held = peg[2] > LIFTED_M and socket[2] > LIFTED_M
            if both_held and (closest is None or abs(peg[0] - socket[0]) < abs(closest[0])):
                closest = peg - socket
    return closest, float(observation.env_state[2])


def outcome(success: bool, closest: np.ndarray | None, peg_height: float) -> str:
    if success:
        return "success"
    if closest is None:
        return "never lifted together"
    return "peg lost (on the table at the end)" if peg_height < LIFTED_M else "other"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--policy", required=True, help="a policy version's name (its evaluation episodes), or expert")
    parser.add_argument("--episodes", type=int, default=128)
    args = parser.parse_args()
    with TrajectoryStore(args.db) as store:
        episodes = episodes_of(store, args.policy, args.episodes)
    outcomes, level = Counter(), []
    for seed, success, actions in episodes:
        closest, peg_height = replay(seed, actions)
        outcomes[outcome(success, closest, peg_height)] += 1
        if closest is not None and abs(closest[0]) < 0.15 and abs(closest[2]) < 0.05:
            level.append((seed, success, np.round(closest * 100, 1)))
    print(f"{args.policy}: {len(episodes)} insertion episodes replayed")
    for name, count in outcomes.most_common():
        print(f"  {name}: {count}")
    print("peg level with the socket (offset x, y, z in cm at the closest approach along x):")
    for seed, success, offset in level:
        print(f"  seed {seed}: {'success' if success else 'failure'} {offset.tolist()}")


if __name__ == "__main__":
    main()
