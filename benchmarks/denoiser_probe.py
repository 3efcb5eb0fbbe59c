"""Where a world model's error is, and whether it reads the actions: the denoiser's error at
fixed noise levels on held-out clips, on the pixels that move and on the still ones, with the
recorded actions and with the last command held for the whole stride.

    .venv/bin/python benchmarks/denoiser_probe.py --db DB --world-model NAME [--task transfer_cube]

Cheaper than sampling (one network call per noise level) and free of the sampler's noise.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from learning.artifacts import world_model_dir
from learning.splits import split_episodes
from learning.world_model import edm
from learning.world_model.training import clip_batch, clip_dataset, load_world_model
from learning.world_model.world_model import CONTEXT_SCALE, to_pixels
from storage import EpisodeFilter, TrajectoryStore

MOVING_THRESHOLD = 24  # of 255, as the imagination ladder's moving pixels
SIGMAS = (0.02, 0.1, 0.3, 1.0)


def probe(model, batch: dict, sigma: float) -> dict:
    """Mean squared error of the denoised change ([-1, 1] units) on all, moving and still pixels."""
    config, c = model.config, model.config.context_frames
    frames, first, actions = batch["frames"], batch["first"], batch["actions"]
    s = config.frame_stride
    held = torch.cat([actions[:, :s], actions[:, s - 1:s].expand(-1, actions.shape[1] - s, -1)], 1)
    change = to_pixels(frames[:, c]) - to_pixels(frames[:, c - 1])
    moving = ((frames[:, c].int() - frames[:, c - 1].int()).abs() > MOVING_THRESHOLD).any(-1)
    result = {}
    for name, commands in (("recorded actions", actions), ("last command held", held)):
        context, features = model._conditioning(frames[:, :c], first, commands)
        sigmas = torch.full((len(change),), sigma)
        noisy = change + torch.randn(change.shape, generator=torch.Generator().manual_seed(1)) * sigma
        p = edm.preconditioning(config.diffusion, sigmas)
        with torch.no_grad():
            raw = model.ema(noisy * p.c_in, p.c_noise, context / CONTEXT_SCALE,
                            edm.context_noise_feature(torch.zeros(len(change))), features)
        error = (p.c_skip * noisy + p.c_out * raw - change).pow(2).mean(1)
        result[name] = {"all": error.mean().item(), "moving": error[moving].mean().item(),
                        "still": error[~moving].mean().item()}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--world-model", required=True)
    parser.add_argument("--task", default="transfer_cube")
    parser.add_argument("--clips", type=int, default=64)
    args = parser.parse_args()
    torch.set_num_threads(1)
    store = TrajectoryStore(args.db, readonly=True)
    model = load_world_model(world_model_dir(store, args.world_model) / "model")
    if model.config.target != "change":
        raise SystemExit("the probe scores the predicted change: a world model with target=change")
    _, held_out = split_episodes(store, model.config.camera, EpisodeFilter(task=args.task))
    clips = iter(clip_dataset(store, model.config, EpisodeFilter(ids=tuple(held_out[:40])), seed=0))
    batch = clip_batch([next(clips) for _ in range(args.clips)], model.config.action_window)
    moving = ((batch["frames"][:, -1].int() - batch["frames"][:, -2].int()).abs() > MOVING_THRESHOLD).any(-1)
    change = to_pixels(batch["frames"][:, -1]) - to_pixels(batch["frames"][:, -2])
    result = {"world_model": args.world_model, "moving_fraction": moving.float().mean().item(),
              "change_energy": change.pow(2).mean().item(),
              "zero_change_error_moving": change.pow(2).mean(1)[moving].mean().item(),
              "by_sigma": {str(sigma): probe(model, batch, sigma) for sigma in SIGMAS}}
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
