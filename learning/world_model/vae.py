"""The frame autoencoder: a diffusers AutoencoderKL, no temporal compression (as WMPO).

gpu profile: an SDXL VAE loaded from a local folder. cpu and tiny profiles: a small one
built from VAEConfig and trained on stored frames first (``VAELearner``); the diffusion
transformer then works in its latents, scaled to unit variance.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from learning.world_model.config import WorldModelConfig


def make_vae(config: WorldModelConfig) -> nn.Module:
    from diffusers import AutoencoderKL

    vae_config = config.vae
    if vae_config.pretrained_path:
        path = Path(vae_config.pretrained_path)
        if not (path / "config.json").is_file():
            raise FileNotFoundError(f"VAE folder {path} has no config.json; put a diffusers AutoencoderKL there "
                                    f"(save_pretrained) -- models are never downloaded at run time")
        return AutoencoderKL.from_pretrained(path, local_files_only=True)
    levels = len(vae_config.block_out_channels)
    return AutoencoderKL(
        in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * levels,
        up_block_types=("UpDecoderBlock2D",) * levels, block_out_channels=vae_config.block_out_channels,
        layers_per_block=vae_config.layers_per_block, latent_channels=vae_config.latent_channels,
        norm_num_groups=vae_config.norm_num_groups, sample_size=max(config.image_size),
        mid_block_add_attention=False)  # attention at 1/8 resolution buys little and costs CPU time


def to_pixels(frames: torch.Tensor) -> torch.Tensor:
    """uint8 (N, H, W, 3) -> float (N, 3, H, W) in [-1, 1]."""
    return frames.permute(0, 3, 1, 2).float() / 127.5 - 1.0


def to_uint8(pixels: torch.Tensor) -> torch.Tensor:
    """float (N, 3, H, W) in [-1, 1] -> uint8 (N, H, W, 3)."""
    return ((pixels.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1)


def salience(pixels: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) -> (N, 1, H, W): each pixel's distance from the batch's per-pixel median,
    divided by its mean. Frames from many episodes share the background and the typical arm
    pose; what moves between episodes -- the object, the arms' reach -- stands out."""
    median = pixels.median(dim=0, keepdim=True).values
    distance = (pixels - median).abs().mean(dim=1, keepdim=True)
    return distance / distance.mean().clamp_min(1e-6)


class VAELearner(nn.Module):
    """Reconstruction (L1 + MSE, optionally salience-weighted) plus a small KL term; the learner
    protocol of trainer.train."""

    def __init__(self, config: WorldModelConfig, vae: nn.Module):
        super().__init__()
        self.config, self.vae = config, vae

    def loss(self, batch: dict) -> tuple[torch.Tensor, dict]:
        pixels = to_pixels(batch["frames"])
        posterior = self.vae.encode(pixels).latent_dist
        reconstruction = self.vae.decode(posterior.sample()).sample
        mse = F.mse_loss(reconstruction, pixels)
        error = (reconstruction - pixels).abs()
        error = error + error ** 2  # L1 + MSE per pixel
        if self.config.vae.salience_weight and len(pixels) > 1:
            weight = 1.0 + self.config.vae.salience_weight * salience(pixels.detach())
            error = error * weight / weight.mean()  # same overall scale, shifted towards salient pixels
        loss = error.mean() + self.config.vae.kl_weight * posterior.kl().mean()
        psnr = 10 * torch.log10(4.0 / mse.detach().clamp_min(1e-10))  # peak-to-peak range 2
        return loss, {"psnr_db": psnr.item()}


@torch.no_grad()
def latent_scale(vae: nn.Module, frames: torch.Tensor) -> float:
    """1 / std of the latents of ``frames``: the diffusion works on unit-variance latents."""
    latents = vae.encode(to_pixels(frames)).latent_dist.mean
    return float(1.0 / latents.std().clamp_min(1e-6))
