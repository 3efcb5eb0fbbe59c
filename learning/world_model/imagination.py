"""Imagination: the world model behind a robot's reset/step shape, batched over trajectories.

``reset`` takes real initial frames (B, H, W, 3): the first frame, repeated c times, is the
history (as the official code), and stays in the context as the anchor. ``step`` takes one
action chunk per trajectory (B, K, D) and returns the frames every ``frame_stride`` control
steps through it, (B, K / stride, H, W, 3) -- the last one is what the policy sees at the
next chunk's start. Actions may first pass a ``command_filter`` (the robot's safety filter,
with the previous command standing in for the measured joints): the world model learned
from filtered commands, which are what a robot would have executed.
"""

from __future__ import annotations

from typing import Callable

import torch

from learning.device import generator, module_device
from learning.world_model.world_model import WorldModel

# (actions (B, K, D), previous commands (B, D) or None at the start) -> commands (B, K, D)
CommandFilter = Callable[[torch.Tensor, torch.Tensor | None], torch.Tensor]


class Imagination:
    def __init__(self, model: WorldModel, *, sampler: str | None = None, steps: int | None = None, seed: int = 0,
                 command_filter: CommandFilter | None = None):
        self.model = model.eval()
        self.sampler, self.steps = sampler, steps
        self.command_filter = command_filter
        self.generator = generator(module_device(model), seed)
        self.history: torch.Tensor | None = None  # uint8 (B, c, H, W, 3)
        self.first: torch.Tensor | None = None
        self.previous_actions: torch.Tensor | None = None  # (B, stride, D): moved the arms into the last frame
        self.t = 0  # control steps imagined since reset

    @property
    def frame_stride(self) -> int:
        return self.model.config.frame_stride

    @property
    def context_frames(self) -> int:
        return self.model.config.context_frames

    @torch.no_grad()
    def reset(self, frames: torch.Tensor) -> torch.Tensor:
        """Real frames (B, H, W, 3), from anywhere; the imagined ones are on the model's device."""
        self.model.check_frames(frames)
        if frames.ndim != 4:
            raise ValueError(f"initial frames: got {tuple(frames.shape)}, expected (B, H, W, 3)")
        frames = frames.to(module_device(self.model))
        self.first = frames.contiguous()
        self.history = frames[:, None].expand(-1, self.model.config.context_frames, -1, -1, -1).contiguous()
        self.previous_actions = None
        self.t = 0
        return frames

    @torch.no_grad()
    def start_from(self, history: torch.Tensor, anchor: torch.Tensor, previous_actions: torch.Tensor) -> None:
        """Start from a real mid-episode state instead of a first frame: the last c real frames
        (B, c, H, W, 3) at the stride, the episode's real first frame (B, H, W, 3) as the anchor,
        and the frame_stride commands (B, stride, D) that moved the arms into the last frame."""
        config = self.model.config
        if history.ndim != 5 or history.shape[1] != config.context_frames:
            raise ValueError(f"history {tuple(history.shape)}; expected (B, {config.context_frames}, H, W, 3)")
        if previous_actions.shape != (len(history), config.frame_stride, config.action_dim):
            raise ValueError(f"previous actions {tuple(previous_actions.shape)}; expected ({len(history)}, "
                             f"{config.frame_stride}, {config.action_dim})")
        self.reset(anchor)
        self.history = history.to(module_device(self.model)).contiguous()
        self.previous_actions = previous_actions.float().to(module_device(self.model))

    @torch.no_grad()
    def step(self, actions: torch.Tensor) -> torch.Tensor:
        if self.history is None:
            raise RuntimeError("reset the imagination with real initial frames before stepping it")
        config = self.model.config
        if actions.ndim != 3 or len(actions) != len(self.history) or actions.shape[1] != config.chunk_size:
            raise ValueError(f"actions {tuple(actions.shape)}; expected ({len(self.history)}, {config.chunk_size}, "
                             f"{config.action_dim}): one chunk per imagined trajectory")
        actions = actions.float().to(module_device(self.model))
        if self.command_filter is not None:
            last = None if self.previous_actions is None else self.previous_actions[:, -1]
            actions = self.command_filter(actions, last).float()
        s = config.frame_stride
        frames = []
        for i in range(config.frames_per_chunk):
            ahead = actions[:, i * s:(i + 1) * s]
            # before the first command, the first one stands in (as in training, where steps before an
            # episode's start repeat its first step)
            behind = ahead[:, :1].expand_as(ahead) if self.previous_actions is None else self.previous_actions
            frame = self.model.predict(self.history, self.first, torch.cat([behind, ahead], dim=1),
                                       sampler=self.sampler, steps=self.steps, generator=self.generator)
            self.history = torch.cat([self.history[:, 1:], frame[:, None]], dim=1)
            self.previous_actions = ahead
            frames.append(frame)
        self.t += config.chunk_size
        return torch.stack(frames, dim=1)
