"""Sim speed, rollout-loop overhead and scripted-expert success.

    .venv/bin/python benchmarks/sim.py                 # everything (about a minute on 2 cores)
    .venv/bin/python benchmarks/sim.py --experts 10    # fewer expert seeds

- env steps/s: one camera (cam_high) per size, stepping the transfer-cube expert's motion
  through AlohaSim (safety filter, 10 physics steps, render). Budget: >= 80 at 96x128.
- loop overhead: scripted-expert episodes recorded into a store file at 96x128; time per
  step outside physics, rendering and the policy, recording included. Budget: median
  <= 2 ms, p99 <= 5 ms.
- experts: success over N seeds per task (seeds 0..N-1), no camera (rendering does not
  change the physics). Target: >= 90% over 50 seeds.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

import robot  # noqa: F401  (sets the headless GL backend before mujoco loads)
from robot.experts.scripted import ScriptedExpert, plan_joint_trajectory
from robot.rollout import record_rollout, run_rollout
from robot.sim.aloha_sim import AlohaSim, SimConfig
from robot.sim.tasks import get_task
from storage import EpisodeInfo, TrajectoryStore, wilson_interval

SIZES = [None, (64, 64), (96, 128), (240, 320), (480, 640)]


def steps_per_second(size, actions: np.ndarray, repeats: int = 2) -> float:
    cameras = {} if size is None else {"cam_high": size}
    with AlohaSim(SimConfig(cameras=cameras)) as sim:
        sim.reset(0)
        for action in actions[:20]:  # warm up the renderer
            sim.send_action(action)
            sim.observe()
        start = time.perf_counter()
        for _ in range(repeats):
            sim.reset(0)
            for action in actions:
                sim.send_action(action)
                sim.observe()
        return repeats * len(actions) / (time.perf_counter() - start)


def loop_overhead(episodes: int) -> dict:
    overhead, steps, hz = [], 0, []
    with tempfile.TemporaryDirectory() as tmp, TrajectoryStore(Path(tmp) / "bench.db") as store, \
            AlohaSim(SimConfig(cameras={"cam_high": (96, 128)})) as sim:
        expert = ScriptedExpert("transfer_cube")
        for seed in range(episodes):
            info = EpisodeInfo(task="transfer_cube", source="expert", seed=seed)
            result = record_rollout(store, sim, expert, info, initial_state=seed)
            overhead.append(result.overhead_s)
            steps += result.steps
            hz.append(store.episode(result.episode_id).loop_hz_mean)
    overhead = np.concatenate(overhead) * 1e3
    return {"episodes": episodes, "steps": steps, "overhead_ms_median": float(np.median(overhead)),
            "overhead_ms_p99": float(np.percentile(overhead, 99)), "loop_hz_mean": float(np.mean(hz))}


def expert_success(task: str, seeds: int) -> dict:
    successes, lengths, interventions = 0, [], 0
    with AlohaSim(SimConfig(task=task, cameras={})) as sim:
        for seed in range(seeds):
            result = run_rollout(sim, ScriptedExpert(task), initial_state=seed)
            successes += bool(result.success)
            interventions += sum(result.safety.values())
            if result.success:
                lengths.append(result.steps)
    low, high = wilson_interval(successes, seeds)
    return {"task": task, "seeds": seeds, "successes": successes, "rate": successes / seeds,
            "interval95": [low, high], "mean_success_length": float(np.mean(lengths)) if lengths else None,
            "safety_interventions": interventions}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--experts", type=int, default=50, help="seeds per task for expert success")
    parser.add_argument("--overhead-episodes", type=int, default=5)
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    args = parser.parse_args()

    task = get_task("transfer_cube")
    actions, _ = plan_joint_trajectory("transfer_cube", np.array([0.1, 0.5, 0.02, 1, 0, 0, 0]), horizon=task.horizon)
    speed = {("none" if s is None else f"{s[0]}x{s[1]}"): steps_per_second(s, actions) for s in SIZES}
    overhead = loop_overhead(args.overhead_episodes)
    experts = [expert_success(name, args.experts) for name in ("transfer_cube", "insertion")]

    print(f"\n{os.cpu_count()} cores, MUJOCO_GL={os.environ.get('MUJOCO_GL')}\n")
    print("| cam_high size | env steps/s |\n|---|---:|")
    for size, value in speed.items():
        print(f"| {size} | {value:.0f} |")
    print(f"\nloop overhead with recording (96x128, {overhead['steps']} steps): median "
          f"{overhead['overhead_ms_median']:.3f} ms, p99 {overhead['overhead_ms_p99']:.3f} ms; "
          f"loop {overhead['loop_hz_mean']:.0f} Hz (faster than real time)\n")
    print("| expert | success | 95% interval | mean steps to success | safety interventions |\n|---|---:|---:|---:|---:|")
    for e in experts:
        print(f"| {e['task']} | {e['successes']}/{e['seeds']} ({100 * e['rate']:.0f}%) | "
              f"[{100 * e['interval95'][0]:.1f}, {100 * e['interval95'][1]:.1f}] | "
              f"{e['mean_success_length']:.0f} | {e['safety_interventions']} |")
    if args.json:
        args.json.write_text(json.dumps({"steps_per_second": speed, "loop": overhead, "experts": experts}, indent=2))


if __name__ == "__main__":
    main()
