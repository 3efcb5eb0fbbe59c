"""WorldModel: the next frame, given the frames before it and the actions sent, by EDM diffusion.

One prediction: the frame at t + s (s = ``frame_stride`` control steps) from the context
frames at t - (c-1)s, ..., t - s, t, the episode's first frame (the anchor: background and
where the objects started), and the actions sent at t - s .. t + s - 1 (those that moved
the arms into the last context frame, and those that move them on; with ``pose_maps``, also
drawn into the picture where they put the arms: ``arm_pose.py``). Frames are uint8
pixels in and out -- no autoencoder, so nothing caps fidelity and no small object is
lost in a latent (a small VAE kept 0% of the cube's pixels; measured).

Training (``loss``): the target -- the frame, or its change from the last context frame as
the network sees it (``target``) -- is noised to a log-normal random level and the context
to a uniform random level that the network is told (noise augmentation); the loss is EDM's.
Sampling (``predict``): Euler steps with the EMA weights, context nearly clean.
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.nn import functional as F

from learning.world_model import edm
from learning.world_model.arm_pose import ArmPoseMaps
from learning.world_model.config import WorldModelConfig
from learning.world_model.unet import PixelUNet


CONTEXT_SCALE = 0.5  # context pixels are divided by this (their std is ~0.4) before the network sees them


def to_pixels(frames: torch.Tensor) -> torch.Tensor:
    """uint8 (..., H, W, 3) -> float (..., 3, H, W) in [-1, 1]."""
    return frames.movedim(-1, -3).float() / 127.5 - 1.0


def to_uint8(pixels: torch.Tensor) -> torch.Tensor:
    """float (..., 3, H, W) in [-1, 1] -> uint8 (..., H, W, 3)."""
    return ((pixels.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).movedim(-3, -1)


def salience(pixels: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) -> (N, 1, H, W): each pixel's distance from the batch's per-pixel median,
    divided by its mean. Frames from many episodes share the table and the typical arm pose;
    what differs between them -- the object, the arms' reach -- stands out."""
    median = pixels.median(dim=0, keepdim=True).values
    distance = (pixels - median).abs().mean(dim=1, keepdim=True)
    return distance / distance.mean().clamp_min(1e-6)


# A pixel moves when some channel changes by more than 24 of 255 (the imagination ladder's rule),
# in [-1, 1] units
MOTION_THRESHOLD = 2 * 24 / 255


