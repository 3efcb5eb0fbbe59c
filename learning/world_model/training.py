"""Training the world model from the store: the VAE (cpu/tiny profiles), then the DiT.

Clips: for a start step s, the context is frames s-c+1..s (the first frame repeated
before the episode starts), the targets are frames s+1..s+K, and the actions are those
sent at s..s+K-1 -- frame t is what the robot saw when action t was chosen, so action t's
effect first shows in frame t+1.

``train_world_model`` pretrains on every stored episode, or, given ``init_from``, starts
from an earlier world model and fine-tunes on the rollouts ``where`` selects (policy
behaviour alignment). Both resume from their own checkpoint folder.
"""

from __future__ import annotations

import itertools
from dataclasses import asdict
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from learning.batches import epoch_batches
from learning.checkpoints import CheckpointError, existing_checkpoint, load_weights, read_config
from learning.trainer import TrainConfig, TrainProgress, train
from learning.world_model.config import WorldModelConfig
from learning.world_model.vae import VAELearner, latent_scale, make_vae
from learning.world_model.world_model import WorldModel
from storage import EpisodeFilter, TrajectoryStore
from storage.clips import ClipDataset

VAE_KIND = "wmpo-vae"
WORLD_MODEL_KIND = "wmpo-world-model"


def clip_dataset(store: TrajectoryStore, config: WorldModelConfig, where: EpisodeFilter, seed: int) -> ClipDataset:
    c, k = config.context_frames, config.chunk_size
    dataset = ClipDataset(store.path, config.camera, k + 1, where=where, seed=seed,
                          frame_offsets=tuple(range(1 - c, k + 1)))
    if len(dataset) == 0:
        raise ValueError(f"no episodes of at least {k + 1} steps with camera {config.camera!r} match {where}")
    shape = tuple(next(iter(dataset))["frames"].shape[1:3])
    if shape != tuple(config.image_size):
        raise ValueError(f"stored {config.camera} frames are {shape}, the world model expects {config.image_size}")
    return dataset


def clip_batch(items: list[dict], chunk_size: int) -> dict:
    return {"frames": torch.stack([c["frames"] for c in items]),
            "actions": torch.stack([c["actions"][:chunk_size] for c in items])}


def action_statistics(store: TrajectoryStore, where: EpisodeFilter) -> tuple[torch.Tensor, torch.Tensor]:
    actions = np.concatenate([store.load_steps(e.id).actions for e in store.episodes(where)])
    return torch.from_numpy(actions.mean(0)).float(), torch.from_numpy(actions.std(0)).float()


def train_vae(store: TrajectoryStore, config: WorldModelConfig, train_config: TrainConfig, folder: Path, *,
              where: EpisodeFilter = EpisodeFilter(), batch_size: int = 32,
              progress: Callable[[TrainProgress], None] | None = None):
    """The cpu/tiny profiles' frame autoencoder, trained on single stored frames."""
    if config.vae.pretrained_path:
        raise ValueError("this profile loads a pretrained VAE; there is nothing to train")
    torch.manual_seed(train_config.seed)
    learner = VAELearner(config, make_vae(config))
    dataset = ClipDataset(store.path, config.camera, 1, where=where, seed=train_config.seed)
    if len(dataset) == 0:
        raise ValueError(f"no stored {config.camera} frames match {where}")
    batches = epoch_batches(dataset, batch_size, lambda items: {"frames": torch.cat([c["frames"] for c in items])})
    meta = {"kind": VAE_KIND, "world_model": config.to_json(), "train": asdict(train_config)}
    return train(learner, batches, train_config, folder, meta, progress).vae


def load_vae(folder: Path, config: WorldModelConfig):
    meta = read_config(folder)
    if meta.get("kind") != VAE_KIND:
        raise CheckpointError(f"{folder} is not a VAE checkpoint (kind {meta.get('kind')!r})")
    learner = VAELearner(config, make_vae(config))
    load_weights(folder, learner)
    return learner.vae.eval()


def train_world_model(store: TrajectoryStore, config: WorldModelConfig, train_config: TrainConfig, folder: Path, *,
                      where: EpisodeFilter = EpisodeFilter(), vae_folder: Path | None = None,
                      init_from: Path | None = None, batch_size: int = 8,
                      progress: Callable[[TrainProgress], None] | None = None) -> WorldModel:
    """Pretrain (VAE from ``vae_folder`` or the profile's pretrained one) or fine-tune (``init_from``)."""
    folder = Path(folder)
    if existing_checkpoint(folder) is not None:  # resuming: same configuration only
        if WorldModelConfig.from_json(read_config(folder)["world_model"]) != config:
            raise CheckpointError(f"{folder} holds a world model with another configuration")
        model = WorldModel(config)
    elif init_from is not None:
        model = load_world_model(init_from, config)
        model.ema.load_state_dict(model.dit.state_dict())  # align from the previous weights
    else:
        vae = load_vae(vae_folder, config) if vae_folder is not None else None
        model = WorldModel(config, vae)
        frames = ClipDataset(store.path, config.camera, 1, where=where, seed=train_config.seed)
        sample = torch.cat([clip["frames"] for clip in itertools.islice(frames, 64)])  # shuffled: many episodes
        model.set_statistics(latent_scale(model.vae, sample), *action_statistics(store, where))
    torch.manual_seed(train_config.seed)
    dataset = clip_dataset(store, config, where, train_config.seed)
    batches = epoch_batches(dataset, batch_size, lambda items: clip_batch(items, config.chunk_size))
    meta = {"kind": WORLD_MODEL_KIND, "world_model": config.to_json(), "train": asdict(train_config),
            "episodes": store.count_episodes(where)}
    return train(model, batches, train_config, folder, meta, progress)


def load_world_model(folder: Path, config: WorldModelConfig | None = None) -> WorldModel:
    meta = read_config(folder)
    if meta.get("kind") != WORLD_MODEL_KIND:
        raise CheckpointError(f"{folder} is not a world-model checkpoint (kind {meta.get('kind')!r})")
    saved = WorldModelConfig.from_json(meta["world_model"])
    if config is not None and config != saved:
        raise CheckpointError(f"{folder} holds a world model with another configuration than asked for")
    model = WorldModel(saved)
    load_weights(folder, model)
    return model.eval()
