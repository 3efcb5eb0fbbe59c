"""Where tensors live: the ``--device`` choice, and the few rules every learner follows.

``auto`` is the first CUDA device when torch sees one, else the CPU. Under a launcher
(torchrun, accelerate) LOCAL_RANK picks the GPU, so each process has its own. Models move
their inputs to their own device at the entry points (``logits``, ``predict``,
``probabilities``), so callers hand over CPU tensors from the store or the robot as they
are. Random draws take a generator on that same device. A command chooses the device once
(``wmpo-app --device``, kept in $WMPO_DEVICE so that child processes inherit it); the trainer
and the checkpoint loaders put models there. Checkpoints stay device-independent:
``learning.checkpoints`` saves CPU copies and loads into whatever device the model is on.
GRPO's and DPO's updates run in fp32 (no autocast): their probability ratios compare
log-probabilities from two passes, and bf16 rounding would show up as ratios away from 1.
"""

from __future__ import annotations

import contextlib
import os

import torch

DEVICE_CHOICES = "auto, cpu, cuda or cuda:N"


def resolve_device(name: str | torch.device = "auto") -> torch.device:
    """``auto|cpu|cuda|cuda:N`` as a torch.device; a clear error when the GPU is not there."""
    if isinstance(name, torch.device):
        return name
    text = str(name).strip().lower()
    if text == "auto":
        text = "cuda" if torch.cuda.is_available() else "cpu"
    if text == "cpu":
        return torch.device("cpu")
    if text == "cuda" or text.startswith("cuda:"):
        index_text = text.partition(":")[2] or os.environ.get("LOCAL_RANK", "0")
        if not index_text.isdigit():
            raise ValueError(f"device {name!r}: the GPU index must be a number; expected {DEVICE_CHOICES}")
        if not torch.cuda.is_available():
            raise ValueError(f"device {name!r}: torch {torch.__version__} sees no CUDA GPU here "
                             f"(torch.version.cuda={torch.version.cuda}); use --device cpu or auto")
        index, count = int(index_text), torch.cuda.device_count()
        if index >= count:
            raise ValueError(f"device {name!r}: there are {count} CUDA device(s), numbered 0 to {count - 1}")
        return torch.device("cuda", index)
    raise ValueError(f"device {name!r}; expected {DEVICE_CHOICES}")


def chosen_device() -> torch.device:
    """The process's device: $WMPO_DEVICE (``wmpo-app --device`` sets it, for the command and
    its child processes), else ``auto``."""
    return resolve_device(os.environ.get("WMPO_DEVICE", "auto"))


def module_device(module: torch.nn.Module) -> torch.device:
    """The device of a module's parameters (the CPU for a module without any)."""
    for tensor in module.parameters():
        return tensor.device
    for tensor in module.buffers():
        return tensor.device
    return torch.device("cpu")


def to_device(batch: dict, device: torch.device) -> dict:
    """A batch's tensors on ``device`` (other entries, such as instructions, as they are)."""
    non_blocking = device.type == "cuda"
    return {k: v.to(device, non_blocking=non_blocking) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}


def generator(device: torch.device, seed: int) -> torch.Generator:
    """A seeded generator on ``device``: torch draws on a device only with a generator there."""
    return torch.Generator(device=device).manual_seed(seed)


def autocast(device: torch.device, enabled: bool = True):
    """bf16 autocast on CUDA (fp32 master weights; matmuls and convolutions in bf16), nothing
    on the CPU, where bf16 is slower than fp32 on most cores. Losses and log-probabilities
    are computed in fp32 outside it where precision matters (GRPO's ratios)."""
    if enabled and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()
