"""Recording scripted expert demonstrations in the sim into the store."""

from __future__ import annotations

import time
from typing import Callable

from learning.evaluation import EVAL_SEED_BASE
from robot.experts.scripted import ScriptedExpert
from robot.factory import make_robot
from robot.rollout import RolloutConfig, RolloutResult, record_rollout
from robot.sim.tasks import get_task
from storage import EpisodeInfo, SeedTakenError, TrajectoryStore


def next_demo_seed(store: TrajectoryStore, task: str) -> int:
    """The seed after the highest one already used for this task's expert demos (they count up from 0)."""
    return store.next_seed(task, "expert")


def record_expert_demos(store: TrajectoryStore, task: str, n: int, *, cameras: dict[str, tuple[int, int]],
                        first_seed: int | None = None,
                        progress: Callable[[int, int, RolloutResult, float], None] | None = None) -> list[RolloutResult]:
    if n < 1:
        raise ValueError(f"n={n}; expected at least one episode")
    sim_task = get_task(task)
    seed0 = next_demo_seed(store, task) if first_seed is None else first_seed
    if seed0 < 0 or seed0 + n > EVAL_SEED_BASE:
        raise ValueError(f"demo seeds {seed0}..{seed0 + n - 1} must stay in 0..{EVAL_SEED_BASE - 1}: "
                         f"seeds from {EVAL_SEED_BASE} on are the fixed evaluation set")
    results, seed = [], seed0
    # The scripted expert reads the sim's object poses: demos are recorded in the sim only (a real
    # robot's demos come from teleoperation, `wmpo-app teleop-record`).
    with make_robot(None, task=task, cameras=cameras) as sim:
        expert = ScriptedExpert(task)
        while len(results) < n:
            # seeds chosen here are claimed as each episode starts: another process recording demos
            # into the same store at the same time takes the next free ones
            info = EpisodeInfo(task=task, instruction=sim_task.instruction, robot_kind="sim", source="expert",
                               seed=seed, control_period_s=sim.features.control_period_s,
                               unique_seed=first_seed is None)
            started = time.perf_counter()
            try:
                result = record_rollout(store, sim, expert, info, initial_state=seed,
                                        config=RolloutConfig(horizon=sim_task.horizon))
            except SeedTakenError:
                seed = max(seed + 1, next_demo_seed(store, task))
                if seed + n - len(results) > EVAL_SEED_BASE:
                    raise
                continue
            seed += 1
            results.append(result)
            if progress is not None:
                progress(len(results), n, result, time.perf_counter() - started)
    return results
