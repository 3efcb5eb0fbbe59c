"""Which clips the reward model learns from, exactly as the paper builds them (section 3.3).

A clip is named by its episode and ``end``: it holds L frames ending with frame end-1 (the
paper's c_i = I_{i-L:i} with i = end), ``frame_stride`` steps apart -- the world model's stride,
so that the reward model judges imagined trajectories at the rate they are imagined. Frames
before the episode's first one are that first frame repeated, so a short episode still has
its one clip (end = its length).

- positive: the terminal clip c_N of each successful episode (N = its length: the sim and
  the operator end an episode at its success), or the clips ending at its last few frames
  (``terminal_clips``: imagination's frames fall every frame_stride steps from the start, so
  its last one lies up to a stride before the success);
- negative: the earlier clips c_i, S <= i <= N-S, of successful episodes (S: the steps a
  clip spans) -- none of them overlaps the terminal clip; or up to N - ``margin``, so that the
  moments just before a success are shown as not yet one -- and every clip c_i, S <= i <= N,
  of failed episodes.
Unlabelled episodes give nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class EpisodeClips:
    episode_id: int
    positive_ends: np.ndarray  # int64
    negative_ends: np.ndarray  # int64


def episode_clips(episode_id: int, length: int, success: bool | None, span: int,
                  terminal_clips: int = 1, margin: int | None = None) -> EpisodeClips:
    """``span``: the control steps one clip covers, (L - 1) * frame_stride + 1. A success gives
    ``terminal_clips`` positives, the clips ending at its last that many frames (1: the paper's
    c_N alone), and negatives ending up to ``margin`` (None: ``span``) steps before its end."""
    if length < 1:
        raise ValueError(f"episode {episode_id} has {length} frames; expected at least 1")
    none = np.zeros(0, np.int64)
    if success is None:
        return EpisodeClips(episode_id, none, none)
    if success:
        return EpisodeClips(episode_id, np.arange(max(1, length - terminal_clips + 1), length + 1, dtype=np.int64),
                            np.arange(span, length - (span if margin is None else margin) + 1))
    return EpisodeClips(episode_id, none, np.arange(min(span, length), length + 1))


def window_ends(length: int, clip_len: int, stride: int) -> np.ndarray:
    """Ends of the sliding windows over a trajectory of ``length`` frames.

    Windows step by ``stride`` from the first full clip, and the terminal clip is always
    one of them: a success on the last frames is never skipped, whatever the stride
    (the official code's ``min_steps`` bug left trajectories unscored)."""
    ends = np.arange(min(clip_len, length), length + 1, stride)
    return ends if ends[-1] == length else np.append(ends, length)


def clip_steps(end: int, clip_len: int, frame_stride: int = 1) -> np.ndarray:
    """The steps of the clip that ends with frame end - 1: L frames, ``frame_stride`` apart,
    step 0 standing in before the episode's start."""
    return np.maximum(0, end - 1 - frame_stride * np.arange(clip_len - 1, -1, -1))


def clip_frames(frames: np.ndarray, end: int, clip_len: int) -> np.ndarray:
    """frames[end-L:end] of one sequence, its first frame standing in before the start."""
    return frames[np.minimum(clip_steps(end, clip_len), len(frames) - 1)]


def at_stride(frames: np.ndarray, frame_stride: int) -> np.ndarray:
    """Every ``frame_stride``-th frame of a recorded episode, ending with its last one: the
    success is on the last frame, and the reward model sees what imagination gives it."""
    return frames[(len(frames) - 1) % frame_stride::frame_stride]


@dataclass
class ClipIndex:
    """Every positive and negative clip of a set of episodes, as (episode_id, end) arrays."""

    positive: np.ndarray  # (n, 2)
    negative: np.ndarray  # (m, 2)

    @classmethod
    def build(cls, episodes: list[EpisodeClips]) -> "ClipIndex":
        def pairs(attr):
            parts = [np.stack([np.full(len(getattr(e, attr)), e.episode_id), getattr(e, attr)], 1)
                     for e in episodes]
            return np.concatenate(parts).astype(np.int64) if parts else np.zeros((0, 2), np.int64)

        return cls(pairs("positive_ends"), pairs("negative_ends"))

    def balanced_batch(self, rng: np.random.Generator, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
        """Half positives, half negatives, each drawn uniformly (with replacement):
        refs (batch, 2) and labels (batch,)."""
        if len(self.positive) == 0 or len(self.negative) == 0:
            raise ValueError(f"{len(self.positive)} positive and {len(self.negative)} negative clips; a balanced "
                             f"batch needs both: train on successful and failed episodes")
        half = batch_size // 2
        refs = np.concatenate([self.positive[rng.integers(len(self.positive), size=half)],
                               self.negative[rng.integers(len(self.negative), size=batch_size - half)]])
        labels = np.concatenate([np.ones(half), np.zeros(batch_size - half)]).astype(np.float32)
        return refs, labels
