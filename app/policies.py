"""Training and evaluating policies on the simulated robot: the app joins learning and robot."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

from app.demos import record_expert_demos
from learning.evaluation import EvalSummary, evaluation_seeds, summarize
from learning.trainer import TrainConfig, TrainProgress
from learning.vla.config import PolicyConfig
from learning.vla.imitation import expert_filter, load_policy, train_policy
from learning.vla.runner import PolicyRunner, check_policy_fits
from robot.rollout import RolloutConfig, record_rollout
from robot.sim.aloha_sim import AlohaSim, SimConfig
from robot.sim.tasks import TASKS, get_task
from storage import EpisodeInfo, StoreError, TrajectoryStore


def checkpoints_dir(store: TrajectoryStore) -> Path:
    return store.path.parent / "checkpoints"


def demo_count(store: TrajectoryStore, task: str, config: PolicyConfig) -> int:
    """Successful expert episodes of ``task`` whose policy camera has the policy's image size."""
    count = 0
    for episode in store.episodes(expert_filter(task)):
        stream = store.cameras(episode.id).get(config.camera)
        count += stream is not None and (stream.height, stream.width) == tuple(config.image_size)
    return count


def ensure_demos(store: TrajectoryStore, task: str, n: int, config: PolicyConfig,
                 progress: Callable | None = None) -> None:
    missing = n - demo_count(store, task, config)
    if missing > 0:
        record_expert_demos(store, task, missing, cameras={config.camera: config.image_size}, progress=progress)


def train_base_policy(store: TrajectoryStore, task: str | None, name: str, config: PolicyConfig,
                      train: TrainConfig, demos: int, *, batch_size: int = 64, demo_progress: Callable | None = None,
                      progress: Callable[[TrainProgress], None] | None = None) -> int:
    """Demos (if missing) -> imitation (resumable) -> registered policy version; returns its id.

    ``task=None`` trains one instruction-conditioned policy on every sim task's demos."""
    existing = {v.name: v for v in store.policy_versions()}
    if name in existing:
        return existing[name].id
    for each in ([task] if task else sorted(TASKS)):
        ensure_demos(store, each, demos, config, demo_progress)
    folder = checkpoints_dir(store) / name
    train_policy(store, config, train, folder, task=task, batch_size=batch_size, progress=progress)
    version = store.register_policy_version(name, folder, config={"task": task, "policy": config.to_json(),
                                                                  "steps": train.steps, "demos": demos})
    return version.id


def evaluate_policy(store: TrajectoryStore, version_id: int, task: str | None = None, n: int = 128, *,
                    greedy: bool = True, temperature: float = 1.0, record_frames: bool = False,
                    progress: Callable[[int, int, bool], None] | None = None) -> EvalSummary:
    version = store.policy_version(version_id)
    path = store.verify_policy_checkpoint(version_id)
    policy = load_policy(path)
    task = task or store_config_task(version)
    sim_task = get_task(task)
    config = policy.config
    runner = PolicyRunner(policy, greedy=greedy, temperature=temperature)
    successes, lengths, stages = [], [], []
    with AlohaSim(SimConfig(task=task, cameras={config.camera: config.image_size})) as sim:
        check_policy_fits(policy, sim.features.cameras, sim.features.action_dim)
        for i, seed in enumerate(evaluation_seeds(n)):
            info = EpisodeInfo(task=task, instruction=sim_task.instruction, source="eval", seed=seed,
                               policy_version_id=version_id, control_period_s=sim.features.control_period_s)
            result = record_rollout(store, sim, runner, info, initial_state=seed, record_frames=record_frames,
                                    config=RolloutConfig(horizon=sim_task.horizon))
            successes.append(bool(result.success))
            lengths.append(result.steps)
            stages.append(result.best_stage)
            if progress is not None:
                progress(i + 1, n, bool(result.success))
    chunk_ms = config.chunk_size * sim.features.control_period_s * 1e3
    summary = summarize(task, successes, lengths, runner.inference_s[1:], chunk_ms, stages)  # first call warms up
    store.log_metric("eval/success_rate", summary.rate,
                     payload={**summary.to_json(), "policy_version_id": version_id, "greedy": greedy})
    return summary


def store_config_task(version) -> str:
    task = json.loads(version.config_json).get("task")
    if not task:
        raise StoreError(f"policy version {version.name!r} was trained on several tasks; pass --task")
    return task
