"""Training the reward model from stored episodes, choosing its threshold, scoring it.

Batches are balanced (half positive clips, half negative) and drawn with a generator
seeded by the step, so a resumed run sees the batches an uninterrupted one would have.
After training, the threshold with the best F1 on the validation episodes is written
into the checkpoint's config: the checkpoint alone judges trajectories.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch

from learning.checkpoints import load_weights, read_config, read_config_of_kind, save_checkpoint
from learning.device import chosen_device
from learning.distributed import rank
from learning.reward_model.clips import ClipIndex, at_stride, clip_frames, clip_steps, episode_clips
from learning.reward_model.config import RewardModelConfig
from learning.reward_model.judge import Scores, choose_threshold, scores, window_probabilities
from learning.reward_model.model import RewardModel
from learning.trainer import TrainConfig, TrainProgress, train
from storage import TrajectoryStore

REWARD_MODEL_KIND = "wmpo-reward-model"


@dataclass(frozen=True)
class ImaginedReplay:
    """A stored episode replayed in the world model (its recorded actions from its first frame):
    frames every frame_stride steps, as imagination gives them, and the real outcome."""

    frames: np.ndarray  # uint8 (N, H, W, 3)
    success: bool


def clip_index(store: TrajectoryStore, episode_ids: list[int], config: RewardModelConfig,
               imagined: list[ImaginedReplay] = ()) -> ClipIndex:
    """Clips of stored episodes (ids >= 1) and of imagined replays (refs -1, -2, ...: already at
    the stride, so a clip is L consecutive frames of the replay)."""
    episodes = []
    for episode_id in episode_ids:
        episode = store.episode(episode_id)
        if config.camera not in store.cameras(episode_id):
            raise ValueError(f"episode {episode_id} has no {config.camera!r} frames; the reward model needs them")
        episodes.append(episode_clips(episode_id, episode.length, episode.success, config.span,
                                      config.terminal_clips, config.success_margin))
    episodes += [episode_clips(-1 - i, len(r.frames), r.success, config.clip_len) for i, r in enumerate(imagined)]
    return ClipIndex.build(episodes)


def read_clip(store: TrajectoryStore, episode_id: int, end: int, config: RewardModelConfig,
              imagined: list[ImaginedReplay] = ()) -> np.ndarray:
    if episode_id < 0:
        return clip_frames(imagined[-1 - episode_id].frames, end, config.clip_len)
    steps = clip_steps(end, config.clip_len, config.frame_stride)
    start = int(steps[0])
    return store.load_frames(episode_id, config.camera, start, end)[steps - start]


def balanced_batches(store: TrajectoryStore, index: ClipIndex, config: RewardModelConfig, batch_size: int,
                     seed: int, imagined: list[ImaginedReplay] = ()) -> Callable[[int], Iterator[dict]]:
    def batches(start_step: int) -> Iterator[dict]:
        step = start_step
        while True:
            refs, labels = index.balanced_batch(np.random.default_rng((seed, step, rank())), batch_size)
            clips = np.stack([read_clip(store, int(e), int(end), config, imagined) for e, end in refs])
            yield {"clips": torch.from_numpy(clips), "labels": torch.from_numpy(labels)}
            step += 1

    return batches


def episode_max_probabilities(store: TrajectoryStore, model: RewardModel, episode_ids: list[int]) -> np.ndarray:
    """Each episode's highest sliding-window probability: it is a success above the threshold."""
    config = model.config
    return np.array([window_probabilities(model, at_stride(store.load_frames(e, config.camera),
                                                           config.frame_stride))[0].max()
                     for e in episode_ids])


def labels_of(store: TrajectoryStore, episode_ids: list[int]) -> np.ndarray:
    labels = [store.episode(e).success for e in episode_ids]
    if any(label is None for label in labels):
        raise ValueError("unlabelled episodes cannot score the reward model; label them first")
    return np.array(labels, bool)


def train_reward_model(store: TrajectoryStore, config: RewardModelConfig, train_config: TrainConfig,
                       folder: Path, train_ids: list[int], validation_ids: list[int], *, batch_size: int = 32,
                       imagined_train: list[ImaginedReplay] = (), imagined_validation: list[ImaginedReplay] = (),
                       progress: Callable[[TrainProgress], None] | None = None) -> tuple[RewardModel, Scores]:
    """Train on ``train_ids`` and ``imagined_train`` (resumable), choose the threshold on
    ``validation_ids`` and ``imagined_validation`` (kept at the configured one when the
    validation holds no success). Imagined replays teach the model what imagination looks like,
    labelled with what really happened: it judges imagined trajectories in GRPO."""
    folder = Path(folder)
    torch.manual_seed(train_config.seed)
    model = RewardModel(config)
    index = clip_index(store, train_ids, config, imagined_train)
    meta = {"kind": REWARD_MODEL_KIND, "reward_model": config.to_json(), "train": asdict(train_config),
            "train_episodes": list(map(int, train_ids)), "validation_episodes": list(map(int, validation_ids)),
            "imagined_replays": {"train": len(imagined_train), "validation": len(imagined_validation)},
            "clips": {"positive": len(index.positive), "negative": len(index.negative)}}
    index.balanced_batch(np.random.default_rng(0), 2)  # fail now, not after loading, if a class is missing
    train(model, balanced_batches(store, index, config, batch_size, train_config.seed, imagined_train), train_config,
          folder, meta, progress)
    maxima = np.concatenate([episode_max_probabilities(store, model, validation_ids),
                             [window_probabilities(model, r.frames)[0].max() for r in imagined_validation]])
    labels = np.concatenate([labels_of(store, validation_ids), [r.success for r in imagined_validation]]).astype(bool)
    if labels.any():
        validation = choose_threshold(maxima, labels)
    else:  # F1 is undefined without a success: keep the configured threshold, and say so in the scores
        validation = scores(maxima, labels, config.threshold)
    model.config = replace(config, threshold=validation.threshold)
    save_checkpoint(folder, model, {**read_config(folder), "reward_model": model.config.to_json(),
                                    "validation": validation.to_json()})
    return model, validation


def load_reward_model(folder: Path) -> RewardModel:
    meta = read_config_of_kind(folder, REWARD_MODEL_KIND, "reward-model")
    model = RewardModel(RewardModelConfig.from_json(meta["reward_model"]))
    load_weights(folder, model)
    return model.to(chosen_device()).eval()


def score_episodes(store: TrajectoryStore, model: RewardModel, episode_ids: list[int]) -> Scores:
    """Precision, recall and F1 of the checkpoint's threshold on labelled stored episodes."""
    return scores(episode_max_probabilities(store, model, episode_ids), labels_of(store, episode_ids),
                  model.config.threshold)
