"""Success rates with 95% Wilson score intervals, grouped per iteration or per source (episodes
of a disruption scene apart from the stock ones: "eval/wider_start" beside "eval")."""

from __future__ import annotations

import math
from dataclasses import dataclass

from sqlalchemy import Engine, case, func, literal, select

from storage.episode_filter import EpisodeFilter
from storage.schema import STOCK_SCENE, Episode, Iteration

Z_95 = 1.959963984540054


def wilson_interval(successes: int, n: int, z: float = Z_95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion; (0, 1) when n == 0."""
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class SuccessRate:
    group: str | int | None  # iteration number, or source name (source/scene outside the stock scene)
    labelled: int  # episodes with a success label
    successes: int
    unlabelled: int

    @property
    def rate(self) -> float | None:
        return self.successes / self.labelled if self.labelled else None

    @property
    def interval(self) -> tuple[float, float]:
        return wilson_interval(self.successes, self.labelled)

    def summary(self) -> str:
        if not self.labelled:
            return f"no labelled episodes ({self.unlabelled} unlabelled)"
        low, high = self.interval
        return (f"{100 * self.rate:.1f}% [{100 * low:.1f}, {100 * high:.1f}] "
                f"({self.successes}/{self.labelled}, {self.unlabelled} unlabelled)")

    def __str__(self) -> str:
        return f"{self.group}: {self.summary()}"


def success_rates(engine: Engine, by: str, where: EpisodeFilter | None = None) -> list[SuccessRate]:
    """Success per ``by`` = "iteration" (iteration number; None for outside any) or "source"
    ("eval"; "eval/object_colour" for the evaluations in a disruption scene)."""
    if by == "iteration":
        key = Iteration.number
    elif by == "source":
        key = case((Episode.scene == STOCK_SCENE, Episode.source),
                   else_=Episode.source + literal("/") + Episode.scene)
    else:
        raise ValueError(f"by={by!r}; expected 'iteration' or 'source'")
    labelled = func.sum(case((Episode.success.is_not(None), 1), else_=0))
    successes = func.sum(case((Episode.success.is_(True), 1), else_=0))
    unlabelled = func.sum(case((Episode.success.is_(None), 1), else_=0))
    query = (
        select(key, labelled, successes, unlabelled)
        .select_from(Episode)
        .outerjoin(Iteration, Episode.iteration_id == Iteration.id)
        .group_by(key)
        .order_by(key)
    )
    query = (where or EpisodeFilter()).apply(query)
    with engine.connect() as conn:
        return [SuccessRate(g, int(n), int(s), int(u)) for g, n, s, u in conn.execute(query)]
