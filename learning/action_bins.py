"""Discretising actions: 256 uniform bins per action dimension, ranges from the data.

Each dimension's range comes from the training actions (min..max, widened by a small
margin); a value maps to the bin it falls in, and a bin decodes to its centre. Values
outside the range are clipped to the edge bins and counted, so a policy trained on one
range never silently sees another.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from learning.configs import JsonConfig


@dataclass(frozen=True)
class ActionBins(JsonConfig):
    low: tuple[float, ...]  # per dimension
    high: tuple[float, ...]
    n_bins: int = 256

    def __post_init__(self):
        if len(self.low) != len(self.high) or not self.low:
            raise ValueError(f"low and high need one value per dimension, got {len(self.low)} and {len(self.high)}")
        if any(not h > lo for lo, h in zip(self.low, self.high)):
            raise ValueError("every bin range needs high > low")
        if self.n_bins < 2:
            raise ValueError(f"n_bins {self.n_bins}; expected >= 2")

    @classmethod
    def from_actions(cls, actions: np.ndarray, n_bins: int = 256, margin: float = 0.02,
                     min_width: float = 1e-3) -> "ActionBins":
        """Ranges covering ``actions`` (N, D), widened by ``margin`` of their span each side."""
        actions = np.asarray(actions, dtype=np.float64)
        if actions.ndim != 2 or len(actions) == 0 or not np.isfinite(actions).all():
            raise ValueError(f"need finite actions of shape (N, D), got {actions.shape}")
        low, high = actions.min(axis=0), actions.max(axis=0)
        span = np.maximum(high - low, min_width)
        centre = (low + high) / 2
        low, high = centre - span * (0.5 + margin), centre + span * (0.5 + margin)
        return cls(tuple(low.tolist()), tuple(high.tolist()), n_bins)

    @property
    def dim(self) -> int:
        return len(self.low)

    def _arrays(self, like: torch.Tensor):
        return (torch.tensor(self.low, dtype=torch.float64, device=like.device),
                torch.tensor(self.high, dtype=torch.float64, device=like.device))

    def encode(self, actions: torch.Tensor) -> tuple[torch.Tensor, int]:
        """Bin indices (long, same shape) for actions (..., D), and how many values were clipped."""
        if actions.shape[-1] != self.dim:
            raise ValueError(f"actions have {actions.shape[-1]} dimensions, bins have {self.dim}")
        low, high = self._arrays(actions)
        scaled = (actions.double() - low) / (high - low) * self.n_bins
        index = torch.floor(scaled).long()
        clipped = int(((index < 0) | (index >= self.n_bins)).sum())
        return index.clamp_(0, self.n_bins - 1), clipped

    def decode(self, index: torch.Tensor) -> torch.Tensor:
        """Bin centres (float32) for indices (..., D)."""
        low, high = self._arrays(index)
        return (low + (index.double() + 0.5) * (high - low) / self.n_bins).float()
