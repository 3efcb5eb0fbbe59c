"""Which committed episodes a query is about."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Select

from storage.schema import Episode


@dataclass(frozen=True)
class EpisodeFilter:
    """Every field left as None matches anything. Staged episodes never match."""

    task: str | None = None
    source: str | None = None
    robot_kind: str | None = None
    iteration_id: int | None = None
    policy_version_id: int | None = None
    success: bool | None = None  # True / False: only episodes with that label
    labelled: bool | None = None  # True: any label; False: no label yet
    ids: tuple[int, ...] | None = None

    def apply(self, query: Select) -> Select:
        query = query.where(Episode.status == "committed")
        for column, value in (
            (Episode.task, self.task),
            (Episode.source, self.source),
            (Episode.robot_kind, self.robot_kind),
            (Episode.iteration_id, self.iteration_id),
            (Episode.policy_version_id, self.policy_version_id),
        ):
            if value is not None:
                query = query.where(column == value)
        if self.success is not None:
            query = query.where(Episode.success.is_(self.success))
        if self.labelled is not None:
            query = query.where(
                Episode.success.is_not(None) if self.labelled else Episode.success.is_(None)
            )
        if self.ids is not None:
            query = query.where(Episode.id.in_(self.ids))
        return query
