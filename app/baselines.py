"""The baselines WMPO is measured against, at the same real budget P (the paper's Table 1):

- GRPO on real rollouts: groups of G sim episodes from one seed, sampled by the current
  policy; dynamic sampling; an update whenever a batch of mixed groups is full; stops
  when the budget's P episodes are spent. Every episode is stored like any rollout.
- offline DPO: preferences (success over failure) among P stored rollouts of the base
  policy, the base policy as reference.
Both register their result as a policy version whose parent is the base.
"""

from __future__ import annotations

import copy
from typing import Callable

import numpy as np
import torch

from app.policies import checkpoints_dir, next_rollout_seed
from learning.checkpoints import save_checkpoint
from learning.evaluation import EVAL_SEED_BASE
from learning.grpo.config import GRPOConfig
from learning.grpo.dpo import DPOConfig, train_dpo
from learning.grpo.objective import is_mixed
from learning.grpo.trajectories import Trajectory
from learning.grpo.update import policy_update
from learning.vla.imitation import CHECKPOINT_KIND, load_policy
from learning.vla.policy import VLAPolicy
from robot.rollout import RolloutConfig, record_rollout
from robot.sim.aloha_sim import AlohaSim, SimConfig
from robot.sim.tasks import get_task
from storage import EpisodeInfo, TrajectoryStore


class RecordingRunner:
    """The policy as the rollout loop sees it, keeping what GRPO needs of every call."""

    def __init__(self, policy: VLAPolicy, temperature: float, generator: torch.Generator):
        self.policy, self.temperature, self.generator = policy, temperature, generator
        self.reset()

    def reset(self) -> None:
        self.images, self.steps, self.bins, self.log_probs = [], [], [], []

    def __call__(self, observation, instruction: str) -> np.ndarray:
        image = torch.from_numpy(np.ascontiguousarray(observation.frames[self.policy.config.camera]))
        step = torch.tensor([observation.t])
        bins, log_prob = self.policy.sample(image[None], [instruction], step, temperature=self.temperature,
                                            generator=self.generator)
        self.images.append(image)
        self.steps.append(step[0])
        self.bins.append(bins[0])
        self.log_probs.append(log_prob[0])
        chunk = self.policy.actions(bins[0]).numpy().astype(np.float64)
        if self.policy.config.action_mode == "delta":  # as PolicyRunner: targets relative to the joints now
            chunk = chunk + np.asarray(observation.qpos, dtype=np.float64)[None, :]
        return chunk

    def trajectory(self, instruction: str, success: bool) -> Trajectory:
        return Trajectory(instruction, torch.stack(self.images), torch.stack(self.steps), torch.stack(self.bins),
                          torch.stack(self.log_probs), reward=float(success))


def register(store: TrajectoryStore, policy: VLAPolicy, name: str, parent_id: int, task: str, method: dict) -> int:
    folder = checkpoints_dir(store) / name
    save_checkpoint(folder, policy, {"kind": CHECKPOINT_KIND, "policy": policy.config.to_json(),
                                     "bins": policy.bins.to_json(), "task": task, **method})
    return store.register_policy_version(name, folder, parent_id=parent_id,
                                         config={"task": task, "policy": policy.config.to_json(), **method}).id


def grpo_on_real(store: TrajectoryStore, version_id: int, task: str, budget: int, config: GRPOConfig, name: str,
                 *, seed: int = 0, report: Callable[[str], None] = print) -> tuple[int, dict]:
    policy = load_policy(store.verify_policy_checkpoint(version_id))
    sim_task = get_task(task)
    optimizer = torch.optim.AdamW(policy.parameters(), lr=config.lr, betas=(0.9, 0.999), weight_decay=0.0)
    runner = RecordingRunner(policy, config.temperature, torch.Generator().manual_seed(seed))
    first_seed = next_rollout_seed(store, task)
    used, groups, kept, updates, successes, pending = 0, 0, 0, 0, 0, []
    with AlohaSim(SimConfig(task=task, cameras={policy.config.camera: policy.config.image_size})) as sim:
        while used + config.group_size <= budget:
            episode_seed = first_seed + groups  # one initial state per group: G tries from it
            if episode_seed >= EVAL_SEED_BASE:
                raise ValueError("rollout seeds reached the evaluation seeds")
            group = []
            for _ in range(config.group_size):
                info = EpisodeInfo(task=task, instruction=sim_task.instruction, source="policy", seed=episode_seed,
                                   policy_version_id=version_id, control_period_s=sim.features.control_period_s)
                result = record_rollout(store, sim, runner, info, initial_state=episode_seed, record_frames=False,
                                        config=RolloutConfig(horizon=sim_task.horizon))
                group.append(runner.trajectory(sim_task.instruction, bool(result.success)))
            used += config.group_size
            groups += 1
            successes += sum(t.reward > 0 for t in group)
            if is_mixed(torch.tensor([[t.reward for t in group]]))[0]:
                pending.append(group)
                kept += 1
            if len(pending) == config.groups_per_batch:
                policy_update(policy, optimizer, pending, config)
                updates, pending = updates + 1, []
            report(f"grpo-real: {used}/{budget} rollouts, {kept}/{groups} groups kept, {updates} updates")
    stats = {"rollouts": used, "groups": groups, "groups_kept": kept, "updates": updates,
             "rollout_success_rate": successes / max(1, used)}
    return register(store, policy, name, version_id, task, {"method": "grpo-real", "grpo": config.to_json(),
                                                             "stats": stats}), stats


def stored_trajectory(store: TrajectoryStore, episode_id: int, policy: VLAPolicy) -> Trajectory:
    """A stored episode as chunks: the frame at each chunk's start and the K actions sent."""
    episode = store.episode(episode_id)
    k = policy.config.chunk_size
    frames = store.load_frames(episode_id, policy.config.camera)
    actions = torch.from_numpy(store.load_steps(episode_id).actions.copy())
    starts = list(range(0, episode.length, k))
    padded = torch.cat([actions, actions[-1:].expand(starts[-1] + k - len(actions), -1)])  # hold the last action
    bins, _ = policy.bins.encode(torch.stack([padded[s:s + k] for s in starts]))
    return Trajectory(episode.instruction, torch.from_numpy(frames[starts]), torch.tensor(starts), bins,
                      torch.zeros(len(starts)), reward=float(bool(episode.success)))


def dpo_offline(store: TrajectoryStore, version_id: int, task: str, episode_ids: list[int], config: DPOConfig,
                name: str, *, report: Callable[[str], None] = print) -> tuple[int, dict]:
    reference = load_policy(store.verify_policy_checkpoint(version_id))
    policy = copy.deepcopy(reference)
    trajectories = [stored_trajectory(store, e, reference) for e in episode_ids]
    stats = train_dpo(policy, reference, trajectories, config,
                      progress=lambda step, steps, h: report(f"dpo {step}/{steps}: loss {h['loss']:.4f} "
                                                             f"margin {h['margin']:.2f}") if step % 10 == 0 else None)
    return register(store, policy, name, version_id, task, {"method": "dpo", "dpo": config.to_json(),
                                                             "stats": stats}), stats
