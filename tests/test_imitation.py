"""Imitation data: chunk targets, bins fitted to them, batches from the store."""

from dataclasses import replace

import numpy as np
import pytest
import torch

from app.demos import record_expert_demos
from learning.vla.config import profile
from learning.vla.imitation import chunk_targets, expert_filter, fit_bins, imitation_batches

TINY = profile("tiny")
DELTA = profile("tiny", action_mode="delta")


def test_delta_targets_are_relative_to_the_chunk_start():
    actions = torch.arange(2 * 8 * 14, dtype=torch.float32).view(2, 8, 14)
    qpos = torch.ones(2, 14)
    assert torch.equal(chunk_targets(actions, qpos, DELTA), actions - 1)
    assert torch.equal(chunk_targets(actions, qpos, TINY), actions)  # absolute: the default
    with pytest.raises(ValueError, match="action_mode"):
        replace(TINY, action_mode="velocity")


def test_bins_cover_every_target_and_batches_match_the_policy(store):
    record_expert_demos(store, "transfer_cube", 1, cameras={"cam_high": TINY.image_size})
    for config in (TINY, DELTA):
        bins = fit_bins(store, expert_filter("transfer_cube"), config)
        batch = next(imitation_batches(store, config, expert_filter("transfer_cube"), batch_size=16, seed=0)(0))
        assert batch["images"].shape == (16, 32, 48, 3) and batch["actions"].shape == (16, 8, 14)
        assert bins.encode(batch["actions"])[1] == 0  # nothing clipped
        assert batch["steps"].shape == (16,) and batch["steps"].max() < 400  # each window's start step
    arm_joints = [i for i in range(14) if i not in (6, 13)]  # grippers may lag their command
    assert np.abs(batch["actions"].numpy()[..., arm_joints]).max() < 0.5  # 8-step deltas are small
    with pytest.raises(ValueError, match="record demos with --size 96x128"):
        imitation_batches(store, profile("cpu"), expert_filter("transfer_cube"), 16, 0)
