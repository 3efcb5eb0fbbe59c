"""Training the success reward model on the store and reporting its held-out scores.

Episodes of one task with frames of the model's camera and a label are split by id: the
held-out ones are the world model's (every 10th, see ``learning/splits.py``), so fidelity
and reward scores speak of the same episodes; of the rest, every ``VALIDATE_EVERY``-th
chooses the threshold and the others are trained on. Evaluation episodes recorded with
frames (``eval --record-frames``) are never trained on and are scored as a second held-out set.
Checkpoints live at ``reward-models/<name>`` (``learning/artifacts.py``), registered in the
store's models when training finishes (updated when it is trained again).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from learning.artifacts import register_reward_model, reward_model_dir, world_model_dir
from learning.reward_model.config import RewardModelConfig
from learning.reward_model.judge import Scores
from learning.reward_model.training import ImaginedReplay, score_episodes, train_reward_model
from learning.splits import balanced, split_episodes
from learning.trainer import TrainConfig, TrainProgress
from learning.world_model.fidelity import Replay, replay_episodes
from learning.world_model.imagination import Imagination
from learning.world_model.on_store import check_strides
from learning.world_model.training import load_world_model
from storage import EpisodeFilter, TrajectoryStore

VALIDATE_EVERY = 5


@dataclass(frozen=True)
class RewardReport:
    folder: Path
    validation: Scores  # where the threshold was chosen
    held_out: Scores | None  # held-out stored rollouts
    evaluation: Scores | None  # evaluation episodes with frames, if any


def reward_splits(store: TrajectoryStore, task: str, camera: str) -> tuple[list[int], list[int], list[int], list[int]]:
    """(train, validation, held-out, evaluation) episode ids of ``task``, labelled, with frames."""
    labelled = EpisodeFilter(task=task, labelled=True)
    training, held_out = split_episodes(store, camera, labelled)
    evaluation = {e for e in training + held_out if store.episode(e).source == "eval"}
    training = [e for e in training if e not in evaluation]
    held_out = [e for e in held_out if e not in evaluation]
    validation = training[VALIDATE_EVERY - 1::VALIDATE_EVERY]
    kept = set(validation)
    return [e for e in training if e not in kept], validation, held_out, sorted(evaluation)


def imagined_replays(store: TrajectoryStore, world_model: str, episode_ids: list[int], n: int,
                     reward_config: RewardModelConfig) -> list[ImaginedReplay]:
    """Up to ``n`` of the episodes (successes up to half) replayed in ``world_model`` from their
    first frame with their recorded actions, labelled with their real outcome."""
    model = load_world_model(world_model_dir(store, world_model) / "model")
    check_strides(model.config, reward_config)
    chosen = balanced(store, episode_ids, n)
    replays = [Replay(store.load_frames(i, model.config.camera), store.load_steps(i).actions,
                      store.episode(i).success) for i in chosen]
    imagination = Imagination(model, seed=0)
    frames = []
    for start in range(0, len(replays), 8):
        frames += replay_episodes(imagination, replays[start:start + 8])
    return [ImaginedReplay(f, bool(r.success)) for f, r in zip(frames, replays)]


def train_success_model(store: TrajectoryStore, name: str, task: str, config: RewardModelConfig,
                        train: TrainConfig, *, batch_size: int = 32, iteration_id: int | None = None,
                        world_model: str | None = None, imagined: tuple[int, int] = (96, 48),
                        progress: Callable[[TrainProgress], None] | None = None) -> RewardReport:
    """With ``world_model``, also on imagined replays of (up to) ``imagined`` = (training,
    validation) episodes, labelled with their real outcome; the threshold is chosen on real and
    imagined validation episodes alike."""
    training, validation, held_out, evaluation = reward_splits(store, task, config.camera)
    if not any(store.episode(e).success is False for e in training):
        raise ValueError(f"no failed {task} episodes with {config.camera!r} frames to learn from: the reward "
                         f"model needs failures as well as successes (wmpo-app collect --policy ...)")
    folder = reward_model_dir(store, name)
    replays = ([], [])
    if world_model is not None:  # seeded: a resumed run imagines the same replays
        # the policy's rollouts, where there are any: what GRPO's verdicts are about (expert demos
        # would make "moves like the expert" a success)
        rollouts = [[e for e in ids if store.episode(e).source == "policy"] or ids for ids in (training, validation)]
        replays = (imagined_replays(store, world_model, rollouts[0], imagined[0], config),
                   imagined_replays(store, world_model, rollouts[1], imagined[1], config))
    model, validation_scores = train_reward_model(store, config, train, folder, training, validation,
                                                  batch_size=batch_size, imagined_train=replays[0],
                                                  imagined_validation=replays[1], progress=progress)
    report = RewardReport(folder, validation_scores,
                          score_episodes(store, model, held_out) if held_out else None,
                          score_episodes(store, model, evaluation) if evaluation else None)
    register_reward_model(store, name, iteration_id=iteration_id, config={
        "task": task, "world_model": world_model, "steps": train.steps, "reward_model": model.config.to_json(),
        "f1": {split: getattr(report, split).f1 for split in ("validation", "held_out", "evaluation")
               if getattr(report, split) is not None}})
    for split in ("validation", "held_out", "evaluation"):
        scores = getattr(report, split)
        if scores is not None:
            store.log_metric(f"reward/f1_{split}", scores.f1, iteration_id=iteration_id,
                             payload={"name": name, "task": task, **scores.to_json()})
    return report
