"""The GRPO-on-real baseline WMPO is measured against, at the same real budget P (the paper's
Table 1): WMPO's GRPO loop (``learning/policy_optimization/grpo.run_grpo``) with groups of G
sim episodes from one seed instead of imagined ones; it stops when the budget's P episodes
are spent.
Every episode is stored, as source "training": the policy that sampled it was changing, so
it is not a rollout of the version the run started from. The result is registered as a
policy version whose parent is the base. (The other baseline, offline DPO, needs no robot:
``learning/policy_optimization/dpo_on_store.py``.)
"""

from __future__ import annotations

from dataclasses import replace
from typing import Callable

import numpy as np
import torch

from learning.artifacts import grpo_run_dir, register_policy
from learning.checkpoints import existing_checkpoint, read_config
from learning.device import generator, module_device
from learning.evaluation import EVAL_SEED_BASE, GRPO_SEED_BASE
from learning.policy_optimization.config import GRPOConfig
from learning.policy_optimization.grpo import GRPOStats, run_grpo
from learning.policy_optimization.trajectories import Trajectory
from learning.vla.imitation import CHECKPOINT_KIND, load_policy
from learning.vla.policy import VLAPolicy
from learning.vla.runner import CommandInForce
from robot.factory import make_robot
from robot.robot import Robot
from robot.rollout import RolloutConfig, record_rollout
from robot.sim.tasks import get_task
from storage import EpisodeInfo, TrajectoryStore


class RecordingRunner:
    """The policy as the rollout loop sees it, keeping what GRPO needs of every call."""

    def __init__(self, policy: VLAPolicy, temperature: float, generator: torch.Generator):
        self.policy, self.temperature, self.generator = policy, temperature, generator
        self.reset()

    def reset(self) -> None:
        self.images, self.steps, self.bins, self.log_probs, self.commands = [], [], [], [], []
        self.command = CommandInForce()

    def __call__(self, observation, instruction: str) -> np.ndarray:
        image = torch.from_numpy(np.ascontiguousarray(observation.frames[self.policy.config.camera]))
        step = torch.tensor([observation.t])
        commands = self.command.at(observation) if self.policy.config.command_input else None
        bins, log_prob = self.policy.sample(image[None], [instruction], step, temperature=self.temperature,
                                            generator=self.generator, commands=commands)
        bins, log_prob = bins[0].cpu(), log_prob[0].cpu()  # kept for the update, which moves them back
        self.images.append(image)
        self.steps.append(step[0])
        self.bins.append(bins)
        self.log_probs.append(log_prob)
        if commands is not None:
            self.commands.append(commands[0])
        chunk = self.policy.actions(bins).numpy().astype(np.float64)
        if self.policy.config.action_mode == "delta":  # as PolicyRunner: targets relative to the joints now
            chunk = chunk + np.asarray(observation.qpos, dtype=np.float64)[None, :]
        self.command.sent(chunk)
        return chunk

    def trajectory(self, instruction: str, success: bool) -> Trajectory:
        return Trajectory(instruction, torch.stack(self.images), torch.stack(self.steps), torch.stack(self.bins),
                          torch.stack(self.log_probs), reward=float(success),
                          commands=torch.stack(self.commands) if self.commands else None)


class SimGroups:
    """GRPO's ``sample_group`` on real rollouts: group i is G episodes of the current policy,
    all from the initial state of seed ``first_seed + i``, each stored (source "training") and
    rewarded by the sim's own success check."""

    def __init__(self, store: TrajectoryStore, sim: Robot, runner: RecordingRunner, version_id: int, task: str,
                 first_seed: int, group_size: int, horizon: int | None = None):
        self.store, self.sim, self.runner, self.version_id = store, sim, runner, version_id
        self.task, self.first_seed, self.group_size = get_task(task), first_seed, group_size
        self.horizon = horizon or self.task.horizon

    def __call__(self, i: int) -> list[Trajectory]:
        seed = self.first_seed + i
        if seed >= EVAL_SEED_BASE:
            raise ValueError("rollout seeds reached the evaluation seeds")
        group = []
        for _ in range(self.group_size):
            info = EpisodeInfo(task=self.task.name, instruction=self.task.instruction, source="training", seed=seed,
                               policy_version_id=self.version_id, control_period_s=self.sim.features.control_period_s)
            result = record_rollout(self.store, self.sim, self.runner, info, initial_state=seed, record_frames=False,
                                    config=RolloutConfig(horizon=self.horizon))
            group.append(self.runner.trajectory(self.task.instruction, bool(result.success)))
        return group


def grpo_on_real(store: TrajectoryStore, version_id: int, task: str, budget: int, config: GRPOConfig, name: str,
                 *, run: str | None = None, seed: int = 0, first_seed: int = GRPO_SEED_BASE,
                 horizon: int | None = None, report: Callable[[str], None] = print,
                 around_groups: Callable[[Callable[[int], list[Trajectory]]], Callable[[int], list[Trajectory]]]
                 | None = None) -> tuple[int, dict]:
    """GRPO on sim rollouts through the same loop as WMPO's (``run_grpo``), updating whenever a
    batch of mixed groups is full, until ``budget`` episodes are spent; the result is registered
    as policy ``name``. The run itself (weights, optimizer, counters) lives in its own folder,
    ``grpo-runs/<run or name>``: an interrupted run resumes there with the seeds it would have
    used, and a call with the same ``run`` and a larger budget continues it (a learning curve).
    Group i starts from seed ``first_seed + i``: runs with the same first seed see the same
    initial states, so their difference is the method's. ``horizon``: control steps per episode
    (default the task's; shorter for quick runs -- keep it when a run is continued).
    ``around_groups``: a benchmark's control wrapped around the sampled groups (e.g. rewards
    shuffled within each group); the stored episodes keep their real outcomes."""
    policy = load_policy(store.verify_policy_checkpoint(version_id))
    folder = grpo_run_dir(store, run or name)
    resumed = existing_checkpoint(folder) is not None
    first_seed = read_config(folder)["rollout_first_seed"] if resumed else first_seed
    runner = RecordingRunner(policy, config.temperature, generator(module_device(policy), seed))
    config = replace(config, updates=budget // config.group_size)  # the budget, not a count, ends the run
    meta = {"kind": CHECKPOINT_KIND, "policy": policy.config.to_json(), "bins": policy.bins.to_json(), "task": task,
            "rollout_first_seed": first_seed}

    def progress(stats: GRPOStats) -> None:
        report(f"grpo-real: {stats.trajectories}/{budget} rollouts, {stats.groups_kept}/{stats.groups_sampled} groups "
               f"kept, {stats.updates} updates")

    # In the sim: a group's G episodes must start from one identical scene, which only a seed gives.
    with make_robot(None, task=task, cameras={policy.config.camera: policy.config.image_size}) as sim:
        sample_group = SimGroups(store, sim, runner, version_id, task, first_seed, config.group_size, horizon)
        if around_groups is not None:
            sample_group = around_groups(sample_group)
        stats = run_grpo(policy, sample_group, config, folder, meta, progress, episode_budget=budget)
    summary = {"rollouts": stats.trajectories, "groups": stats.groups_sampled, "groups_kept": stats.groups_kept,
               "updates": stats.updates, "rollout_success_rate": stats.success_rate}
    return register_policy(store, policy, name, version_id, task, {"method": "grpo-real", "grpo": config.to_json(),
                                                                    "stats": summary}), summary
