"""The paper's lifelong curve (Fig. 6) in simulation: K WMPO iterations of P real rollouts each,
against DPO iterated the same way and imitation learning given as many extra expert demonstrations.

    .venv/bin/python benchmarks/lifelong.py --db wmpo-data/bench.db --task transfer_cube --base base-all \\
        --iterations 3 --budget 128

After k iterations WMPO has used k*P real rollouts. The DPO arm has too: its iteration k trains
offline DPO from its policy of iteration k-1 on P sampled rollouts of that policy (iteration 1:
the base's rollouts that WMPO's first iteration collected, so it is Table 1's DPO). The imitation
arm retrains the base recipe on the base's demos plus k*P more expert demos (recorded if missing).
All are evaluated greedily on the fixed evaluation seeds. Everything is resumable: run the command
again and finished iterations, collected rollouts, trained policies and evaluations are reused
from the store. --arms picks which arms run (imitation retrains a policy per iteration, the
slowest). Writes JSON, a markdown report (success per iteration and the loop's diagnosis) and a
PNG after each arm, so an interrupted run leaves the arms it finished. Arms may run as separate
processes (--arms wmpo beside --arms dpo: two collections into one store take different seeds); a
DPO arm started before WMPO's first iteration has finished collects its own base rollouts. Rerun
with every arm to write the combined report.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import robot  # noqa: F401  (headless GL before mujoco loads)
from app.cycle import JOB_KIND, run_cycle
from app.cycle_config import profile as cycle_profile
from app.cycle_report import IterationRow, iteration_rows
from app.policies import collect_rollouts, demo_count, evaluate_policy, train_base_policy
from learning.policy_optimization.dpo import DPOConfig
from learning.policy_optimization.dpo_on_store import dpo_offline
from learning.trainer import TrainConfig
from learning.vla.config import PolicyConfig
from storage import STOCK_SCENE, EpisodeFilter, TrajectoryStore

# benchmarks/, beside this script
from learning_report import chart, diagnosis_table, machine, percent, success_cell
from table1 import existing


def wmpo_iterations(store, args, report, run: bool = True) -> list[IterationRow]:
    """Run (or resume) cycle iterations of this task and budget until there are ``args.iterations``;
    with ``run`` False, only read back those already finished."""
    def mine(job):
        cycle = job.config["cycle"]
        return cycle["task"] == args.task and cycle["budget"] == args.budget

    if run and any(mine(job) for job in store.jobs.unfinished(JOB_KIND)):
        run_cycle(store, None, 0, resume=True, report=report)
    done = sum(mine(job) for job in store.jobs.finished(JOB_KIND))
    if run and done < args.iterations:
        overrides = {"world_model": args.world_model, "grpo_updates": args.grpo_updates, "max_steps": args.max_steps}
        config = cycle_profile(args.profile, task=args.task, budget=args.budget, eval_episodes=args.eval_episodes,
                               **{k: v for k, v in overrides.items() if v is not None})
        run_cycle(store, config, args.iterations - done, report=report)
    ids = [job.iteration_id for job in store.jobs.finished(JOB_KIND) if mine(job)][:args.iterations]
    return [row for row in iteration_rows(store) if row.id in ids]


def stage_minutes(store, iteration_ids: list[int]) -> dict[int, float]:
    """Minutes each iteration's stages ran (a retried stage counts its last attempt only)."""
    minutes = {}
    for job in store.jobs.finished(JOB_KIND):
        if job.iteration_id in iteration_ids:
            spans = [(s.finished_at - s.started_at).total_seconds() for s in job.steps if s.started_at and s.finished_at]
            minutes[job.iteration_id] = sum(spans) / 60
    return minutes


def own_rollouts(store, version_id: int, skip: int, args, report) -> list[int]:
    """P sampled stock-scene rollouts of a policy outside any iteration, after the ``skip`` that
    earlier iterations used, collecting only the missing ones."""
    def stored():
        return [e.id for e in store.episodes(EpisodeFilter(task=args.task, source="policy", scene=STOCK_SCENE,
                                                           policy_version_id=version_id))
                if e.iteration_id is None]

    missing = skip + args.budget - len(stored())
    if missing > 0:
        collect_rollouts(store, version_id, args.task, missing,
                         temperature=cycle_profile(args.profile, task=args.task).collect_temperature,
                         horizon=args.max_steps,
                         progress=lambda d, t, ok: report(f"dpo arm: collect {d}/{t}") if d % 32 == 0 else None)
    return stored()[skip:skip + args.budget]


