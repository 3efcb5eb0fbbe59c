"""Judging trajectories: sliding windows, a threshold chosen for F1, and the scores.

A trajectory is a success if any window's probability exceeds the threshold; its success
frame is the last frame of the first such window. The same ``RewardModel.probabilities``
is used when choosing the threshold and when judging, so the two cannot disagree.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch

from learning.reward_model.clips import clip_frames, window_ends
from learning.reward_model.model import RewardModel


@dataclass(frozen=True)
class Verdict:
    success: bool
    success_frame: int | None  # first frame at which the model sees success
    max_probability: float
    probabilities: np.ndarray  # one per window
    window_ends: np.ndarray


@torch.no_grad()
def window_probabilities(model: RewardModel, frames: np.ndarray, stride: int | None = None,
                         batch_size: int = 64, from_frame: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities of every sliding window of one trajectory, frames uint8 (N, H, W, 3), that
    ends at or after frame ``from_frame``."""
    if frames.ndim != 4 or frames.shape[-1] != 3 or len(frames) == 0:
        raise ValueError(f"frames of shape {frames.shape}; expected (N >= 1, H, W, 3) uint8")
    if not 0 <= from_frame < len(frames):
        raise ValueError(f"from_frame {from_frame}: expected a frame of the {len(frames)} given")
    config = model.config
    ends = window_ends(len(frames), config.clip_len, stride or config.stride)
    ends = ends[ends > from_frame]
    was_training = model.training
    model.eval()
    probabilities = []
    for i in range(0, len(ends), batch_size):
        clips = np.stack([clip_frames(frames, end, config.clip_len) for end in ends[i:i + batch_size]])
        probabilities.append(model.probabilities(torch.from_numpy(clips)).cpu().numpy())
    model.train(was_training)
    return np.concatenate(probabilities), ends


def judge(model: RewardModel, frames: np.ndarray, threshold: float | None = None,
          stride: int | None = None, from_frame: int = 0) -> Verdict:
    """``from_frame``: only windows ending there or later count. A continuation imagined from a
    real mid-episode state is judged on what was imagined, with the real frames before it as the
    windows' context: the real prefix held no success (the episode would have ended)."""
    threshold = model.config.threshold if threshold is None else threshold
    probabilities, ends = window_probabilities(model, frames, stride, from_frame=from_frame)
    above = np.flatnonzero(probabilities > threshold)
    return Verdict(success=bool(len(above)), success_frame=int(ends[above[0]] - 1) if len(above) else None,
                   max_probability=float(probabilities.max()), probabilities=probabilities, window_ends=ends)


@dataclass(frozen=True)
class Scores:
    """Episode-level detection scores at one threshold."""

    threshold: float
    episodes: int
    positives: int
    true_positive: int
    false_positive: int
    false_negative: int

    @property
    def precision(self) -> float:
        predicted = self.true_positive + self.false_positive
        return self.true_positive / predicted if predicted else 0.0

    @property
    def recall(self) -> float:
        return self.true_positive / self.positives if self.positives else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def to_json(self) -> dict:
        return {**asdict(self), "precision": self.precision, "recall": self.recall, "f1": self.f1}

    def __str__(self) -> str:
        if not self.positives:
            return (f"F1 undefined: no successful episode among {self.episodes}; "
                    f"{self.false_positive} false successes at threshold {self.threshold:.3f}")
        return (f"F1 {self.f1:.3f} (precision {self.precision:.3f}, recall {self.recall:.3f}) at threshold "
                f"{self.threshold:.3f} on {self.episodes} episodes, {self.positives} successful; "
                f"{self.false_positive} false successes, {self.false_negative} missed")


def scores(max_probabilities: np.ndarray, labels: np.ndarray, threshold: float) -> Scores:
    predicted = np.asarray(max_probabilities) > threshold
    labels = np.asarray(labels, bool)
    return Scores(threshold=float(threshold), episodes=len(labels), positives=int(labels.sum()),
                  true_positive=int((predicted & labels).sum()), false_positive=int((predicted & ~labels).sum()),
                  false_negative=int((~predicted & labels).sum()))


def choose_threshold(max_probabilities: np.ndarray, labels: np.ndarray) -> Scores:
    """The threshold with the highest episode-level F1 on a validation split.

    Candidates lie between consecutive distinct episode scores (a threshold between two
    scores classifies the same way wherever it lies). Ties go to the widest gap measured in
    logits, and the threshold sits at its middle in logits: a trained model puts most scores
    near 0 or 1, where a gap that looks tiny in probability (1e-4 .. 0.5) is the widest
    margin there is -- and frames unlike the validation ones (imagined ones) need that margin."""
    labels = np.asarray(labels, bool)
    if not labels.any():
        raise ValueError(f"the validation split has no successful episode among {len(labels)}: "
                         f"F1 (and so the threshold) is undefined; collect more successes")
    values = np.unique(np.clip(np.asarray(max_probabilities, float), LOGIT_EPS, 1 - LOGIT_EPS))
    edges = logit(np.concatenate([[LOGIT_EPS], values, [1 - LOGIT_EPS]]))
    candidates = sigmoid((edges[:-1] + edges[1:]) / 2)  # candidate i: the middle of gap i
    gaps = np.diff(edges)
    results = [scores(max_probabilities, labels, t) for t in candidates]
    return results[max(range(len(results)), key=lambda i: (results[i].f1, gaps[i]))]


LOGIT_EPS = 1e-6


def logit(p: np.ndarray) -> np.ndarray:
    return np.log(p) - np.log1p(-p)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))
