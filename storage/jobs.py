"""Resumable jobs: an ordered list of named steps whose progress is kept in the store.

A cycle creates a job with its steps, claims it, and marks each step running, then done
with a small JSON result. If the process dies, the job stays ``running`` with a dead
owner; ``claim`` by a later process takes it over and ``next_step`` returns the first step
not done, so finished steps are never redone. A job owned by a live process cannot be
claimed twice.
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import Engine, insert, select, update

from storage.database import is_process_alive
from storage.errors import StoreError
from storage.schema import Job, JobStep, utcnow


def as_utc(moment: datetime | None) -> datetime | None:
    """SQLite hands datetimes back naive; every time the store writes is UTC."""
    return moment if moment is None or moment.tzinfo else moment.replace(tzinfo=timezone.utc)


class JobBusyError(StoreError):
    """The job is being run by another live process."""


@dataclass(frozen=True)
class JobStepState:
    id: int
    position: int
    name: str
    status: str
    attempts: int
    result: dict | None
    error: str | None
    progress: float | None = None  # 0..1 within a running step
    detail: str | None = None  # its last progress line
    started_at: datetime | None = None
    finished_at: datetime | None = None


@dataclass(frozen=True)
class JobState:
    id: int
    kind: str
    status: str
    config: dict
    iteration_id: int | None
    owner_pid: int | None
    owner_host: str | None
    error: str | None
    steps: tuple[JobStepState, ...]

    def next_step(self) -> JobStepState | None:
        return next((s for s in self.steps if s.status != "done"), None)

    @property
    def progress(self) -> tuple[int, int]:
        return sum(s.status == "done" for s in self.steps), len(self.steps)

    def owner_alive(self) -> bool:
        return (self.owner_pid is not None and self.owner_host == socket.gethostname()
                and is_process_alive(self.owner_pid))


class JobLedger:
    def __init__(self, engine: Engine):
        self._engine = engine

    def create(self, kind: str, step_names: list[str], config: dict | None = None,
               iteration_id: int | None = None) -> JobState:
        if not step_names or len(set(step_names)) != len(step_names):
            raise ValueError(f"a job needs distinct step names, got {step_names}")
        with self._engine.begin() as conn:
            job_id = conn.execute(insert(Job).values(
                kind=kind, status="pending", config_json=json.dumps(config or {}),
                iteration_id=iteration_id)).inserted_primary_key[0]
            conn.execute(insert(JobStep), [
                {"job_id": job_id, "position": i, "name": name, "status": "pending"}
                for i, name in enumerate(step_names)
            ])
        return self.get(job_id)

    def get(self, job_id: int) -> JobState:
        with self._engine.connect() as conn:
            job = conn.execute(select(Job).where(Job.id == job_id)).one_or_none()
            if job is None:
                raise StoreError(f"no job with id {job_id}")
            steps = conn.execute(
                select(JobStep).where(JobStep.job_id == job_id).order_by(JobStep.position)).all()
        return JobState(
            id=job.id, kind=job.kind, status=job.status, config=json.loads(job.config_json),
            iteration_id=job.iteration_id, owner_pid=job.owner_pid, owner_host=job.owner_host,
            error=job.error,
            steps=tuple(JobStepState(s.id, s.position, s.name, s.status, s.attempts,
                                     json.loads(s.result_json) if s.result_json else None, s.error,
                                     s.progress, s.detail, as_utc(s.started_at), as_utc(s.finished_at))
                        for s in steps),
        )

    def unfinished(self, kind: str | None = None) -> list[JobState]:
        query = select(Job.id).where(Job.status.in_(("pending", "running", "failed"))).order_by(Job.id)
        if kind is not None:
            query = query.where(Job.kind == kind)
        with self._engine.connect() as conn:
            ids = conn.execute(query).scalars().all()
        return [self.get(i) for i in ids]

    def finished(self, kind: str | None = None) -> list[JobState]:
        """Jobs that are done, oldest first."""
        query = select(Job.id).where(Job.status == "done").order_by(Job.id)
        if kind is not None:
            query = query.where(Job.kind == kind)
        with self._engine.connect() as conn:
            ids = conn.execute(query).scalars().all()
        return [self.get(i) for i in ids]

    def claim(self, job_id: int) -> JobState:
        """Make this process the job's owner; refuse if another live process owns it."""
        with self._engine.begin() as conn:
            job = conn.execute(select(Job).where(Job.id == job_id)).one()
            state = JobState(job.id, job.kind, job.status, {}, None, job.owner_pid,
                             job.owner_host, None, ())
            if job.status == "running" and job.owner_pid != os.getpid() and state.owner_alive():
                raise JobBusyError(f"job {job_id} ({job.kind}) is being run by pid {job.owner_pid}")
            if job.status in ("done", "cancelled"):
                raise StoreError(f"job {job_id} is {job.status}; nothing to resume")
            conn.execute(update(Job).where(Job.id == job_id).values(
                status="running", owner_pid=os.getpid(), owner_host=socket.gethostname(),
                started_at=job.started_at or utcnow(), error=None))
        return self.get(job_id)

    def start_step(self, step_id: int) -> None:
        with self._engine.begin() as conn:
            conn.execute(update(JobStep).where(JobStep.id == step_id).values(
                status="running", attempts=JobStep.attempts + 1, started_at=utcnow(), error=None,
                progress=0.0, detail=None))

    def report_progress(self, step_id: int, fraction: float, detail: str) -> None:
        """How far the running step is (0..1) and its last line: what a dashboard shows."""
        if not 0.0 <= fraction <= 1.0:
            raise ValueError(f"progress {fraction}: expected a fraction in [0, 1]")
        with self._engine.begin() as conn:
            conn.execute(update(JobStep).where(JobStep.id == step_id).values(progress=fraction, detail=detail))

    def finish_step(self, step_id: int, result: dict | None = None) -> None:
        with self._engine.begin() as conn:
            conn.execute(update(JobStep).where(JobStep.id == step_id).values(
                status="done", finished_at=utcnow(), result_json=json.dumps(result or {}), progress=1.0))

    def fail_step(self, step_id: int, error: str) -> None:
        with self._engine.begin() as conn:
            job_id = conn.execute(select(JobStep.job_id).where(JobStep.id == step_id)).scalar_one()
            conn.execute(update(JobStep).where(JobStep.id == step_id).values(
                status="failed", finished_at=utcnow(), error=error))
            conn.execute(update(Job).where(Job.id == job_id).values(status="failed", error=error))

    def finish(self, job_id: int, status: str = "done") -> None:
        if status not in ("done", "cancelled"):
            raise ValueError(f"finish status {status!r}; expected 'done' or 'cancelled'")
        with self._engine.begin() as conn:
            conn.execute(update(Job).where(Job.id == job_id).values(
                status=status, finished_at=utcnow(), owner_pid=None))
