"""`wmpo-app curves RUN... --out curves.png`: training curves of any runs, in one PNG.

A RUN is what the operator knows it by: a policy version's name, a world model's or a reward
model's name, a GRPO run's (``grpo-runs/<name>``), or a checkpoint folder or curve file path.
Every trainer writes its curve beside its checkpoint as it goes (``learning.curves``), so a
running job can be plotted too.
"""

from __future__ import annotations

from pathlib import Path

from storage import TrajectoryStore

COMMANDS = {"curves"}


def add_commands(commands) -> None:
    curves = commands.add_parser("curves", help="plot the training curves of runs (policies, world and reward models, "
                                                "GRPO runs) into one PNG")
    curves.add_argument("runs", nargs="+", metavar="RUN", help="a policy, world-model, reward-model or GRPO run name, "
                                                                "or a checkpoint folder")
    curves.add_argument("--out", type=Path, default=Path("curves.png"))
    curves.add_argument("--keys", help="comma-separated quantities to plot (default: all the curves hold)")
    curves.set_defaults(run=run)


def candidates(store: TrajectoryStore, run: str) -> list[Path]:
    """Where a run's checkpoint may be, in the order names are looked up."""
    from learning.artifacts import checkpoints_dir, grpo_run_dir, reward_model_dir, world_model_dir

    found = [Path(run)]
    found += [Path(v.checkpoint_path) for v in store.policy_versions() if v.name == run]
    return found + [world_model_dir(store, run) / "model", reward_model_dir(store, run),
                    grpo_run_dir(store, run), checkpoints_dir(store) / run]


def find_curve(store: TrajectoryStore, run: str) -> list[dict]:
    from learning.curves import curve_path, read_curve

    for candidate in candidates(store, run):
        path = candidate if candidate.name.endswith(".curve.jsonl") else curve_path(candidate)
        if path.is_file():
            return read_curve(path)
    raise ValueError(f"no training curve for {run!r}: expected a policy, world-model, reward-model or GRPO run name "
                     f"of this store, or a checkpoint folder (curves are written beside checkpoints since 2026-12-01)")


def run(store: TrajectoryStore, args) -> int:
    """The store is opened (read-only where it cannot be written) by the CLI, which also
    reports errors."""
    from learning.curves import plot_curves

    curves = {name: find_curve(store, name) for name in args.runs}
    out = plot_curves(curves, args.out, args.keys.split(",") if args.keys else None)
    for name, points in curves.items():
        last = points[-1]
        print(f"{name}: {len(points)} points to step {last['step']}" +
              (f", loss {last['loss']:.4g}" if isinstance(last.get("loss"), (int, float)) else ""))
    print(f"wrote {out}")
    return 0
