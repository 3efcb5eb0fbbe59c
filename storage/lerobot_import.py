"""Import a LeRobotDataset v3.0 folder (see ``storage.lerobot_format``) into the store.

The whole folder is checked before anything is written: info.json's version and features, every
episode's rows in the data files (count, frame order, vector sizes) and its span in each camera's
mp4 (the file there, its frame size, enough frames). Episodes are then written one by one through
the store's staged episode writer, frames decoded from the videos as they go. If any episode
fails, the episodes this import already committed are deleted again: an import lands whole or
not at all.

A folder written by ``export-lerobot`` brings its ``wmpo.*`` columns back (source, robot kind,
label and label source); the other episodes' provenance is kept in the episode's ``extra``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from storage.episode_writer import EpisodeInfo, EpisodeSpec
from storage.errors import ImportFormatError, StepValidationError
from storage.lerobot_format import (
    ACTION, DATA_PATH, STATE, VIDEO_PATH, camera_key, read_info, read_tables, video_features,
)
from storage.schema import LABEL_SOURCES, STOCK_SCENE
from storage.video import iter_frames, video_info

EPISODE_COLUMNS = ("episode_index", "length", "tasks", "data/chunk_index", "data/file_index")


@dataclass(frozen=True)
class LeRobotEpisode:
    index: int  # episode_index in the folder
    task_text: str  # its first task: the language instruction
    qpos: np.ndarray  # float32 (T, state_dim)
    actions: np.ndarray  # float32 (T, action_dim)
    videos: dict[str, tuple[Path, int]]  # camera -> (mp4, the episode's first frame in it)
    wmpo: dict  # the wmpo.* columns of its first frame, where the folder has them

    @property
    def length(self) -> int:
        return len(self.qpos)


@dataclass(frozen=True)
class LeRobotFolder:
    path: Path
    fps: int
    cameras: dict[str, tuple[int, int, int]]  # camera name (without observation.images.) -> (H, W, 3)
    episodes: list[LeRobotEpisode]


def read_lerobot_folder(folder: Path | str) -> LeRobotFolder:
    """Check a folder against the v3.0 layout and load its vectors; frames stay in the videos.
    Raises ImportFormatError naming the file, what was found and what was expected."""
    folder = Path(folder)
    info = read_info(folder)
    fps, cameras = info["fps"], video_features(info)
    dims = {name: info["features"][name]["shape"][0] for name in (STATE, ACTION)}
    meta = read_tables(folder, "meta/episodes/*/*.parquet")
    if meta is None:
        raise ImportFormatError(f"{folder}: no meta/episodes/chunk-*/file-*.parquet; expected one row per episode")
    needed = [*EPISODE_COLUMNS, *(f"videos/{camera_key(c)}/{k}" for c in cameras
                                  for k in ("chunk_index", "file_index", "from_timestamp"))]
    missing = [name for name in needed if name not in meta.column_names]
    if missing:
        raise ImportFormatError(f"{folder}/meta/episodes: columns {missing} are missing; expected {needed}")
    if meta.num_rows != info.get("total_episodes"):
        raise ImportFormatError(f"{folder}: meta/info.json says total_episodes={info.get('total_episodes')}, "
                                f"meta/episodes holds {meta.num_rows} episodes; expected them to agree")
    data = _data_files(folder, meta, dims)
    episodes = [_episode(folder, row, data, cameras, fps) for row in meta.sort_by("episode_index").to_pylist()]
    return LeRobotFolder(folder, fps, cameras, episodes)


def _data_files(folder: Path, meta: pa.Table, dims: dict[str, int]) -> dict[tuple[int, int], dict]:
    """Each data file's rows as numpy columns, sorted by (episode_index, frame_index)."""
    files = {}
    for chunk, file in sorted(set(zip(meta.column("data/chunk_index").to_pylist(),
                                      meta.column("data/file_index").to_pylist()))):
        path = folder / DATA_PATH.format(chunk_index=chunk, file_index=file)
        table = read_tables(path.parent, path.name)
        if table is None:
            raise ImportFormatError(f"{path}: missing; meta/episodes places episodes in it")
        for name in ("episode_index", "frame_index", STATE, ACTION):
            if name not in table.column_names:
                raise ImportFormatError(f"{path}: no column {name!r}; it has {table.column_names}")
        table = table.sort_by([("episode_index", "ascending"), ("frame_index", "ascending")])
        columns = {name: table.column(name).to_numpy() for name in ("episode_index", "frame_index")}
        for name, dim in dims.items():
            columns[name] = _vectors(path, table.column(name).combine_chunks(), name, dim)
        wmpo = [name for name in table.column_names if name.startswith("wmpo.")]
        columns["wmpo"] = {name: table.column(name).to_pylist() for name in wmpo}
        files[chunk, file] = columns
    return files


def _vectors(path: Path, column: pa.Array, name: str, dim: int) -> np.ndarray:
    if not pa.types.is_list(column.type) and not pa.types.is_fixed_size_list(column.type):
        raise ImportFormatError(f"{path}: column {name!r} is {column.type}, expected lists of {dim} floats")
    lengths = pc.list_value_length(column).to_numpy(zero_copy_only=False)
    if len(lengths) and (lengths != dim).any():
        bad = int(np.flatnonzero(lengths != dim)[0])
        raise ImportFormatError(f"{path}: shape mismatch: {name!r} has {lengths[bad]} values in row {bad}, "
                                f"meta/info.json's features say [{dim}]")
    values = column.flatten().to_numpy(zero_copy_only=False).astype(np.float32).reshape(-1, dim)
    if not np.isfinite(values).all():
        raise ImportFormatError(f"{path}: {name!r} has non-finite values; expected finite floats")
    return values


