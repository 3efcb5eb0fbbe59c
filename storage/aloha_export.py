"""Export stored episodes as ALOHA-style episode_N.hdf5 files, in a named layout (``aloha`` or
``cobot_magic``, see ``storage.hdf5_layouts``), so ALOHA / AgileX tools can read them.

Raw images (uint8 (T, H, W, 3) at the stored size, one chunk per frame), ``qpos`` and ``action``
with the grippers in the layout's units, ``/base_action`` where the episode recorded one (its
``extra["base_action"]``, (T, 2) [v_x, omega_z]) or the layout requires one (then zeros). The
store keeps neither joint velocities nor efforts: ``qvel`` and ``effort`` are written as zeros with
the attribute ``recorded = False``, since the readers (ACT's loader among them) expect the datasets. Each file is written beside its final
name and renamed, so a crash never leaves a half-written episode.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import h5py
import numpy as np

from storage.errors import StoreError
from storage.hdf5_layouts import get_layout

FRAMES_PER_READ = 64  # frames decoded at a time: a 600-step 480x640 camera is 550 MB raw


def export_aloha_episode(store, episode_id: int, path: Path | str, layout: str = "aloha") -> Path:
    """Write one stored episode to ``path``; returns it."""
    layout_ = get_layout(layout)
    path = Path(path)
    episode = store.episode(episode_id)
    steps = store.load_steps(episode_id)
    length = len(steps.qpos)
    if episode.action_dim != 14 or episode.qpos_dim != 14:
        raise StoreError(f"episode {episode_id} has {episode.action_dim}-D actions and {episode.qpos_dim}-D qpos; "
                         f"the ALOHA layout expects 14 each")
    partial = path.with_name(path.name + ".partial")
    with h5py.File(partial, "w") as f:
        f.attrs["sim"] = episode.robot_kind == "sim"
        f.attrs["compress"] = False
        f.create_dataset("/observations/qpos", data=layout_.in_file_units(steps.qpos))
        f.create_dataset("/action", data=layout_.in_file_units(steps.actions))
        for name in ("qvel", "effort"):
            f.create_dataset(f"/observations/{name}", data=np.zeros((length, 14)))
            f[f"/observations/{name}"].attrs["recorded"] = False
        base = json.loads(episode.extra_json or "{}").get("base_action")
        if layout_.base_action or base is not None:  # a recorded base goes out in any layout
            f.create_dataset("/base_action", data=np.zeros((length, 2)) if base is None else np.asarray(base))
        for camera, stream in store.cameras(episode_id).items():
            shape = (stream.height, stream.width, stream.channels)
            dataset = f.create_dataset(f"/observations/images/{camera}", shape=(length, *shape), dtype=np.uint8,
                                       chunks=(1, *shape))
            for start in range(0, length, FRAMES_PER_READ):
                stop = min(length, start + FRAMES_PER_READ)
                dataset[start:stop] = store.load_frames(episode_id, camera, start, stop)
    os.replace(partial, path)
    return path


def export_aloha_episodes(store, episode_ids: list[int], folder: Path | str, layout: str = "aloha") -> list[Path]:
    """``episode_0.hdf5``, ``episode_1.hdf5``... in ``folder``, in the order of ``episode_ids``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    return [export_aloha_episode(store, episode_id, folder / f"episode_{i}.hdf5", layout)
            for i, episode_id in enumerate(episode_ids)]
