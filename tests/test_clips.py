"""The clip dataset: right content, every clip once, shuffled across episodes, worker shards."""

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from episode_data import SPEC, episode_arrays, write_episode

from storage import EpisodeFilter, EpisodeInfo
from storage.clips import ClipDataset


def fill(store, lengths, successes=None):
    successes = successes or [True] * len(lengths)
    return {write_episode(store, seed, length, success=ok): (seed, length)
            for seed, (length, ok) in enumerate(zip(lengths, successes))}


def test_clips_hold_consecutive_frames_and_actions(store, store_path):
    episodes = fill(store, [12, 9])
    dataset = ClipDataset(store_path, "cam_high", clip_len=4, stride=2, shuffle=False)
    assert len(dataset) == 5 + 3
    clips = list(dataset)
    for clip in clips:
        seed, length = episodes[clip["episode_id"]]
        actions, qpos, frames = episode_arrays(seed, length)
        window = slice(clip["start"], clip["start"] + 4)
        assert clip["frames"].dtype == torch.uint8 and clip["frames"].shape == (4, 24, 32, 3)
        np.testing.assert_array_equal(clip["frames"].numpy(), frames["cam_high"][window])
        np.testing.assert_array_equal(clip["actions"].numpy(), actions[window])
        np.testing.assert_array_equal(clip["qpos"].numpy(), qpos[window])
        assert clip["success"] == 1


def test_shuffled_across_episodes_and_reproducible_per_epoch(store, store_path):
    fill(store, [30] * 6)
    dataset = ClipDataset(store_path, "cam_left_wrist", clip_len=3, seed=5)
    first = [(c["episode_id"], c["start"]) for c in dataset]
    assert sorted(first) == sorted(zip(dataset.episode_ids.tolist(), dataset.starts.tolist()))
    assert len({e for e, _ in first[:10]}) >= 3  # early clips come from several episodes
    assert first == [(c["episode_id"], c["start"]) for c in dataset]
    dataset.set_epoch(1)
    assert first != [(c["episode_id"], c["start"]) for c in dataset]


def test_filter_short_episodes_staged_episodes_and_labels(store, store_path):
    ids = list(fill(store, [10, 2, 10], successes=[True, True, False]))
    with store.episode_writer(EpisodeInfo(task="transfer_cube"), SPEC) as staged:
        actions, qpos, frames = episode_arrays(0, 10)
        for t in range(10):
            staged.add_step(actions[t], qpos[t], {c: f[t] for c, f in frames.items()})
        everything = ClipDataset(store_path, "cam_high", clip_len=8)
        assert set(everything.episode_ids.tolist()) == {ids[0], ids[2]}  # short and staged ones left out
        failures = ClipDataset(store_path, "cam_high", clip_len=8, where=EpisodeFilter(success=False))
        assert [c["success"] for c in failures] == [0, 0, 0]
        assert len(ClipDataset(store_path, "cam_low", clip_len=2)) == 0


def test_dataloader_workers_draw_disjoint_shares(store, store_path):
    fill(store, [16, 16, 16])
    dataset = ClipDataset(store_path, "cam_high", clip_len=4, stride=3)
    loader = DataLoader(dataset, batch_size=4, num_workers=2)
    drawn = []
    for batch in loader:
        assert batch["frames"].shape[1:] == (4, 24, 32, 3)
        drawn += list(zip(batch["episode_id"].tolist(), batch["start"].tolist()))
    assert len(drawn) == len(dataset) == len(set(drawn))


def test_frame_offsets_decode_only_the_frames_asked_for(store, store_path):
    episodes = fill(store, [10])
    dataset = ClipDataset(store_path, "cam_high", clip_len=4, shuffle=False, frame_offsets=(0, 3))
    clip = next(iter(dataset))
    _, _, frames = episode_arrays(*episodes[clip["episode_id"]])
    assert clip["frames"].shape == (2, 24, 32, 3) and clip["actions"].shape == (4, 14)
    np.testing.assert_array_equal(clip["frames"].numpy(), frames["cam_high"][[0, 3]])
    with pytest.raises(ValueError, match="frame_offsets"):
        ClipDataset(store_path, "cam_high", clip_len=4, frame_offsets=(4,))


def test_history_before_the_first_frame_repeats_it(store, store_path):
    episodes = fill(store, [10])
    dataset = ClipDataset(store_path, "cam_high", clip_len=3, shuffle=False, frame_offsets=(-3, -2, -1, 0, 2))
    clips = {clip["start"]: clip for clip in dataset}
    _, _, frames = episode_arrays(*episodes[clips[0]["episode_id"]])
    np.testing.assert_array_equal(clips[0]["frames"].numpy(), frames["cam_high"][[0, 0, 0, 0, 2]])
    np.testing.assert_array_equal(clips[5]["frames"].numpy(), frames["cam_high"][[2, 3, 4, 5, 7]])
