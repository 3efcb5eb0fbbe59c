"""EDM diffusion (Karras et al. 2022), the formulation DIAMOND uses for its world models.

The denoiser D(x; sigma) = c_skip x + c_out F(c_in x, c_noise) mixes its noisy input with
the network's output so that the network's target has unit variance at every noise level:
at low noise D returns (almost) its input, at high noise F predicts the clean frame. Unlike
epsilon prediction on a cosine schedule -- whose clean-frame estimate at the first sampling
step divides the network's error by sqrt(alpha_bar) ~ 4e-5 -- nothing here amplifies
errors, so a few Euler steps that end near zero noise give a sharp frame. Training's
preconditioning is written here; sampling is diffusers' EDM schedulers, whose
preconditioning is the same (tested).
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


def make_sampler(name: str, config: DiffusionConfig, steps: int, device: torch.device | None = None):
    """A diffusers EDM scheduler over ``steps`` noise levels, sigma_max down to sigma_min, then 0
    (the last step lands on the clean estimate): "euler" (DIAMOND's) or "dpmsolver" (2nd order)."""
    from diffusers import EDMDPMSolverMultistepScheduler, EDMEulerScheduler

    schedulers = {"euler": EDMEulerScheduler, "dpmsolver": EDMDPMSolverMultistepScheduler}
    if name not in schedulers:
        raise ValueError(f"sampler {name!r}; expected one of {sorted(schedulers)}")
    scheduler = schedulers[name](sigma_min=config.sigma_min, sigma_max=config.sigma_max,
                                 sigma_data=config.sigma_data, rho=config.rho, prediction_type="epsilon")
    scheduler.set_timesteps(steps, device=device)  # the noise levels where the network runs
    return scheduler


def sample(network_output, shape: tuple[int, ...], scheduler, generator: torch.Generator | None = None) -> torch.Tensor:
    """Run ``scheduler`` from pure noise; ``network_output(scaled_x, c_noise (B,))`` is F, the
    raw network output the scheduler preconditions (EDM's c_skip x + c_out F)."""
    device = scheduler.timesteps.device
    x = torch.randn(shape, generator=generator, device=device) * scheduler.init_noise_sigma
    for t in scheduler.timesteps:  # diffusers' EDM timesteps are c_noise = log(sigma) / 4
        scaled = scheduler.scale_model_input(x, t)
        x = scheduler.step(network_output(scaled, t.expand(shape[0])), t, x, generator=generator).prev_sample
    return x
