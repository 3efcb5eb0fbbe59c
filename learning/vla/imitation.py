"""Imitation (supervised fine-tuning) of the policy on successful expert episodes in the store.

Batches come from the store's ClipDataset: the first frame of each K-step window and the
K actions that follow it. Action bins are fitted to the expert actions once and saved
with the checkpoint; a resumed run reuses them.
"""

from __future__ import annotations

from dataclasses import asdict, replace
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch

from learning.action_bins import ActionBins
from learning.batches import epoch_batches
from learning.checkpoints import CheckpointError, existing_checkpoint, load_weights, read_config, read_config_of_kind
from learning.device import chosen_device
from learning.trainer import TrainConfig, TrainProgress, train
from learning.vla.config import PolicyConfig
from learning.vla.policy import VLAPolicy
from storage import EpisodeFilter, TrajectoryStore
from storage.clips import ClipDataset

CHECKPOINT_KIND = "wmpo-vla-policy"


def expert_filter(task: str | None, config: PolicyConfig | None = None) -> EpisodeFilter:
    """Successful expert episodes (of ``task``; with ``config``, those with its camera at its size)."""
    if config is None:
        return EpisodeFilter(task=task, source="expert", success=True)
    return EpisodeFilter(task=task, source="expert", success=True, camera=config.camera,
                         image_size=tuple(config.image_size))


def first_demos(store: TrajectoryStore, task: str | None, config: PolicyConfig, per_task: int) -> EpisodeFilter:
    """The first ``per_task`` successful expert demos of each task (of ``task``; None: of every
    task with demos), in recording order: a policy trained on N demos is trained on N, however
    many the store has gathered since (the demo curve, the imitation arm)."""
    every = store.episodes(expert_filter(task, config))
    ids: list[int] = []
    for name in sorted({e.task for e in every}):
        ids += [e.id for e in every if e.task == name][:per_task]
    return replace(expert_filter(task, config), ids=tuple(ids))


def chunk_targets(actions: torch.Tensor, qpos: torch.Tensor, config: PolicyConfig) -> torch.Tensor:
    """What the policy learns to output for chunks (B, K, D) starting at qpos (B, D)."""
    return actions - qpos[:, None, :] if config.action_mode == "delta" else actions


def fit_bins(store: TrajectoryStore, where: EpisodeFilter, config: PolicyConfig) -> ActionBins:
    """Bins over every chunk target the expert episodes contain."""
    episodes = store.episodes(where)
    if not episodes:
        raise ValueError(f"no successful expert episodes match {where}; record demos first (wmpo-app demos)")
    targets = []
    for episode in episodes:
        steps = store.load_steps(episode.id)
        for k in range(config.chunk_size):
            starts = np.arange(len(steps.actions) - k)
            offset = steps.qpos[starts] if config.action_mode == "delta" else 0.0
            targets.append(steps.actions[starts + k] - offset)
    return ActionBins.from_actions(np.concatenate(targets), n_bins=config.n_bins)


def imitation_batches(store: TrajectoryStore, config: PolicyConfig, where: EpisodeFilter, batch_size: int,
                      seed: int) -> Callable[[int], Iterator[dict]]:
    dataset = ClipDataset(store.path, config.camera, config.chunk_size, where=where, seed=seed, frame_offsets=(0,),
                          previous_action=config.command_input)
    if len(dataset) == 0:
        raise ValueError(f"no {config.chunk_size}-step windows of camera {config.camera!r} in episodes matching {where}")
    instructions = {e.id: e.instruction for e in store.episodes(where)}
    shape = next(iter(dataset))["frames"].shape[1:3]
    if tuple(shape) != tuple(config.image_size):
        raise ValueError(f"stored {config.camera} frames are {tuple(shape)}, the policy expects {config.image_size}: "
                         f"record demos with --size {config.image_size[0]}x{config.image_size[1]}")

    def collate(items: list[dict]) -> dict:
        actions = torch.stack([c["actions"] for c in items])
        qpos = torch.stack([c["qpos"][0] for c in items])
        return {"images": torch.stack([c["frames"][0] for c in items]),
                "actions": chunk_targets(actions, qpos, config),
                "steps": torch.tensor([c["start"] for c in items]),
                "instructions": [instructions[c["episode_id"]] for c in items],
                **({"commands": torch.stack([c["previous_action"] for c in items])} if config.command_input else {})}

    return epoch_batches(dataset, batch_size, collate)


def train_policy(store: TrajectoryStore, config: PolicyConfig, train_config: TrainConfig, checkpoint_dir: Path, *,
                 task: str | None, batch_size: int = 64, demos_per_task: int | None = None,
                 progress: Callable[[TrainProgress], None] | None = None) -> VLAPolicy:
    """Train (or resume training) a policy on the expert episodes of ``task`` (None: all tasks):
    the first ``demos_per_task`` of each task, or every one (None)."""
    where = expert_filter(task, config) if demos_per_task is None else first_demos(store, task, config, demos_per_task)
    if store.count_episodes(where) == 0:
        h, w = config.image_size
        raise ValueError(f"no successful expert {task or ''} episodes with camera {config.camera!r} at {h}x{w}; "
                         f"record demos with --size {h}x{w}")
    checkpoint_dir = Path(checkpoint_dir)
    if existing_checkpoint(checkpoint_dir) is not None:
        saved = read_config(checkpoint_dir)
        bins = ActionBins.from_json(saved["bins"])  # the resumed run keeps its bins
        if PolicyConfig.from_json(saved["policy"]) != config:
            raise CheckpointError(f"{checkpoint_dir} holds a policy with another configuration; "
                                  f"choose another checkpoint folder or the same profile")
    else:
        bins = fit_bins(store, where, config)
    torch.manual_seed(train_config.seed)
    policy = VLAPolicy(config, bins)
    meta = {"kind": CHECKPOINT_KIND, "policy": config.to_json(), "bins": bins.to_json(),
            "train": asdict(train_config), "task": task, "episodes": store.count_episodes(where),
            "demos_per_task": demos_per_task}
    batches = imitation_batches(store, config, where, batch_size, train_config.seed)
    return train(policy, batches, train_config, checkpoint_dir, meta, progress)


def load_policy(checkpoint_dir: Path) -> VLAPolicy:
    meta = read_config_of_kind(checkpoint_dir, CHECKPOINT_KIND, "policy")
    policy = VLAPolicy(PolicyConfig.from_json(meta["policy"]), ActionBins.from_json(meta["bins"]))
    load_weights(checkpoint_dir, policy)
    return policy.to(chosen_device()).eval()
