"""A GRPO run: dynamic sampling fills each batch with mixed groups, then the policy updates.

``sample_group(i)`` returns the i-th group of G judged trajectories from the current
policy -- imagined by the world model (WMPO, ``learning/wmpo.py``) or run on the robot or the sim (the GRPO
baseline, ``app/grpo_on_real.py``); this loop does not care which. Groups whose G outcomes
agree carry no signal and are dropped; sampling continues until the batch is full or a
bound is reached: a number of groups per batch for imagination, which is free, or a budget
of real episodes for real rollouts, which are not. Each update is saved (policy weights,
optimizer, counters), so a killed run resumes at the next update; the groups of an
unfinished batch are sampled again (``sample_group`` gets the same i).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import torch

from learning.checkpoints import existing_checkpoint, load_optimizer, load_weights, read_config, save_checkpoint
from learning.curves import append_point
from learning.policy_optimization.config import GRPOConfig
from learning.policy_optimization.objective import is_mixed
from learning.policy_optimization.trajectories import Trajectory
from learning.policy_optimization.update import policy_update
from learning.vla.policy import VLAPolicy


class NoLearningSignalError(RuntimeError):
    """Dynamic sampling found no group with both a success and a failure; ``stats`` says what
    it sampled (how many judged successes) -- the diagnosis of a run that could not learn."""

    def __init__(self, message: str, stats: "GRPOStats"):
        super().__init__(message)
        self.stats = stats


@dataclass
class GRPOStats:
    updates: int = 0
    groups_sampled: int = 0
    groups_kept: int = 0
    successes: int = 0  # among all sampled trajectories (success inside imagination, for WMPO)
    trajectories: int = 0
    history: list[dict] = field(default_factory=list)  # per update

    @property
    def kept_fraction(self) -> float:
        return self.groups_kept / self.groups_sampled if self.groups_sampled else 0.0

    @property
    def success_rate(self) -> float:
        return self.successes / self.trajectories if self.trajectories else 0.0

    def to_json(self) -> dict:
        return {**asdict(self), "kept_fraction": self.kept_fraction, "success_rate": self.success_rate}


def fill_batch(sample_group: Callable[[int], list[Trajectory]], config: GRPOConfig, stats: GRPOStats,
               episode_budget: int | None = None) -> list:
    """Mixed groups until the batch is full; a partial batch if the bound is reached with some.
    Without an ``episode_budget`` the bound is ``max_groups_per_batch`` groups per batch slot, and
    reaching it empty-handed is an error; with one, it is the budget (trajectories sampled in the
    whole run), and a spent budget ends the batch, empty or not."""
    batch, tries = [], 0
    limit = config.max_groups_per_batch * config.groups_per_batch

    def may_sample() -> bool:
        if episode_budget is not None:
            return stats.trajectories + config.group_size <= episode_budget
        return tries < limit

    while len(batch) < config.groups_per_batch and may_sample():
        group = sample_group(stats.groups_sampled)
        tries += 1
        stats.groups_sampled += 1
        stats.trajectories += len(group)
        stats.successes += sum(t.reward > 0 for t in group)
        if is_mixed(torch.tensor([[t.reward for t in group]]))[0]:
            batch.append(group)
            stats.groups_kept += 1
    if not batch and episode_budget is None:
        raise NoLearningSignalError(
            f"dynamic sampling: all {tries} groups of {config.group_size} trajectories were all-success or "
            f"all-failure ({stats.successes} successes in {stats.trajectories} trajectories so far), so there is "
            f"nothing to learn from. Check the world model's fidelity and the reward model's F1, or change the "
            f"sampling temperature ({config.temperature}).", stats)
    return batch


def run_grpo(policy: VLAPolicy, sample_group: Callable[[int], list[Trajectory]], config: GRPOConfig,
             folder: Path, policy_meta: dict, progress: Callable[[GRPOStats], None] | None = None, *,
             episode_budget: int | None = None) -> GRPOStats:
    """``config.updates`` GRPO updates of ``policy`` in place, or fewer if ``episode_budget``
    trajectories are sampled first; resumes from ``folder``."""
    folder = Path(folder)
    optimizer = torch.optim.AdamW(policy.parameters(), lr=config.lr, betas=(0.9, 0.999), weight_decay=0.0)
    stats = GRPOStats()
    if existing_checkpoint(folder) is not None:
        load_weights(folder, policy)
        load_optimizer(folder, optimizer)
        stats = GRPOStats(**{k: v for k, v in read_config(folder)["grpo_stats"].items()
                             if k in GRPOStats.__dataclass_fields__})
    while stats.updates < config.updates:
        batch = fill_batch(sample_group, config, stats, episode_budget)
        if not batch:  # the budget is spent: keep the count of what it was spent on
            save_checkpoint(folder, policy, {**policy_meta, "grpo": config.to_json(), "grpo_stats": stats.to_json()},
                            optimizer)
            break
        update = policy_update(policy, optimizer, batch, config)
        stats.updates += 1
        stats.history.append({**update, "groups": len(batch), "groups_sampled": stats.groups_sampled,
                              "trajectories": stats.trajectories})
        save_checkpoint(folder, policy, {**policy_meta, "grpo": config.to_json(), "grpo_stats": stats.to_json()},
                        optimizer)
        append_point(folder, {"step": stats.updates, **stats.history[-1], "kept_fraction": stats.kept_fraction,
                              "sampled_success": stats.success_rate})
        if progress is not None:
            progress(stats)
    return stats
