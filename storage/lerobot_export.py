"""Export stored episodes as a LeRobotDataset v3.0 folder (see ``storage.lerobot_format``).

Export is incremental: episodes the folder already holds (by their ``wmpo.episode_id``) are
skipped, and the new ones go into the next file index of data, videos and meta/episodes, so the
files already there stay as they are. Each file is written beside its final name and renamed:
videos first, then the frames, tasks and stats, then the new meta/episodes file, which is what
makes the export count (a crash before it leaves files the next export overwrites), and
meta/info.json's totals last.

Each camera's video is decoded again after encoding and compared with the stored frames: the
report gives its PSNR (inf when lossless), which is the figure to check a ``crf`` against.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from storage.aloha_export import FRAMES_PER_READ
from storage.episode_filter import EpisodeFilter
from storage.schema import STOCK_SCENE
from storage.errors import StoreError
from storage.lerobot_format import (
    ACTION, DATA_PATH, EPISODES_PATH, INFO_PATH, STATE, STATS_PATH, TASKS_PATH, VIDEO_PATH, as_json, camera_key,
    dataset_features, file_location, frame_schema, info_json, merged_stats, read_info, read_tables,
    read_tasks, tasks_table, vector_stats, write_json, write_parquet,
)
from storage.video import VideoCodec, VideoWriter, h264, iter_frames, psnr

PIXEL_STRIDE = 4  # image stats read every 4th pixel of every 4th row: plenty for a mean and std


@dataclass
class LeRobotExport:
    folder: Path
    added: list[int] = field(default_factory=list)  # store episode ids written by this export
    skipped: list[int] = field(default_factory=list)  # matched the filter, already in the folder
    frames: int = 0
    video_bytes: dict[str, int] = field(default_factory=dict)  # camera -> bytes of this export's mp4
    psnr_db: dict[str, float] = field(default_factory=dict)  # camera -> PSNR of all its frames (inf: exact)
    worst_frame_psnr_db: dict[str, float] = field(default_factory=dict)


def export_lerobot(store, where: EpisodeFilter, folder: Path | str, *, codec: VideoCodec | None = None,
                   keyframe_interval: int = 5, robot_type: str = "aloha") -> LeRobotExport:
    """Add the committed episodes matching ``where`` that ``folder`` lacks; returns what was done."""
    codec = codec or h264()
    folder = Path(folder)
    info = read_info(folder) if folder.exists() and any(folder.iterdir()) else None
    previous, in_folder = _folder_contents(folder)
    matched = store.episodes(where)
    report = LeRobotExport(folder, skipped=[e.id for e in matched if e.id in in_folder])
    episodes = [e for e in matched if e.id not in in_folder]
    if not episodes:
        return report
    cameras = {name: (cam.height, cam.width, cam.channels) for name, cam in store.cameras(episodes[0].id).items()}
    fps = _fps(episodes[0])
    features = dataset_features(episodes[0].qpos_dim, episodes[0].action_dim, cameras, fps,
                                codec.name, codec.stream_pix_fmt)
    _check_alike(store, episodes, features, fps, info)
    if info is not None:
        features = info["features"]  # keep what the folder already says (its first export's codec)
        _check_scenes(episodes, features, folder)
    location = file_location(previous["files"])
    tasks = read_tasks(folder)
    for episode in episodes:
        tasks.setdefault(_task_text(episode), len(tasks))

    writers = {cam: VideoWriter(folder / VIDEO_PATH.format(video_key=camera_key(cam), **location), fps,
                                shape[0], shape[1], codec, keyframe_interval) for cam, shape in cameras.items()}
    columns: dict[str, list] = defaultdict(list)
    episode_rows: list[dict] = []
    image_stats: dict[str, dict] = {}
    try:
        for n, episode in enumerate(episodes):
            first_frame = previous["frames"] + report.frames
            video_start = writers[next(iter(writers))].frames if writers else 0
            _add_rows(columns, store, episode, previous["episodes"] + n, first_frame, fps,
                      tasks[_task_text(episode)])
            for cam, writer in writers.items():
                for start in range(0, episode.length, FRAMES_PER_READ):
                    frames = store.load_frames(episode.id, cam, start, min(episode.length, start + FRAMES_PER_READ))
                    writer.write(frames)
                    pixels = vector_stats(frames[:, ::PIXEL_STRIDE, ::PIXEL_STRIDE].reshape(-1, 3) / 255.0)
                    image_stats[cam] = merged_stats(image_stats[cam], pixels) if cam in image_stats else pixels
            episode_rows.append(_episode_row(episode, previous["episodes"] + n, _task_text(episode),
                                             first_frame, location, cameras, video_start, fps))
            report.frames += episode.length
            report.added.append(episode.id)
        paths = {cam: writer.close() for cam, writer in writers.items()}
    except BaseException:
        for writer in writers.values():
            writer.discard()
        raise
    for cam, path in paths.items():
        report.video_bytes[cam] = path.stat().st_size
        report.psnr_db[cam], report.worst_frame_psnr_db[cam] = _video_psnr(store, episodes, cam, path, fps)

    # meta/episodes is written last but info.json: its file is what makes this export's files count
    columns = {name: values for name, values in columns.items() if name in features or not name.startswith("wmpo.")}
    write_parquet(folder / DATA_PATH.format(**location), pa.table(columns, schema=frame_schema(features)))
    write_parquet(folder / TASKS_PATH, tasks_table(tasks))
    new_stats = _frame_stats(columns) | {camera_key(cam): _channel_stats(s) for cam, s in image_stats.items()}
    write_json(folder / STATS_PATH, as_json(_merge_with_folder(folder, new_stats)))
    write_parquet(folder / EPISODES_PATH.format(**location), pa.Table.from_pylist(episode_rows))
    write_json(folder / INFO_PATH, info_json(
        features, fps, robot_type if info is None else info.get("robot_type", robot_type),
        previous["episodes"] + len(episodes), previous["frames"] + report.frames, len(tasks)))
    return report


def _folder_contents(folder: Path) -> tuple[dict, set[int]]:
    """Episodes, frames and files an earlier export completed (those with a meta/episodes file: a
    crash before it leaves files that do not count and are overwritten), and their store ids."""
    episodes = read_tables(folder, "meta/episodes/*/*.parquet") if folder.is_dir() else None
    if episodes is None:
        return {"episodes": 0, "frames": 0, "files": 0}, set()
    files = {(c, f) for c, f in zip(episodes.column("data/chunk_index").to_pylist(),
                                    episodes.column("data/file_index").to_pylist())}
    ids = set()
    for chunk_index, file_index in files:
        frames = pq.read_table(folder / DATA_PATH.format(chunk_index=chunk_index, file_index=file_index))
        if "wmpo.episode_id" not in frames.column_names:
            raise StoreError(f"{folder} holds a LeRobot dataset without a wmpo.episode_id column; export into "
                             f"an empty folder or one that an earlier export-lerobot wrote")
        ids |= set(frames.column("wmpo.episode_id").to_pylist())
    counts = {"episodes": episodes.num_rows, "frames": sum(episodes.column("length").to_pylist()), "files": len(files)}
    return counts, ids


def _fps(episode) -> int:
    if not episode.control_period_s:
        raise StoreError(f"episode {episode.id} has no control period; LeRobot needs a frame rate")
    return round(1.0 / episode.control_period_s)


def _task_text(episode) -> str:
    """LeRobot's task is the language instruction; the task name stands in when there is none."""
    return episode.instruction or episode.task


