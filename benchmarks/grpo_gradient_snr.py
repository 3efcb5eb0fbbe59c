"""Is one GRPO step signal or noise? The agreement between the policy gradients of independent groups.

    env PYTHONPATH=benchmarks:. .venv/bin/python benchmarks/grpo_gradient_snr.py --db DB --base base-all --groups 12

GRPO's cpu configuration takes one optimizer step per block of M=8 trajectories, that is per
group. If the gradients of two groups from different initial states point in unrelated
directions, each step is mostly noise: Adam turns it into a step of about the learning rate in
every parameter anyway, and the policy drifts. This samples ``--groups`` mixed groups of G sim
episodes (from seeds no run uses, into a throwaway store), takes each group's surrogate
gradient at ratio 1 (the direction its update would move the weights), and reports the mean
cosine between the gradients of different groups, c. With n groups averaged, the cosine between
their mean and the true gradient is about sqrt(n c / (1 + (n - 1) c)).
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

import robot  # noqa: F401  (headless GL before mujoco loads)
from app.grpo_on_real import RecordingRunner, SimGroups
from learning.configs import with_overrides
from learning.device import generator, module_device
from learning.evaluation import GRPO_SEED_BASE
from learning.policy_optimization.config import profile as grpo_profile
from learning.policy_optimization.update import minibatch_step
from learning.vla.imitation import load_policy
from robot.factory import make_robot
from storage import TrajectoryStore

from table1 import existing  # benchmarks/, beside this script

SNR_SEED_BASE = GRPO_SEED_BASE + 50_000  # initial states no GRPO run of the benchmarks draws


class NoStep:
    """An optimizer that only clears gradients: ``minibatch_step`` computes one, nothing moves."""

    def __init__(self, policy):
        self.policy = policy

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.policy.zero_grad(set_to_none=set_to_none)

    def step(self) -> None:
        pass


def group_gradient(policy, group, config) -> torch.Tensor:
    rewards = torch.tensor([t.reward for t in group])
    advantages = (rewards - rewards.mean()) / (rewards.std(unbiased=False) + 1e-6)
    minibatch_step(policy, NoStep(policy), group, advantages, config)
    return torch.cat([p.grad.flatten() for p in policy.parameters() if p.grad is not None]).clone()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--groups", type=int, default=12, help="mixed groups to compare")
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--task", default="transfer_cube")
    parser.add_argument("--base", required=True, help="the policy version's name")
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", help="GRPO configuration")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args()
    config = with_overrides(grpo_profile("cpu"), args.set)
    with TrajectoryStore(args.db, readonly=True) as store:
        version = existing(store, args.base)
        policy = load_policy(store.verify_policy_checkpoint(version))
    runner = RecordingRunner(policy, config.temperature, generator(module_device(policy), 0))
    started = time.perf_counter()
    groups, sampled = [], 0
    with tempfile.TemporaryDirectory() as scratch, TrajectoryStore(Path(scratch) / "snr.db") as throwaway, \
            make_robot(None, task=args.task, cameras={policy.config.camera: policy.config.image_size}) as sim:
        sample = SimGroups(throwaway, sim, runner, None, args.task, SNR_SEED_BASE, config.group_size)
        while len(groups) < args.groups:
            group = sample(sampled)
            sampled += 1
            wins = sum(t.reward > 0 for t in group)
            print(f"group {sampled}: {wins}/{len(group)} successes", flush=True)
            if 0 < wins < len(group):
                groups.append(group)
    sampling_s = time.perf_counter() - started
    gradients = [group_gradient(policy, group, replace(config, grad_clip=math.inf)) for group in groups]
    unit = torch.stack([g / g.norm() for g in gradients])
    cosines = [float(unit[a] @ unit[b]) for a, b in itertools.combinations(range(len(unit)), 2)]
    c = float(np.mean(cosines))
    se = float(np.std(cosines) / math.sqrt(len(cosines)))  # pairs share groups: a lower bound on the error

    def agreement(n: int) -> float:
        return math.sqrt(max(n * c, 0.0) / (1 + (n - 1) * c)) if c > -1 / max(n - 1, 1) else 0.0

    result = {"task": args.task, "policy": args.base, "grpo": config.to_json(), "groups": len(groups),
              "groups_sampled": sampled, "episodes": sampled * config.group_size, "sampling_s": sampling_s,
              "mean_pairwise_cosine": c, "cosine_se": se, "grad_norms": [float(g.norm()) for g in gradients],
              "cosine_with_true_gradient": {n: agreement(n) for n in (1, 2, 4, 8, 16, 32)}}
    print(json.dumps(result, indent=1))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"grpo-gradient-snr-{args.task}-{args.base}.json").write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
