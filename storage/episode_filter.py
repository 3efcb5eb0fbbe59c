"""Which committed episodes a query is about."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Select, select

from storage.schema import Episode, EpisodeCamera


@dataclass(frozen=True)
class EpisodeFilter:
    """Every field left as None matches anything. Staged episodes never match."""

    task: str | None = None
    source: str | None = None
    scene: str | None = None  # STOCK_SCENE: the stock sim scene (and every real episode); else a disruption
    robot_kind: str | None = None
    iteration_id: int | None = None
    policy_version_id: int | None = None
    success: bool | None = None  # True / False: only episodes with that label
    labelled: bool | None = None  # True: any label; False: no label yet
    ids: tuple[int, ...] | None = None
    # only episodes recorded with this camera, at this (height, width): a model reads one size,
    # and a store may hold several (demos recorded for another profile)
    camera: str | None = None
    image_size: tuple[int, int] | None = None

    def __post_init__(self):
        if self.image_size is not None and self.camera is None:
            raise ValueError("image_size filters one camera's frames: give camera too")

    def apply(self, query: Select) -> Select:
        query = query.where(Episode.status == "committed")
        for column, value in (
            (Episode.task, self.task),
            (Episode.source, self.source),
            (Episode.scene, self.scene),
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
        if self.camera is not None:
            recorded = select(EpisodeCamera.episode_id).where(EpisodeCamera.camera == self.camera)
            if self.image_size is not None:
                height, width = self.image_size
                recorded = recorded.where(EpisodeCamera.height == height, EpisodeCamera.width == width)
            query = query.where(Episode.id.in_(recorded))
        return query