def _check_alike(store, episodes, features: dict, fps: int, info: dict | None) -> None:
    """Every episode (and the folder) must have the first one's frame rate, dims and cameras."""
    def shapes(f):
        return {name: list(v["shape"]) for name, v in f.items() if name in (STATE, ACTION) or v["dtype"] == "video"}

    expected = shapes(features)
    if info is not None and (shapes(info["features"]) != expected or info["fps"] != fps):
        raise StoreError(f"the folder holds {shapes(info['features'])} at {info['fps']} fps; the episodes to add "
                         f"have {expected} at {fps} fps. Export them into another folder")
    pix_fmts = {v["info"]["video.pix_fmt"] for v in (info or {}).get("features", {}).values() if v["dtype"] == "video"}
    wanted = {v["info"]["video.pix_fmt"] for v in features.values() if v["dtype"] == "video"}
    if info is not None and pix_fmts != wanted:
        raise StoreError(f"the folder's videos are {sorted(pix_fmts)}, these would be {sorted(wanted)}; export with "
                         f"the settings of the first export (with --lossless for gbrp, without for yuv420p)")
    for episode in episodes[1:]:
        cams = {camera_key(n): [c.height, c.width, c.channels] for n, c in store.cameras(episode.id).items()}
        found = {STATE: [episode.qpos_dim], ACTION: [episode.action_dim], **cams}
        if found != expected or _fps(episode) != fps:
            raise StoreError(f"episode {episode.id} has {found} at {_fps(episode)} fps, unlike episode "
                             f"{episodes[0].id} ({expected} at {fps} fps); one LeRobot dataset holds one "
                             f"layout, so narrow the filter (e.g. --task, --camera)")


