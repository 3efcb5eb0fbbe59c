"""Training the world model from the store.

One sample predicts the frame at t + s from the context frames t - (c-1)s .. t, the
episode's first frame, and the actions sent at t - s .. t + s - 1 (frame t is what the
robot saw when action t was chosen, so action t's effect first shows in frame t + 1).
Samples start at every t of every episode, including t < s, where the episode's first frame
and first action stand in for what came before it -- exactly what imagination sees when it
starts from a real first frame.

``train_world_model`` pretrains on every stored episode ``where`` selects, or, given
``init_from``, starts from an earlier world model and fine-tunes (policy behaviour
alignment). Both resume from their own checkpoint folder.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from learning.batches import epoch_batches, mixed_batches
from learning.checkpoints import CheckpointError, existing_checkpoint, load_weights, read_config, read_config_of_kind
from learning.device import chosen_device
from learning.trainer import TrainConfig, TrainProgress, train
from learning.world_model.config import WorldModelConfig
from learning.world_model.world_model import WorldModel
from storage import EpisodeFilter, TrajectoryStore
from storage.clips import ClipDataset

WORLD_MODEL_KIND = "wmpo-pixel-world-model"
# Fields a checkpoint written before they existed lacks, with the behaviour it was trained with
# (the profiles' defaults may since have changed).
EARLIER_DEFAULTS = {"target": "frame", "action_input": "absolute", "pose_maps": False}
EARLIER_KINDS = {"wmpo-world-model": "a latent-DiT world model of an earlier wmpo (VAE + epsilon diffusion)"}


def clip_dataset(store: TrajectoryStore, config: WorldModelConfig, where: EpisodeFilter, seed: int) -> ClipDataset:
    """Clips start at t - s, so a clip's steps are the 2s actions and its last frame is the target."""
    c, s = config.context_frames, config.frame_stride
    offsets = tuple(s - j * s for j in reversed(range(c))) + (2 * s,)
    dataset = ClipDataset(store.path, config.camera, 2 * s + 1, where=where, seed=seed, frame_offsets=offsets,
                          lead=s, first_frame=config.anchor_first_frame)
    if len(dataset) == 0:
        raise ValueError(f"no episodes of at least {s + 1} steps with camera {config.camera!r} match {where}")
    shape = tuple(next(iter(dataset))["frames"].shape[1:3])
    if shape != tuple(config.image_size):
        raise ValueError(f"stored {config.camera} frames are {shape}, the world model expects {config.image_size}")
    return dataset


def clip_batch(items: list[dict], action_window: int) -> dict:
    batch = {"frames": torch.stack([c["frames"] for c in items]),
             "actions": torch.stack([c["actions"][:action_window] for c in items])}
    batch["first"] = torch.stack([c["first"] for c in items]) if "first" in items[0] else batch["frames"][:, 0]
    return batch


def action_statistics(store: TrajectoryStore, where: EpisodeFilter, stride: int
                      ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per joint over the stored episodes: the actions' mean and std, and the std of their change
    over ``stride`` steps."""
    episodes = [store.load_steps(e.id).actions for e in store.episodes(where)]
    actions = np.concatenate(episodes)
    motion = np.concatenate([a[stride:] - a[:-stride] for a in episodes if len(a) > stride] or [np.zeros_like(actions)])
    return (torch.from_numpy(actions.mean(0)).float(), torch.from_numpy(actions.std(0)).float(),
            torch.from_numpy(motion.std(0)).float())


def train_world_model(store: TrajectoryStore, config: WorldModelConfig, train_config: TrainConfig, folder: Path, *,
                      where: EpisodeFilter = EpisodeFilter(), init_from: Path | None = None, batch_size: int = 16,
                      replay: EpisodeFilter | None = None, replay_share: float = 0.0,
                      progress: Callable[[TrainProgress], None] | None = None) -> WorldModel:
    """Pretrain from scratch, or fine-tune from ``init_from``; resumes from ``folder``.

    ``replay``: other episodes (expert demos, say) that make up ``replay_share`` of every batch,
    so a fine-tune on a policy's rollouts keeps seeing what the rollouts rarely show."""
    if not 0 <= replay_share < 1:
        raise ValueError(f"replay_share {replay_share}; expected a fraction in [0, 1)")
    folder = Path(folder)
    if existing_checkpoint(folder) is not None:  # resuming: same configuration only
        if saved_config(read_config(folder)) != config:
            raise CheckpointError(f"{folder} holds a world model with another configuration")
        model = WorldModel(config)
    elif init_from is not None:
        model = load_world_model(init_from)
        if model.config != config:  # the same network, trained on from here with other settings (a loss weight)
            tuned = WorldModel(config)
            try:
                tuned.load_state_dict(model.state_dict())
            except RuntimeError as error:
                raise CheckpointError(f"{init_from} holds a world model of another architecture than asked for "
                                      f"({str(error).splitlines()[0]}); only training settings may change") from None
            model = tuned
        model.ema.load_state_dict(model.net.state_dict())  # align from the previous weights
    else:
        model = WorldModel(config)
        model.set_action_statistics(*action_statistics(store, where, config.frame_stride))
    torch.manual_seed(train_config.seed)
    dataset = clip_dataset(store, config, where, train_config.seed)
    collate = lambda items: clip_batch(items, config.action_window)  # noqa: E731
    replayed = round(batch_size * replay_share) if replay is not None else 0
    batches = epoch_batches(dataset, batch_size - replayed, collate)
    if replayed:
        replay_set = clip_dataset(store, config, replay, train_config.seed + 1)
        batches = mixed_batches(batches, epoch_batches(replay_set, replayed, collate))
    meta = {"kind": WORLD_MODEL_KIND, "world_model": config.to_json(), "train": asdict(train_config),
            "episodes": store.count_episodes(where),
            "replay": {"episodes": store.count_episodes(replay), "share": replayed / batch_size} if replayed else None}
    return train(model, batches, train_config, folder, meta, progress)


def saved_config(meta: dict) -> WorldModelConfig:
    return WorldModelConfig.from_json({**EARLIER_DEFAULTS, **meta["world_model"]})


def load_world_model(folder: Path, config: WorldModelConfig | None = None) -> WorldModel:
    kind = read_config(folder).get("kind")
    if kind in EARLIER_KINDS:
        raise CheckpointError(f"{folder} holds {EARLIER_KINDS[kind]}, which this version cannot load; "
                              f"pretrain a new one (wmpo-app train-world-model)")
    meta = read_config_of_kind(folder, WORLD_MODEL_KIND, "world-model")
    saved = saved_config(meta)
    if config is not None and config != saved:
        raise CheckpointError(f"{folder} holds a world model with another configuration than asked for")
    model = WorldModel(saved)
    load_weights(folder, model)
    return model.to(chosen_device()).eval()
