"""The imagination ladder's measures on frames whose answer is known: the moving-pixel PSNR
and the another-episode's-actions control of the open-loop rung."""

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent.parent / "benchmarks"))
from imagination_ladder import moving_psnr, object_summary, open_loop, score_object, with_other_actions  # noqa: E402

from learning.world_model.fidelity import Replay  # noqa: E402


def episode(shift: int, steps: int = 17) -> np.ndarray:
    """A grey table and a white block that moves right by ``shift`` pixels every step."""
    frames = np.full((steps, 24, 32, 3), 80, np.uint8)
    for t in range(steps):
        x = min(28, 2 + (shift * t) // 4)
        frames[t, 10:14, x:x + 4] = 250
    return frames


def test_moving_psnr_scores_only_what_moved():
    last = torch.from_numpy(episode(4)[:1])
    real = torch.from_numpy(episode(4)[8:9])
    assert moving_psnr(real, last, real) > 100  # exact where it moved
    copied = moving_psnr(real, last, last)
    assert copied < 10  # the block was not where copying puts it
    whole_frame_copy = 10 * np.log10(255 ** 2 / ((real.float() - last.float()) ** 2).mean().item())
    assert whole_frame_copy > copied + 10  # the still table hides the miss in a whole-frame PSNR
    assert moving_psnr(last, last, real) is None  # nothing moved: no score


def test_open_loop_tells_own_actions_from_another_episodes():
    a, b = episode(4), episode(1)
    replays = [Replay(a, np.arange(17, dtype=np.float32)[:, None], True),
               Replay(b, np.arange(12, dtype=np.float32)[:, None] * 2, False)]
    others = with_other_actions(replays)
    assert others[0].actions.shape == (17, 1) and others[0].actions[-1, 0] == 22  # the shorter one's last, held
    assert np.array_equal(others[1].actions[:, 0], np.arange(12))
    # "imagination" that reproduces each episode exactly with its own actions, and the other's frames with
    # the other's actions (stride 4, chunk 4: frames at steps 0, 4, ...)
    own = [a[::4], b[::4]]
    other = [b[::4], a[::4][:len(b[::4])]]
    result = open_loop(replays, own, stride=4, k=4, imagined_other=other)
    at2 = result["psnr_by_chunks"]["2"]
    assert at2["imagined_db"] > 100 > at2["other_actions_db"]
    assert at2["moving_pixels"]["psnr"] > 100 > at2["moving_pixels"]["other"]
    assert at2["moving_pixels"]["frozen"] < 10 and result["beats_frozen_everywhere"]


def test_the_red_object_is_scored_where_the_real_one_shows():
    real = np.zeros((3, 8, 8, 3), np.uint8)
    real[:, 2:4, 2:4] = (220, 20, 20)  # a red cube in every frame
    imagined = real.copy()
    imagined[1] = 0  # lost in the middle frame
    imagined[2, 2:4, 2:4] = 0
    imagined[2, 5:7, 5:7] = (220, 20, 20)  # and misplaced by 3 px in the last
    scores = {"present": [], "error_px": [], "real_px": [], "imagined_px": []}
    score_object(real, imagined, scores)
    assert scores["present"] == [True, False, True] and scores["error_px"] == [0.0, pytest.approx(3 * 2 ** 0.5)]
    summary = object_summary(scores, "_late")
    assert summary["object_present_fraction_late"] == pytest.approx(2 / 3)
