"""What GRPO learns from: one trajectory's chunks as the policy chose them, and its reward."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class Trajectory:
    instruction: str
    images: torch.Tensor  # uint8 (n_chunks, H, W, 3): the frame the policy saw at each chunk's start
    steps: torch.Tensor  # int64 (n_chunks,): the control step at each chunk's start
    bins: torch.Tensor  # int64 (n_chunks, K, D): the sampled chunk, as bin indices
    old_log_prob: torch.Tensor  # (n_chunks,): log pi_old of each chunk at the sampling temperature
    reward: float = 0.0  # 1 success, 0 failure
    success_frame: int | None = None
    frames: np.ndarray | None = None  # every frame (imagined or recorded), for strips and judging
    # float32 (n_chunks, D): the joint command in force at each chunk's start, for a policy
    # that reads it (``PolicyConfig.command_input``); None for one that does not
    commands: torch.Tensor | None = None

    def __post_init__(self):
        n = len(self.images)
        if not (len(self.steps) == len(self.bins) == len(self.old_log_prob) == n):
            raise ValueError(f"trajectory parts disagree: {n} images, {len(self.steps)} steps, "
                             f"{len(self.bins)} chunks, {len(self.old_log_prob)} log-probs")
        if self.commands is not None and len(self.commands) != n:
            raise ValueError(f"trajectory parts disagree: {n} images, {len(self.commands)} commands")

    @property
    def valid(self) -> torch.Tensor:
        """Chunks that count: all of a failure's; a success's up to its success frame (what
        follows is the task already done -- the sim and the operator end the episode there)."""
        if self.success_frame is None:
            return torch.ones(len(self.steps), dtype=torch.bool)
        return self.steps <= self.success_frame


def previous_commands(start: torch.Tensor, chunks: torch.Tensor) -> torch.Tensor:
    """The command in force at each chunk's start (n, D): ``start`` (D,) -- the measured joints
    -- for the first, then the last action of the chunk before, for chunks (n, K, D) run back
    to back."""
    return torch.cat([start[None].to(chunks), chunks[:-1, -1]])


def judged(trajectory: Trajectory, success: bool, success_frame: int | None) -> Trajectory:
    trajectory.reward = float(success)
    trajectory.success_frame = success_frame if success else None
    return trajectory
