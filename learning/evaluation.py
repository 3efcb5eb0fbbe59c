"""The evaluation protocol: fixed initial states, disjoint from every training seed.

Evaluation seeds start at EVAL_SEED_BASE; demonstrations (from 0) and training rollouts
(from ROLLOUT_SEED_BASE) draw their seeds below it. A result is a success rate with its 95% Wilson interval and the mean
length of the successful episodes (the paper's Fig. 5).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field

import numpy as np

from storage import wilson_interval

EVAL_SEED_BASE = 1_000_000
ROLLOUT_SEED_BASE = 500_000  # policy rollouts (the real budget P); demos count up from 0
# GRPO on real rollouts: every run starts here, so runs compared with each other see the same initial states
GRPO_SEED_BASE = 750_000


def evaluation_seeds(n: int = 128) -> list[int]:
    return list(range(EVAL_SEED_BASE, EVAL_SEED_BASE + n))


@dataclass(frozen=True)
class EvalSummary:
    task: str
    episodes: int
    successes: int
    mean_success_length: float | None
    inference_ms_median: float | None  # None: every episode was reused from the store, nothing was timed
    inference_ms_p95: float | None
    chunk_ms: float  # how long a chunk lasts on the robot: inference must stay below it
    # episodes per highest task stage reached (sim): where failures stop, e.g. {"2": 5, "4": 3}
    stages: dict[str, int] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.successes / self.episodes

    @property
    def interval(self) -> tuple[float, float]:
        return wilson_interval(self.successes, self.episodes)

    def to_json(self) -> dict:
        return {**asdict(self), "rate": self.rate, "interval95": list(self.interval)}

    def __str__(self) -> str:
        low, high = self.interval
        length = f"{self.mean_success_length:.0f}" if self.mean_success_length else "-"
        timing = ("inference not timed (stored episodes reused)" if self.inference_ms_median is None else
                  f"inference {self.inference_ms_median:.1f} ms/chunk median, {self.inference_ms_p95:.1f} p95")
        return (f"{self.task}: success {self.successes}/{self.episodes} = {100 * self.rate:.1f}% "
                f"[95% CI {100 * low:.1f}, {100 * high:.1f}], mean successful length {length} steps; "
                f"{timing} (chunk lasts {self.chunk_ms:.0f} ms)"
                + (f"; episodes per highest stage reached {self.stages}" if self.stages else ""))


def summarize(task: str, successes: list[bool], lengths: list[int], inference_s: list[float],
              chunk_ms: float, stages: list[int | None] = ()) -> EvalSummary:
    won = [n for ok, n in zip(successes, lengths) if ok]
    times = np.asarray(inference_s) * 1e3
    timed = len(times) > 0
    return EvalSummary(task=task, episodes=len(successes), successes=int(sum(successes)),
                       mean_success_length=float(np.mean(won)) if won else None,
                       inference_ms_median=float(np.median(times)) if timed else None,
                       inference_ms_p95=float(np.percentile(times, 95)) if timed else None,
                       chunk_ms=chunk_ms,
                       stages={str(k): v for k, v in sorted(Counter(s for s in stages if s is not None).items())})
