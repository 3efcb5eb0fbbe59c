"""EDM diffusion (Karras et al. 2022), the formulation DIAMOND uses for its world models.

The denoiser D(x; sigma) = c_skip x + c_out F(c_in x, c_noise) mixes its noisy input with
the network's output so that the network's target has unit variance at every noise level:
at low noise D returns (almost) its input, at high noise F predicts the clean frame. Unlike
epsilon prediction on a cosine schedule -- whose clean-frame estimate at the first sampling
step divides the network's error by sqrt(alpha_bar) ~ 4e-5 -- nothing here amplifies
errors, so a few Euler steps that end near zero noise give a sharp frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from learning.world_model.config import DiffusionConfig


@dataclass
class Preconditioning:
    c_in: torch.Tensor  # (B, 1, 1, 1)
    c_skip: torch.Tensor
    c_out: torch.Tensor
    c_noise: torch.Tensor  # (B,): what the network is told of the noise level


def preconditioning(config: DiffusionConfig, sigma: torch.Tensor) -> Preconditioning:
    sigma = sigma.view(-1, 1, 1, 1)
    total = (sigma ** 2 + config.sigma_data ** 2).sqrt()
    return Preconditioning(c_in=1 / total, c_skip=config.sigma_data ** 2 / total ** 2,
                           c_out=sigma * config.sigma_data / total, c_noise=sigma.flatten().log() / 4)


def context_noise_feature(sigma: torch.Tensor) -> torch.Tensor:
    """What the network is told of the context's noise level (defined at sigma = 0 too)."""
    return (sigma + 1e-2).log() / 4


def training_sigmas(config: DiffusionConfig, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
    log_sigma = torch.randn(n, generator=generator) * config.train_log_sigma_std + config.train_log_sigma_mean
    return log_sigma.exp().clamp(config.sigma_min, 20.0)


def sampling_sigmas(config: DiffusionConfig, steps: int) -> torch.Tensor:
    """``steps`` noise levels from sigma_max to sigma_min, spaced as EDM (rho), then 0."""
    ramp = torch.linspace(0, 1, steps)
    high, low = config.sigma_max ** (1 / config.rho), config.sigma_min ** (1 / config.rho)
    return torch.cat([(high + ramp * (low - high)) ** config.rho, torch.zeros(1)])


def euler_sample(denoise, shape: tuple[int, ...], config: DiffusionConfig, steps: int,
                 generator: torch.Generator | None = None) -> torch.Tensor:
    """Deterministic Euler steps of the probability-flow ODE; ``denoise(x, sigma)`` is D."""
    sigmas = sampling_sigmas(config, steps)
    x = torch.randn(shape, generator=generator) * sigmas[0]
    for sigma, next_sigma in zip(sigmas[:-1], sigmas[1:]):
        denoised = denoise(x, torch.full((shape[0],), float(sigma)))
        x = x + (x - denoised) / sigma * (next_sigma - sigma)
    return x
