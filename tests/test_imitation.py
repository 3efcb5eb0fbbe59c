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
        imitation_batches(store, profile("cpu", camera="cam_high"), expert_filter("transfer_cube"), 16, 0)


def test_a_policy_trained_on_n_demos_reads_the_first_n_of_each_task(store, tmp_path):
    import argparse

    from episode_data import write_episode

    from app.policy_commands import demos_arg
    from learning.trainer import TrainConfig
    from learning.vla.imitation import first_demos, train_policy
    from storage import EpisodeSpec

    spec = EpisodeSpec(cameras={"cam_high": (*TINY.image_size, 3)})
    ids = {task: [write_episode(store, seed, 12, source="expert", task=task, spec=spec) for seed in range(3)]
           for task in ("transfer_cube", "insertion")}
    write_episode(store, 9, 12, source="expert", success=False, spec=spec)  # a failed demo never counts
    assert set(first_demos(store, None, TINY, 2).ids) == {*ids["transfer_cube"][:2], *ids["insertion"][:2]}
    assert first_demos(store, "insertion", TINY, 5).ids == tuple(ids["insertion"])
    train_policy(store, TINY, TrainConfig(steps=1), tmp_path / "policy", task=None, batch_size=4, demos_per_task=1)
    saved = __import__("json").loads((tmp_path / "policy" / "config.json").read_text())
    assert (saved["episodes"], saved["demos_per_task"]) == (2, 1)
    assert demos_arg("all") is None and demos_arg("25") == 25
    for bad in ("0", "many"):
        with pytest.raises(argparse.ArgumentTypeError, match="per task, or 'all'"):
            demos_arg(bad)
