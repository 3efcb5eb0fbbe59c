"""The paper's Table 2 in simulation: how each policy holds up when the scene departs from the demos.

    .venv/bin/python benchmarks/generalisation.py --db wmpo-data/bench.db --task transfer_cube \\
        --policies base-all transfer_cube-grpo-real-P128 transfer_cube-dpo-P128 transfer_cube-wmpo-1

Every policy is evaluated greedily on the fixed evaluation seeds in the stock scene and in each
disruption scene (``robot/sim/disruptions.py``: a wider object start range, another table
texture, another object colour), exactly as ``wmpo-app eval --policy P --task T --scene S
--reuse`` does: the same function, the same robot choice, the same stored episodes (source
"eval", the policy version, the scene). Resumable: seeds already evaluated in a scene are read
back, not run again, so a rerun after an interruption finishes only what is missing (evaluations
made inside a cycle iteration belong to it and are not reused: such a version's stock seeds are
run once more here, outside any iteration). Writes
``generalisation-<task>.json`` and ``.md`` (success k/n, rate and 95% Wilson interval per policy
and scene, with the commands that reproduce each cell) to --out.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import robot  # noqa: F401  (headless GL before mujoco loads)
from app.hardware_commands import robot_choice
from app.policies import evaluate_policy
from robot.sim.disruptions import DISRUPTIONS, STOCK
from robot.sim.tasks import TASKS
from storage import TrajectoryStore

# benchmarks/, beside this script
from learning_report import machine, success_cell, write_report


def eval_command(policy: str, task: str, scene: str, n: int) -> str:
    """The product command that evaluates one cell (and reads it back once stored)."""
    return f"wmpo-app eval --policy {policy} --task {task} --n {n} --scene {scene} --reuse"


def evaluate_in_scene(store: TrajectoryStore, version_id: int, task: str, scene: str, n: int, report) -> dict:
    """One cell: ``wmpo-app eval --scene`` 's code path, reusing the seeds already stored."""
    summary = evaluate_policy(store, version_id, task, n, reuse_finished=True, robot=robot_choice(None, scene),
                              progress=lambda done, total, ok: report(f"{scene} {done}/{total}")
                              if done % 32 == 0 or done == total else None)
    return summary.to_json() | {"policy_version_id": version_id}


def markdown(payload: dict) -> str:
    scenes, results = payload["scenes"], payload["results"]
    lines = [f"Success over {payload['episodes']} evaluation seeds, {payload['task']}, greedy "
             f"(k/n = rate [95% Wilson interval]):", "",
             "| policy | " + " | ".join(scenes) + " |", "|---|" + "---:|" * len(scenes)]
    for policy, cells in results.items():
        lines.append(f"| {policy} | " + " | ".join(success_cell(cells[scene]) for scene in scenes) + " |")
    lines += ["", "Change from the stock scene, in points:", "",
              "| policy | " + " | ".join(scenes[1:]) + " |", "|---|" + "---:|" * (len(scenes) - 1)]
    for policy, cells in results.items():
        stock = cells[STOCK]["rate"]
        lines.append(f"| {policy} | " + " | ".join(f"{100 * (cells[s]['rate'] - stock):+.1f}" for s in scenes[1:])
                     + " |")
    lines += ["", "Scenes (robot/sim/disruptions.py): stock is the demos' scene; wider_start draws object starts "
              "from a range about twice as wide; table_texture turns the dark table into light wooden bands; "
              "object_colour repaints the objects.", "", f"Command: `{payload['command']}`; machine: {payload['machine']}.", "",
              "Each cell is also the product command:", ""]
    lines += [f"    {command}" for command in payload["commands"]]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", type=Path, default=Path("wmpo-data/bench.db"))
    parser.add_argument("--task", choices=sorted(TASKS), default="transfer_cube")
    parser.add_argument("--policies", nargs="+", required=True, help="policy versions (names or ids), e.g. base, "
                                                                     "GRPO on real rollouts, DPO, WMPO")
    parser.add_argument("--scenes", nargs="+", choices=DISRUPTIONS, default=list(DISRUPTIONS),
                        help="disruption scenes (the stock scene is always evaluated too)")
    parser.add_argument("--episodes", type=int, default=128, help="evaluation seeds per policy and scene")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args()
    if args.episodes < 1:
        parser.error(f"--episodes {args.episodes}: expected at least 1")
    started = time.perf_counter()
    scenes = [STOCK, *dict.fromkeys(args.scenes)]

    results = {}
    with TrajectoryStore(args.db) as store:
        versions = {policy: store.find_policy_version(policy) for policy in args.policies}  # all known, or fail now
        for policy, version_id in versions.items():
            results[policy] = {}
            for scene in scenes:
                def report(message, policy=policy):
                    print(f"[generalisation {time.perf_counter() - started:6.0f} s] {policy} {message}", flush=True)

                results[policy][scene] = evaluate_in_scene(store, version_id, args.task, scene, args.episodes, report)

    command = (f"benchmarks/generalisation.py --task {args.task} --policies {' '.join(args.policies)} "
               f"--scenes {' '.join(scenes[1:])} --episodes {args.episodes}")
    payload = {"task": args.task, "episodes": args.episodes, "scenes": scenes, "policies": args.policies,
               "results": results, "command": command, "machine": machine(),
               "commands": [eval_command(p, args.task, s, args.episodes) for p in args.policies for s in scenes]}
    write_report(args.out / f"generalisation-{args.task}", payload, markdown(payload))


if __name__ == "__main__":
    main()
