"""Success of policies when they sample (at a temperature) instead of taking the argmax.

GRPO optimises the policy it samples from; the evaluation protocol is greedy. Where the two
differ (a policy from scratch at temperature 0.5 succeeds more often than its argmax), this
says how each policy does at the temperature GRPO trained it at, on the same 128 evaluation
seeds as the greedy protocol. Nothing is stored: these episodes would otherwise mix with the
greedy evaluation episodes the store reuses.

``--grpo-groups FIRST LAST`` samples on GRPO's group scenes instead -- seeds GRPO_SEED_BASE + i
for groups FIRST..LAST-1, each ``--group`` times, as a ceiling run sampled them -- so a run's
sampled success per segment can be told apart from how hard that segment's scenes are.

    .venv/bin/python benchmarks/sampled_eval.py --db DB --task transfer_cube --temperature 0.5 base-all NAME...
    .venv/bin/python benchmarks/sampled_eval.py --db DB --grpo-groups 32 64 base-all
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import robot  # noqa: F401  (headless GL before mujoco loads)
from learning.evaluation import GRPO_SEED_BASE, evaluation_seeds
from learning.vla.imitation import load_policy
from learning.vla.runner import PolicyRunner
from robot.rollout import RolloutConfig, run_rollout
from robot.factory import make_robot
from robot.sim.tasks import get_task
from storage import TrajectoryStore, wilson_interval


def sampled_success(store: TrajectoryStore, name: str, task: str, scenes: list[int], temperature: float,
                    seed: int) -> dict:
    policy = load_policy(store.verify_policy_checkpoint(store.find_policy_version(name)))
    runner = PolicyRunner(policy, greedy=False, temperature=temperature, seed=seed)
    sim_task = get_task(task)
    successes, n = 0, len(scenes)
    with make_robot(None, task=task, cameras={policy.config.camera: policy.config.image_size}) as sim:
        for scene in scenes:
            result = run_rollout(sim, runner, initial_state=scene, instruction=sim_task.instruction,
                                 config=RolloutConfig(horizon=sim_task.horizon))
            successes += bool(result.success)
    low, high = wilson_interval(successes, n)
    return {"policy": name, "temperature": temperature, "successes": successes, "episodes": n,
            "rate": successes / n, "interval95": [low, high]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--task", default="transfer_cube")
    parser.add_argument("--temperature", type=float, default=0.5)
    parser.add_argument("--episodes", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0, help="the sampling generator's seed")
    parser.add_argument("--grpo-groups", type=int, nargs=2, metavar=("FIRST", "LAST"),
                        help="sample on GRPO's group scenes FIRST..LAST-1 (each --group times) instead of the "
                             "evaluation seeds")
    parser.add_argument("--group", type=int, default=8, help="episodes per GRPO group scene")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    parser.add_argument("policies", nargs="+")
    args = parser.parse_args()
    if args.grpo_groups:
        first, last = args.grpo_groups
        scenes = [GRPO_SEED_BASE + i for i in range(first, last) for _ in range(args.group)]
        where = f"-grpo-groups-{first}-{last}"
    else:
        scenes, where = evaluation_seeds(args.episodes), ""
    path = args.out / f"sampled-eval-{args.task}-t{args.temperature:g}{where}.json"
    results = json.loads(path.read_text())["results"] if path.exists() else {}
    with TrajectoryStore(args.db, readonly=True) as store:
        for name in args.policies:
            if name not in results:  # finished ones are kept: rerun the command to add policies
                results[name] = sampled_success(store, name, args.task, scenes, args.temperature, args.seed)
            r = results[name]
            print(f"{name} at T={args.temperature:g}: {r['successes']}/{r['episodes']} = {100 * r['rate']:.1f}% "
                  f"[{100 * r['interval95'][0]:.1f}, {100 * r['interval95'][1]:.1f}]", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    scope = (f"--grpo-groups {args.grpo_groups[0]} {args.grpo_groups[1]} --group {args.group}" if args.grpo_groups
             else f"--episodes {args.episodes}")
    command = (f"benchmarks/sampled_eval.py --task {args.task} --temperature {args.temperature:g} {scope} "
               f"--seed {args.seed} " + " ".join(results))
    path.write_text(json.dumps({"results": results, "command": command}, indent=2))


if __name__ == "__main__":
    main()
