"""WorldModel: VAE + action-conditioned DiT + EMA copy + noise schedule.

Training (``loss``): c + K consecutive frames and the K actions taken at the last K; the
K frames are noised to a random timestep, the c conditioning frames to the fixed small
``context_noise_steps``, and the DiT predicts the noise of the K frames (epsilon, as in
the paper). Sampling (``predict``): the same, starting the K frames from pure noise, with
the scheduler (DDIM or DDPM) and number of steps chosen per call, using the EMA weights.
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.nn import functional as F

from learning.world_model.config import SAMPLERS, WorldModelConfig
from learning.world_model.dit import ActionConditionedDiT
from learning.world_model.vae import make_vae, to_pixels, to_uint8


def make_scheduler(name: str, train_timesteps: int):
    from diffusers import DDIMScheduler, DDPMScheduler

    schedulers = {"ddim": DDIMScheduler, "ddpm": DDPMScheduler}
    if name not in schedulers:
        raise ValueError(f"sampler {name!r}; expected one of {SAMPLERS}")
    # The cosine schedule ends at alpha_bar ~ 2e-9: an epsilon model's clean-latent estimate
    # at the first sampling step divides by its square root, and unclipped it blew the
    # latents up to a standard deviation of ~3600 (pure noise decoded; measured). Latents
    # are unit-variance, so the estimate is clipped to +-3.
    return schedulers[name](num_train_timesteps=train_timesteps, beta_schedule="squaredcos_cap_v2",
                            prediction_type="epsilon", timestep_spacing="trailing",
                            clip_sample=True, clip_sample_range=3.0)


class WorldModel(nn.Module):
    def __init__(self, config: WorldModelConfig, vae: nn.Module | None = None):
        super().__init__()
        self.config = config
        self.vae = vae if vae is not None else make_vae(config)
        self.vae.requires_grad_(False)  # trained (cpu) or loaded (gpu) before the DiT
        channels = self.vae.config.latent_channels
        self.dit = ActionConditionedDiT(config, channels, config.latent_size)
        self.ema = copy.deepcopy(self.dit).requires_grad_(False)
        self.register_buffer("latent_scale", torch.tensor(1.0))
        self.register_buffer("action_mean", torch.zeros(config.action_dim))
        self.register_buffer("action_std", torch.ones(config.action_dim))
        self.noise = make_scheduler("ddpm", config.train_timesteps)

    def set_statistics(self, latent_scale: float, action_mean: torch.Tensor, action_std: torch.Tensor) -> None:
        self.latent_scale.fill_(latent_scale)
        self.action_mean.copy_(action_mean)
        self.action_std.copy_(action_std.clamp_min(1e-3))

    # -- latents ---------------------------------------------------------------------------
    @torch.no_grad()
    def encode(self, frames: torch.Tensor) -> torch.Tensor:
        """uint8 (B, F, H, W, 3) -> latents (B, F, C, h, w), unit variance."""
        b, f = frames.shape[:2]
        self.check_frames(frames.flatten(0, 1))
        latents = self.vae.encode(to_pixels(frames.flatten(0, 1))).latent_dist.mean * self.latent_scale
        return latents.view(b, f, *latents.shape[1:])

    @torch.no_grad()
    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """latents (B, F, C, h, w) -> uint8 (B, F, H, W, 3)."""
        b, f = latents.shape[:2]
        frames = to_uint8(self.vae.decode(latents.flatten(0, 1) / self.latent_scale).sample)
        return frames.view(b, f, *frames.shape[1:])

    def check_frames(self, frames: torch.Tensor) -> None:
        h, w = self.config.image_size
        if frames.ndim != 4 or tuple(frames.shape[1:]) != (h, w, 3) or frames.dtype != torch.uint8:
            raise ValueError(f"frames: got {tuple(frames.shape)} {frames.dtype}, expected uint8 (N, {h}, {w}, 3)")

    def normalise_actions(self, actions: torch.Tensor) -> torch.Tensor:
        c = self.config
        if actions.ndim != 3 or actions.shape[1:] != (c.chunk_size, c.action_dim):
            raise ValueError(f"actions: got {tuple(actions.shape)}, expected (B, {c.chunk_size}, {c.action_dim})")
        if not torch.isfinite(actions).all():
            raise ValueError("actions contain NaN or inf; the world model cannot imagine them")
        return (actions - self.action_mean) / self.action_std

    # -- the network's inputs ----------------------------------------------------------------
    def _inputs(self, actions: torch.Tensor, context_t: int, target_t: torch.Tensor):
        c, k = self.config.context_frames, self.config.chunk_size
        b = len(actions)
        timesteps = torch.cat([torch.full((b, c), context_t, dtype=torch.long),
                               target_t.view(-1, 1).expand(b, k).long()], dim=1)
        padded = torch.cat([torch.zeros(b, c, actions.shape[-1]), self.normalise_actions(actions)], dim=1)
        has_action = torch.cat([torch.zeros(b, c, dtype=torch.bool), torch.ones(b, k, dtype=torch.bool)], dim=1)
        return timesteps, padded, has_action

    def noised(self, latents: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Context frames noised to ``context_noise_steps``, the K targets to ``t`` (B,)."""
        c = self.config.context_frames
        context_t = torch.full((len(latents),), self.config.context_noise_steps, dtype=torch.long)
        return torch.cat([self.noise.add_noise(latents[:, :c], noise[:, :c], context_t),
                          self.noise.add_noise(latents[:, c:], noise[:, c:], t)], dim=1)

    def loss(self, batch: dict) -> tuple[torch.Tensor, dict]:
        """batch: "frames" uint8 (B, c + K, H, W, 3), "actions" (B, K, D)."""
        c = self.config.context_frames
        latents = self.encode(batch["frames"])
        t = torch.randint(0, self.config.train_timesteps, (len(latents),))
        noise = torch.randn_like(latents)
        noisy = self.noised(latents, noise, t)
        timesteps, actions, has_action = self._inputs(batch["actions"], self.config.context_noise_steps, t)
        predicted = self.dit(noisy, timesteps, actions, has_action)
        loss = F.mse_loss(predicted[:, c:], noise[:, c:])
        return loss, {}

    @torch.no_grad()
    def after_step(self) -> None:
        """EMA of the DiT weights (called by the trainer after each optimizer step)."""
        decay = self.config.ema_decay
        for average, current in zip(self.ema.parameters(), self.dit.parameters()):
            average.lerp_(current, 1 - decay)

    @torch.no_grad()
    def predict(self, context: torch.Tensor, actions: torch.Tensor, *, sampler: str | None = None,
                steps: int | None = None, generator: torch.Generator | None = None,
                use_ema: bool = True) -> torch.Tensor:
        """The K latents (B, K, C, h, w) that follow ``context`` (B, c, C, h, w) under ``actions``."""
        config = self.config
        network = self.ema if use_ema else self.dit
        scheduler = make_scheduler(sampler or config.sampler, config.train_timesteps)
        scheduler.set_timesteps(steps or config.sampling_steps)
        b = len(context)
        shape = (b, config.chunk_size, *context.shape[2:])
        sample = torch.randn(shape, generator=generator)
        context_t = torch.full((b,), config.context_noise_steps, dtype=torch.long)
        noisy_context = self.noise.add_noise(context, torch.randn(context.shape, generator=generator), context_t)
        # Actions and their mask are the same at every sampling step; only the targets' timestep moves.
        timesteps, padded, has_action = self._inputs(actions, config.context_noise_steps, torch.zeros(b))
        for t in scheduler.timesteps:
            timesteps[:, config.context_frames:] = int(t)
            eps = network(torch.cat([noisy_context, sample], dim=1), timesteps, padded, has_action)
            eps = eps[:, config.context_frames:].flatten(1, 2)  # the scheduler steps (B, K*C, h, w)
            sample = scheduler.step(eps, t, sample.flatten(1, 2), generator=generator).prev_sample.view(shape)
        return sample
