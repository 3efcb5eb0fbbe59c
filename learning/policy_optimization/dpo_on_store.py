"""The offline DPO baseline on the store: P stored rollouts of the base policy as
trajectories, preferences (success over failure) among them, the base policy as reference
(``dpo.py``); the result is registered as a policy version whose parent is the base."""

from __future__ import annotations

import copy
from typing import Callable

import torch

from learning.artifacts import checkpoints_dir, register_policy
from learning.curves import append_point
from learning.policy_optimization.dpo import DPOConfig, train_dpo
from learning.policy_optimization.trajectories import Trajectory, previous_commands
from learning.vla.imitation import load_policy
from learning.vla.policy import VLAPolicy
from storage import TrajectoryStore


def stored_trajectory(store: TrajectoryStore, episode_id: int, policy: VLAPolicy) -> Trajectory:
    """A stored episode as chunks: the frame at each chunk's start and the K actions sent."""
    episode = store.episode(episode_id)
    k = policy.config.chunk_size
    frames = store.load_frames(episode_id, policy.config.camera)
    steps = store.load_steps(episode_id)
    actions = torch.from_numpy(steps.actions.copy())
    starts = list(range(0, episode.length, k))
    padded = torch.cat([actions, actions[-1:].expand(starts[-1] + k - len(actions), -1)])  # hold the last action
    chunks = torch.stack([padded[s:s + k] for s in starts])
    bins, _ = policy.bins.encode(chunks)
    commands = (previous_commands(torch.from_numpy(steps.qpos[0].copy()), chunks)
                if policy.config.command_input else None)
    return Trajectory(episode.instruction, torch.from_numpy(frames[starts]), torch.tensor(starts), bins,
                      torch.zeros(len(starts)), reward=float(bool(episode.success)), commands=commands)


def dpo_offline(store: TrajectoryStore, version_id: int, task: str, episode_ids: list[int], config: DPOConfig,
                name: str, *, report: Callable[[str], None] = print) -> tuple[int, dict]:
    reference = load_policy(store.verify_policy_checkpoint(version_id))
    policy = copy.deepcopy(reference)
    trajectories = [stored_trajectory(store, e, reference) for e in episode_ids]

    def progress(step: int, steps: int, history: dict) -> None:
        append_point(checkpoints_dir(store) / name, {"step": step, **history})  # beside the policy's checkpoint
        if step % 10 == 0:
            report(f"dpo {step}/{steps}: loss {history['loss']:.4f} margin {history['margin']:.2f}")

    stats = train_dpo(policy, reference, trajectories, config, progress=progress)
    return register_policy(store, policy, name, version_id, task, {"method": "dpo", "dpo": config.to_json(),
                                                                    "stats": stats}), stats