def dpo_arm(store, base_id, rows: list[IterationRow], args, report) -> list[dict]:
    """DPO iterated like the cycle: each iteration learns from P fresh rollouts of the policy it
    improves. Rollouts without both a success and a failure give DPO no pair: like WMPO without a
    candidate, that iteration keeps its policy (and the next one collects afresh)."""
    results, current, used = [], base_id, 0  # used: rollouts of ``current`` earlier iterations took
    for k in range(1, args.iterations + 1):
        name = f"{args.task}-dpo-P{args.budget}" + ("" if k == 1 else f"-iter{k}")
        version, note = existing(store, name), "updated"
        if version is None:
            if k == 1 and rows:  # the base's rollouts are the ones WMPO's first iteration collected
                episodes = [e.id for e in store.episodes(EpisodeFilter(task=args.task, source="policy",
                                                                       iteration_id=rows[0].id))]
            else:
                episodes, used = own_rollouts(store, current, used, args, report), used + args.budget
            wins = len(store.episodes(EpisodeFilter(ids=tuple(episodes), success=True)))
            if 0 < wins < len(episodes):
                version = dpo_offline(store, current, args.task, episodes, DPOConfig(), name, report=report)[0]
            else:
                version, note = current, f"no update: {wins} of {len(episodes)} rollouts succeeded, no pair"
        summary = evaluate_policy(store, version, args.task, args.eval_episodes, reuse_finished=True,
                                  horizon=args.max_steps)
        results.append(summary.to_json() | {"policy": store.policy_version(version).name, "note": note})
        if version != current:
            current, used = version, 0
    return results


def imitation_arm(store, base_id, args, report) -> list[dict]:
    """The base recipe retrained with k*P extra expert demos, k = 1..K, each evaluated."""
    base = store.policy_version(base_id)
    recipe = json.loads(base.config_json)
    config = PolicyConfig.from_json(recipe["policy"])
    results = []
    # a base trained on every stored demo ('all') counts the task's demos stored now (those recorded
    # since it was trained would count as the base's: record none in between)
    base_demos = recipe["demos"] or demo_count(store, args.task, config)
    for k in range(1, args.iterations + 1):
        demos = base_demos + k * args.budget
        name = f"{args.task}-imitation-{demos}demos"
        train = TrainConfig(steps=args.imitation_steps or recipe["steps"])
        version = train_base_policy(store, args.task, name, config, train, demos,
                                    demo_progress=lambda d, t, r, s: report(f"{name}: demo {d}/{t}") if d % 32 == 0
                                    else None,
                                    progress=lambda p: report(f"{name}: step {p.step}/{p.steps} loss {p.loss:.3f}")
                                    if p.step % 500 == 0 else None)
        summary = evaluate_policy(store, version, args.task, args.eval_episodes, reuse_finished=True,
                                  horizon=args.max_steps)
        results.append(summary.to_json() | {"policy": name, "demos": demos})
    return results


ARMS = ("wmpo", "dpo", "imitation")


def cell(results: list[dict], k: int) -> str:
    if k > len(results):
        return "not run"
    result = results[k - 1]
    return success_cell(result) + ("" if result.get("note", "updated") == "updated" else f" ({result['note']})")


