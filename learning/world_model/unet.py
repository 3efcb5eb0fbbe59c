"""The pixel-space denoiser: a small U-Net over the next frame, its context stacked as channels.

DIAMOND's recipe for fidelity at small scale: the c context frames (and the episode's first
frame as an anchor) are concatenated with the noisy next frame along the channels, so that
"copy what is already there" is one convolution away and only what moves must be learned.
Everything that is not a picture -- the next frame's noise level, the context's noise level
(noise augmentation), and the actions -- forms one conditioning vector that modulates every
residual block through adaptive group normalisation (scale and shift per channel).
Two coordinate channels let the network turn joint angles into image positions.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.checkpoint import checkpoint


def fourier_features(values: torch.Tensor, dim: int) -> torch.Tensor:
    """(B,) continuous noise levels (log sigma / 4) -> (B, dim) sinusoidal features."""
    half = dim // 2
    frequencies = torch.exp(-math.log(1000.0) * torch.arange(half, device=values.device) / half)
    angles = 250.0 * values.float()[:, None] * frequencies  # log-sigma spans a few units
    return torch.cat([angles.cos(), angles.sin()], dim=-1)


class AdaGroupNorm(nn.Module):
    def __init__(self, channels: int, cond_dim: int, groups: int):
        super().__init__()
        self.norm = nn.GroupNorm(groups, channels, affine=False)
        self.scale_shift = nn.Linear(cond_dim, 2 * channels)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        scale, shift = self.scale_shift(cond)[:, :, None, None].chunk(2, dim=1)
        return self.norm(x) * (1 + scale) + shift


class ResBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, cond_dim: int, groups: int, attention: bool = False):
        super().__init__()
        self.norm1 = AdaGroupNorm(in_channels, cond_dim, groups)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.norm2 = AdaGroupNorm(out_channels, cond_dim, groups)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        nn.init.zeros_(self.conv2.weight)  # each block starts as the identity
        self.skip = nn.Conv2d(in_channels, out_channels, 1) if in_channels != out_channels else nn.Identity()
        self.attention = SelfAttention(out_channels, groups) if attention else None

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x, cond)))
        h = self.conv2(F.silu(self.norm2(h, cond)))
        x = self.skip(x) + h
        return x if self.attention is None else self.attention(x)


class SelfAttention(nn.Module):
    """Global attention at the coarsest level: lets a pixel see where the arms are everywhere."""

    def __init__(self, channels: int, groups: int, head_dim: int = 32):
        super().__init__()
        self.heads = max(1, channels // head_dim)
        self.norm = nn.GroupNorm(groups, channels)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.out = nn.Conv2d(channels, channels, 1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        q, k, v = self.qkv(self.norm(x)).view(b, 3, self.heads, c // self.heads, h * w).transpose(-1, -2).unbind(1)
        y = F.scaled_dot_product_attention(q, k, v).transpose(-1, -2).reshape(b, c, h, w)
        return x + self.out(y)


class PixelUNet(nn.Module):
    """Denoiser network F(noisy next frame, conditioning) -> EDM's raw output (B, 3, H, W).

    Frames enter as ``space_to_depth`` x ``space_to_depth`` pixel blocks stacked into channels
    (lossless, unlike a VAE, and 4x cheaper per level at factor 2). ``channels`` are the widths of
    the resolution levels (each halves the size); every level has ``depth`` residual blocks on
    the way down and on the way up; attention only at the coarsest level."""

    def __init__(self, in_frames: int, action_features: int, channels: tuple[int, ...], depth: int,
                 cond_dim: int, groups: int, attention: bool, space_to_depth: int = 2, extra_channels: int = 0,
                 checkpoint_activations: bool = False):
        super().__init__()
        self.levels, self.s2d, self.cond_dim = len(channels), space_to_depth, cond_dim
        self.checkpoint_activations = checkpoint_activations
        pixels = 3 * space_to_depth ** 2
        self.noise_embedding = nn.Linear(cond_dim, cond_dim)
        self.context_noise_embedding = nn.Linear(cond_dim, cond_dim)
        self.action_embedding = nn.Sequential(nn.Linear(action_features, cond_dim), nn.SiLU(),
                                              nn.Linear(cond_dim, cond_dim))
        self.cond = nn.Sequential(nn.SiLU(), nn.Linear(cond_dim, cond_dim), nn.SiLU(), nn.Linear(cond_dim, cond_dim))
        # the noisy frame, the context frames, any extra image-sized inputs, two coordinates
        self.conv_in = nn.Conv2d(pixels * (in_frames + 1) + extra_channels * space_to_depth ** 2 + 2, channels[0], 3,
                                 padding=1)
        self.down, self.downsample = nn.ModuleList(), nn.ModuleList()
        previous = channels[0]
        for level, width in enumerate(channels):
            coarsest = level == self.levels - 1
            self.down.append(nn.ModuleList(ResBlock(previous if i == 0 else width, width, cond_dim, groups,
                                                    attention and coarsest) for i in range(depth)))
            previous = width
            if not coarsest:
                self.downsample.append(nn.Conv2d(width, width, 3, stride=2, padding=1))
        self.middle = ResBlock(previous, previous, cond_dim, groups, attention)
        self.up, self.upsample = nn.ModuleList(), nn.ModuleList()
        for level in reversed(range(self.levels)):
            width = channels[level]
            self.up.append(nn.ModuleList(ResBlock(width + width if i == 0 else width, width, cond_dim, groups,
                                                  attention and level == self.levels - 1) for i in range(depth)))
            if level > 0:  # nearest-neighbour upsampling, then a convolution to the finer level's width
                self.upsample.append(nn.Conv2d(width, channels[level - 1], 3, padding=1))
        self.norm_out = nn.GroupNorm(groups, channels[0])
        self.conv_out = nn.Conv2d(channels[0], pixels, 3, padding=1)
        nn.init.zeros_(self.conv_out.weight)
        nn.init.zeros_(self.conv_out.bias)

    def forward(self, noisy: torch.Tensor, c_noise: torch.Tensor, context: torch.Tensor,
                c_noise_context: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """noisy (B, 3, H, W) scaled by c_in; c_noise, c_noise_context (B,); context (B, 3F + extra,
        H, W) scaled; actions (B, action_features) normalised."""
        cond = (self.noise_embedding(fourier_features(c_noise, self.cond_dim))
                + self.context_noise_embedding(fourier_features(c_noise_context, self.cond_dim))
                + self.action_embedding(actions))
        cond = self.cond(cond)
        x = F.pixel_unshuffle(torch.cat([noisy, context], dim=1), self.s2d)
        b, _, h, w = x.shape
        ys = torch.linspace(-1, 1, h, device=x.device).view(1, 1, h, 1).expand(b, 1, h, w)
        xs = torch.linspace(-1, 1, w, device=x.device).view(1, 1, 1, w).expand(b, 1, h, w)
        x = self.conv_in(torch.cat([x, ys, xs], dim=1))
        skips = []
        for level, blocks in enumerate(self.down):
            for block in blocks:
                x = self.run(block, x, cond)
            skips.append(x)
            if level < self.levels - 1:
                x = self.downsample[level](x)
        x = self.run(self.middle, x, cond)
        for i, blocks in enumerate(self.up):
            x = torch.cat([x, skips.pop()], dim=1)
            for block in blocks:
                x = self.run(block, x, cond)
            if i < self.levels - 1:
                x = self.upsample[i](F.interpolate(x, scale_factor=2.0, mode="nearest"))
        return F.pixel_shuffle(self.conv_out(F.silu(self.norm_out(x))), self.s2d)

    def run(self, block: nn.Module, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        if self.checkpoint_activations and self.training and torch.is_grad_enabled():
            return checkpoint(block, x, cond, use_reentrant=False)
        return block(x, cond)
