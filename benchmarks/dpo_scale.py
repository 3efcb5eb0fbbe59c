"""DPO at P rollouts with a chosen scale (issue 18): offline DPO on the base policy's first P
sampled rollouts in the store, then greedy evaluation on the fixed evaluation seeds.

    .venv/bin/python benchmarks/dpo_scale.py --db DB --base base-all --scale token --beta 2

Reuses a finished DPO policy of the same name (its evaluation episodes too).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import robot  # noqa: F401  (headless GL before mujoco loads)
from learning.policy_optimization.dpo import DPOConfig
from learning.policy_optimization.dpo_on_store import dpo_offline
from storage import EpisodeFilter, TrajectoryStore

from table1 import evaluation, existing  # benchmarks/, beside this script


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--base", required=True, help="the base policy version's name")
    parser.add_argument("--task", default="transfer_cube")
    parser.add_argument("--budget", type=int, default=128, help="P: the base policy's first P sampled rollouts")
    parser.add_argument("--scale", choices=("trajectory", "token"), default="token")
    parser.add_argument("--beta", type=float, default=DPOConfig.beta)
    parser.add_argument("--lr", type=float, default=5e-6)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--nll-weight", type=float, default=0.0, help="RPO's anchor: the chosen trajectory's NLL per token")
    parser.add_argument("--eval-episodes", type=int, default=128)
    args = parser.parse_args()
    with TrajectoryStore(args.db) as store:
        base = existing(store, args.base)
        if base is None:
            raise SystemExit(f"no policy version named {args.base!r}")
        rollouts = [e.id for e in store.episodes(EpisodeFilter(task=args.task, source="policy",
                                                               policy_version_id=base))][:args.budget]
        name = (f"{args.task}-dpo-{args.scale}-b{args.beta:g}-lr{args.lr:g}"
                + (f"-nll{args.nll_weight:g}" if args.nll_weight else "")
                + (f"-steps{args.steps}" if args.steps != 200 else "") + f"-P{len(rollouts)}")
        started = time.perf_counter()
        version = existing(store, name) or dpo_offline(
            store, base, args.task, rollouts, DPOConfig(scale=args.scale, beta=args.beta, lr=args.lr, steps=args.steps,
                                                       nll_weight=args.nll_weight),
            name, report=lambda m: print(m, flush=True))[0]
        trained = time.perf_counter()
        result = evaluation(store, version, args.task, args.eval_episodes, lambda m: print(m, flush=True))
        print(json.dumps({"name": name, "rollouts": len(rollouts),
                          "rollout_successes": sum(bool(store.episode(i).success) for i in rollouts),
                          "dpo_s": trained - started, "eval_s": time.perf_counter() - trained, **result}, indent=1))


if __name__ == "__main__":
    main()
