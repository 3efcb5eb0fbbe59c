"""Streaming an episode into the store: steps go in as they happen, the episode appears on commit.

The control loop calls ``add_step`` at 50 Hz; it only checks and copies the arrays and
queues them. A background thread encodes frames (the codecs release the GIL, so this runs
beside the loop) and writes them in short transactions. The episode row stays ``staged``
-- invisible to every query -- until ``commit`` flips it in one last transaction. A video
codec (``h264``) encodes each camera in order on its own thread and stages a segment BLOB per
keyframe interval; the last segment goes in with the commit (storage/video_segments.py). ``abort``
(or leaving the ``with`` block without committing) deletes what was staged. If the
process dies, the staged rows stay invisible and the next writable open deletes them.
"""

from __future__ import annotations

import json
import os
import queue
import socket
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
from sqlalchemy import Engine, delete, insert, select, update
from sqlalchemy.exc import OperationalError

from storage.database import is_process_alive, sqlite_message
from storage.errors import SeedTakenError, StepValidationError, StoreError, StoreFullError, StoreReadOnlyError
from storage.frame_codecs import DEFAULT_CODEC, get_codec
from storage.schema import (
    EPISODE_SOURCES,
    LABEL_SOURCES,
    ROBOT_KINDS,
    STOCK_SCENE,
    Episode,
    EpisodeCamera,
    Frame,
    Step,
    utcnow,
)
from storage.step_checks import checked_frame, checked_vector
from storage.video_segments import SegmentEncoder

_END, _ABORT = object(), object()


@dataclass(frozen=True)
class EpisodeSpec:
    """What every step of an episode must look like."""

    cameras: dict[str, tuple[int, int, int]]  # camera name -> (height, width, channels)
    action_dim: int = 14
    qpos_dim: int = 14
    codec: str = DEFAULT_CODEC

    def __post_init__(self):
        codec = get_codec(self.codec)
        for camera, shape in self.cameras.items():
            if len(shape) != 3 or min(shape) < 1:
                raise ValueError(f"camera {camera!r}: shape {shape} is not (height, width, channels)")
            if shape[2] not in codec.channels:
                raise ValueError(
                    f"camera {camera!r}: codec {codec.name!r} holds {codec.channels} channels, "
                    f"not {shape[2]}"
                )


@dataclass
class EpisodeInfo:
    """Who and what an episode is about; fixed when the writer starts."""

    task: str
    instruction: str = ""
    robot_kind: str = "sim"
    source: str = "policy"
    policy_version_id: int | None = None
    iteration_id: int | None = None
    seed: int | None = None
    initial_state_ref: str | None = None
    control_period_s: float | None = None
    extra: dict = field(default_factory=dict)
    scene: str = STOCK_SCENE  # the sim's scene: stock, or a named disruption (robot/sim/disruptions.py)
    # The seed is this episode's alone among the task's episodes of this source, committed or
    # being recorded: the writer claims it in the transaction that stages the episode, so two
    # processes recording into one store never record the same initial state twice.
    unique_seed: bool = False

    def __post_init__(self):
        if self.robot_kind not in ROBOT_KINDS:
            raise ValueError(f"robot_kind {self.robot_kind!r}; expected one of {ROBOT_KINDS}")
        if self.source not in EPISODE_SOURCES:
            raise ValueError(f"source {self.source!r}; expected one of {EPISODE_SOURCES}")
        if not self.scene or len(self.scene) > 32:
            raise ValueError(f"scene {self.scene!r}; expected a scene name of 1 to 32 characters")


def check_label(success: bool | None, label_source: str | None, reward_prob: float | None) -> None:
    if success is not None and label_source not in LABEL_SOURCES:
        raise ValueError(f"a success label needs label_source in {LABEL_SOURCES}, got {label_source!r}")
    if reward_prob is not None and not 0.0 <= reward_prob <= 1.0:
        raise ValueError(f"reward_prob {reward_prob} is not a probability in [0, 1]")


