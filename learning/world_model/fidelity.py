"""Fidelity of imagination on held-out real episodes.

Each episode's recorded actions are replayed in the world model from its first frame, a
chunk at a time, and the imagined frames (one every frame_stride steps) are compared with
the recorded ones at the same step: PSNR and SSIM per imagined frame (how fast imagination
drifts) beside a frozen first frame's PSNR, and -- given a judge
such as the reward model -- outcome agreement: does the judge's verdict on the imagined
replay match the episode's real label?
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Callable

import numpy as np
import torch
from torch.nn import functional as F

from learning.world_model.imagination import Imagination


def psnr(real: torch.Tensor, imagined: torch.Tensor) -> torch.Tensor:
    """Per-frame PSNR (dB) of uint8 frames (N, H, W, 3)."""
    mse = ((real.float() - imagined.float()) ** 2).mean(dim=(1, 2, 3))
    return 10 * torch.log10(255.0 ** 2 / mse.clamp_min(1e-10))


def ssim(real: torch.Tensor, imagined: torch.Tensor, window: int = 7) -> torch.Tensor:
    """Per-frame SSIM of uint8 frames (N, H, W, 3): local means and variances over a
    ``window`` x ``window`` box, averaged over pixels and channels (Wang et al. 2004)."""
    x, y = (frames.permute(0, 3, 1, 2).float() for frames in (real, imagined))
    pool = lambda t: F.avg_pool2d(t, window, stride=1)
    mx, my = pool(x), pool(y)
    vx, vy, cxy = pool(x * x) - mx ** 2, pool(y * y) - my ** 2, pool(x * y) - mx * my
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    index = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx ** 2 + my ** 2 + c1) * (vx + vy + c2))
    return index.mean(dim=(1, 2, 3))


@dataclass
class FidelityReport:
    episodes: int
    steps: list[int]  # the control steps imagined frames exist at (every frame_stride steps)
    psnr_db: list[float]  # mean over episodes, per imagined frame
    ssim: list[float]
    # Copying the real first frame forward, scored the same way: imagination that cannot beat a
    # frozen picture has learned nothing about the actions.
    frozen_psnr_db: list[float] = field(default_factory=list)
    outcome_agreement: float | None = None  # None until a judge (the reward model) is given
    agreements: list[bool] = field(default_factory=list)
    # Of the replayed episodes that succeeded for real, how many the judge finds successful in
    # imagination: GRPO learns nothing unless imagined successes can be recognised.
    successes_replayed: int = 0
    successes_recognised: int = 0

    def to_json(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        n = len(self.psnr_db)
        at = [0, n // 2, n - 1]
        parts = [f"{self.episodes} episodes to step {self.steps[-1]}: PSNR "
                 + ", ".join(f"{self.psnr_db[i]:.1f} dB at step {self.steps[i]} (frozen first frame "
                             f"{self.frozen_psnr_db[i]:.1f})" for i in at)
                 + f"; SSIM {self.ssim[0]:.3f} / {self.ssim[n // 2]:.3f} / {self.ssim[-1]:.3f}"]
        if self.outcome_agreement is not None:
            parts.append(f"outcome agreement {100 * self.outcome_agreement:.0f}%; real successes judged successful "
                         f"in imagination {self.successes_recognised}/{self.successes_replayed}")
        return "; ".join(parts)


@dataclass
class Replay:
    real: np.ndarray  # uint8 (T, H, W, 3): recorded frames 0..T-1
    actions: np.ndarray  # (T, D): action t was sent while frame t was seen
    success: bool | None


def replay_episodes(imagination: Imagination, replays: list[Replay], horizon: int | None = None) -> list[np.ndarray]:
    """Imagined frames per episode at steps 0, s, 2s, ... (frame 0 is the real one), up to the
    episode's last recorded frame or ``horizon``."""
    config = imagination.model.config
    k, s = config.chunk_size, config.frame_stride
    longest = max(len(r.actions) for r in replays)
    horizon = min(horizon or longest, longest)
    chunks = -(-(horizon - 1) // k)
    actions = np.zeros((len(replays), chunks * k, replays[0].actions.shape[1]), np.float32)
    for i, r in enumerate(replays):  # shorter episodes repeat their last action (not scored)
        n = min(len(r.actions), chunks * k)
        actions[i, :n] = r.actions[:n]
        actions[i, n:] = r.actions[n - 1]
    first = torch.from_numpy(np.stack([r.real[0] for r in replays]))
    imagined = [first[:, None]]
    imagination.reset(first)
    for c in range(chunks):
        imagined.append(imagination.step(torch.from_numpy(actions[:, c * k:(c + 1) * k])).cpu())
    frames = torch.cat(imagined, dim=1).numpy()
    return [frames[i, :(min(len(r.real), horizon) - 1) // s + 1] for i, r in enumerate(replays)]


def fidelity_report(imagination: Imagination, replays: list[Replay], horizon: int | None = None,
                    judge: Callable[[np.ndarray], bool] | None = None,
                    batch: int = 16) -> tuple[FidelityReport, list[np.ndarray]]:
    """Scores and the imagined frames (every frame_stride steps) of each replay. The judge sees
    the imagined frames as they are, at the world model's stride."""
    if not replays:
        raise ValueError("no held-out episodes to measure fidelity on")
    s = imagination.model.config.frame_stride
    imagined = []
    for start in range(0, len(replays), batch):
        imagined += replay_episodes(imagination, replays[start:start + batch], horizon)
    longest = max(len(frames) for frames in imagined)
    sums, counts = np.zeros((3, longest)), np.zeros(longest)
    for r, frames in zip(replays, imagined):
        n = len(frames)
        real = torch.from_numpy(r.real[0:(n - 1) * s + 1:s][1:])
        fake = torch.from_numpy(frames[1:])
        frozen = torch.from_numpy(r.real[:1]).expand_as(real)
        sums[0, 1:n] += psnr(real, fake).numpy()
        sums[1, 1:n] += ssim(real, fake).numpy()
        sums[2, 1:n] += psnr(real, frozen).numpy()
        counts[1:n] += 1
    scored = counts[1:] > 0
    means = sums[:, 1:][:, scored] / counts[1:][scored]
    agreements, recognised = [], 0
    if judge is not None:
        for r, frames in zip(replays, imagined):
            if r.success is not None:
                verdict = bool(judge(frames))
                agreements.append(verdict == bool(r.success))
                recognised += verdict and bool(r.success)
    report = FidelityReport(episodes=len(replays), steps=(s * (1 + np.flatnonzero(scored))).tolist(),
                            psnr_db=means[0].round(3).tolist(), ssim=means[1].round(4).tolist(),
                            frozen_psnr_db=means[2].round(3).tolist(),
                            outcome_agreement=float(np.mean(agreements)) if agreements else None,
                            agreements=agreements, successes_replayed=sum(bool(r.success) for r in replays),
                            successes_recognised=recognised)
    return report, imagined


def strip(real: np.ndarray, imagined: np.ndarray, stride: int, every: int = 16, tiles: int = 12):
    """A PNG-ready image: recorded frames (top) over imagined ones (bottom, one every ``stride``
    steps), every ``every`` steps."""
    from PIL import Image, ImageDraw

    every = max(stride, every // stride * stride)
    steps = list(range(0, min(len(real), len(imagined) * stride), every))[:tiles]
    h, w = real.shape[1:3]
    label = 12
    image = Image.new("RGB", (len(steps) * w, 2 * h + label), "white")
    draw = ImageDraw.Draw(image)
    for i, t in enumerate(steps):
        image.paste(Image.fromarray(real[t]), (i * w, label))
        image.paste(Image.fromarray(imagined[t // stride]), (i * w, label + h))
        draw.text((i * w + 2, 0), f"t={t}", fill="black")
    return image