def _add_rows(columns: dict, store, episode, episode_index: int, first_frame: int, fps: int, task_index: int) -> None:
    steps = store.load_steps(episode.id)
    length = episode.length
    columns[STATE] += list(np.asarray(steps.qpos, np.float32))
    columns[ACTION] += list(np.asarray(steps.actions, np.float32))
    # LeRobot finds a frame in the video by this timestamp, so it is frame_index / fps, not the
    # step's recorded time (which jitters on a real robot).
    columns["timestamp"] += (np.arange(length) / fps).astype(np.float32).tolist()
    columns["frame_index"] += list(range(length))
    columns["episode_index"] += [episode_index] * length
    columns["index"] += list(range(first_frame, first_frame + length))
    columns["task_index"] += [task_index] * length
    success = -1 if episode.success is None else int(episode.success)
    for name, value in (("wmpo.episode_id", episode.id), ("wmpo.source", episode.source),
                        ("wmpo.robot_kind", episode.robot_kind), ("wmpo.success", success),
                        ("wmpo.label_source", episode.label_source or ""),
                        ("wmpo.iteration_id", _or_minus_one(episode.iteration_id)),
                        ("wmpo.policy_version_id", _or_minus_one(episode.policy_version_id)),
                        ("wmpo.scene", episode.scene)):
        columns[name] += [value] * length


def _check_scenes(episodes, features: dict, folder: Path) -> None:
    """A folder first written before episodes carried their scene has no wmpo.scene column: its
    episodes are all stock, and a disrupted one must not join them looking stock."""
    if "wmpo.scene" in features:
        return
    disrupted = [e.id for e in episodes if e.scene != STOCK_SCENE]
    if disrupted:
        raise StoreError(f"{folder} was written without a wmpo.scene column, and episodes {disrupted[:5]} were run "
                         f"in a disruption scene; export them into a new folder (or narrow the filter: --scene stock)")


def _or_minus_one(value: int | None) -> int:
    return -1 if value is None else value


def _episode_row(episode, episode_index: int, task: str, first_frame: int, location: dict, cameras: dict,
                 video_start: int, fps: int) -> dict:
    row = {"episode_index": episode_index, "tasks": [task], "length": episode.length,
           "data/chunk_index": location["chunk_index"], "data/file_index": location["file_index"],
           "dataset_from_index": first_frame, "dataset_to_index": first_frame + episode.length}
    for cam in cameras:
        key = camera_key(cam)
        row |= {f"videos/{key}/chunk_index": location["chunk_index"],
                f"videos/{key}/file_index": location["file_index"],
                f"videos/{key}/from_timestamp": video_start / fps,
                f"videos/{key}/to_timestamp": (video_start + episode.length) / fps}
    return row | {"meta/episodes/chunk_index": location["chunk_index"],
                  "meta/episodes/file_index": location["file_index"]}


def _video_psnr(store, episodes, camera: str, path: Path, fps: int) -> tuple[float, float]:
    """PSNR of the whole video against the stored frames (from the pooled squared error), and of
    its worst frame."""
    decoded = iter_frames(path, fps)
    squared, pixels, worst = 0.0, 0, float("inf")
    for episode in episodes:
        for start in range(0, episode.length, FRAMES_PER_READ):
            for frame in store.load_frames(episode.id, camera, start, min(episode.length, start + FRAMES_PER_READ)):
                _, got = next(decoded)
                squared += float(np.sum((frame.astype(np.float64) - got) ** 2))
                pixels += frame.size
                worst = min(worst, psnr(frame, got))
    mse = squared / pixels
    return (float("inf") if mse == 0 else float(10 * np.log10(255.0**2 / mse))), worst


def _frame_stats(columns: dict) -> dict:
    stats = {name: vector_stats(np.stack(columns[name])) for name in (STATE, ACTION)}
    for name in ("timestamp", "frame_index", "episode_index", "index", "task_index"):
        stats[name] = vector_stats(np.asarray(columns[name], np.float64)[:, None])
    return stats


def _channel_stats(stats: dict) -> dict:
    """Per-channel stats as LeRobot keeps an image's: shape (3, 1, 1), values in [0, 1]."""
    return {k: (v if k == "count" else np.asarray(v).reshape(3, 1, 1)) for k, v in stats.items()}


def _merge_with_folder(folder: Path, stats: dict) -> dict:
    path = folder / STATS_PATH
    if not path.is_file():
        return stats
    old = json.loads(path.read_text())
    return {key: merged_stats({k: np.asarray(v) for k, v in old[key].items()}, value) if key in old else value
            for key, value in stats.items()}
