"""Does the world model's frame autoencoder keep the task's object? The cube of transfer_cube is
about 10 red pixels of a 96x128 frame; if the VAE drops it, no imagined frame can show it.

    .venv/bin/python benchmarks/vae_objects.py --db /tmp/exp4/wmpo.db --world-model wm-cpu --weights 10

Measures, on held-out stored frames (every 25th step of the world model's held-out episodes):
PSNR of the reconstruction, the share of the object's pixels (red-dominant: R > 120 and
R - max(G, B) > 60) that are still red-dominant after encode -> decode, and the red pixels the
reconstruction draws where the frame has none (per real object pixel). For the VAE of an
existing world model (``--world-model``) and for VAEs trained here with each salience weight
(``--weights``; VAEConfig.salience_weight), from the same recipe as the cycle's pretraining
(``--steps`` at lr 1e-3, batch 32). Trained VAEs are kept under the store's checkpoints
(vae-objects/salience-W) and reused. Writes benchmarks/results/vae_objects.json and .md.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from app.policies import checkpoints_dir
from app.world_models import split_episodes, world_model_dir
from learning.trainer import TrainConfig
from learning.world_model.config import profile
from learning.world_model.training import load_vae, load_world_model, train_vae
from learning.world_model.vae import to_pixels, to_uint8
from learning.checkpoints import existing_checkpoint, read_config
from storage import EpisodeFilter, TrajectoryStore

from learning_report import machine  # benchmarks/, beside this script


def object_pixels(frames: np.ndarray) -> np.ndarray:
    x = frames.astype(np.int16)
    return (x[..., 0] > 120) & (x[..., 0] - np.maximum(x[..., 1], x[..., 2]) > 60)


@torch.no_grad()
def measure(vae, frames: np.ndarray) -> dict:
    reconstructed = np.concatenate([to_uint8(vae.decode(vae.encode(to_pixels(torch.from_numpy(part))).latent_dist.mean)
                                             .sample).numpy() for part in np.array_split(frames, max(1, len(frames) // 32))])
    mse = ((frames.astype(np.float64) - reconstructed) ** 2).mean()
    real, drawn = object_pixels(frames), object_pixels(reconstructed)
    return {"psnr_db": float(10 * np.log10(255.0 ** 2 / mse)), "object_pixels_per_frame": float(real.sum() / len(frames)),
            "object_pixels_kept": float((real & drawn).sum() / max(1, real.sum())),
            # red where the frame has none: a blurred, bloated cube (or stray colour) counts here
            "object_pixels_invented": float((drawn & ~real).sum() / max(1, real.sum()))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--world-model", help="also measure this world model's VAE (what the cycle uses)")
    parser.add_argument("--weights", type=float, nargs="*", default=[10.0], help="salience weights to train")
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args()
    store = TrajectoryStore(args.db)
    config = profile(args.profile)
    training, held_out = split_episodes(store, config.camera)
    frames = np.concatenate([store.load_frames(i, config.camera)[::25] for i in held_out])
    print(f"{len(frames)} held-out frames from {len(held_out)} episodes")
    rows = {}
    if args.world_model:
        vae = load_world_model(world_model_dir(store, args.world_model) / "model").vae
        rows[f"world model {args.world_model}"] = measure(vae, frames)
    for weight in args.weights:
        weighted = replace(config, vae=replace(config.vae, salience_weight=weight))
        folder = checkpoints_dir(store) / "vae-objects" / f"salience-{weight:g}"
        start = time.time()
        if existing_checkpoint(folder) is None or read_config(folder)["train_step"] < args.steps:
            train_vae(store, weighted, TrainConfig.scheduled(args.steps, 1e-3), folder,
                      where=EpisodeFilter(ids=tuple(training)),
                      progress=lambda p: print(f"[salience {weight:g}] {p.step}/{p.steps} loss {p.loss:.4f} "
                                               f"psnr {p.metrics.get('psnr_db', 0):.1f} dB", flush=True))
        rows[f"salience weight {weight:g} ({args.steps} steps)"] = {**measure(load_vae(folder, weighted), frames),
                                                                     "train_s": round(time.time() - start)}
    result = {"machine": machine(), "store": str(args.db), "held_out_frames": len(frames), "rows": rows,
              "command": "benchmarks/vae_objects.py " + " ".join(
                  [f"--world-model {args.world_model}"] * bool(args.world_model)
                  + ["--weights", *map("{:g}".format, args.weights), "--steps", str(args.steps)])}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "vae_objects.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = ["# Does the VAE keep the cube? (transfer_cube frames, 96x128)", "",
             "| VAE | reconstruction PSNR | cube pixels per frame | cube pixels kept | red pixels invented "
             "(per cube pixel) |", "|---|---:|---:|---:|---:|"]
    lines += [f"| {name} | {r['psnr_db']:.1f} dB | {r['object_pixels_per_frame']:.1f} | "
              f"{100 * r['object_pixels_kept']:.1f}% | {r['object_pixels_invented']:.2f} |" for name, r in rows.items()]
    lines += ["", f"{len(frames)} held-out frames. Command: `{result['command']}`; machine: {result['machine']}."]
    (args.out / "vae_objects.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
