"""One GRPO policy update over a batch of groups (Algorithm 1's inner loops).

Trajectories keep their group order; E epochs walk contiguous blocks of M trajectories,
one optimizer step per block. A block's chunks go through the policy in micro-batches
(gradients accumulated) so memory stays bounded whatever the horizon.
"""

from __future__ import annotations

import torch

from learning.device import module_device
from learning.policy_optimization.config import GRPOConfig
from learning.policy_optimization.objective import clipped_surrogate, group_advantages
from learning.policy_optimization.trajectories import Trajectory
from learning.vla.policy import VLAPolicy

MICRO_BATCH = 128  # chunks per forward pass


def policy_update(policy: VLAPolicy, optimizer: torch.optim.Optimizer, groups: list[list[Trajectory]],
                  config: GRPOConfig) -> dict:
    rewards = torch.tensor([[t.reward for t in group] for group in groups])
    advantages = group_advantages(rewards).flatten()
    trajectories = [t for group in groups for t in group]
    policy.train()
    stats = {"loss": 0.0, "clip_fraction": 0.0, "ratio_mean": 0.0, "token_entropy": 0.0, "grad_norm": 0.0}
    steps = 0
    for _ in range(config.epochs):
        for start in range(0, len(trajectories), config.minibatch_trajectories):
            block = range(start, min(start + config.minibatch_trajectories, len(trajectories)))
            block_stats = minibatch_step(policy, optimizer, [trajectories[i] for i in block],
                                         advantages[list(block)], config)
            for key in stats:
                stats[key] += block_stats[key]
            steps += 1
    policy.eval()
    return {key: value / max(1, steps) for key, value in stats.items()} | {"optimizer_steps": steps}


def chunk_weights(trajectories: list[Trajectory], aggregation: str) -> torch.Tensor:
    """Each valid chunk's weight in the block's loss (they sum to 1). "chunk": every valid chunk
    alike, so a long trajectory weighs more; "trajectory": every trajectory alike, its chunks
    sharing its weight (the original GRPO's per-sequence mean)."""
    valid = [t.valid.float() for t in trajectories]
    if aggregation == "chunk":
        weights = valid
    else:
        weights = [v / v.sum().clamp(min=1.0) for v in valid]
    weight = torch.cat(weights)
    return weight / weight.sum().clamp(min=1e-12)


def stacked_commands(trajectories: list[Trajectory], device: torch.device) -> torch.Tensor | None:
    """The trajectories' commands, chunk after chunk, if they carry them (all or none do)."""
    if all(t.commands is None for t in trajectories):
        return None
    if any(t.commands is None for t in trajectories):
        raise ValueError("some trajectories carry the commands in force at their chunks' starts and some do not")
    return torch.cat([t.commands for t in trajectories]).to(device)


def minibatch_step(policy: VLAPolicy, optimizer: torch.optim.Optimizer, trajectories: list[Trajectory],
                   advantages: torch.Tensor, config: GRPOConfig) -> dict:
    device = module_device(policy)  # trajectories wait on the CPU; the minibatch moves to the policy
    images = torch.cat([t.images for t in trajectories]).to(device)
    steps = torch.cat([t.steps for t in trajectories]).to(device)
    bins = torch.cat([t.bins for t in trajectories]).to(device)
    commands = stacked_commands(trajectories, device)
    old = torch.cat([t.old_log_prob for t in trajectories]).to(device)
    valid = torch.cat([t.valid for t in trajectories]).to(device)
    advantage = torch.cat([a.expand(len(t.steps)) for a, t in zip(advantages, trajectories)]).to(device)
    instructions = [t.instruction for t in trajectories for _ in range(len(t.steps))]
    weight = chunk_weights(trajectories, config.loss_aggregation).to(device)
    # per token, the ratio is the geometric mean of the tokens' ratios (old log-probs are sums)
    scale = 1.0 / bins[0].numel() if config.chunk_log_prob == "mean" else 1.0
    optimizer.zero_grad(set_to_none=True)
    totals = {"loss": 0.0, "clip_fraction": 0.0, "ratio_mean": 0.0, "token_entropy": 0.0}
    for i in range(0, len(images), MICRO_BATCH):
        part = slice(i, i + MICRO_BATCH)
        log_prob, entropy = policy.log_prob_and_entropy(images[part], instructions[part], steps[part], bins[part],
                                                        config.temperature,
                                                        None if commands is None else commands[part])
        loss, stats = clipped_surrogate(log_prob * scale, old[part] * scale, advantage[part], weight[part],
                                        config.clip_low, config.clip_high)
        share = weight[part].sum()  # the micro-batch's part of the block's weighted mean
        (loss * share).backward()
        totals["loss"] += loss.item() * float(share)
        totals["clip_fraction"] += stats["clip_fraction"] * float(share)
        totals["ratio_mean"] += stats["ratio_mean"] * float(share)
        totals["token_entropy"] += float((entropy * weight[part]).sum())
    # the norm before clipping: where an update stalls, this says whether the gradient vanished
    totals["grad_norm"] = float(torch.nn.utils.clip_grad_norm_(policy.parameters(), config.grad_clip))
    optimizer.step()
    return totals
