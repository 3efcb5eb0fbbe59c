"""The trajectory store: episodes, labels, iterations, policy versions, jobs, metrics (SQLite)."""

from storage.episode_filter import EpisodeFilter
from storage.episode_writer import EpisodeInfo, EpisodeSpec, StagedEpisodeWriter
from storage.errors import (
    EpisodeNotFoundError,
    ImportFormatError,
    SchemaVersionError,
    SeedTakenError,
    StepValidationError,
    StoreError,
    StoreFileError,
    StoreFullError,
    StoreReadOnlyError,
)
from storage.schema import STOCK_SCENE
from storage.store import DEFAULT_STORE_PATH, StepArrays, TrajectoryStore
from storage.success_rates import SuccessRate, wilson_interval

__all__ = [
    "DEFAULT_STORE_PATH", "EpisodeFilter", "EpisodeInfo", "EpisodeNotFoundError", "EpisodeSpec",
    "ImportFormatError", "STOCK_SCENE", "SchemaVersionError", "SeedTakenError", "StagedEpisodeWriter", "StepArrays",
    "StepValidationError", "StoreError", "StoreFileError", "StoreFullError", "StoreReadOnlyError", "SuccessRate",
    "TrajectoryStore", "wilson_interval",
]