def write_report(args, base_result: dict, rows: list[IterationRow], minutes: dict, dpo: list[dict],
                 imitation: list[dict], started: float) -> None:
    """JSON, markdown and PNG of whatever the arms have finished so far."""
    # The deployed policy after iteration k: the candidate if the gate deployed it, else what was deployed.
    deployed_rates, rate = [], base_result["rate"]
    for row in rows:
        rate = row.eval_success if row.deployed else (row.deployed_eval if row.deployed_eval is not None else rate)
        deployed_rates.append(rate)
    command = "benchmarks/lifelong.py " + " ".join(
        f"--{k.replace('_', '-')} {' '.join(v) if isinstance(v, list) else v}" for k, v in vars(args).items()
        if v is not None and k not in ("db", "out"))
    wall_s = time.perf_counter() - started
    payload = {"task": args.task, "budget": args.budget, "iterations": args.iterations, "base": base_result,
               "wmpo": [row.__dict__ for row in rows], "wmpo_deployed_rate": deployed_rates, "dpo": dpo,
               "imitation": imitation, "iteration_minutes": [minutes.get(row.id) for row in rows],
               "command": command, "machine": machine(), "wall_s": wall_s}
    stem = args.out / f"lifelong-{args.task}-P{args.budget}-{args.profile}"
    stem.parent.mkdir(parents=True, exist_ok=True)
    stem.with_suffix(".json").write_text(json.dumps(payload, indent=2, default=list))

    lines = [f"# Lifelong WMPO vs iterated DPO vs imitation with extra demos: {args.task}, P={args.budget}, "
             f"profile {args.profile}", "",
             "| real rollouts / extra demos | WMPO candidate (greedy) | WMPO deployed after the gate | "
             "DPO iterated | imitation with as many extra expert demos |", "|---:|---|---:|---|---|",
             f"| 0 (base) | {success_cell(base_result)} | {percent(base_result['rate'])} | {success_cell(base_result)} "
             f"| {success_cell(base_result)} |"]
    for k in range(1, args.iterations + 1):
        if k <= len(rows):
            row = rows[k - 1]
            candidate = (f"{percent(row.eval_success)} [{100 * row.eval_interval[0]:.1f}, "
                         f"{100 * row.eval_interval[1]:.1f}]" if row.eval_success is not None
                         else f"no candidate ({row.note})")
            deployed = percent(deployed_rates[k - 1])
        else:
            candidate, deployed = "not run", "-"
        lines.append(f"| {k * args.budget} | {candidate} | {deployed} | {cell(dpo, k)} | {cell(imitation, k)} |")
    lines += ["", f"After {len(rows)} WMPO iterations ({len(rows) * args.budget} real rollouts): deployed "
                  f"{percent(deployed_rates[-1] if rows else base_result['rate'])}, base {percent(base_result['rate'])}."
              + (f" DPO after {len(dpo)}: {percent(dpo[-1]['rate'])}." if dpo else "")
              + (f" Imitation with {imitation[-1]['demos']} demos: {percent(imitation[-1]['rate'])}." if imitation
                 else ""),
              "", "Diagnosis per WMPO iteration (from the store):", "", diagnosis_table(rows), "",
              "Minutes per WMPO iteration (its stages' spans): "
              + ", ".join(f"{row.number}: {minutes[row.id]:.0f}" for row in rows if row.id in minutes) + ".", "",
              f"Command: `{command}`; machine: {machine()}; this invocation {wall_s / 60:.0f} min "
              f"(finished iterations, rollouts, trained policies and evaluations are reused from the store)."]
    stem.with_suffix(".md").write_text("\n".join(lines) + "\n")
    labels = ["base"] + [f"+{k * args.budget}" for k in range(1, args.iterations + 1)]

    def series(rates):
        return [base_result["rate"], *rates, *[None] * (args.iterations - len(rates))]

    chart({"WMPO (deployed)": series(deployed_rates), "DPO (iterated)": series([r["rate"] for r in dpo]),
           "imitation (+demos)": series([r["rate"] for r in imitation])},
          labels, stem.with_suffix(".png"), f"{args.task}: success per iteration, P={args.budget}")
    print("\n".join(lines), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", type=Path, default=Path("wmpo-data/bench.db"))
    parser.add_argument("--task", default="transfer_cube")
    parser.add_argument("--base", required=True, help="base policy version (name or id); deployed first")
    parser.add_argument("--iterations", type=int, default=3)
    parser.add_argument("--budget", type=int, default=128, help="P, real rollouts per iteration")
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--arms", nargs="+", choices=ARMS, default=list(ARMS), help="which arms run (the base always)")
    parser.add_argument("--world-model", help="pretrained world model the first iteration starts from")
    parser.add_argument("--grpo-updates", type=int)
    parser.add_argument("--eval-episodes", type=int, default=128)
    parser.add_argument("--imitation-steps", type=int, help="default: the base policy's own steps")
    parser.add_argument("--max-steps", type=int, help="control steps per rollout and evaluation episode (default: "
                                                      "the task's); shorter for quick runs, the same when resuming")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args()
    started = time.perf_counter()

    def report(message):
        print(f"[lifelong {time.perf_counter() - started:6.0f} s] {message}", flush=True)

    rows, minutes, dpo, imitation = [], {}, [], []
    with TrajectoryStore(args.db) as store:
        base = store.find_policy_version(args.base)
        if store.deployed(args.task) is None:
            store.deploy(args.task, base, "initial")
        base_result = evaluate_policy(store, base, args.task, args.eval_episodes, reuse_finished=True,
                                      horizon=args.max_steps).to_json()
        rows = wmpo_iterations(store, args, report, run="wmpo" in args.arms)  # else those already finished
        minutes = stage_minutes(store, [row.id for row in rows])
        write_report(args, base_result, rows, minutes, dpo, imitation, started)
        if "dpo" in args.arms:
            dpo = dpo_arm(store, base, rows, args, report)
            write_report(args, base_result, rows, minutes, dpo, imitation, started)
        if "imitation" in args.arms:
            imitation = imitation_arm(store, base, args, report)
            write_report(args, base_result, rows, minutes, dpo, imitation, started)


if __name__ == "__main__":
    main()
