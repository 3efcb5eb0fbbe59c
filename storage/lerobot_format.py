"""The LeRobotDataset v3.0 folder layout, as LeRobot (``lerobot.datasets``) writes and reads it.

    meta/info.json                              codebase_version "v3.0", fps, features, path templates, totals
    meta/stats.json                             per feature: min, max, mean, std, count
    meta/tasks.parquet                          task (the pandas index) -> task_index
    meta/episodes/chunk-000/file-000.parquet    one row per episode: length, where its rows and video lie
    data/chunk-000/file-000.parquet             one row per frame: indices, timestamp, state, action, ...
    videos/<camera key>/chunk-000/file-000.mp4  one file per camera holding its episodes one after another

Each export run adds one file index (``file-001`` ...) to data, videos and meta/episodes, the way
LeRobot starts a new file when one is full, so the files already there are never rewritten.

Frame rows carry our own columns beside LeRobot's (``wmpo.*``): the store's episode id (which is
how a later export knows what is already in the folder), its source, robot kind, success label and
label source, iteration and policy version. Missing values are written as -1 / "" rather than
null, so LeRobot's DataLoader can collate them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from storage.errors import ImportFormatError

CODEBASE_VERSION = "v3.0"
CHUNKS_SIZE = 1000  # files per chunk folder, LeRobot's default
INFO_PATH = "meta/info.json"
STATS_PATH = "meta/stats.json"
TASKS_PATH = "meta/tasks.parquet"
CHUNK_FILE = "chunk-{chunk_index:03d}/file-{file_index:03d}"
DATA_PATH = "data/" + CHUNK_FILE + ".parquet"
VIDEO_PATH = "videos/{video_key}/" + CHUNK_FILE + ".mp4"
EPISODES_PATH = "meta/episodes/" + CHUNK_FILE + ".parquet"
STATE, ACTION = "observation.state", "action"
CAMERA_PREFIX = "observation.images."

# LeRobot's own per-frame columns (lerobot.utils.constants.DEFAULT_FEATURES)
INDEX_FEATURES = {
    "timestamp": {"dtype": "float32", "shape": [1], "names": None},
    "frame_index": {"dtype": "int64", "shape": [1], "names": None},
    "episode_index": {"dtype": "int64", "shape": [1], "names": None},
    "index": {"dtype": "int64", "shape": [1], "names": None},
    "task_index": {"dtype": "int64", "shape": [1], "names": None},
}
WMPO_FEATURES = {
    "wmpo.episode_id": {"dtype": "int64", "shape": [1], "names": None},
    "wmpo.source": {"dtype": "string", "shape": [1], "names": None},  # expert, policy, eval...
    "wmpo.robot_kind": {"dtype": "string", "shape": [1], "names": None},  # sim or real
    "wmpo.success": {"dtype": "int8", "shape": [1], "names": None},  # 1 success, 0 failure, -1 unlabelled
    "wmpo.label_source": {"dtype": "string", "shape": [1], "names": None},  # env, operator, reward_model, ""
    "wmpo.iteration_id": {"dtype": "int64", "shape": [1], "names": None},  # -1: none
    "wmpo.policy_version_id": {"dtype": "int64", "shape": [1], "names": None},  # -1: none
    "wmpo.scene": {"dtype": "string", "shape": [1], "names": None},  # stock, or a sim disruption
}
ARROW_TYPES = {"float32": pa.float32(), "int64": pa.int64(), "int8": pa.int8(), "string": pa.string()}
ALOHA_ARM_JOINTS = ("waist", "shoulder", "elbow", "forearm_roll", "wrist_angle", "wrist_rotate", "gripper")


def camera_key(camera: str) -> str:
    return CAMERA_PREFIX + camera


def file_location(n: int) -> dict[str, int]:
    """The n-th file of a folder (0, 1, ...) as LeRobot's chunk and file indices."""
    return {"chunk_index": n // CHUNKS_SIZE, "file_index": n % CHUNKS_SIZE}


def joint_names(dim: int) -> list[str]:
    if dim == 2 * len(ALOHA_ARM_JOINTS):
        return [f"{side}_{joint}" for side in ("left", "right") for joint in ALOHA_ARM_JOINTS]
    return [f"joint_{i}" for i in range(dim)]


def dataset_features(state_dim: int, action_dim: int, cameras: dict[str, tuple[int, int, int]],
                     fps: int, video_codec: str, pix_fmt: str) -> dict:
    """info.json's ``features``: vectors, one video per camera, LeRobot's indices, our columns."""
    features = {
        STATE: {"dtype": "float32", "shape": [state_dim], "names": joint_names(state_dim)},
        ACTION: {"dtype": "float32", "shape": [action_dim], "names": joint_names(action_dim)},
    }
    for camera, (height, width, channels) in cameras.items():
        features[camera_key(camera)] = {
            "dtype": "video", "shape": [height, width, channels], "names": ["height", "width", "channels"],
            "info": {"video.height": height, "video.width": width, "video.codec": video_codec,
                     "video.pix_fmt": pix_fmt, "video.fps": fps, "video.channels": channels,
                     "has_audio": False, "is_depth_map": False}}
    return {**features, **INDEX_FEATURES, **WMPO_FEATURES}


def frame_schema(features: dict) -> pa.Schema:
    """The data parquet's columns, in the order of ``features`` (videos are not in it)."""
    fields = []
    for name, feature in features.items():
        if feature["dtype"] == "video":
            continue
        value = ARROW_TYPES[feature["dtype"]]
        # datasets' Sequence(length=n) is a fixed-size list: what LeRobot casts the parquet to
        fields.append(pa.field(name, value if feature["shape"] == [1] else pa.list_(value, feature["shape"][0])))
    return pa.schema(fields)


def info_json(features: dict, fps: int, robot_type: str, total_episodes: int, total_frames: int,
              total_tasks: int) -> dict:
    return {
        "codebase_version": CODEBASE_VERSION, "robot_type": robot_type, "fps": fps,
        "total_episodes": total_episodes, "total_frames": total_frames, "total_tasks": total_tasks,
        "chunks_size": CHUNKS_SIZE, "data_files_size_in_mb": 100, "video_files_size_in_mb": 200,
        "data_path": DATA_PATH, "video_path": VIDEO_PATH, "features": features,
        "splits": {"train": f"0:{total_episodes}"},
    }


def read_info(folder: Path) -> dict:
    """meta/info.json of a v3.0 folder with a float32 state and action; ImportFormatError otherwise."""
    path = folder / INFO_PATH
    if not path.is_file():
        raise ImportFormatError(f"{folder}: no {INFO_PATH}; expected a LeRobotDataset v3.0 folder")
    try:
        info = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ImportFormatError(f"{path}: not JSON ({exc}); expected LeRobot's info.json") from exc
    version = info.get("codebase_version")
    if version != CODEBASE_VERSION:
        raise ImportFormatError(f"{path}: codebase_version {version!r}, expected {CODEBASE_VERSION!r} "
                                f"(convert older datasets with LeRobot's convert_dataset_v21_to_v30)")
    features = info.get("features") or {}
    for name in (STATE, ACTION, *INDEX_FEATURES):
        if name not in features:
            raise ImportFormatError(f"{path}: no feature {name!r}; features are {sorted(features)}")
    for name in (STATE, ACTION):
        shape = features[name].get("shape")
        if features[name].get("dtype") != "float32" or not isinstance(shape, list) or len(shape) != 1:
            raise ImportFormatError(f"{path}: feature {name!r} is {features[name].get('dtype')} {shape}, "
                                    f"expected float32 of shape [n]")
    if not isinstance(info.get("fps"), int) or info["fps"] <= 0:
        raise ImportFormatError(f"{path}: fps {info.get('fps')!r}, expected a positive whole number")
    return info


def video_features(info: dict) -> dict[str, tuple[int, int, int]]:
    """Camera name -> (H, W, 3) of the folder's video features."""
    cameras = {}
    for name, feature in info["features"].items():
        if feature.get("dtype") == "video":
            shape = tuple(feature.get("shape") or ())
            if len(shape) != 3 or shape[2] != 3:
                raise ImportFormatError(f"{INFO_PATH}: video {name!r} has shape {list(shape)}, "
                                        f"expected [height, width, 3]")
            cameras[name.removeprefix(CAMERA_PREFIX)] = shape
    return cameras


def read_tables(folder: Path, pattern: str) -> pa.Table | None:
    """Every parquet file matching ``pattern`` under ``folder``, in file order, as one table."""
    paths = sorted(folder.glob(pattern))
    return pa.concat_tables([pq.read_table(p) for p in paths]) if paths else None


def read_tasks(folder: Path) -> dict[str, int]:
    path = folder / TASKS_PATH
    if not path.is_file():
        return {}
    table = pq.read_table(path)
    return dict(zip(table.column("task").to_pylist(), table.column("task_index").to_pylist()))


def tasks_table(tasks: dict[str, int]) -> pa.Table:
    """tasks.parquet with ``task`` marked as the pandas index, as LeRobot's ``load_tasks`` reads it."""
    table = pa.table({"task_index": pa.array(list(tasks.values()), pa.int64()),
                      "task": pa.array(list(tasks), pa.string())})
    pandas = {"index_columns": ["task"], "column_indexes": [],
              "columns": [{"name": "task_index", "field_name": "task_index", "pandas_type": "int64",
                           "numpy_type": "int64", "metadata": None},
                          {"name": "task", "field_name": "task", "pandas_type": "unicode",
                           "numpy_type": "object", "metadata": None}]}
    return table.replace_schema_metadata({"pandas": json.dumps(pandas)})


def vector_stats(values: np.ndarray) -> dict:
    """min, max, mean, std, count over axis 0 of float (n, ...) values."""
    values = values.astype(np.float64)
    return {"min": values.min(0), "max": values.max(0), "mean": values.mean(0), "std": values.std(0),
            "count": np.array([len(values)])}


def merged_stats(a: dict, b: dict) -> dict:
    """The stats of two sets of values from the stats of each (count-weighted moments)."""
    na, nb = float(a["count"][0]), float(b["count"][0])
    mean = (na * np.asarray(a["mean"]) + nb * np.asarray(b["mean"])) / (na + nb)
    second = (na * (np.asarray(a["std"]) ** 2 + np.asarray(a["mean"]) ** 2)
              + nb * (np.asarray(b["std"]) ** 2 + np.asarray(b["mean"]) ** 2)) / (na + nb)
    return {"min": np.minimum(a["min"], b["min"]), "max": np.maximum(a["max"], b["max"]), "mean": mean,
            "std": np.sqrt(np.maximum(second - mean**2, 0.0)), "count": np.array([int(na + nb)])}


def as_json(stats: dict) -> dict:
    return {key: {name: np.asarray(value).tolist() for name, value in feature.items()}
            for key, feature in stats.items()}


def write_json(path: Path, value: dict) -> None:
    partial = path.with_name(path.name + ".partial")
    path.parent.mkdir(parents=True, exist_ok=True)
    partial.write_text(json.dumps(value, indent=2))
    os.replace(partial, path)


def write_parquet(path: Path, table: pa.Table) -> None:
    partial = path.with_name(path.name + ".partial")
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, partial)
    os.replace(partial, path)
