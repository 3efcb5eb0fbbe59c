"""A PyTorch dataset of clips -- n consecutive steps of one camera -- read straight from the store.

Only the clip index (two integer arrays: episode id and start step) is held in memory;
each clip's frames and steps are read and decoded when it is drawn, so a store far larger
than RAM can be trained on. The order is shuffled across all episodes every epoch. With a
DataLoader of several workers, or several torch.distributed ranks, each process draws a
disjoint share of the clips and opens its own read-only connection.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from sqlalchemy import select
from torch.utils.data import IterableDataset, get_worker_info

from storage.database import open_database
from storage.episode_filter import EpisodeFilter
from storage.frame_codecs import get_codec
from storage.schema import Episode, EpisodeCamera, Frame, Step
from storage.step_checks import decode_vectors
from storage.video_segments import read_segment_frames


@dataclass(frozen=True)
class _Stream:
    codec: str
    shape: tuple[int, int, int]
    action_dim: int
    qpos_dim: int
    success: int  # 1, 0, or -1 for unlabelled


class ClipDataset(IterableDataset):
    """Yields dicts: frames uint8 (n, H, W, C), actions float32 (n, A), qpos float32 (n, Q),
    episode_id, start, and success (1 / 0 / -1 unlabelled) of the clip's episode.

    ``frame_offsets`` picks which frames of the clip are decoded (default: all n); a policy
    learning action chunks needs only the first. Negative offsets reach back before the
    clip's start for history; before the episode's first frame, that frame stands in (a
    video world model's context at the start of an episode). ``lead`` lets clips start up to
    that many steps before the episode, the first step's action and qpos standing in for the
    steps before it. ``first_frame`` adds the episode's first frame as "first".
    ``previous_action`` adds "previous_action" (A,): the command in force at the clip's start --
    the action sent the step before, or at the episode's start its first measured qpos."""

    def __init__(self, store_path: Path | str, camera: str, clip_len: int, *,
                 where: EpisodeFilter | None = None, stride: int = 1, shuffle: bool = True,
                 seed: int = 0, frame_offsets: tuple[int, ...] | None = None, lead: int = 0,
                 first_frame: bool = False, previous_action: bool = False):
        if clip_len < 1 or stride < 1 or lead < 0:
            raise ValueError(f"clip_len and stride must be >= 1 and lead >= 0, got {clip_len}, {stride}, {lead}")
        self.lead, self.first_frame, self.previous_action = lead, first_frame, previous_action
        offsets = tuple(range(clip_len)) if frame_offsets is None else tuple(frame_offsets)
        if not offsets or max(offsets) >= clip_len:
            raise ValueError(f"frame_offsets {frame_offsets} must be below clip_len {clip_len}")
        self.frame_offsets = offsets
        self.store_path = Path(store_path)
        self.camera, self.clip_len, self.stride = camera, clip_len, stride
        self.shuffle, self.seed, self.epoch = shuffle, seed, 0
        self._engine = None
        self._engine_pid = None
        self._streams, self.episode_ids, self.starts = self._build_index(where or EpisodeFilter())

    def _build_index(self, where: EpisodeFilter):
        engine = open_database(self.store_path, readonly=True)
        query = where.apply(
            select(Episode.id, Episode.length, Episode.action_dim, Episode.qpos_dim, Episode.success,
                   EpisodeCamera.codec, EpisodeCamera.height, EpisodeCamera.width, EpisodeCamera.channels)
            .join(EpisodeCamera, EpisodeCamera.episode_id == Episode.id)
            .where(EpisodeCamera.camera == self.camera, Episode.length >= self.clip_len)
        ).order_by(Episode.id)
        with engine.connect() as conn:
            rows = conn.execute(query).all()
        engine.dispose()
        streams, ids, starts = {}, [], []
        for eid, length, adim, qdim, success, codec, h, w, c in rows:
            streams[eid] = _Stream(codec, (h, w, c), adim, qdim, -1 if success is None else int(success))
            episode_starts = np.arange(-self.lead, length - self.clip_len + 1, self.stride)
            ids.append(np.full(len(episode_starts), eid, dtype=np.int64))
            starts.append(episode_starts)
        cat = lambda parts: np.concatenate(parts) if parts else np.zeros(0, np.int64)
        return streams, cat(ids), cat(starts)

    def __len__(self) -> int:
        return len(self.starts)

    def set_epoch(self, epoch: int) -> None:
        """Change the shuffle order; call before each epoch (same on every rank)."""
        self.epoch = epoch

    def _shard(self) -> np.ndarray:
        order = np.arange(len(self.starts))
        if self.shuffle:
            order = np.random.default_rng((self.seed, self.epoch)).permutation(order)
        distributed = dist.is_available() and dist.is_initialized()
        rank, world = (dist.get_rank(), dist.get_world_size()) if distributed else (0, 1)
        worker = get_worker_info()
        worker_id, workers = (worker.id, worker.num_workers) if worker else (0, 1)
        return order[rank * workers + worker_id::world * workers]

    def _connection_engine(self):
        if self._engine is None or self._engine_pid != os.getpid():  # one engine per process
            self._engine = open_database(self.store_path, readonly=True)
            self._engine_pid = os.getpid()
        return self._engine

    def __iter__(self):
        engine = self._connection_engine()
        with engine.connect() as conn:
            for i in self._shard():
                yield self.read_clip(conn, int(self.episode_ids[i]), int(self.starts[i]))

    def read_clip(self, conn, episode_id: int, start: int) -> dict:
        stream = self._streams[episode_id]
        stop = start + self.clip_len
        wanted = [max(0, start + offset) for offset in self.frame_offsets]
        decoded = self._frames(conn, episode_id, stream, wanted + [0] * self.first_frame)
        before = int(self.previous_action and start > 0)  # one step more: the action sent before the clip
        steps = conn.execute(
            select(Step.action, Step.qpos).where(Step.episode_id == episode_id, Step.t >= start - before,
                                                Step.t < stop).order_by(Step.t)).all()
        previous, steps = steps[:before], steps[before:]
        steps = steps[:1] * max(0, -start) + steps  # a clip that starts before the episode (lead)
        frames = np.stack([decoded[t] for t in wanted])
        actions = decode_vectors([s.action for s in steps], stream.action_dim)
        qpos = decode_vectors([s.qpos for s in steps], stream.qpos_dim)
        return {
            "frames": torch.from_numpy(frames),
            "actions": torch.from_numpy(actions.copy()),
            "qpos": torch.from_numpy(qpos.copy()),
            "episode_id": episode_id,
            "start": start,
            "success": stream.success,
            **({"first": torch.from_numpy(decoded[0])} if self.first_frame else {}),
            **({"previous_action": self._previous_action(previous, qpos, stream)} if self.previous_action else {}),
        }

    @staticmethod
    def _previous_action(previous: list, qpos: np.ndarray, stream: _Stream) -> torch.Tensor:
        if previous:
            return torch.from_numpy(decode_vectors([previous[0].action], stream.action_dim)[0].copy())
        if stream.qpos_dim != stream.action_dim:
            raise ValueError(f"an episode's first command stands in for its measured qpos, but qpos has "
                             f"{stream.qpos_dim} values and actions {stream.action_dim}")
        return torch.from_numpy(qpos[0].copy())

    def _frames(self, conn, episode_id: int, stream: _Stream, steps: list[int]) -> dict[int, np.ndarray]:
        """{t: uint8 (H, W, C)} for the given steps: a video stream decodes only the segments
        holding them (and within each only up to the last step wanted)."""
        codec = get_codec(stream.codec)
        if codec.segmented:
            return read_segment_frames(conn, episode_id, self.camera, stream.shape, steps)
        blobs = conn.execute(
            select(Frame.t, Frame.data).where(Frame.episode_id == episode_id, Frame.camera == self.camera,
                                              Frame.t.in_(steps))).all()
        return {t: codec.decode(blob).reshape(stream.shape) for t, blob in blobs}
