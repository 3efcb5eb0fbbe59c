"""Success of policies when they sample (at a temperature) instead of taking the argmax.

GRPO optimises the policy it samples from; the evaluation protocol is greedy. Where the two
differ (a policy from scratch at temperature 0.5 succeeds more often than its argmax), this
says how each policy does at the temperature GRPO trained it at, on the same 128 evaluation
seeds as the greedy protocol. Nothing is stored: these episodes would otherwise mix with the
greedy evaluation episodes the store reuses.

    .venv/bin/python benchmarks/sampled_eval.py --db DB --task transfer_cube --temperature 0.5 base-all NAME...
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import robot  # noqa: F401  (headless GL before mujoco loads)
from learning.evaluation import evaluation_seeds
from learning.vla.imitation import load_policy
from learning.vla.runner import PolicyRunner
from robot.rollout import RolloutConfig, run_rollout
from robot.factory import make_robot
from robot.sim.tasks import get_task
from storage import TrajectoryStore, wilson_interval


def sampled_success(store: TrajectoryStore, name: str, task: str, n: int, temperature: float, seed: int) -> dict:
    policy = load_policy(store.verify_policy_checkpoint(store.find_policy_version(name)))
    runner = PolicyRunner(policy, greedy=False, temperature=temperature, seed=seed)
    sim_task = get_task(task)
    successes = 0
    with make_robot(None, task=task, cameras={policy.config.camera: policy.config.image_size}) as sim:
        for evaluation_seed in evaluation_seeds(n):
            result = run_rollout(sim, runner, initial_state=evaluation_seed, instruction=sim_task.instruction,
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
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    parser.add_argument("policies", nargs="+")
    args = parser.parse_args()
    path = args.out / f"sampled-eval-{args.task}-t{args.temperature:g}.json"
    results = json.loads(path.read_text())["results"] if path.exists() else {}
    with TrajectoryStore(args.db, readonly=True) as store:
        for name in args.policies:
            if name not in results:  # finished ones are kept: rerun the command to add policies
                results[name] = sampled_success(store, name, args.task, args.episodes, args.temperature, args.seed)
            r = results[name]
            print(f"{name} at T={args.temperature:g}: {r['successes']}/{r['episodes']} = {100 * r['rate']:.1f}% "
                  f"[{100 * r['interval95'][0]:.1f}, {100 * r['interval95'][1]:.1f}]", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    command = (f"benchmarks/sampled_eval.py --task {args.task} --temperature {args.temperature:g} "
               f"--episodes {args.episodes} --seed {args.seed} " + " ".join(results))
    path.write_text(json.dumps({"results": results, "command": command}, indent=2))


if __name__ == "__main__":
    main()