def motion_mask(last: torch.Tensor, following: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) pixels of two frames -> (N, 1, H, W) float: 1 where the frame changed, or
    next to a pixel that did (a blurred edge is an error too), else 0."""
    moved = ((following - last).abs().amax(dim=1, keepdim=True) > MOTION_THRESHOLD).float()
    return F.max_pool2d(moved, 3, stride=1, padding=1)


class WorldModel(nn.Module):
    def __init__(self, config: WorldModelConfig):
        super().__init__()
        self.config = config
        d = config.denoiser
        self.net = PixelUNet(in_frames=config.context_frames + int(config.anchor_first_frame),
                             action_features=config.action_features, channels=d.channels,
                             depth=d.depth, cond_dim=d.cond_dim, groups=d.groups, attention=d.attention,
                             space_to_depth=d.space_to_depth, extra_channels=config.pose_map_channels,
                             checkpoint_activations=d.checkpoint_activations)
        self.pose_maps = ArmPoseMaps(config.kinematics, config.image_size) if config.pose_maps else None
        self.ema = copy.deepcopy(self.net).requires_grad_(False)
        self.register_buffer("action_mean", torch.zeros(config.action_dim))
        self.register_buffer("action_std", torch.ones(config.action_dim))
        if config.action_input == "motion":
            self.register_buffer("motion_std", torch.ones(config.action_dim))
        self.register_buffer("ema_updates", torch.tensor(0, dtype=torch.long))

    def set_action_statistics(self, mean: torch.Tensor, std: torch.Tensor, motion_std: torch.Tensor) -> None:
        """Per joint: the actions' mean and spread, and the spread of their change over one stride."""
        self.action_mean.copy_(mean)
        self.action_std.copy_(std.clamp_min(1e-3))
        if self.config.action_input == "motion":
            self.motion_std.copy_(motion_std.clamp_min(1e-3))

    def action_features(self, actions: torch.Tensor) -> torch.Tensor:
        """(B, 2s, D) actions -> (B, action_features) numbers for the network."""
        if self.config.action_input == "absolute":
            return ((actions - self.action_mean) / self.action_std).flatten(1)
        reference = actions[:, self.config.frame_stride - 1]  # the last command before the last context frame
        motion = (actions - reference[:, None]) / self.motion_std
        return torch.cat([(reference - self.action_mean) / self.action_std, motion.flatten(1)], dim=1)

    # -- checks and inputs -----------------------------------------------------------------
    def check_frames(self, frames: torch.Tensor, name: str = "frames") -> None:
        h, w = self.config.image_size
        if frames.dtype != torch.uint8 or tuple(frames.shape[-3:]) != (h, w, 3):
            raise ValueError(f"{name}: got {tuple(frames.shape)} {frames.dtype}, expected uint8 (..., {h}, {w}, 3)")

    def check_actions(self, actions: torch.Tensor) -> None:
        c = self.config
        if actions.ndim != 3 or actions.shape[1:] != (c.action_window, c.action_dim):
            raise ValueError(f"actions: got {tuple(actions.shape)}, expected (B, {c.action_window}, {c.action_dim})")
        if not torch.isfinite(actions).all():
            raise ValueError("actions contain NaN or inf; the world model cannot imagine them")

    def _conditioning(self, context: torch.Tensor, first: torch.Tensor, actions: torch.Tensor):
        """Context pixels (B, 3F, H, W) -- anchor, then the arm-pose maps last -- and flattened
        normalised actions. Inputs may come from the CPU; they move to the model's device here."""
        self.check_frames(context, "context")
        self.check_frames(first, "first frame")
        self.check_actions(actions)
        device = self.action_mean.device
        context, first, actions = context.to(device), first.to(device), actions.to(device)
        pixels = to_pixels(context).flatten(1, 2)
        if self.config.anchor_first_frame:
            pixels = torch.cat([pixels, to_pixels(first)], dim=1)
        if self.pose_maps is not None:
            s = self.config.frame_stride  # where the arms were sent before the last frame, and by its end
            instants = actions[:, [s - 1, 2 * s - 1]]
            maps = self.pose_maps(instants.flatten(0, 1)).view(len(actions), -1, *self.config.image_size)
            pixels = torch.cat([pixels, maps * CONTEXT_SCALE], dim=1)  # the maps reach the network in [0, 1]
        return pixels, self.action_features(actions)

    # -- training ----------------------------------------------------------------------------
    def loss(self, batch: dict) -> tuple[torch.Tensor, dict]:
        """batch: "frames" uint8 (B, c + 1, H, W, 3) -- the context, then the target --,
        "first" uint8 (B, H, W, 3), "actions" (B, 2s, D)."""
        diffusion, c = self.config.diffusion, self.config.context_frames
        frames = batch["frames"]
        context, actions = self._conditioning(frames[:, :c], batch["first"], batch["actions"])
        following = to_pixels(frames[:, c]).to(context.device)  # the real next frame
        target = following
        b = len(target)
        sigma = edm.training_sigmas(diffusion, b).to(context.device)
        epsilon = torch.randn_like(target)
        context_sigma = torch.rand(b, device=context.device) * diffusion.context_noise_max
        augmented = 3 * c  # the anchor is a real frame, always, and the maps are exact: neither is noised
        noise = torch.randn_like(context[:, :augmented]) * context_sigma.view(-1, 1, 1, 1)
        context = torch.cat([context[:, :augmented] + noise, context[:, augmented:]], dim=1)
        if self.config.target == "change":
            # the change from the last frame as the network sees it, noise and all: undoing what is
            # wrong in its context is then part of the change it learns -- imagination's own errors
            # are corrected each stride instead of adding up
            target = target - context[:, augmented - 3:augmented]
        noisy = target + epsilon * sigma.view(-1, 1, 1, 1)
        p = edm.preconditioning(diffusion, sigma)
        raw = self.net(noisy * p.c_in, p.c_noise, context / CONTEXT_SCALE,
                       edm.context_noise_feature(context_sigma), actions)
        error = (raw.float() - (target - p.c_skip * noisy) / p.c_out) ** 2  # fp32 under bf16 autocast too  # EDM's unit-variance target
        # the weights look at the real next frame whatever the target: with the change as target the
        # object's pixels are as rare, and as cheap to get wrong, as they are in the frame
        if diffusion.salience_weight and b > 1:
            weight = 1.0 + diffusion.salience_weight * salience(following)
            error = error * weight / weight.mean()  # same overall scale, shifted towards salient pixels
        if diffusion.motion_weight:
            last = to_pixels(frames[:, c - 1]).to(context.device)
            weight = 1.0 + diffusion.motion_weight * motion_mask(last, following)
            error = error * weight / weight.mean()
        return error.mean(), {}

    @torch.no_grad()
    def after_step(self) -> None:
        """EMA of the network's weights (called by the trainer after each optimizer step). The
        decay warms up, (1 + n) / (10 + n) after n updates, so that a short run's average is not
        mostly its random start (at 0.999 it still would be, 37%, after 1000 steps)."""
        n = int(self.ema_updates)
        decay = min(self.config.ema_decay, (1 + n) / (10 + n))
        for average, current in zip(self.ema.parameters(), self.net.parameters()):
            average.lerp_(current, 1 - decay)
        self.ema_updates += 1

    # -- sampling ----------------------------------------------------------------------------
    @torch.no_grad()
    def predict(self, context: torch.Tensor, first: torch.Tensor, actions: torch.Tensor, *,
                sampler: str | None = None, steps: int | None = None, generator: torch.Generator | None = None,
                use_ema: bool = True) -> torch.Tensor:
        """The frame (B, H, W, 3) uint8 one stride after ``context`` (B, c, H, W, 3) uint8,
        given the episode's ``first`` frame (B, H, W, 3) and ``actions`` (B, 2s, D)."""
        diffusion = self.config.diffusion
        network = self.ema if use_ema else self.net
        pixels, flat_actions = self._conditioning(context, first, actions)
        b, h, w = len(pixels), *self.config.image_size
        device = pixels.device
        context_sigma = torch.full((b,), diffusion.sampling_context_noise, device=device)
        if diffusion.sampling_context_noise:
            c3 = 3 * self.config.context_frames
            noise = torch.randn(pixels[:, :c3].shape, generator=generator, device=device)
            noise = noise * diffusion.sampling_context_noise
            pixels = torch.cat([pixels[:, :c3] + noise, pixels[:, c3:]], dim=1)

        def network_output(scaled, c_noise):
            return network(scaled, c_noise, pixels / CONTEXT_SCALE, edm.context_noise_feature(context_sigma),
                           flat_actions).float()

        scheduler = edm.make_sampler(sampler or diffusion.sampler, diffusion, steps or diffusion.sampling_steps,
                                     device)
        predicted = edm.sample(network_output, (b, 3, h, w), scheduler, generator)
        if self.config.target == "change":
            c3 = 3 * self.config.context_frames
            predicted = predicted + pixels[:, c3 - 3:c3]  # the last frame as the network saw it
        return to_uint8(predicted)
