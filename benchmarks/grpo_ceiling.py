"""GRPO's ceiling: the simulator as a perfect world model.

WMPO can lift the policy no further than GRPO would with a perfect world model: here the
groups are real sim episodes rewarded by the sim's own success check, through the same loop
WMPO uses (``learning/policy_optimization/grpo.run_grpo``, via
``app/grpo_on_real.grpo_on_real``). Every ``--every`` real episodes the policy is registered
and evaluated greedily on the fixed evaluation seeds, which draws the learning curve; its
P=1280 point is the paper's Table 1 "GRPO, P=1280" row.

    .venv/bin/python benchmarks/grpo_ceiling.py --db wmpo-data/bench.db --task transfer_cube --base base-all

Resumable: run the same command again and finished points are reused, an unfinished one
continues from its last update. ``--set FIELD=VALUE`` changes the GRPO configuration (the
study: temperature, lr, batch_trajectories, epochs, clip_low/clip_high, chunk_log_prob); give each variant
its own ``--run``. Writes JSON, markdown and a PNG to --out, with per-point diagnostics:
groups kept, gradient norm, clip fraction and the entropy of the action tokens.

``--control shuffled-rewards`` permutes the rewards within each group before the update (seeded
by the group): updates of the same size and noise with no signal in them. Where the real run
falls as far as this control, its updates are noise.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

import torch

import robot  # noqa: F401  (headless GL before mujoco loads)
from app.grpo_on_real import grpo_on_real
from learning.artifacts import grpo_run_dir
from learning.checkpoints import existing_checkpoint, read_config
from learning.configs import with_overrides
from learning.policy_optimization.config import profile as grpo_profile
from storage import TrajectoryStore

# benchmarks/, beside this script
from learning_report import chart, machine, success_cell
from table1 import evaluation, existing

DIAGNOSTICS = ("grad_norm", "clip_fraction", "token_entropy", "ratio_mean")


def shuffled_rewards(sample_group):
    """The control: each group's rewards permuted among its trajectories, seeded by the group."""
    def sample(i: int):
        group = sample_group(i)
        order = torch.randperm(len(group), generator=torch.Generator().manual_seed(i)).tolist()
        return [replace(t, reward=group[j].reward) for t, j in zip(group, order)]
    return sample


CONTROLS = {"shuffled-rewards": shuffled_rewards}


def run_history(store: TrajectoryStore, run: str) -> list[dict]:
    folder = existing_checkpoint(grpo_run_dir(store, run))
    return [] if folder is None else read_config(folder)["grpo_stats"]["history"]


def point_diagnostics(history: list[dict], since_trajectories: int) -> dict:
    """Means over the updates made since the previous point."""
    updates = [h for h in history if h.get("trajectories", 0) > since_trajectories]
    means = {k: sum(h[k] for h in updates) / len(updates) if updates else None for k in DIAGNOSTICS
             if all(k in h for h in updates)}
    return {"updates_in_segment": len(updates), **means}


def write_results(args, config, points: list[dict]) -> None:
    """JSON, markdown and PNG of the curve so far: rewritten after every point, so an interrupted
    run leaves its curve."""
    n = args.eval_episodes
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / f"grpo-ceiling-{args.task}-{args.run}"
    command = (f"benchmarks/grpo_ceiling.py --task {args.task} --base {args.base} --episodes {args.episodes} "
               f"--every {args.every} --eval-episodes {n} --profile {args.profile} --run {args.run}"
               + (f" --max-steps {args.max_steps}" if args.max_steps else "")
               + (f" --control {args.control}" if args.control else "")
               + "".join(f" --set {o}" for o in args.overrides))
    stem.with_suffix(".json").write_text(json.dumps({"task": args.task, "grpo": config.to_json(), "points": points,
                                                     "machine": machine(), "command": command}, indent=2))
    lines = [f"GRPO in the sim ({args.task}, run {args.run}): greedy success on {n} evaluation seeds", "",
             "| real episodes | updates | groups kept | sampled success since the last point | greedy success [95% CI] | grad norm "
             "| clip fraction | token entropy |", "|---:|---:|---:|---:|---|---:|---:|---:|"]
    for p in points:
        cell = lambda key, fmt: "-" if p.get(key) is None else format(p[key], fmt)  # noqa: E731
        kept = f"{p['groups_kept']}/{p['groups']}" if "groups" in p else "-"
        lines.append(f"| {p['real_episodes']} | {p['updates']} | {kept} | {cell('segment_sampled_success', '.1%')} "
                     f"| {success_cell(p)} | {cell('grad_norm', '.3f')} | {cell('clip_fraction', '.3f')} "
                     f"| {cell('token_entropy', '.3f')} |")
    lines += ["", f"Command: `{command}`", f"Machine: {machine()}"]
    stem.with_suffix(".md").write_text("\n".join(lines) + "\n")
    chart({"greedy success": [p["rate"] for p in points]}, [str(p["real_episodes"]) for p in points],
          stem.with_suffix(".png"), f"GRPO ceiling, {args.task}: greedy success vs real episodes")
    print("\n".join(lines), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--task", default="transfer_cube")
    parser.add_argument("--base", required=True, help="the base policy version's name")
    parser.add_argument("--episodes", type=int, default=1280, help="real episodes in all (the budget)")
    parser.add_argument("--every", type=int, default=256, help="real episodes between evaluations")
    parser.add_argument("--eval-episodes", type=int, default=128)
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="FIELD=VALUE")
    parser.add_argument("--run", default="ceiling", help="the run's name; each configuration its own")
    parser.add_argument("--max-steps", type=int, help="control steps per episode (default: the task's); shorter "
                                                      "for quick runs, the same whenever a run is resumed")
    parser.add_argument("--control", choices=sorted(CONTROLS), help="a control run (give it its own --run)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args()
    config = with_overrides(grpo_profile(args.profile), args.overrides)

    def report(message: str) -> None:
        print(message, flush=True)

    with TrajectoryStore(args.db) as store:
        base = store.find_policy_version(args.base)
        n = args.eval_episodes
        points = [{"real_episodes": 0, "updates": 0, **evaluation(store, base, args.task, n, report, args.max_steps)}]
        report(f"base: {success_cell(points[0])}")
        for budget in range(args.every, args.episodes + 1, args.every):
            name = f"{args.task}-{args.run}-ep{budget}"
            version = existing(store, name)
            if version is None:
                version, _ = grpo_on_real(store, base, args.task, budget, config, name, run=f"{args.task}-{args.run}",
                                          around_groups=CONTROLS.get(args.control),
                                          horizon=args.max_steps, report=report)
            stats = json.loads(store.policy_version(version).config_json)["stats"]
            result = evaluation(store, version, args.task, n, report, args.max_steps)
            history = run_history(store, f"{args.task}-{args.run}")
            successes = round(stats["rollout_success_rate"] * stats["rollouts"])  # so far in the run
            earlier = points[-1].get("sampled", (0, 0))
            points.append({"real_episodes": budget, "updates": stats["updates"], "groups_kept": stats["groups_kept"],
                           "groups": stats["groups"], "sampled": (successes, stats["rollouts"]),
                           "segment_sampled_success": (successes - earlier[0]) / max(1, stats["rollouts"] - earlier[1]),
                           **point_diagnostics(history, budget - args.every), **result})
            report(f"{budget} episodes, {stats['updates']} updates: {success_cell(result)}")
            write_results(args, config, points)

if __name__ == "__main__":
    main()
