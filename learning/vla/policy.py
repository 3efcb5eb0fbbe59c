"""VLAPolicy: all K x D action tokens predicted in parallel, each over n_bins discrete bins.

This is the discrete variant of the OpenVLA-OFT action head that WMPO uses: one learned
query per (step k, dimension d) token reads the fused image + instruction features, and
one forward pass gives every token's logits. Tokens are independent given the input, so
the log-probability of a chunk is exactly the sum of its K x D token log-probabilities --
what GRPO needs. Temperature divides the logits, in sampling and in log_prob alike.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from learning.action_bins import ActionBins
from learning.vla.backbones import make_backbone
from learning.vla.config import PolicyConfig


class VLAPolicy(nn.Module):
    def __init__(self, config: PolicyConfig, bins: ActionBins):
        super().__init__()
        if bins.dim != config.action_dim or bins.n_bins != config.n_bins:
            raise ValueError(f"bins are {bins.dim} dims x {bins.n_bins}, config wants "
                             f"{config.action_dim} x {config.n_bins}")
        self.config, self.bins = config, bins
        tokens = config.chunk_size * config.action_dim
        self.backbone = make_backbone(config)
        self.queries = nn.Parameter(torch.randn(tokens, config.query_dim) * 0.02)
        # First head layer split in two: context and query parts are computed once each and
        # added, instead of concatenating a copy of the context to every token.
        self.from_context = nn.Linear(config.embed_dim, config.head_hidden)
        self.from_query = nn.Linear(config.query_dim, config.head_hidden, bias=False)
        self.time = TimeEmbedding(config.embed_dim) if config.time_input else None
        self.command = CommandEmbedding(bins, config.embed_dim) if config.command_input else None
        self.head = nn.Sequential(nn.GELU(), nn.Linear(config.head_hidden, config.head_hidden), nn.GELU(),
                                  nn.Linear(config.head_hidden, config.n_bins))

    def check_images(self, images: torch.Tensor) -> None:
        h, w = self.config.image_size
        if images.ndim != 4 or tuple(images.shape[1:]) != (h, w, 3) or images.dtype != torch.uint8:
            raise ValueError(f"images: got {tuple(images.shape)} {images.dtype}, expected uint8 (B, {h}, {w}, 3)")

    def check_steps(self, steps: torch.Tensor | None, batch: int) -> None:
        if self.time is None:
            return
        if steps is None or tuple(steps.shape) != (batch,):
            got = "none" if steps is None else tuple(steps.shape)
            raise ValueError(f"steps: got {got}, expected the control step of each chunk's start, shape ({batch},)")

    def check_commands(self, commands: torch.Tensor | None, batch: int) -> None:
        if self.command is None:
            return
        expected = (batch, self.config.action_dim)
        if commands is None or tuple(commands.shape) != expected:
            got = "none" if commands is None else tuple(commands.shape)
            raise ValueError(f"commands: got {got}, expected the joint command in force at each chunk's start, "
                             f"shape {expected}")
        if not torch.isfinite(commands).all():
            raise ValueError("commands: not finite (NaN or inf); expected the joint command in force at each "
                             "chunk's start")

    def logits(self, images: torch.Tensor, instructions: list[str], steps: torch.Tensor | None = None,
               augment: bool = False, commands: torch.Tensor | None = None) -> torch.Tensor:
        """(B, K, D, n_bins) for uint8 images (B, H, W, 3) seen at control steps (B,), with the
        joint commands (B, D) in force then (read only when ``config.command_input``).

        Augmentation only when asked (imitation): sampling and log_prob must see the same
        input, or GRPO's probability ratios would be noise. Inputs may come from the CPU (the
        store, the robot); they move to the policy's device here."""
        self.check_images(images)
        self.check_steps(steps, len(images))
        self.check_commands(commands, len(images))
        images = images.to(self.queries.device)
        if augment and self.config.augment_shift:
            images = random_shift(images, self.config.augment_shift)
        context = self.backbone(images, instructions)
        if self.time is not None:
            context = context + self.time(steps.to(context.device).float() / self.config.horizon)
        if self.command is not None:
            noise = self.config.command_noise if augment else 0.0
            context = context + self.command(commands.to(context.device).float(), noise)
        hidden = self.from_context(context)[:, None, :] + self.from_query(self.queries)[None]
        c = self.config
        return self.head(hidden).view(len(images), c.chunk_size, c.action_dim, c.n_bins)

    def token_log_probs(self, logits: torch.Tensor, bins: torch.Tensor, temperature: float) -> torch.Tensor:
        check_temperature(temperature)
        # in fp32 whatever the autocast: GRPO's ratios compare these sums across two passes
        log_p = F.log_softmax(logits.float() / temperature, dim=-1)
        return log_p.gather(-1, bins.to(logits.device).unsqueeze(-1)).squeeze(-1)

    def log_prob(self, images: torch.Tensor, instructions: list[str], steps: torch.Tensor | None,
                 bins: torch.Tensor, temperature: float = 1.0, commands: torch.Tensor | None = None) -> torch.Tensor:
        """Exact log-probability (B,) of the chunks given as bin indices (B, K, D)."""
        logits = self.logits(images, instructions, steps, commands=commands)
        return self.token_log_probs(logits, bins, temperature).sum(dim=(1, 2))

    def log_prob_and_entropy(self, images: torch.Tensor, instructions: list[str], steps: torch.Tensor | None,
                             bins: torch.Tensor, temperature: float = 1.0,
                             commands: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``log_prob`` and, from the same forward pass, the mean entropy (B,) of a chunk's action
        tokens at ``temperature`` (nats; no gradient): how much the policy still explores."""
        logits = self.logits(images, instructions, steps, commands=commands)
        with torch.no_grad():
            log_p = F.log_softmax(logits.detach().float() / temperature, dim=-1)
            entropy = -(log_p.exp() * log_p).sum(-1).mean(dim=(1, 2))
        return self.token_log_probs(logits, bins, temperature).sum(dim=(1, 2)), entropy

    @torch.no_grad()
    def sample(self, images: torch.Tensor, instructions: list[str], steps: torch.Tensor | None = None,
               temperature: float = 1.0, greedy: bool = False, generator: torch.Generator | None = None,
               commands: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Chunks as bin indices (B, K, D) and their log-probabilities (B,) under ``temperature``,
        on the policy's device (a ``generator`` must be on it too: ``learning.device.generator``)."""
        check_temperature(temperature)
        logits = self.logits(images, instructions, steps, commands=commands)
        if greedy:
            bins = logits.argmax(dim=-1)
        else:
            probs = F.softmax(logits.float() / temperature, dim=-1)
            bins = torch.multinomial(probs.view(-1, probs.shape[-1]), 1, generator=generator).view(probs.shape[:-1])
        return bins, self.token_log_probs(logits, bins, temperature).sum(dim=(1, 2))

    def actions(self, bins: torch.Tensor) -> torch.Tensor:
        return self.bins.decode(bins)

    def loss(self, batch: dict) -> tuple[torch.Tensor, dict]:
        """Imitation: cross-entropy of the expert's binned chunk (the learner protocol)."""
        targets, clipped = self.bins.encode(batch["actions"])
        logits = self.logits(batch["images"], batch["instructions"], batch.get("steps"), augment=True,
                             commands=batch.get("commands"))
        loss = F.cross_entropy(logits.reshape(-1, self.config.n_bins), targets.reshape(-1))
        accuracy = (logits.argmax(-1) == targets).float().mean()
        return loss, {"token_accuracy": accuracy.item(), "clipped": float(clipped)}


class TimeEmbedding(nn.Module):
    """Episode progress (0..1) as sines and cosines of 8 octaves, projected to ``dim``."""

    def __init__(self, dim: int, octaves: int = 8):
        super().__init__()
        self.register_buffer("frequencies", math.pi * 2.0 ** torch.arange(octaves), persistent=False)
        self.project = nn.Linear(2 * octaves + 1, dim)

    def forward(self, progress: torch.Tensor) -> torch.Tensor:
        angles = progress[:, None] * self.frequencies
        return self.project(torch.cat([progress[:, None], angles.sin(), angles.cos()], dim=1))


class CommandEmbedding(nn.Module):
    """A joint command (B, D), scaled to [-1, 1] by the action bins' range, projected to ``dim``."""

    def __init__(self, bins: ActionBins, dim: int):
        super().__init__()
        low, high = torch.tensor(bins.low), torch.tensor(bins.high)
        self.register_buffer("low", low.float(), persistent=False)
        self.register_buffer("span", (high - low).float(), persistent=False)
        self.project = nn.Sequential(nn.Linear(bins.dim, dim), nn.GELU(), nn.Linear(dim, dim))

    def forward(self, commands: torch.Tensor, noise: float = 0.0) -> torch.Tensor:
        scaled = 2.0 * (commands - self.low) / self.span - 1.0
        if noise:
            scaled = scaled + noise * torch.randn_like(scaled)
        return self.project(scaled)


def check_temperature(temperature: float) -> None:
    if not temperature > 0:
        raise ValueError(f"temperature {temperature}; expected > 0 (use greedy=True for argmax)")


def random_shift(images: torch.Tensor, pad: int) -> torch.Tensor:
    """Shift each image by up to ``pad`` pixels (edges repeated): cheap, strong augmentation."""
    n, h, w, _ = images.shape

    def shifted(size: int) -> torch.Tensor:  # (n, size) source indices, one shift per image
        offsets = torch.randint(-pad, pad + 1, (n, 1), device=images.device)
        return (torch.arange(size, device=images.device)[None, :] + offsets).clamp_(0, size - 1)

    rows, cols = shifted(h), shifted(w)
    return images[torch.arange(n, device=images.device)[:, None, None], rows[:, :, None], cols[:, None, :]]
