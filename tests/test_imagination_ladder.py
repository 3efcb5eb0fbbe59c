"""The imagination ladder's measures on frames whose answer is known: the moving-pixel PSNR
and the another-episode's-actions control of the open-loop rung."""

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent.parent / "benchmarks"))
from imagination_ladder import (late_start_outcomes, moving_psnr, object_summary, open_loop,  # noqa: E402
                                score_object, with_other_actions)

from learning.reward_model.model import RewardModel  # noqa: E402
from learning.reward_model.config import profile as reward_profile  # noqa: E402
from learning.world_model.config import profile as world_model_profile  # noqa: E402
from learning.world_model.fidelity import Replay  # noqa: E402
from learning.world_model.imagination import Imagination  # noqa: E402
from learning.world_model.world_model import WorldModel  # noqa: E402


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


def test_late_starts_imagine_the_same_number_of_chunks_for_every_episode_and_judge_them_whole():
    torch.manual_seed(0)
    config = world_model_profile("tiny")  # chunk 8, stride 4
    imagination = Imagination(WorldModel(config).eval(), seed=0)
    reward = RewardModel(reward_profile("tiny")).eval()
    rng = np.random.default_rng(0)
    lengths = (37, 50, 29)  # a short success, a long failure, one too short for 4 chunks
    replays = [Replay(rng.integers(0, 256, (n, *config.image_size, 3), dtype=np.uint8),
                      rng.normal(size=(n, 14)).astype(np.float32), success)
               for n, success in zip(lengths, (True, False, True))]
    result = late_start_outcomes(imagination, reward, replays, horizons=(1, 4))
    assert result["1"]["episodes"] == 3 and result["4"]["episodes"] == 2  # 29 steps leave no room before 4 chunks
    assert result["4"]["successes"] == 1
    for h in (1, 4):  # h chunks imagined to the last frame at the stride, from a start on the stride
        for start, n in zip(result[str(h)]["start_steps"], lengths):
            assert start % 4 == 0 and start + h * 8 <= n - 1 < start + h * 8 + 4
    for h in ("1", "4"):
        for name in ("imagined", "held_start"):
            assert 0 <= result[h][name]["balanced_accuracy"] <= 1 and result[h][name]["auc"] is not None
