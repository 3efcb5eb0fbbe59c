"""GRPO's arithmetic: group-normalised advantages and the clipped surrogate (paper Eq. 4)."""

from __future__ import annotations

import torch


def group_advantages(rewards: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """rewards (groups, G) in {0, 1} -> (R - mean) / std within each group (population std,
    as Algorithm 1). A group with one outcome has std 0 and advantage 0: dynamic sampling
    drops such groups before they get here."""
    mean = rewards.mean(dim=1, keepdim=True)
    std = rewards.std(dim=1, unbiased=False, keepdim=True)
    return (rewards - mean) / (std + eps)


def is_mixed(rewards: torch.Tensor) -> torch.Tensor:
    """(groups,) True where a group has both successes and failures."""
    return (rewards.min(dim=1).values != rewards.max(dim=1).values)


def clipped_surrogate(log_prob: torch.Tensor, old_log_prob: torch.Tensor, advantage: torch.Tensor,
                      mask: torch.Tensor, clip_low: float, clip_high: float) -> tuple[torch.Tensor, dict]:
    """Loss to minimise: -mean over valid chunks of min(r A, clip(r, 1-low, 1+high) A),
    r = exp(log pi - log pi_old) per chunk. ``mask``: 1 for a valid chunk, 0 for one that does
    not count, or each chunk's weight (a weighted mean, however small the weights sum to: a
    micro-batch's share of a block). No KL term, no reference model."""
    ratio = torch.exp(log_prob - old_log_prob)
    clipped = ratio.clamp(1.0 - clip_low, 1.0 + clip_high)
    objective = torch.minimum(ratio * advantage, clipped * advantage)
    mask = mask.float()
    n = mask.sum().clamp(min=1e-12)  # not 1: weights summing to 0.4 must still give their mean
    loss = -(objective * mask).sum() / n
    with torch.no_grad():
        was_clipped = ((ratio < 1.0 - clip_low) & (advantage < 0)) | ((ratio > 1.0 + clip_high) & (advantage > 0))
        stats = {"clip_fraction": float((was_clipped.float() * mask).sum() / n),
                 "ratio_mean": float((ratio * mask).sum() / n)}
    return loss, stats
