"""TrajectoryStore: the one object the rest of wmpo uses to read and write the store."""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sqlalchemy import func, insert, select, text, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from storage.checksums import checkpoint_sha256
from storage.database import is_process_alive, open_database
from storage.episode_filter import EpisodeFilter
from storage.episode_writer import (
    EpisodeInfo,
    EpisodeSpec,
    StagedEpisodeWriter,
    check_label,
    delete_episode_rows,
    delete_staged_episode,
    is_disk_full,
)
from storage.errors import EpisodeNotFoundError, StoreError
from storage.frame_codecs import DEFAULT_CODEC, get_codec
from storage.jobs import JobLedger
from storage.migrations import SCHEMA_VERSION, Migration
from storage.model_registry import ModelRegistry
from storage.schedules import ScheduleBook
from storage.schema import (
    DEPLOY_REASONS,
    Deployment,
    Episode,
    EpisodeCamera,
    Frame,
    Iteration,
    Metric,
    PolicyVersion,
    Step,
    utcnow,
)
from storage.step_checks import decode_vectors
from storage.success_rates import SuccessRate, success_rates
from storage.video_segments import encode_segments, read_segment_frames

DEFAULT_STORE_PATH = Path("wmpo-data/wmpo.db")
CHECKPOINTS = "checkpoints"  # the folder beside a store file that holds every model's checkpoint


@dataclass(frozen=True)
class StepArrays:
    actions: np.ndarray  # float32 (T, action_dim)
    qpos: np.ndarray  # float32 (T, qpos_dim)
    timestamps: np.ndarray  # float64 (T,), seconds since the episode started


