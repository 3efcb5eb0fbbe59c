"""One training loop for every learner (policy, world model, reward model).

A learner is an nn.Module with ``loss(batch) -> (loss, metrics)`` and, optionally,
``after_step()`` (an EMA update); parameters with requires_grad=False are not trained.
The loop owns the device, the optimizer, gradient clipping, progress, the training curve
(``learning.curves``: every logged window beside the checkpoint), and resumable checkpoints: every ``checkpoint_every`` steps the weights, optimizer moments and step go to
``checkpoint_dir``; started again, it continues from there, on whatever device it is given.
On CUDA the loss is computed under bf16 autocast (fp32 master weights). Launched as several
processes (torchrun, accelerate), the learner runs inside DistributedDataParallel, each rank
on its own GPU (LOCAL_RANK) or CPU, and rank 0 alone reports and writes checkpoints (see
``learning.distributed``).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import torch

from learning import distributed
from learning.checkpoints import existing_checkpoint, load_optimizer, load_weights, read_config, save_checkpoint
from learning.curves import append_point
from learning.device import autocast, chosen_device, to_device


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 1000
    lr: float = 3e-4
    weight_decay: float = 1e-4
    grad_clip: float = 1.0
    warmup_steps: int = 100
    cosine_decay: bool = True  # to 10% of lr at the last step
    log_every: int = 50
    checkpoint_every: int = 500
    seed: int = 0
    mixed_precision: bool = True  # bf16 autocast on CUDA; ignored on the CPU

    @classmethod
    def scheduled(cls, steps: int, lr: float, cosine_decay: bool = True) -> "TrainConfig":
        """``steps`` at ``lr`` with warm-up, ~20 progress reports and ~4 checkpoints. Without the
        cosine decay the rate stays at ``lr``, so a run resumed with more steps goes on as it was."""
        return cls(steps=steps, lr=lr, warmup_steps=min(100, steps // 10), log_every=max(1, min(100, steps // 20)),
                   checkpoint_every=max(1, min(500, steps // 4)), cosine_decay=cosine_decay)


@dataclass
class TrainProgress:
    step: int
    steps: int
    loss: float
    metrics: dict
    steps_per_s: float


def learning_rate(config: TrainConfig, step: int) -> float:
    if step < config.warmup_steps:
        return config.lr * (step + 1) / config.warmup_steps
    if not config.cosine_decay:
        return config.lr
    progress = (step - config.warmup_steps) / max(1, config.steps - config.warmup_steps)
    return config.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


def train(learner: torch.nn.Module, batches: Callable[[int], Iterator[dict]], config: TrainConfig,
          checkpoint_dir: Path, learner_config: dict,
          progress: Callable[[TrainProgress], None] | None = None) -> torch.nn.Module:
    """Train ``learner`` for ``config.steps`` steps. ``batches(start_step)`` yields batches
    (on the CPU; they are moved to the device here)."""
    checkpoint_dir = Path(checkpoint_dir)
    device = chosen_device()
    rank, _ = distributed.init_from_env(device)
    learner.to(device)
    trained = [p for p in learner.parameters() if p.requires_grad]  # frozen parts (a VAE, an EMA copy) stay
    optimizer = torch.optim.AdamW(trained, lr=config.lr, weight_decay=config.weight_decay)
    step = 0
    if existing_checkpoint(checkpoint_dir) is not None:
        load_weights(checkpoint_dir, learner)
        load_optimizer(checkpoint_dir, optimizer)
        step = int(read_config(checkpoint_dir).get("train_step", 0))
    loss_of = distributed.data_parallel(learner, device)  # rank 0's weights to every rank, then DDP
    torch.manual_seed(config.seed + step + 7919 * rank)  # ranks draw different noise and augmentations
    learner.train()
    started, window_loss, window_metrics, window_start = time.perf_counter(), 0.0, {}, step
    for batch in batches(step):
        if step >= config.steps:
            break
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(config, step)
        with autocast(device, config.mixed_precision):
            loss, metrics = loss_of(to_device(batch, device))
        loss = loss.float()
        if not torch.isfinite(loss):
            raise FloatingPointError(f"training loss became {loss.item()} at step {step}; last metrics {metrics}")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()  # DDP averages the gradients across ranks here
        torch.nn.utils.clip_grad_norm_(trained, config.grad_clip)
        optimizer.step()
        if hasattr(learner, "after_step"):  # e.g. an EMA update
            learner.after_step()
        step += 1
        window_loss += loss.item()
        for key, value in metrics.items():
            window_metrics[key] = window_metrics.get(key, 0.0) + float(value)
        if step % config.log_every == 0 or step == config.steps:
            n = step - window_start
            elapsed = time.perf_counter() - started
            if rank == 0:
                report = TrainProgress(step, config.steps, window_loss / n,
                                       {k: v / n for k, v in window_metrics.items()}, n / elapsed)
                append_point(checkpoint_dir, {"step": step, "loss": report.loss, **report.metrics,
                                              "lr": learning_rate(config, step - 1), "steps_per_s": report.steps_per_s})
                if progress is not None:
                    progress(report)
            started, window_loss, window_metrics, window_start = time.perf_counter(), 0.0, {}, step
        if step % config.checkpoint_every == 0 or step == config.steps:
            if rank == 0:
                save_checkpoint(checkpoint_dir, learner, {**learner_config, "train_step": step}, optimizer)
            distributed.barrier()
    learner.eval()
    return learner