def _episode(folder: Path, row: dict, data: dict, cameras: dict, fps: int) -> LeRobotEpisode:
    index, length = row["episode_index"], row["length"]
    columns = data[row["data/chunk_index"], row["data/file_index"]]
    where = np.flatnonzero(columns["episode_index"] == index)
    place = f"{folder}: episode {index}"
    if len(where) != length or not np.array_equal(columns["frame_index"][where], np.arange(length)):
        raise ImportFormatError(f"{place}: its data file holds {len(where)} rows (frame_index "
                                f"{columns['frame_index'][where][:5].tolist()}...), expected length={length} "
                                f"rows with frame_index 0..{length - 1}")
    videos = {}
    for camera, shape in cameras.items():
        key = camera_key(camera)
        path = folder / VIDEO_PATH.format(video_key=key, chunk_index=row[f"videos/{key}/chunk_index"],
                                          file_index=row[f"videos/{key}/file_index"])
        if not path.is_file():
            raise ImportFormatError(f"{place}: video {path} is missing")
        found = video_info(path)
        if (found.height, found.width) != shape[:2]:
            raise ImportFormatError(f"{path}: shape mismatch: frames are {found.height}x{found.width}, "
                                    f"meta/info.json's {key} says {shape[0]}x{shape[1]}")
        first = round(row[f"videos/{key}/from_timestamp"] * fps)
        if found.frames and found.frames < first + length:
            raise ImportFormatError(f"{path}: {found.frames} frames, expected at least {first + length} "
                                    f"for episode {index} (from frame {first}, {length} long)")
        videos[camera] = (path, first)
    wmpo = {name: values[where[0]] for name, values in columns["wmpo"].items()} if length else {}
    return LeRobotEpisode(index, (row["tasks"] or [""])[0], columns[STATE][where], columns[ACTION][where],
                          videos, wmpo)


def import_lerobot(store, folder: Path | str, *, task: str, robot_kind: str | None = None,
                   source: str | None = None, success: bool | None | str = "folder", codec: str = "qoi",
                   progress: Callable[[int, int], None] | None = None) -> list[int]:
    """Import every episode of ``folder`` as an episode of ``task``; returns the new ids.

    ``robot_kind``, ``source`` and ``success`` (True, False, None: unlabelled) override what the
    folder's wmpo columns say; without those columns they default to "real", "expert" and True
    (the operator's label, as LeRobot datasets are mostly demonstrations).
    """
    dataset = read_lerobot_folder(folder)
    imported: list[int] = []
    try:
        for episode in dataset.episodes:
            imported.append(_import_one(store, dataset, episode, task, robot_kind, source, success, codec))
            if progress is not None:
                progress(len(imported), len(dataset.episodes))
    except (ImportFormatError, StepValidationError, OSError, av.FFmpegError) as exc:
        _take_back(store, imported)
        raise ImportFormatError(f"{folder}: import failed ({exc}); nothing was imported") from exc
    except BaseException as exc:
        _take_back(store, imported)
        exc.add_note(f"while importing {folder}; nothing was imported")
        raise
    return imported


def _take_back(store, episode_ids: list[int]) -> None:
    """All or nothing: delete the episodes this import had committed."""
    for episode_id in episode_ids:
        store.delete_episode(episode_id)


def _import_one(store, dataset: LeRobotFolder, episode: LeRobotEpisode, task: str, robot_kind: str | None,
                source: str | None, success, codec: str) -> int:
    wmpo, label_source = episode.wmpo, "operator"
    if success == "folder":
        label = wmpo.get("wmpo.success", 1)
        success = None if label < 0 else bool(label)
        if wmpo.get("wmpo.label_source") in LABEL_SOURCES:  # who labelled it in the exporting store
            label_source = wmpo["wmpo.label_source"]
    info = EpisodeInfo(
        task=task, instruction=episode.task_text, control_period_s=1.0 / dataset.fps,
        robot_kind=robot_kind or wmpo.get("wmpo.robot_kind") or "real",
        source=source or wmpo.get("wmpo.source") or "expert",
        scene=wmpo.get("wmpo.scene") or STOCK_SCENE,  # a folder from before scenes were exported: all stock
        extra={"imported_from": str(dataset.path), "format": "lerobot-v3.0", "lerobot_episode_index": episode.index,
               **{name: value for name, value in wmpo.items() if name.endswith("_id")}})
    spec = EpisodeSpec(cameras=dataset.cameras, action_dim=episode.actions.shape[1],
                       qpos_dim=episode.qpos.shape[1], codec=codec)
    frames = {cam: iter_frames(path, dataset.fps, first) for cam, (path, first) in episode.videos.items()}
    with store.episode_writer(info, spec) as writer:
        for t in range(episode.length):
            step_frames = {}
            for cam, decoded in frames.items():
                index, frame = next(decoded, (None, None))
                path, first = episode.videos[cam]
                if index != first + t:
                    raise ImportFormatError(f"{path}: frame {first + t} of episode {episode.index} is missing "
                                            f"(decoded {index})")
                step_frames[cam] = frame
            writer.add_step(action=episode.actions[t], qpos=episode.qpos[t], frames=step_frames,
                            timestamp=t / dataset.fps)
        return writer.commit(success=success, label_source=None if success is None else label_source,
                             record_loop_stats=False)