class TrajectoryStore:
    """Episodes, labels, iterations, policy versions, models, jobs and metrics in one SQLite file.

    Opening a path that holds something else than a wmpo store raises StoreFileError and
    leaves the file as it was. A writable open also removes episodes staged by writers that
    died on this host (they were never visible).
    """

    def __init__(self, path: Path | str = DEFAULT_STORE_PATH, *, readonly: bool = False,
                 max_size_bytes: int | None = None, schema_version: int = SCHEMA_VERSION,
                 migrations: dict[int, Migration] | None = None):
        self.path = Path(path)
        self.readonly = readonly
        self.engine = open_database(self.path, readonly=readonly, max_size_bytes=max_size_bytes,
                                    schema_version=schema_version, migrations=migrations)
        self.jobs = JobLedger(self.engine)
        self.schedules = ScheduleBook(self.engine)
        self.models = ModelRegistry(self.engine, self.path.parent)  # world and reward models
        if not readonly:
            self.recover_abandoned_episodes()

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> "TrajectoryStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def session(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    # -- health ----------------------------------------------------------------------------

    def schema_version(self) -> int:
        with self.engine.connect() as conn:
            return conn.exec_driver_sql("PRAGMA user_version").scalar()

    def integrity_check(self) -> list[str]:
        """SQLite's full integrity check; ["ok"] when the file is sound."""
        with self.engine.connect() as conn:
            return [row[0] for row in conn.exec_driver_sql("PRAGMA integrity_check")]

    def recover_abandoned_episodes(self) -> int:
        """Delete staged episodes whose writer process on this host is gone. Returns how many."""
        host = socket.gethostname()
        with self.engine.connect() as conn:
            staged = conn.execute(
                select(Episode.id, Episode.writer_pid).where(
                    Episode.status == "staged", Episode.writer_host == host)).all()
        dead = [eid for eid, pid in staged if pid is None or not is_process_alive(pid)]
        for n, episode_id in enumerate(dead):
            try:
                delete_staged_episode(self.engine, episode_id)
            except OperationalError as exc:  # a full disk: they stay invisible until there is room
                if not is_disk_full(exc):
                    raise
                return n
        return len(dead)

    # -- episodes ----------------------------------------------------------------------------

    def episode_writer(self, info: EpisodeInfo, spec: EpisodeSpec) -> StagedEpisodeWriter:
        if self.readonly:
            raise StoreError(f"{self.path} is open read-only; cannot write episodes")
        return StagedEpisodeWriter(self.engine, info, spec, db_label=str(self.path))

    def episodes(self, where: EpisodeFilter | None = None, limit: int | None = None,
                 offset: int = 0, newest_first: bool = False) -> list[Episode]:
        order = Episode.id.desc() if newest_first else Episode.id
        query = (where or EpisodeFilter()).apply(select(Episode)).order_by(order).offset(offset)
        if limit is not None:
            query = query.limit(limit)
        with self.session() as session:
            return list(session.scalars(query))

    def count_episodes(self, where: EpisodeFilter | None = None) -> int:
        query = (where or EpisodeFilter()).apply(select(func.count()).select_from(Episode))
        with self.engine.connect() as conn:
            return conn.execute(query).scalar_one()

    def next_seed(self, task: str, source: str, base: int = 0) -> int:
        """The seed after the highest one at or above ``base`` among this task's episodes from
        ``source`` (``base`` when there is none), counting those another process is recording now,
        so that two collectors do not start from the same initial state."""
        with self.engine.connect() as conn:
            highest = conn.execute(select(func.max(Episode.seed)).where(
                Episode.task == task, Episode.source == source, Episode.seed >= base)).scalar()
        return base if highest is None else highest + 1

    def episode(self, episode_id: int) -> Episode:
        found = self.episodes(EpisodeFilter(ids=(episode_id,)))
        if not found:
            raise EpisodeNotFoundError(f"no committed episode with id {episode_id}")
        return found[0]

    def cameras(self, episode_id: int) -> dict[str, EpisodeCamera]:
        with self.session() as session:
            rows = session.scalars(select(EpisodeCamera).where(EpisodeCamera.episode_id == episode_id))
            return {row.camera: row for row in rows}

    def load_steps(self, episode_id: int, start: int = 0, stop: int | None = None) -> StepArrays:
        episode = self.episode(episode_id)
        stop = episode.length if stop is None else stop
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(Step.timestamp, Step.action, Step.qpos)
                .where(Step.episode_id == episode_id, Step.t >= start, Step.t < stop)
                .order_by(Step.t)).all()
        return StepArrays(
            actions=decode_vectors([r.action for r in rows], episode.action_dim),
            qpos=decode_vectors([r.qpos for r in rows], episode.qpos_dim),
            timestamps=np.array([r.timestamp for r in rows], dtype=np.float64),
        )

    def load_frames(self, episode_id: int, camera: str, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Decoded frames ``start:stop`` of one camera as uint8 (n, H, W, C)."""
        episode = self.episode(episode_id)
        cams = self.cameras(episode_id)
        if camera not in cams:
            raise StoreError(f"episode {episode_id} has no camera {camera!r}; it has {sorted(cams)}")
        stream = cams[camera]
        stop = episode.length if stop is None else stop
        codec = get_codec(stream.codec)
        if codec.segmented:  # video: decode only the segments that hold start..stop-1
            shape = (stream.height, stream.width, stream.channels)
            steps = range(max(0, start), min(stop, episode.length))
            with self.engine.connect() as conn:
                found = read_segment_frames(conn, episode_id, camera, shape, steps)
            return np.stack([found[t] for t in steps]) if steps else np.empty((0, *shape), np.uint8)
        with self.engine.connect() as conn:
            blobs = conn.execute(
                select(Frame.data).where(Frame.episode_id == episode_id, Frame.camera == camera,
                                         Frame.t >= start, Frame.t < stop).order_by(Frame.t)).scalars().all()
        decode = codec.decode
        frames = np.empty((len(blobs), stream.height, stream.width, stream.channels), np.uint8)
        for i, blob in enumerate(blobs):
            frames[i] = decode(blob).reshape(frames.shape[1:])
        return frames

    def add_camera(self, episode_id: int, camera: str, frames: np.ndarray, codec: str = DEFAULT_CODEC) -> None:
        """Add a camera stream to a committed episode: a view re-rendered from a sim episode's
        replay, say. ``frames`` (length, H, W, C) uint8, one per step. One transaction: the stream
        is there whole or not at all; a camera the episode has is refused, never overwritten."""
        episode = self.episode(episode_id)
        frames = np.asarray(frames)
        if frames.dtype != np.uint8 or frames.ndim != 4 or len(frames) != episode.length:
            raise StoreError(f"camera {camera!r} for episode {episode_id}: frames of shape {frames.shape} "
                             f"({frames.dtype}); expected ({episode.length}, H, W, C) uint8, one per step")
        if camera in self.cameras(episode_id):
            raise StoreError(f"episode {episode_id} already has camera {camera!r}")
        frame_codec = get_codec(codec)
        _, height, width, channels = frames.shape
        rows = encode_segments(frames) if frame_codec.segmented else enumerate(map(frame_codec.encode, frames))
        with self.engine.begin() as conn:
            conn.execute(insert(EpisodeCamera).values(episode_id=episode_id, camera=camera, height=height,
                                                      width=width, channels=channels, codec=codec))
            conn.execute(insert(Frame), [{"episode_id": episode_id, "camera": camera, "t": t, "data": data}
                                         for t, data in rows])

    def set_label(self, episode_id: int, success: bool | None, label_source: str | None,
                  reward_prob: float | None = None) -> None:
        """Relabel an episode (operator override, reward-model verdict); None clears the label."""
        check_label(success, label_source, reward_prob)
        self.episode(episode_id)
        values = {"success": success, "label_source": label_source if success is not None else None}
        if reward_prob is not None:
            values["reward_prob"] = reward_prob
        with self.engine.begin() as conn:
            conn.execute(update(Episode).where(Episode.id == episode_id).values(**values))

    def delete_episode(self, episode_id: int) -> None:
        self.episode(episode_id)
        with self.engine.begin() as conn:
            delete_episode_rows(conn, episode_id)

    def success_rates(self, by: str = "iteration", where: EpisodeFilter | None = None) -> list[SuccessRate]:
        return success_rates(self.engine, by, where)

    # -- iterations and policy versions --------------------------------------------------------

    def start_iteration(self, task: str, budget: int | None = None, config: dict | None = None) -> Iteration:
        with self.session() as session, session.begin():
            number = (session.scalar(select(func.max(Iteration.number))) or 0) + 1
            iteration = Iteration(number=number, task=task, budget=budget,
                                  config_json=json.dumps(config or {}), status="running")
            session.add(iteration)
        return iteration

    def finish_iteration(self, iteration_id: int, status: str = "done") -> None:
        with self.engine.begin() as conn:
            conn.execute(update(Iteration).where(Iteration.id == iteration_id).values(
                status=status, finished_at=utcnow()))

    def iterations(self) -> list[Iteration]:
        with self.session() as session:
            return list(session.scalars(select(Iteration).order_by(Iteration.number)))

    def register_policy_version(self, name: str, checkpoint_path: Path | str, config: dict | None = None,
                                parent_id: int | None = None, iteration_id: int | None = None) -> PolicyVersion:
        """Record a checkpoint (file or directory) with its sha256, so it can be verified later.
        A checkpoint inside the store's folder is recorded relative to it: the store and its
        checkpoints move together (``wmpo-app bundle``) and still verify."""
        checkpoint_path = Path(checkpoint_path).resolve()
        folder = self.path.parent.resolve()
        recorded = checkpoint_path.relative_to(folder) if checkpoint_path.is_relative_to(folder) else checkpoint_path
        version = PolicyVersion(
            name=name, checkpoint_path=str(recorded),
            checkpoint_sha256=checkpoint_sha256(checkpoint_path), parent_id=parent_id,
            iteration_id=iteration_id, config_json=json.dumps(config or {}))
        with self.session() as session, session.begin():
            if session.scalar(select(PolicyVersion.id).where(PolicyVersion.name == name)) is not None:
                raise StoreError(f"a policy version named {name!r} already exists")
            session.add(version)
        return self._located(version)

    def _located(self, version: PolicyVersion) -> PolicyVersion:
        """The version (detached from its session) with its checkpoint path absolute, wherever the
        store is now: a relative path is the store folder's; an absolute one from a store that
        was moved (written before paths were relative) is looked up under its ``checkpoints/``."""
        recorded = Path(version.checkpoint_path)
        folder = self.path.parent.resolve()
        if not recorded.is_absolute():
            located = folder / recorded
        elif recorded.exists() or CHECKPOINTS not in recorded.parts:
            located = recorded
        else:
            index = len(recorded.parts) - 1 - recorded.parts[::-1].index(CHECKPOINTS)
            moved = folder.joinpath(*recorded.parts[index:])
            located = moved if moved.exists() else recorded
        version.checkpoint_path = str(located)
        return version

    def policy_version(self, version_id: int) -> PolicyVersion:
        with self.session() as session:
            version = session.get(PolicyVersion, version_id)
        if version is None:
            raise StoreError(f"no policy version with id {version_id}")
        return self._located(version)

    def find_policy_version(self, ref: str) -> int:
        """The id of the policy version named ``ref``, or numbered ``ref``."""
        for version in self.policy_versions():
            if ref in (version.name, str(version.id)):
                return version.id
        raise StoreError(f"no policy version named or numbered {ref!r}; see `wmpo-app status`")

    def policy_versions(self) -> list[PolicyVersion]:
        with self.session() as session:
            versions = list(session.scalars(select(PolicyVersion).order_by(PolicyVersion.id)))
        return [self._located(v) for v in versions]

    def deploy(self, task: str, version_id: int, reason: str, *, iteration_id: int | None = None,
               note: str = "") -> Deployment:
        """Make ``version_id`` the policy that drives ``task`` (a new row; history is kept)."""
        if reason not in DEPLOY_REASONS:
            raise ValueError(f"deploy reason {reason!r}; expected one of {DEPLOY_REASONS}")
        self.policy_version(version_id)  # must exist
        deployment = Deployment(task=task, policy_version_id=version_id, iteration_id=iteration_id,
                                reason=reason, note=note)
        with self.session() as session, session.begin():
            session.add(deployment)
        return deployment

    def deployed(self, task: str) -> Deployment | None:
        """The latest deployment for ``task``, or None when nothing was ever deployed."""
        with self.session() as session:
            return session.scalars(select(Deployment).where(Deployment.task == task)
                                   .order_by(Deployment.id.desc()).limit(1)).first()

    def deployments(self, task: str | None = None) -> list[Deployment]:
        with self.session() as session:
            query = select(Deployment).order_by(Deployment.id)
            return list(session.scalars(query.where(Deployment.task == task) if task else query))

    def verify_policy_checkpoint(self, version_id: int) -> Path:
        """Return the checkpoint path if its bytes still match the recorded sha256."""
        version = self.policy_version(version_id)
        actual = checkpoint_sha256(Path(version.checkpoint_path))
        if actual != version.checkpoint_sha256:
            raise StoreError(
                f"checkpoint of policy version {version.name!r} at {version.checkpoint_path} changed: "
                f"sha256 {actual[:12]}..., expected {version.checkpoint_sha256[:12]}...")
        return Path(version.checkpoint_path)

    # -- metrics -------------------------------------------------------------------------------

    def log_metric(self, name: str, value: float, *, step: int | None = None,
                   iteration_id: int | None = None, job_step_id: int | None = None,
                   payload: dict | None = None) -> None:
        value = float(value)
        with self.engine.begin() as conn:
            conn.execute(Metric.__table__.insert().values(
                name=name, value=value, step=step, iteration_id=iteration_id,
                job_step_id=job_step_id, payload_json=json.dumps(payload) if payload else None))

    def metrics(self, name: str | None = None, iteration_id: int | None = None,
                job_step_id: int | None = None) -> list[Metric]:
        query = select(Metric).order_by(Metric.id)
        if name is not None:
            query = query.where(Metric.name == name)
        if job_step_id is not None:
            query = query.where(Metric.job_step_id == job_step_id)
        if iteration_id is not None:
            query = query.where(Metric.iteration_id == iteration_id)
        with self.session() as session:
            return list(session.scalars(query))

    def summary(self) -> dict:
        """Counts for a status line: episodes per source, staged writers, policies, jobs."""
        with self.engine.connect() as conn:
            by_source = dict(conn.execute(text(
                "SELECT source, count(*) FROM episodes WHERE status='committed' GROUP BY source")).all())
            staged = conn.execute(text("SELECT count(*) FROM episodes WHERE status='staged'")).scalar()
            frames = conn.execute(text("SELECT count(*) FROM frames")).scalar()
            policies = conn.execute(text("SELECT count(*) FROM policy_versions")).scalar()
            iterations = conn.execute(text("SELECT count(*) FROM iterations")).scalar()
        return {"episodes": by_source, "staged": staged, "frames": frames,
                "policy_versions": policies, "iterations": iterations,
                "unfinished_jobs": len(self.jobs.unfinished()),
                "bytes": sum(p.stat().st_size for p in (self.path, self.path.with_name(self.path.name + "-wal"))
                             if p.exists())}
