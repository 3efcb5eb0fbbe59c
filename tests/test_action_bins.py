"""Action bins: ranges from data, encode/decode round trip, clipping counted."""

import numpy as np
import pytest
import torch

from learning.action_bins import ActionBins


def test_round_trip_within_half_a_bin():
    actions = np.random.default_rng(0).uniform(-2, 3, size=(500, 14))
    bins = ActionBins.from_actions(actions)
    index, clipped = bins.encode(torch.from_numpy(actions))
    assert clipped == 0 and index.min() >= 0 and index.max() <= 255
    width = (np.array(bins.high) - np.array(bins.low)) / 256
    error = np.abs(bins.decode(index).numpy() - actions)
    assert (error <= width / 2 + 1e-6).all()


def test_out_of_range_values_clip_to_edge_bins_and_are_counted():
    bins = ActionBins(low=(0.0,) * 14, high=(1.0,) * 14)
    actions = torch.full((2, 14), 0.5)
    actions[0, 3], actions[1, 7] = -5.0, 9.0
    index, clipped = bins.encode(actions)
    assert clipped == 2 and index[0, 3] == 0 and index[1, 7] == 255


def test_constant_dimension_gets_a_usable_range_and_json_round_trip():
    actions = np.zeros((10, 14))
    actions[:, 0] = np.linspace(0, 1, 10)
    bins = ActionBins.from_actions(actions)
    assert all(h > lo for lo, h in zip(bins.low, bins.high))
    assert ActionBins.from_json(bins.to_json()) == bins


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="finite"):
        ActionBins.from_actions(np.array([[np.nan] * 14]))
    with pytest.raises(ValueError, match="14 dimensions, bins have 2"):
        ActionBins(low=(0.0, 0.0), high=(1.0, 1.0)).encode(torch.zeros(3, 14))
