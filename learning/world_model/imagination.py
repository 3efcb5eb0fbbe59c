"""Imagination: the world model behind a robot's reset/step shape, batched over trajectories.

``reset`` takes real initial frames (B, H, W, 3); as in the official code, the first frame
repeated c times is the history. ``step`` takes one action chunk per trajectory (B, K, D)
and returns the K imagined frames (B, K, H, W, 3), uint8 pixels the policy consumes as it
would a camera's. Clip-level autoregression: the last c latents become the next history.
"""

from __future__ import annotations

import torch

from learning.world_model.world_model import WorldModel


class Imagination:
    def __init__(self, model: WorldModel, *, sampler: str | None = None, steps: int | None = None, seed: int = 0):
        self.model = model.eval()
        self.sampler, self.steps = sampler, steps
        self.generator = torch.Generator().manual_seed(seed)
        self.history: torch.Tensor | None = None
        self.t = 0  # control steps imagined since reset

    @torch.no_grad()
    def reset(self, frames: torch.Tensor) -> torch.Tensor:
        self.model.check_frames(frames)
        latents = self.model.encode(frames[:, None])
        self.history = latents.expand(-1, self.model.config.context_frames, -1, -1, -1).contiguous()
        self.t = 0
        return frames

    @torch.no_grad()
    def step(self, actions: torch.Tensor) -> torch.Tensor:
        if self.history is None:
            raise RuntimeError("reset the imagination with real initial frames before stepping it")
        if len(actions) != len(self.history):
            raise ValueError(f"actions for {len(actions)} trajectories, imagining {len(self.history)}")
        latents = self.model.predict(self.history, actions.float(), sampler=self.sampler, steps=self.steps,
                                     generator=self.generator)
        c = self.model.config.context_frames
        self.history = torch.cat([self.history, latents], dim=1)[:, -c:]
        self.t += actions.shape[1]
        return self.model.decode(latents)
