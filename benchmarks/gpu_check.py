"""The learning stack on a GPU, in one script that fits a short lease (issue 19).

On a bare GPU machine that has torch but not diffusers, mujoco or sqlalchemy, and no network:

    # here, once: the wheels it lacks, for its Python (3.12 on the lent H200s), into .whl/
    echo /.whl/ >> .git/info/exclude
    python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \\
        --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \\
        -d .whl diffusers importlib_metadata mujoco glfw pyopengl
    # there, from the repository root (carry .whl):
    python3 benchmarks/gpu_check.py --wheels .whl --out $OUT

It installs what is missing from the wheels beside it, then, on the device (``--device``,
default auto), through the product's own trainer (``learning.trainer.train``: device
placement, bf16 autocast, fp32 master weights):
- trains the policy, the world model and the reward model for ``--steps`` steps each on
  synthetic data made there (fixed sets, so the loss must fall), and records steps/s, clips/s
  and peak memory;
- trains the gpu-profile world model at batch 32 (the issue's target), or records the OOM;
- measures imagined frames/s for G = 8 and 64 (cpu profile) and 8 and 32 (gpu profile);
- writes ``gpu_check.json`` (the machine named) to ``--out``.

``--tiny`` runs everything at test sizes in seconds on the CPU: the suite checks the script
itself that way, so it is ready when a GPU is at hand.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NEEDED = {"diffusers": "diffusers", "mujoco": "mujoco"}  # module -> what a wheel provides


def install_missing(wheels: Path | None) -> list[str]:
    """pip-install the carried wheels when a needed module is missing; returns what was missing."""
    missing = [m for m in NEEDED if importlib.util.find_spec(m) is None]
    if missing and wheels is not None:
        target = Path(tempfile.gettempdir()) / "gpu-check-site"
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-compile",
                        "--upgrade", "--target", str(target), *map(str, sorted(wheels.glob("*.whl")))], check=True)
        sys.path.insert(0, str(target))
        importlib.invalidate_caches()
    still = [m for m in NEEDED if importlib.util.find_spec(m) is None]
    if still:
        raise SystemExit(f"gpu_check: {', '.join(still)} not importable; carry their wheels (--wheels, see the docstring)")
    return missing


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--wheels", type=Path, help="folder of wheels to install what is missing from")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    parser.add_argument("--device", default="auto")
    parser.add_argument("--steps", type=int, default=300, help="training steps per learner")
    parser.add_argument("--tiny", action="store_true", help="test sizes, seconds on a CPU (checks the script)")
    args = parser.parse_args()
    missing = install_missing(args.wheels)
    sys.path.insert(0, str(ROOT))
    import os

    os.environ["WMPO_DEVICE"] = args.device
    import torch

    from learning.device import chosen_device

    device = chosen_device()
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    size = "tiny" if args.tiny else "cpu"
    steps = min(args.steps, 20) if args.tiny else args.steps
    started = time.perf_counter()
    result = {"machine": machine(device), "installed_from_wheels": missing, "device": str(device), "steps": steps,
              "learners": {}, "imagination": {}}
    for name, build in (("policy", policy_learner), ("world_model", world_model_learner),
                        ("reward_model", reward_learner)):
        batch = 8 if args.tiny else 64
        result["learners"][name] = train_rate(*build(size), batch, steps, device)
        print(name, result["learners"][name], flush=True)
    big = "tiny" if args.tiny else "gpu"
    result["learners"]["world_model_gpu_profile_batch32"] = guarded(
        lambda: train_rate(*world_model_learner(big), 4 if args.tiny else 32, 3 if args.tiny else 20, device), device)
    print("world model, gpu profile", result["learners"]["world_model_gpu_profile_batch32"], flush=True)
    for profile_name, groups in ((size, (8, 64)), (big, (8, 32))):
        for g in groups:
            key = f"{profile_name}-G{g}"
            result["imagination"][key] = guarded(lambda: imagination_rate(profile_name, g, 2 if args.tiny else 6,
                                                                          device), device)
            print("imagination", key, result["imagination"][key], flush=True)
    result["wall_s"] = round(time.perf_counter() - started, 1)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / ("gpu_check-tiny.json" if args.tiny else "gpu_check.json")).write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


def machine(device) -> dict:
    import torch

    info = {"host": platform.node(), "python": platform.python_version(), "torch": torch.__version__}
    if device.type == "cuda":
        info |= {"gpu": torch.cuda.get_device_name(device), "cuda": torch.version.cuda,
                 "gpu_memory_gib": round(torch.cuda.get_device_properties(device).total_memory / 2**30, 1)}
    return info


def guarded(measure, device) -> dict:
    """A measurement, or what stopped it (out of memory is a result here, not a crash)."""
    import torch

    try:
        return measure()
    except torch.OutOfMemoryError as exc:
        return {"error": f"out of memory: {str(exc).splitlines()[0]}"}
    finally:
        if device.type == "cuda":
            torch.cuda.empty_cache()


# -- learners on synthetic data: a fixed set, so the loss must fall --------------------------

def policy_learner(size: str):
    import torch

    from learning.action_bins import ActionBins
    from learning.vla.config import profile
    from learning.vla.policy import VLAPolicy

    config = profile(size) if size == "tiny" else profile("cpu")
    model = VLAPolicy(config, ActionBins(low=(-1.0,) * 14, high=(1.0,) * 14))
    g = torch.Generator().manual_seed(0)
    n, (h, w) = 256, config.image_size
    images = torch.randint(0, 256, (n, h, w, 3), dtype=torch.uint8, generator=g)
    actions = images.float().mean(dim=(1, 2, 3))[:, None, None].expand(n, config.chunk_size, 14) / 128 - 1

    def batch(index):
        return {"images": images[index], "actions": actions[index].contiguous(), "steps": index % config.horizon,
                "instructions": ["transfer the cube"] * len(index)}

    return model, batch, n, 3e-4


def world_model_learner(size: str):
    import torch

    from learning.world_model.arm_pose import ArmKinematics
    from learning.world_model.config import profile
    from learning.world_model.world_model import WorldModel
    from robot.sim.kinematics import arm_kinematics

    config = profile(size)
    if config.pose_maps:
        config = replace(config, kinematics=ArmKinematics.from_json(arm_kinematics(config.camera)))
    model = WorldModel(config)
    g = torch.Generator().manual_seed(0)
    n, (h, w), c = 64, config.image_size, config.context_frames
    frames = torch.randint(0, 256, (n, c + 1, h, w, 3), dtype=torch.uint8, generator=g)
    actions = torch.randn(n, config.action_window, config.action_dim, generator=g) * 0.1

    def batch(index):
        return {"frames": frames[index], "first": frames[index, 0], "actions": actions[index]}

    return model, batch, n, 1e-4


def reward_learner(size: str):
    import torch

    from learning.reward_model.config import profile
    from learning.reward_model.model import RewardModel

    config = profile(size) if size == "tiny" else profile("cpu")
    model = RewardModel(config)
    g = torch.Generator().manual_seed(0)
    n, (h, w) = 128, config.image_size
    clips = torch.randint(0, 256, (n, config.clip_len, h, w, 3), dtype=torch.uint8, generator=g)
    labels = (clips.float().mean(dim=(1, 2, 3, 4)) > clips.float().mean()).long()  # brightness: learnable

    def batch(index):
        return {"clips": clips[index], "labels": labels[index]}

    return model, batch, n, 3e-4


def train_rate(model, make_batch, n: int, lr: float, batch_size: int, steps: int, device) -> dict:
    """The product's trainer on the device: first and last logged loss, steps/s, clips/s, peak memory."""
    import torch

    from learning.trainer import TrainConfig, train

    losses, rates = [], []
    g = torch.Generator().manual_seed(1)

    def batches(start):
        while True:
            yield make_batch(torch.randint(0, n, (batch_size,), generator=g))

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    config = TrainConfig(steps=steps, lr=lr, warmup_steps=min(20, steps // 5), log_every=max(1, steps // 10),
                         checkpoint_every=steps)
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        train(model, batches, config, Path(folder) / "ckpt", {"kind": "gpu-check"},
              lambda p: (losses.append(round(p.loss, 5)), rates.append(p.steps_per_s)))
        wall = time.perf_counter() - started
    steady = sorted(rates[1:] or rates)[len(rates[1:] or rates) // 2]  # the median after the first window
    out = {"batch": batch_size, "losses": losses, "loss_fell": losses[-1] < losses[0], "steps_per_s": round(steady, 2),
           "clips_per_s": round(steady * batch_size, 1), "wall_s": round(wall, 1),
           "params_m": round(sum(p.numel() for p in model.parameters() if p.requires_grad) / 1e6, 2)}
    if device.type == "cuda":
        out["peak_memory_gib"] = round(torch.cuda.max_memory_allocated(device) / 2**30, 2)
    return out


def imagination_rate(size: str, trajectories: int, chunks: int, device) -> dict:
    import torch

    from learning.world_model.imagination import Imagination

    model, _, _, _ = world_model_learner(size)
    model.to(device).eval()
    h, w = model.config.image_size
    imagination = Imagination(model)
    k, d = model.config.chunk_size, model.config.action_dim
    imagination.reset(torch.randint(0, 256, (trajectories, h, w, 3), dtype=torch.uint8))
    imagination.step(torch.zeros(trajectories, k, d))  # warm-up: kernels chosen, memory allocated
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    sync()
    started = time.perf_counter()
    for _ in range(chunks):
        imagination.step(torch.randn(trajectories, k, d) * 0.1)
    sync()
    elapsed = time.perf_counter() - started
    frames = trajectories * chunks * model.config.frames_per_chunk
    return {"trajectories": trajectories, "sampling_steps": model.config.diffusion.sampling_steps,
            "frames_per_s": round(frames / elapsed, 1), "control_steps_per_s": round(frames / elapsed
                                                                                     * model.config.frame_stride, 1)}


if __name__ == "__main__":
    main()
