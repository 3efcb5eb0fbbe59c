"""Training the world model on the store and measuring its fidelity: the app's side.

Episodes are split once by id: every ``HOLD_OUT_EVERY``-th of all episodes with frames of
the world model's camera (the last one, in a store of fewer), and every evaluation episode,
is held out for the fidelity and reward reports and never trained on. New episodes only append to that list, so an
episode once held out stays held out.
Checkpoints live in the store's checkpoints folder: ``world-models/<name>/model``.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Callable

from app.policies import checkpoints_dir
from learning.reward_model.judge import judge as judge_trajectory
from learning.reward_model.model import RewardModel
from learning.trainer import TrainConfig, TrainProgress
from learning.world_model.arm_pose import ArmKinematics
from learning.world_model.config import WorldModelConfig
from learning.world_model.fidelity import FidelityReport, Replay, fidelity_report, strip
from learning.world_model.imagination import Imagination
from learning.world_model.training import load_world_model, train_world_model
from robot.sim.kinematics import arm_kinematics
from storage import EpisodeFilter, TrajectoryStore

HOLD_OUT_EVERY = 10


def split_episodes(store: TrajectoryStore, camera: str, where: EpisodeFilter = EpisodeFilter()):
    """(training ids, held-out ids) among episodes that recorded ``camera`` and match ``where``.

    The split is made over all such episodes first and ``where`` picks from both parts, so a
    filtered view never moves an episode from one side to the other. Evaluation episodes
    (recorded with ``eval --record-frames``) are always held out: no learner may see the
    fixed evaluation set."""
    episodes = [e for e in store.episodes() if camera in store.cameras(e.id)]
    ids = [e.id for e in episodes]
    held_out = set(ids[HOLD_OUT_EVERY - 1::HOLD_OUT_EVERY] or ids[1:][-1:])
    held_out |= {e.id for e in episodes if e.source == "eval"}
    matching = {e.id for e in store.episodes(where)}
    return ([i for i in ids if i in matching and i not in held_out],
            [i for i in ids if i in matching and i in held_out])


def world_model_dir(store: TrajectoryStore, name: str) -> Path:
    return checkpoints_dir(store) / "world-models" / name


def pretrain_world_model(store: TrajectoryStore, name: str, config: WorldModelConfig, train: TrainConfig, *,
                         task: str | None = None, batch_size: int = 16, init_from: Path | None = None,
                         progress: Callable[[str, TrainProgress], None] | None = None) -> Path:
    """The world model, from scratch (or on from the weights in ``init_from``), on every stored
    episode (of ``task``) but the held-out ones."""
    where = EpisodeFilter(task=task, camera=config.camera, image_size=tuple(config.image_size))
    training_ids, _ = split_episodes(store, config.camera, where)
    if not training_ids:
        h, w = config.image_size
        raise ValueError(f"no stored {task or ''} episodes with camera {config.camera!r} at {h}x{w}; record some "
                         f"first (wmpo-app demos --size {h}x{w})")
    folder = world_model_dir(store, name) / "model"
    train_world_model(store, with_kinematics(config), train, folder, where=EpisodeFilter(ids=tuple(training_ids)),
                      init_from=init_from, batch_size=batch_size, progress=(lambda p: progress("world model", p)) if progress else None)
    return folder


def with_kinematics(config: WorldModelConfig) -> WorldModelConfig:
    """A config with arm-pose maps gets the robot's arm kinematics and its camera's pose."""
    if not config.pose_maps or config.kinematics is not None:
        return config
    return replace(config, kinematics=ArmKinematics.from_json(arm_kinematics(config.camera)))


def align_world_model(store: TrajectoryStore, name: str, base: str, where: EpisodeFilter, train: TrainConfig, *,
                      batch_size: int = 16, progress: Callable[[str, TrainProgress], None] | None = None) -> Path:
    """Policy behaviour alignment: fine-tune world model ``base`` on the (training) rollouts
    ``where`` selects -- successes and failures alike -- into world model ``name``."""
    config = load_world_model(world_model_dir(store, base) / "model").config
    where = replace(where, camera=config.camera, image_size=tuple(config.image_size))
    training_ids, _ = split_episodes(store, config.camera, where)
    if not training_ids:
        raise ValueError(f"no episodes with camera {config.camera!r} match {where} outside the held-out set; "
                         f"collect rollouts first (wmpo-app collect)")
    folder = world_model_dir(store, name) / "model"
    train_world_model(store, config, train, folder, where=EpisodeFilter(ids=tuple(training_ids)),
                      init_from=world_model_dir(store, base) / "model", batch_size=batch_size,
                      progress=(lambda p: progress("align", p)) if progress else None)
    return folder


def check_strides(world_model: WorldModelConfig, reward_model) -> None:
    """The reward model judges imagined frames as they come: one every frame_stride steps."""
    if reward_model.frame_stride != world_model.frame_stride:
        raise ValueError(f"the world model imagines a frame every {world_model.frame_stride} steps, the reward model "
                         f"judges frames {reward_model.frame_stride} steps apart; train them with the same profile")


def balanced(store: TrajectoryStore, episode_ids: list[int], n: int) -> list[int]:
    """Up to ``n`` episodes, successes up to half of them (in stored order), then the rest. A
    policy that succeeds 1 time in 10 would otherwise give replays of failures alone, whose
    agreement says nothing about whether imagination can show a success."""
    successes = [i for i in episode_ids if store.episode(i).success][:n // 2]
    others = [i for i in episode_ids if i not in successes][:n - len(successes)]
    return sorted(successes + others)


class NoHeldOutEpisodesError(ValueError):
    """Too few matching episodes for any to be held out from training."""


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
