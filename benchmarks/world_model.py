"""World-model speed per profile: imagined frames per second (batched) and training step time.

    .venv/bin/python benchmarks/world_model.py                   # cpu and tiny profiles
    .venv/bin/python benchmarks/world_model.py --profiles gpu    # on a GPU machine (needs the local VAE)

Random weights: speed does not depend on what the model has learned. One imagination step
is one action chunk: K / frame_stride frames per trajectory, each sampled with the profile's
Euler steps. Reported: imagined frames/s, and control steps/s (robot time imagined per
second: frames x frame_stride). Target (cpu profile): >= 50 control steps/s on 2 cores, batched.
Writes benchmarks/results/world_model.json.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import torch

from app.arm_kinematics import with_kinematics
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
    return {"batch": batch, "frames_per_s": chunks * batch * config.frames_per_chunk / seconds,
            "control_steps_per_s": chunks * batch * config.chunk_size / seconds, "seconds_per_chunk": seconds / chunks}


def training_step_s(model: WorldModel, batch: int, steps: int = 3) -> float:
    config = model.config
    data = {"frames": torch.randint(0, 256, (batch, config.context_frames + 1, *config.image_size, 3),
                                    dtype=torch.uint8),
            "first": torch.randint(0, 256, (batch, *config.image_size, 3), dtype=torch.uint8),
            "actions": torch.randn(batch, config.action_window, config.action_dim)}
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
    parser.add_argument("--train-batch", type=int, default=16)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "world_model.json")
    args = parser.parse_args()
    results = {"machine": f"{os.cpu_count()} CPUs, torch {torch.__version__}, threads {torch.get_num_threads()}",
               "profiles": {}}
    for name in args.profiles:
        torch.manual_seed(0)
        config = with_kinematics(profile(name))  # pose maps need the sim arm's kinematics
        model = WorldModel(config).eval()
        entry = {"image_size": config.image_size, "frame_stride": config.frame_stride,
                 "sampling_steps": config.diffusion.sampling_steps,
                 "parameters": sum(p.numel() for p in model.net.parameters()),
                 "imagination": [imagined_frames_per_s(model, b, "cpu") for b in args.batches],
                 "train_step_s": training_step_s(model, args.train_batch), "train_batch": args.train_batch}
        results["profiles"][name] = entry
        best = max(entry["imagination"], key=lambda r: r["frames_per_s"])
        print(f"{name}: imagination {best['frames_per_s']:.1f} frames/s ({best['control_steps_per_s']:.0f} control "
              f"steps/s) at batch {best['batch']}; "
              f"train step {entry['train_step_s']:.3f} s at batch {args.train_batch}", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"written {args.out}")


if __name__ == "__main__":
    main()
