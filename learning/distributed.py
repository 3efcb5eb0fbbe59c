"""Several training processes (torchrun, accelerate launch): the little the trainer needs.

Launchers set WORLD_SIZE / RANK / LOCAL_RANK / MASTER_ADDR; with more than one process the
process group starts here: nccl when the ranks train on GPUs (LOCAL_RANK picks each one's),
gloo on the CPU. The learner runs inside torch's DistributedDataParallel, which starts by
broadcasting rank 0's weights and buffers and then averages gradients during backward --
so the ranks' weights stay identical, each rank draws its own share of the clips, and only
rank 0 writes checkpoints.
"""

from __future__ import annotations

import os
from typing import Callable

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel


def init_from_env(device: torch.device | None = None) -> tuple[int, int]:
    """(rank, world size); starts the process group when launched with several processes:
    nccl for CUDA devices (it cannot reduce CPU tensors), gloo otherwise."""
    if not dist.is_initialized() and int(os.environ.get("WORLD_SIZE", "1")) > 1:
        on_gpu = device is not None and device.type == "cuda"
        if on_gpu:
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if on_gpu else "gloo")
    return rank(), world_size()


class _Loss(torch.nn.Module):
    """``learner.loss`` as a forward pass: DistributedDataParallel hooks into forward."""

    def __init__(self, learner: torch.nn.Module):
        super().__init__()
        self.learner = learner

    def forward(self, batch: dict):
        return self.learner.loss(batch)


def data_parallel(learner: torch.nn.Module, device: torch.device) -> Callable[[dict], tuple[torch.Tensor, dict]]:
    """The function that computes the learner's loss: the learner's own ``loss`` in one
    process, the same through DistributedDataParallel in several. Parameters a step leaves
    unused (a branch not taken) are allowed; buffers are statistics fixed before training,
    synchronised once, not at every step."""
    if world_size() == 1:
        return learner.loss
    device_ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(_Loss(learner), device_ids=device_ids, find_unused_parameters=True,
                                   broadcast_buffers=False)


def rank() -> int:
    return dist.get_rank() if dist.is_initialized() else 0


def world_size() -> int:
    return dist.get_world_size() if dist.is_initialized() else 1


def is_main() -> bool:
    return rank() == 0


def barrier() -> None:
    if world_size() > 1:
        dist.barrier()
