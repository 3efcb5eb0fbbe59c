"""The world model on the store: pretraining, policy behaviour alignment, and its fidelity.

Training sees the training side of the store's split (``learning/splits.py``); fidelity
replays the held-out side, so the fidelity and reward reports speak of episodes no
learner saw. Checkpoints live at ``world-models/<name>/model`` (``learning/artifacts.py``) and
are registered in the store's models when their training finishes (again, updated, on a resume).
A config with arm-pose maps must already carry the robot's kinematics: the robot side
knows them, and the app fills them in before training starts.
"""

from __future__ import annotations

from dataclasses import asdict, replace
from pathlib import Path
from typing import Callable

from learning.artifacts import register_world_model, world_model_dir
from learning.reward_model.judge import judge as judge_trajectory
from learning.reward_model.model import RewardModel
from learning.splits import HOLD_OUT_EVERY, NoHeldOutEpisodesError, balanced, split_episodes
from learning.trainer import TrainConfig, TrainProgress
from learning.world_model.config import WorldModelConfig
from learning.world_model.fidelity import FidelityReport, Replay, fidelity_report, strip
from learning.world_model.imagination import Imagination
from learning.world_model.training import load_world_model, train_world_model
from storage import EpisodeFilter, TrajectoryStore


def pretrain_world_model(store: TrajectoryStore, name: str, config: WorldModelConfig, train: TrainConfig, *,
                         task: str | None = None, batch_size: int = 16, init_from: Path | None = None,
                         progress: Callable[[str, TrainProgress], None] | None = None,
                         parent: str | None = None) -> Path:
    """The world model, from scratch (or on from the weights in ``init_from``: world model
    ``parent``'s, when it is one), on every stored episode (of ``task``) but the held-out ones."""
    if config.pose_maps and config.kinematics is None:
        raise ValueError("the world model config has pose_maps but no arm kinematics; fill them in from the "
                         "robot first (app/arm_kinematics.with_kinematics)")
    where = EpisodeFilter(task=task, camera=config.camera, image_size=tuple(config.image_size))
    training_ids, _ = split_episodes(store, config.camera, where)
    if not training_ids:
        h, w = config.image_size
        raise ValueError(f"no stored {task or ''} episodes with camera {config.camera!r} at {h}x{w}; record some "
                         f"first (wmpo-app demos --size {h}x{w})")
    folder = world_model_dir(store, name) / "model"
    train_world_model(store, config, train, folder, where=EpisodeFilter(ids=tuple(training_ids)),
                      init_from=init_from, batch_size=batch_size, progress=(lambda p: progress("world model", p)) if progress else None)
    register_world_model(store, name, parent=parent, config={"task": task, "steps": train.steps,
                                                              "world_model": config.to_json()})
    return folder


def align_world_model(store: TrajectoryStore, name: str, base: str, where: EpisodeFilter, train: TrainConfig, *,
                      batch_size: int = 16, demo_share: float = 0.3,
                      progress: Callable[[str, TrainProgress], None] | None = None) -> Path:
    """Policy behaviour alignment: fine-tune world model ``base`` on the (training) rollouts
    ``where`` selects -- successes and failures alike -- into world model ``name``.

    ``demo_share`` of every batch comes from the task's expert demos (the official WMPO code mixes
    two sources 0.7/0.3): an iteration's rollouts are mostly failures, and a model tuned on them
    alone forgets what a grasp and a handover look like, the very frames a success is judged on."""
    config = load_world_model(world_model_dir(store, base) / "model").config
    where = replace(where, camera=config.camera, image_size=tuple(config.image_size))
    training_ids, _ = split_episodes(store, config.camera, where)
    if not training_ids:
        raise ValueError(f"no episodes with camera {config.camera!r} match {where} outside the held-out set; "
                         f"collect rollouts first (wmpo-app collect)")
    demos = replace(where, source="expert", policy_version_id=None, iteration_id=None, success=True)
    demo_ids = split_episodes(store, config.camera, demos)[0] if demo_share > 0 else []
    replay = EpisodeFilter(ids=tuple(demo_ids)) if demo_ids else None  # none stored: the rollouts alone
    folder = world_model_dir(store, name) / "model"
    train_world_model(store, config, train, folder, where=EpisodeFilter(ids=tuple(training_ids)),
                      init_from=world_model_dir(store, base) / "model", batch_size=batch_size,
                      replay=replay, replay_share=demo_share if replay else 0.0,
                      progress=(lambda p: progress("align", p)) if progress else None)
    register_world_model(store, name, parent=base, config={
        "aligned_on": {k: v for k, v in asdict(where).items() if v is not None}, "episodes": len(training_ids),
        "demos": len(demo_ids), "demo_share": demo_share if replay else 0.0,
        "steps": train.steps, "world_model": config.to_json()})
    return folder


def check_strides(world_model: WorldModelConfig, reward_model) -> None:
    """The reward model judges imagined frames as they come: one every frame_stride steps."""
    if reward_model.frame_stride != world_model.frame_stride:
        raise ValueError(f"the world model imagines a frame every {world_model.frame_stride} steps, the reward model "
                         f"judges frames {reward_model.frame_stride} steps apart; train them with the same profile")


def held_out_replays(store: TrajectoryStore, camera: str, episodes: int,
                     where: EpisodeFilter = EpisodeFilter()) -> tuple[list[int], list[Replay]]:
    """Up to ``episodes`` held-out episodes that ``where`` selects (successes up to half), as
    replays: recorded frames, actions and the real outcome."""
    _, held_out = split_episodes(store, camera, where)
    if not held_out:
        raise NoHeldOutEpisodesError(
            f"no held-out episodes (every {HOLD_OUT_EVERY}th with camera {camera!r}) match {where}; at least "
            f"{HOLD_OUT_EVERY} matching episodes are needed for one to be held out")
    chosen = balanced(store, held_out, episodes)
    return chosen, [Replay(real=store.load_frames(i, camera), actions=store.load_steps(i).actions,
                           success=store.episode(i).success) for i in chosen]


def measure_fidelity(store: TrajectoryStore, name: str, *, episodes: int = 8, horizon: int | None = None,
                     sampler: str | None = None, steps: int | None = None, strips_dir: Path | None = None,
                     where: EpisodeFilter = EpisodeFilter(), reward_model: RewardModel | None = None,
                     iteration_id: int | None = None) -> FidelityReport:
    """Replay held-out episodes (those ``where`` selects) in the world model; with a reward
    model, also the outcome agreement. The report is stored as a metric; strips are written."""
    model = load_world_model(world_model_dir(store, name) / "model")
    chosen, replays = held_out_replays(store, model.config.camera, episodes, where)
    judge = None
    if reward_model is not None:
        check_strides(model.config, reward_model.config)
        judge = lambda frames: judge_trajectory(reward_model, frames).success  # noqa: E731
    report, imagined = fidelity_report(Imagination(model, sampler=sampler, steps=steps), replays, horizon, judge)
    payload = {"name": name, "episode_ids": chosen, **report.to_json()}
    store.log_metric("world_model/psnr_db_last", report.psnr_db[-1], iteration_id=iteration_id, payload=payload)
    if report.outcome_agreement is not None:
        store.log_metric("world_model/outcome_agreement", report.outcome_agreement, iteration_id=iteration_id,
                         payload=payload)
    if strips_dir is not None:
        Path(strips_dir).mkdir(parents=True, exist_ok=True)
        for episode_id, replay, frames in zip(chosen, replays, imagined):
            strip(replay.real, frames, model.config.frame_stride).save(Path(strips_dir) / f"fidelity-{name}-episode{episode_id}.png")
    return report
