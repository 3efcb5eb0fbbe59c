"""Several training processes (torchrun, accelerate launch): the little the trainer needs.

Launchers set WORLD_SIZE / RANK / MASTER_ADDR; with more than one process the process
group starts here (gloo on CPU, nccl on GPU). Every rank builds the same model, rank 0's
weights and buffers are broadcast once, each rank draws its own share of the clips, and
gradients are averaged before every optimizer step -- so the ranks' weights stay identical
and only rank 0 writes checkpoints.
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist


def init_from_env() -> tuple[int, int]:
    """(rank, world size); starts the process group when launched with several processes."""
    if not dist.is_initialized() and int(os.environ.get("WORLD_SIZE", "1")) > 1:
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return rank(), world_size()


def rank() -> int:
    return dist.get_rank() if dist.is_initialized() else 0


def world_size() -> int:
    return dist.get_world_size() if dist.is_initialized() else 1


def is_main() -> bool:
    return rank() == 0


def broadcast_module(module: torch.nn.Module) -> None:
    """Rank 0's parameters and buffers to every rank (statistics computed from a rank's own
    share of the data, such as a latent scale, differ until then)."""
    if world_size() > 1:
        for tensor in [*module.parameters(), *module.buffers()]:
            dist.broadcast(tensor.data, src=0)


def average_gradients(parameters: list[torch.nn.Parameter]) -> None:
    if world_size() > 1:
        for p in parameters:
            if p.grad is None:  # unused this step on this rank: contribute zeros, keep ranks in step
                p.grad = torch.zeros_like(p)
            dist.all_reduce(p.grad)
            p.grad /= world_size()


def barrier() -> None:
    if world_size() > 1:
        dist.barrier()