def loop_statistics(timestamps: np.ndarray) -> dict[str, float | None]:
    """Mean and worst loop frequency and period jitter (std, ms) from step timestamps (s)."""
    if len(timestamps) < 2:
        return {"loop_hz_mean": None, "loop_hz_min": None, "loop_jitter_ms": None}
    periods = np.diff(timestamps)
    periods = periods[periods > 0]
    if len(periods) == 0:
        return {"loop_hz_mean": None, "loop_hz_min": None, "loop_jitter_ms": None}
    return {
        "loop_hz_mean": float(len(periods) / periods.sum()),
        "loop_hz_min": float(1.0 / periods.max()),
        "loop_jitter_ms": float(periods.std() * 1000.0),
    }


def is_disk_full(exc: BaseException) -> bool:
    text = str(exc).lower()
    return "database or disk is full" in text or "no space left" in text


def is_read_only(exc: BaseException) -> bool:
    return "readonly database" in str(exc).lower()


class StagedEpisodeWriter:
    """Write one episode step by step. Use as a context manager; call ``commit`` to keep it."""

    flush_interval_s = 0.5  # longest a step waits before it is written
    flush_steps = 25  # steps written per transaction
    max_pending_bytes = 256 * 2**20

    def __init__(self, engine: Engine, info: EpisodeInfo, spec: EpisodeSpec, db_label: str = ""):
        self._engine = engine
        self._db_label = db_label
        self.info = info
        self.spec = spec
        self._codec = get_codec(spec.codec)
        self._t = 0
        self._timestamps: list[float] = []
        self._start = time.monotonic()
        self._error: BaseException | None = None
        self._closed = False
        step_bytes = 8 * (spec.action_dim + spec.qpos_dim) + sum(
            h * w * c for h, w, c in spec.cameras.values()
        )
        self._queue: queue.Queue = queue.Queue(maxsize=max(8, self.max_pending_bytes // step_bytes))
        # A video stream is encoded in step order, so each camera gets its own one-thread pool
        # (FIFO); its futures return the segments a frame completed, not the frame's BLOB. The
        # encoders open before the staged row is inserted, so one that refuses stages nothing.
        self._segmenters = {cam: SegmentEncoder(shape) for cam, shape in spec.cameras.items()
                            } if self._codec.segmented else {}
        self._camera_pools = {cam: ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"wmpo-video-{cam}")
                              for cam in self._segmenters}
        self.episode_id: int | None = None  # until the staged row is in
        self.episode_id = self._insert_episode_row()
        self._encoders = ThreadPoolExecutor(max_workers=2, thread_name_prefix="wmpo-encode")
        self._thread = threading.Thread(target=self._drain, name="wmpo-episode-writer", daemon=True)
        self._thread.start()

    # -- producer side (the control loop) -------------------------------------------------

    def add_step(self, action, qpos, frames: dict | None = None, timestamp: float | None = None) -> int:
        """Stage one step; returns its index. Raises StepValidationError for a bad step."""
        self._raise_if_failed()
        if self._closed:
            raise StoreError(f"episode {self.episode_id} is already committed or aborted")
        action32 = checked_vector("action", action, self.spec.action_dim)
        qpos32 = checked_vector("qpos", qpos, self.spec.qpos_dim)
        frames = frames or {}
        unknown = sorted(set(frames) - set(self.spec.cameras))
        missing = sorted(set(self.spec.cameras) - set(frames))
        if unknown or missing:
            raise StepValidationError(
                f"frames: got cameras {sorted(frames)}, expected exactly {sorted(self.spec.cameras)}"
                + (f" (missing {missing})" if missing else "")
                + (f" (unknown {unknown})" if unknown else "")
            )
        checked = {cam: checked_frame(cam, frames[cam], shape) for cam, shape in self.spec.cameras.items()}
        if timestamp is None:
            timestamp = time.monotonic() - self._start
        elif not np.isfinite(timestamp):
            raise StepValidationError(f"timestamp: got {timestamp}, expected finite seconds")
        t = self._t
        # Encoding starts now on the pool, so it overlaps the background thread's inserts.
        if self._segmenters:
            encoded = [self._camera_pools[cam].submit(self._segmenters[cam].add, t, checked[cam])
                       for cam in self.spec.cameras]
        else:
            encoded = [self._encoders.submit(self._codec.encode, checked[cam]) for cam in self.spec.cameras]
        self._queue.put((t, float(timestamp), action32.tobytes(), qpos32.tobytes(), encoded))
        self._timestamps.append(float(timestamp))
        self._t += 1
        return t

    @property
    def length(self) -> int:
        return self._t

    def commit(self, *, success: bool | None = None, label_source: str | None = None,
               reward_prob: float | None = None, safety_interventions: int = 0,
               record_loop_stats: bool = True, extra: dict | None = None) -> int:
        """Wait for staged steps to land, then make the episode visible. Returns its id."""
        check_label(success, label_source, reward_prob)
        if self._t == 0:
            self.abort()
            raise StoreError("cannot commit an episode with no steps; it was discarded")
        self._finish_thread(_END)
        try:
            self._raise_if_failed()
            stats = loop_statistics(np.asarray(self._timestamps)) if record_loop_stats else {}
            last_segments = [(self.episode_id, cam, first, blob) for cam, encoder in self._segmenters.items()
                             for first, blob in encoder.finish()]
            values = dict(
                status="committed", length=self._t, ended_at=utcnow(), success=success,
                label_source=label_source if success is not None else None,
                reward_prob=reward_prob, safety_interventions=int(safety_interventions), **stats,
            )
            if extra:
                values["extra_json"] = json.dumps({**self.info.extra, **extra})
            with self._engine.begin() as conn:
                written = conn.execute(
                    select(Step.t).where(Step.episode_id == self.episode_id).order_by(Step.t.desc()).limit(1)
                ).scalar()
                if written != self._t - 1:
                    raise StoreError(
                        f"episode {self.episode_id}: {self._t} steps staged but last stored step is {written}"
                    )
                if last_segments:
                    conn.exec_driver_sql("INSERT INTO frames (episode_id, camera, t, data) VALUES (?, ?, ?, ?)",
                                         last_segments)
                conn.execute(update(Episode).where(Episode.id == self.episode_id).values(**values))
        except BaseException as exc:
            self._delete_rows()
            raise self._translate(exc) from exc
        return self.episode_id

    def abort(self) -> None:
        """Discard the episode and everything staged for it."""
        if self._closed and self._thread is None:
            return
        self._finish_thread(_ABORT)
        self._delete_rows()

    def __enter__(self) -> "StagedEpisodeWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if not self._closed or self._thread is not None:
            self.abort()

    # -- consumer side (background thread) -------------------------------------------------

    def _drain(self) -> None:
        batch: list = []
        while True:
            try:
                item = self._queue.get(timeout=self.flush_interval_s)
            except queue.Empty:
                item = None  # a quiet moment: write what is waiting
            if item is _ABORT:
                return
            if item is not None and item is not _END:
                batch.append(item)
                if len(batch) < self.flush_steps:
                    continue
            if batch and self._error is None:
                try:
                    self._write_batch(batch)
                except BaseException as exc:  # raised in the producer by _raise_if_failed
                    self._error = exc
            batch = []
            if item is _END:
                return

    def _write_batch(self, batch: list) -> None:
        cameras = list(self.spec.cameras)
        step_rows = [(self.episode_id, t, ts, a, q) for t, ts, a, q, _ in batch]
        if self._segmenters:  # a future holds the segments its frame completed, usually none
            frame_rows = [(self.episode_id, cam, first, blob) for _, _, _, _, futures in batch
                          for cam, future in zip(cameras, futures) for first, blob in future.result()]
        else:
            frame_rows = [(self.episode_id, cam, t, future.result())
                          for t, _, _, _, futures in batch for cam, future in zip(cameras, futures)]
        with self._engine.begin() as conn:
            conn.exec_driver_sql(
                "INSERT INTO steps (episode_id, t, timestamp, action, qpos) VALUES (?, ?, ?, ?, ?)", step_rows)
            if frame_rows:
                conn.exec_driver_sql("INSERT INTO frames (episode_id, camera, t, data) VALUES (?, ?, ?, ?)",
                                     frame_rows)

    # -- bookkeeping -----------------------------------------------------------------------

    def _insert_episode_row(self) -> int:
        info, spec = self.info, self.spec
        try:
            with self._engine.begin() as conn:  # BEGIN IMMEDIATE: no other writer between check and insert
                if info.unique_seed:
                    check_seed_free(conn, info)
                episode_id = conn.execute(
                    insert(Episode).values(
                        status="staged", task=info.task, instruction=info.instruction,
                        robot_kind=info.robot_kind, source=info.source, scene=info.scene,
                        policy_version_id=info.policy_version_id, iteration_id=info.iteration_id,
                        seed=info.seed, initial_state_ref=info.initial_state_ref,
                        action_dim=spec.action_dim, qpos_dim=spec.qpos_dim,
                        control_period_s=info.control_period_s, writer_pid=os.getpid(),
                        writer_host=socket.gethostname(), extra_json=json.dumps(info.extra),
                    )
                ).inserted_primary_key[0]
                for camera, (h, w, c) in spec.cameras.items():
                    conn.execute(insert(EpisodeCamera).values(
                        episode_id=episode_id, camera=camera, height=h, width=w, channels=c,
                        codec=spec.codec))
        except OperationalError as exc:
            raise self._translate(exc) from exc
        return episode_id

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            error = self._error
            self.abort()
            raise self._translate(error) from error

    def _translate(self, exc: BaseException) -> BaseException:
        if isinstance(exc, StoreError):
            return exc
        episode = "a new episode" if self.episode_id is None else f"episode {self.episode_id} at step {self._t}"
        if is_disk_full(exc):
            return StoreFullError(
                f"store {self._db_label} is full (disk or size cap) while writing {episode}; the episode was "
                f"discarded, earlier episodes are intact. Free space and record it again."
            )
        if is_read_only(exc):
            return StoreReadOnlyError(f"store {self._db_label} cannot be written ({sqlite_message(exc)}) while "
                                      f"writing {episode}; nothing of it was kept")
        if isinstance(exc, (OperationalError, sqlite3.Error)):
            return StoreError(f"store {self._db_label}: writing {episode} failed: {sqlite_message(exc)}")
        return exc

    def _finish_thread(self, sentinel) -> None:
        self._closed = True
        if self._thread is None:
            return
        if sentinel is _ABORT:  # let a producer blocked on a full queue go, and drop the rest
            while True:
                try:
                    self._queue.get_nowait()
                except queue.Empty:
                    break
        self._queue.put(sentinel)
        self._thread.join()
        self._thread = None
        self._encoders.shutdown(wait=True)
        for pool in self._camera_pools.values():
            pool.shutdown(wait=True)

    def _delete_rows(self) -> None:
        try:
            delete_staged_episode(self._engine, self.episode_id)
        except OperationalError as exc:
            if not (is_disk_full(exc) or is_read_only(exc)):
                raise
            # a full disk refuses even the delete: the rows stay staged, which no query sees, and
            # the next writable open of the store (once this process has gone) removes them


def check_seed_free(conn, info: EpisodeInfo) -> None:
    """Raise SeedTakenError if a committed episode, or a staged one whose writer lives, already
    has ``info``'s task, source and seed."""
    if info.seed is None:
        raise ValueError("unique_seed needs a seed")
    rows = conn.execute(select(Episode.id, Episode.status, Episode.writer_pid, Episode.writer_host).where(
        Episode.task == info.task, Episode.source == info.source, Episode.seed == info.seed)).all()
    host = socket.gethostname()
    for episode_id, status, pid, writer_host in rows:
        if status == "committed":
            raise SeedTakenError(f"seed {info.seed} of {info.task} {info.source} episodes is already recorded "
                                 f"(episode {episode_id})")
        if writer_host != host or (pid is not None and is_process_alive(pid)):
            raise SeedTakenError(f"seed {info.seed} of {info.task} {info.source} episodes is being recorded by "
                                 f"another process (pid {pid} on {writer_host})")


def delete_episode_rows(conn, episode_id: int) -> None:
    """Delete an episode and everything recorded for it, inside the caller's transaction."""
    for table in (Frame, Step, EpisodeCamera):
        conn.execute(delete(table).where(table.episode_id == episode_id))
    conn.execute(delete(Episode).where(Episode.id == episode_id))


def delete_staged_episode(engine: Engine, episode_id: int) -> None:
    """Remove a staged episode and its rows; committed episodes are left alone."""
    with engine.begin() as conn:
        status = conn.execute(select(Episode.status).where(Episode.id == episode_id)).scalar()
        if status == "staged":
            delete_episode_rows(conn, episode_id)
