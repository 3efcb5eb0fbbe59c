"""World-model speed per profile: imagined frames per second (batched) and training step time.

    .venv/bin/python benchmarks/world_model.py                   # cpu and tiny profiles
    .venv/bin/python benchmarks/world_model.py --profiles gpu    # on a GPU machine (needs the local VAE)

Random weights: speed does not depend on what the model has learned. One imagination step
is one action chunk: K frames per trajectory sampled (scheduler steps of the profile) and
decoded to pixels. Target (cpu profile): >= 50 imagined frames/s on 2 cores, batched.
Writes benchmarks/results/world_model.json.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import torch

from learning.world_model.config import profile
from learning.world_model.imagination import Imagination
from learning.world_model.world_model import WorldModel


def imagined_frames_per_s(model: WorldModel, batch: int, device: str, chunks: int = 2) -> dict:
    config = model.config
    frames = torch.randint(0, 256, (batch, *config.image_size, 3), dtype=torch.uint8)
    actions = torch.randn(batch, config.chunk_size, config.action_dim)
    imagination = Imagination(model)
    imagination.reset(frames)
    imagination.step(actions)  # warm-up
    start = time.perf_counter()
    for _ in range(chunks):
        imagination.step(actions)
    if device == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    return {"batch": batch, "frames_per_s": chunks * batch * config.chunk_size / seconds,
            "seconds_per_chunk": seconds / chunks}


def training_step_s(model: WorldModel, batch: int, steps: int = 3) -> float:
    config = model.config
    data = {"frames": torch.randint(0, 256, (batch, config.context_frames + config.chunk_size, *config.image_size, 3),
                                    dtype=torch.uint8),
            "actions": torch.randn(batch, config.chunk_size, config.action_dim)}
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    model.train()
    times = []
    for _ in range(steps + 1):
        start = time.perf_counter()
        loss, _ = model.loss(data)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        times.append(time.perf_counter() - start)
    model.eval()
    return min(times[1:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profiles", nargs="+", default=["cpu", "tiny"])
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 8, 32])
    parser.add_argument("--train-batch", type=int, default=8)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "world_model.json")
    args = parser.parse_args()
    results = {"machine": f"{os.cpu_count()} CPUs, torch {torch.__version__}, threads {torch.get_num_threads()}",
               "profiles": {}}
    for name in args.profiles:
        torch.manual_seed(0)
        config = profile(name)
        model = WorldModel(config).eval()
        entry = {"image_size": config.image_size, "latent_size": config.latent_size,
                 "sampling_steps": config.sampling_steps, "sampler": config.sampler,
                 "dit_parameters": sum(p.numel() for p in model.dit.parameters()),
                 "vae_parameters": sum(p.numel() for p in model.vae.parameters()),
                 "imagination": [imagined_frames_per_s(model, b, "cpu") for b in args.batches],
                 "train_step_s": training_step_s(model, args.train_batch), "train_batch": args.train_batch}
        results["profiles"][name] = entry
        best = max(r["frames_per_s"] for r in entry["imagination"])
        print(f"{name}: imagination {best:.1f} frames/s at best batch; "
              f"train step {entry['train_step_s']:.3f} s at batch {args.train_batch}", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"written {args.out}")


if __name__ == "__main__":
    main()
