"""Can each iteration's imagination show a success? Per finished cycle iteration of a task: its
aligned world model replays held-out real policy rollouts (their recorded actions, from their
first frame), its reward model judges the imagined and the recorded frames.

    .venv/bin/python benchmarks/imagined_outcomes.py --db /tmp/exp4/wmpo.db --task transfer_cube

Successes make up to half of the replays (the fidelity stage's choice), so the table says
whether a real success, replayed in imagination, is still judged one -- GRPO in imagination
learns only if it is. Writes benchmarks/results/imagined-outcomes-TASK.{json,md} and, per
iteration, a strip of one replayed success (recorded frames over imagined ones).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from app.cycle import JOB_KIND
from learning.artifacts import reward_model_dir, world_model_dir
from learning.reward_model.clips import at_stride
from learning.reward_model.judge import judge
from learning.reward_model.training import load_reward_model
from learning.world_model.fidelity import fidelity_report, strip
from learning.world_model.imagination import Imagination
from learning.world_model.on_store import held_out_replays
from learning.world_model.training import load_world_model
from storage import EpisodeFilter, TrajectoryStore

from learning_report import machine  # benchmarks/, beside this script


def iteration_models(store: TrajectoryStore, task: str) -> list[tuple[int, str, str]]:
    """(iteration number, world model, reward model) of each finished iteration of ``task``."""
    numbers = {i.id: i.number for i in store.iterations()}
    found = []
    for job in store.jobs.finished(JOB_KIND):
        results = {s.name: s.result or {} for s in job.steps}
        if job.config["cycle"]["task"] == task and "world_model" in results.get("align", {}):
            found.append((numbers[job.iteration_id], results["align"]["world_model"],
                          results["reward"]["reward_model"]))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--task", default="transfer_cube")
    parser.add_argument("--episodes", type=int, default=8, help="replays per iteration (successes up to half)")
    parser.add_argument("--source", default="policy", choices=("policy", "expert", "eval"),
                        help="whose held-out episodes to replay (expert demos: successes only)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    with TrajectoryStore(args.db, readonly=True) as store:
        for number, world_model, reward_model in iteration_models(store, args.task):
            model = load_world_model(world_model_dir(store, world_model) / "model")
            judge_model = load_reward_model(reward_model_dir(store, reward_model))
            ids, replays = held_out_replays(store, model.config.camera, args.episodes,
                                            EpisodeFilter(task=args.task, source=args.source))
            stride = model.config.frame_stride
            report, imagined = fidelity_report(Imagination(model, seed=number), replays,
                                               judge=lambda frames: judge(judge_model, frames).success)
            episodes = [{"episode_id": i, "success": r.success,
                         "recorded_max_probability": judge(judge_model, at_stride(r.real, stride)).max_probability,
                         "imagined_max_probability": judge(judge_model, frames).max_probability}
                        for i, r, frames in zip(ids, replays, imagined)]
            success = next((k for k, r in enumerate(replays) if r.success), None)
            if success is not None:
                strip(replays[success].real, imagined[success], stride, every=32).save(
                    args.out / f"imagined-outcomes-{args.task}-iteration{number}.png")
            rows.append({"iteration": number, "world_model": world_model, "reward_model": reward_model,
                         "threshold": judge_model.config.threshold, "psnr_db_last": report.psnr_db[-1],
                         "outcome_agreement": report.outcome_agreement,
                         "successes_replayed": report.successes_replayed,
                         "successes_recognised": report.successes_recognised, "episodes": episodes})
            print(f"iteration {number}: {report.summary()}", flush=True)
    command = f"benchmarks/imagined_outcomes.py --task {args.task} --episodes {args.episodes} --source {args.source}"
    stem = args.out / f"imagined-outcomes-{args.task}"
    stem.with_suffix(".json").write_text(json.dumps({"task": args.task, "rows": rows, "command": command,
                                                     "machine": machine()}, indent=2) + "\n")
    lines = [f"# Can imagination show a success? {args.task}, held-out real {args.source} episodes replayed "
             f"per iteration", "",
             "| iteration | world model | threshold | real successes judged successful in imagination | "
             "failures judged failed | mean success probability, successes: recorded / imagined | "
             "failures: recorded / imagined |",
             "|---:|---|---:|---:|---:|---:|---:|"]
    for row in rows:
        wins = [e for e in row["episodes"] if e["success"]]
        fails = [e for e in row["episodes"] if not e["success"]]
        agreeing = sum(e["imagined_max_probability"] <= row["threshold"] for e in fails)
        mean = lambda episodes, key: f"{np.mean([e[key] for e in episodes]):.4f}" if episodes else "-"
        lines.append(f"| {row['iteration']} | {row['world_model']} | {row['threshold']:.4f} | "
                     f"{row['successes_recognised']}/{row['successes_replayed']} | {agreeing}/{len(fails)} | "
                     f"{mean(wins, 'recorded_max_probability')} / {mean(wins, 'imagined_max_probability')} | "
                     f"{mean(fails, 'recorded_max_probability')} / {mean(fails, 'imagined_max_probability')} |")
    lines += ["", f"Strips: `imagined-outcomes-{args.task}-iterationN.png` (recorded frames over imagined ones, "
              f"every 32 steps). Command: `{command}`; machine: {machine()}."]
    stem.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
