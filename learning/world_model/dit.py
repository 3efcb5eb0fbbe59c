"""The diffusion transformer: latent patches of c + K frames, frame-level action control.

Every frame has its own conditioning vector: the embedding of its own diffusion timestep
(conditioning frames carry a small noise level, predicted frames the sampling step) plus
the embedding of the action taken at that frame -- a learned null action for conditioning
frames. The vector modulates that frame's tokens in every block through AdaLN (scale,
shift, gate; zero-initialised gates, as in DiT), which is how WMPO makes each predicted
frame follow its own action. Attention runs over all tokens of all frames.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from learning.world_model.config import WorldModelConfig


def timestep_features(timesteps: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal features (..., dim) of integer diffusion timesteps."""
    half = dim // 2
    frequencies = torch.exp(-math.log(10000.0) * torch.arange(half, device=timesteps.device) / half)
    angles = timesteps.float()[..., None] * frequencies
    return torch.cat([angles.cos(), angles.sin()], dim=-1)


def modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return x * (1 + scale) + shift


class Block(nn.Module):
    def __init__(self, width: int, heads: int):
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(width, elementwise_affine=False, eps=1e-6)
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)
        self.norm2 = nn.LayerNorm(width, elementwise_affine=False, eps=1e-6)
        self.mlp = nn.Sequential(nn.Linear(width, 4 * width), nn.GELU(approximate="tanh"), nn.Linear(4 * width, width))
        self.ada = nn.Linear(width, 6 * width)
        nn.init.zeros_(self.ada.weight)
        nn.init.zeros_(self.ada.bias)

    def forward(self, x: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        """x (B, N, W) tokens; condition (B, N, W): each token gets its frame's vector."""
        shift1, scale1, gate1, shift2, scale2, gate2 = self.ada(F.silu(condition)).chunk(6, dim=-1)
        b, n, w = x.shape
        q, k, v = self.qkv(modulate(self.norm1(x), shift1, scale1)).view(b, n, 3, self.heads, -1).unbind(2)
        attended = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2))
        x = x + gate1 * self.proj(attended.transpose(1, 2).reshape(b, n, w))
        return x + gate2 * self.mlp(modulate(self.norm2(x), shift2, scale2))


class ActionConditionedDiT(nn.Module):
    def __init__(self, config: WorldModelConfig, latent_channels: int, latent_size: tuple[int, int]):
        super().__init__()
        self.config = config
        self.channels, self.latent_size = latent_channels, latent_size
        p, width = config.patch_size, config.width
        self.grid = (latent_size[0] // p, latent_size[1] // p)
        frames = config.context_frames + config.chunk_size
        self.patchify = nn.Conv2d(latent_channels, width, p, stride=p)
        self.space = nn.Parameter(torch.randn(1, 1, self.grid[0] * self.grid[1], width) * 0.02)
        self.time = nn.Parameter(torch.randn(1, frames, 1, width) * 0.02)  # position of the frame in the clip
        self.timestep = nn.Sequential(nn.Linear(width, width), nn.SiLU(), nn.Linear(width, width))
        self.action = nn.Sequential(nn.Linear(config.action_dim, width), nn.SiLU(), nn.Linear(width, width))
        self.null_action = nn.Parameter(torch.zeros(width))  # conditioning frames: "no action here"
        self.blocks = nn.ModuleList(Block(width, config.heads) for _ in range(config.depth))
        self.final_norm = nn.LayerNorm(width, elementwise_affine=False, eps=1e-6)
        self.final_ada = nn.Linear(width, 2 * width)
        self.out = nn.Linear(width, p * p * latent_channels)
        for layer in (self.final_ada, self.out):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self, latents: torch.Tensor, timesteps: torch.Tensor, actions: torch.Tensor,
                has_action: torch.Tensor) -> torch.Tensor:
        """Predicted noise (B, F, C, h, w) for noisy latents (B, F, C, h, w).

        timesteps (B, F): each frame's noise level; actions (B, F, D) normalised;
        has_action (B, F) bool: False where the null action stands in (conditioning frames)."""
        b, f, c, h, w = latents.shape
        tokens = self.patchify(latents.reshape(b * f, c, h, w)).flatten(2).transpose(1, 2)
        tokens = tokens.view(b, f, -1, self.config.width) + self.space + self.time[:, :f]
        action = torch.where(has_action[..., None], self.action(actions), self.null_action)
        condition = self.timestep(timestep_features(timesteps, self.config.width)) + action  # (B, F, W)
        n = tokens.shape[2]
        x = tokens.reshape(b, f * n, -1)
        per_token = condition[:, :, None, :].expand(b, f, n, -1).reshape(b, f * n, -1)
        for block in self.blocks:
            x = block(x, per_token)
        shift, scale = self.final_ada(F.silu(per_token)).chunk(2, dim=-1)
        x = self.out(modulate(self.final_norm(x), shift, scale))
        return self.unpatchify(x.view(b, f, n, -1))

    def unpatchify(self, x: torch.Tensor) -> torch.Tensor:
        b, f = x.shape[:2]
        p, (gh, gw), c = self.config.patch_size, self.grid, self.channels
        x = x.view(b, f, gh, gw, p, p, c).permute(0, 1, 6, 2, 4, 3, 5)
        return x.reshape(b, f, c, gh * p, gw * p)
