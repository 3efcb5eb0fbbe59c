"""Endless, resumable batches from a ClipDataset: what ``trainer.train`` consumes."""

from __future__ import annotations

from typing import Callable, Iterator

import torch

from learning.distributed import world_size
from storage.clips import ClipDataset


def epoch_batches(dataset: ClipDataset, batch_size: int,
                  collate: Callable[[list[dict]], dict]) -> Callable[[int], Iterator[dict]]:
    """``batches(start_step)``: a resumed run continues at the epoch its step falls in, so
    the shuffle order it sees is the one an uninterrupted run would have seen. With several
    processes each draws its own share of an epoch's clips."""
    steps_per_epoch = max(1, len(dataset) // (batch_size * world_size()))

    def batches(start_step: int) -> Iterator[dict]:
        epoch = start_step // steps_per_epoch
        while True:
            dataset.set_epoch(epoch)
            items = []
            for clip in dataset:
                items.append(clip)
                if len(items) == batch_size:
                    yield collate(items)
                    items = []
            epoch += 1

    return batches


def mixed_batches(first: Callable[[int], Iterator[dict]], second: Callable[[int], Iterator[dict]]
                  ) -> Callable[[int], Iterator[dict]]:
    """Each batch the concatenation of one batch from each stream (their sizes set the shares),
    resumable as each stream is."""

    def batches(start_step: int) -> Iterator[dict]:
        for a, b in zip(first(start_step), second(start_step)):
            yield {key: torch.cat([a[key], b[key]]) for key in a}

    return batches
