"""Tables of the trajectory store (SQLAlchemy 2.x declarative models).

Arrays live in BLOB columns as little-endian float32 (actions, qpos) or as encoded
frames (see frame_codecs). An episode row is created as ``staged`` when its writer
starts and flipped to ``committed`` in the writer's last transaction; every query
of the store reads committed episodes only, so a half-written episode is never seen.
"""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import (
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

ROBOT_KINDS = ("sim", "real")
# "training": sampled by a policy while a learner (GRPO on real rollouts) changed it; its
# policy_version_id is the version the run started from, so these never count as that version's rollouts.
EPISODE_SOURCES = ("expert", "policy", "eval", "imagined", "training")
# The scene of every demo, rollout and stock evaluation; the sim's disruption scenes have other
# names (robot/sim/disruptions.py), and a real robot's episodes are all "stock".
STOCK_SCENE = "stock"
LABEL_SOURCES = ("env", "operator", "reward_model")
EPISODE_STATUSES = ("staged", "committed")
JOB_STATUSES = ("pending", "running", "done", "failed", "cancelled")
STEP_STATUSES = ("pending", "running", "done", "failed")
DEPLOY_REASONS = ("initial", "gate", "operator", "rollback")
SCHEDULE_RUN_STATUSES = ("running", "done", "failed", "missed", "skipped")
MODEL_KINDS = ("world_model", "reward_model")  # the kinds in ``models``; policies are ``policy_versions``


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    """Declarative base of every wmpo table; its metadata builds a new store."""


class Iteration(Base):
    """One lifelong-learning iteration: collect P rollouts, align, reward, GRPO, evaluate."""

    __tablename__ = "iterations"
    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[int] = mapped_column(Integer, unique=True)
    task: Mapped[str] = mapped_column(String(64))
    budget: Mapped[int | None] = mapped_column(Integer)  # P, real rollouts collected
    status: Mapped[str] = mapped_column(String(16), default="running")
    config_json: Mapped[str] = mapped_column(Text, default="{}")
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class PolicyVersion(Base):
    __tablename__ = "policy_versions"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    checkpoint_path: Mapped[str] = mapped_column(Text)
    checkpoint_sha256: Mapped[str] = mapped_column(String(64))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("policy_versions.id"))
    iteration_id: Mapped[int | None] = mapped_column(ForeignKey("iterations.id"))
    config_json: Mapped[str] = mapped_column(Text, default="{}")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class RegisteredModel(Base):
    """A trained world or reward model: where its checkpoint is (relative to the store's folder
    when inside it), the checkpoint's sha256, the model it started from, and how it was made.
    (kind, name) is unique: training again under a name (a resumed run) updates its row."""

    __tablename__ = "models"
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # MODEL_KINDS
    name: Mapped[str] = mapped_column(String(128))
    checkpoint_path: Mapped[str] = mapped_column(Text)
    checkpoint_sha256: Mapped[str] = mapped_column(String(64))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("models.id"))
    iteration_id: Mapped[int | None] = mapped_column(ForeignKey("iterations.id"))
    config_json: Mapped[str] = mapped_column(Text, default="{}")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    __table_args__ = (UniqueConstraint("kind", "name", name="uq_model_kind_name"),)


class Deployment(Base):
    """Which policy version drives the robot for a task, from when: the latest row wins.

    Rows are never edited, so every earlier deployment stays on record and a rollback is
    just a new row naming an older version."""

    __tablename__ = "deployments"
    id: Mapped[int] = mapped_column(primary_key=True)
    task: Mapped[str] = mapped_column(String(64), index=True)
    policy_version_id: Mapped[int] = mapped_column(ForeignKey("policy_versions.id"))
    iteration_id: Mapped[int | None] = mapped_column(ForeignKey("iterations.id"))
    reason: Mapped[str] = mapped_column(String(16))  # DEPLOY_REASONS
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Episode(Base):
    __tablename__ = "episodes"
    id: Mapped[int] = mapped_column(primary_key=True)
    status: Mapped[str] = mapped_column(String(16), default="staged", index=True)
    task: Mapped[str] = mapped_column(String(64), index=True)
    instruction: Mapped[str] = mapped_column(Text, default="")
    robot_kind: Mapped[str] = mapped_column(String(8))
    source: Mapped[str] = mapped_column(String(16), index=True)
    # The sim scene the episode ran in: "stock", or a named disruption (robot/sim/disruptions.py)
    # that no stock query may count. A server default, so writers older than v6 still insert rows.
    scene: Mapped[str] = mapped_column(String(32), default=STOCK_SCENE, server_default=STOCK_SCENE)
    policy_version_id: Mapped[int | None] = mapped_column(ForeignKey("policy_versions.id"))
    iteration_id: Mapped[int | None] = mapped_column(ForeignKey("iterations.id"), index=True)
    seed: Mapped[int | None] = mapped_column(Integer)
    initial_state_ref: Mapped[str | None] = mapped_column(Text)
    success: Mapped[bool | None] = mapped_column(Boolean)
    label_source: Mapped[str | None] = mapped_column(String(16))
    reward_prob: Mapped[float | None] = mapped_column(Float)
    length: Mapped[int] = mapped_column(Integer, default=0)
    action_dim: Mapped[int] = mapped_column(Integer)
    qpos_dim: Mapped[int] = mapped_column(Integer)
    control_period_s: Mapped[float | None] = mapped_column(Float)
    loop_hz_mean: Mapped[float | None] = mapped_column(Float)
    loop_hz_min: Mapped[float | None] = mapped_column(Float)
    loop_jitter_ms: Mapped[float | None] = mapped_column(Float)
    safety_interventions: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    writer_pid: Mapped[int | None] = mapped_column(Integer)
    writer_host: Mapped[str | None] = mapped_column(String(255))
    extra_json: Mapped[str] = mapped_column(Text, default="{}")


class EpisodeCamera(Base):
    """One camera stream of an episode: its frame size and the codec its frames are stored in."""

    __tablename__ = "episode_cameras"
    episode_id: Mapped[int] = mapped_column(
        ForeignKey("episodes.id", ondelete="CASCADE"), primary_key=True
    )
    camera: Mapped[str] = mapped_column(String(64), primary_key=True)
    height: Mapped[int] = mapped_column(Integer)
    width: Mapped[int] = mapped_column(Integer)
    channels: Mapped[int] = mapped_column(Integer)
    codec: Mapped[str] = mapped_column(String(16))


class Step(Base):
    """One control step: the action actually sent and the joint positions observed."""

    __tablename__ = "steps"
    episode_id: Mapped[int] = mapped_column(
        ForeignKey("episodes.id", ondelete="CASCADE"), primary_key=True
    )
    t: Mapped[int] = mapped_column(Integer, primary_key=True)
    timestamp: Mapped[float] = mapped_column(Float)  # seconds since the episode started
    action: Mapped[bytes] = mapped_column(LargeBinary)  # float32[action_dim]
    qpos: Mapped[bytes] = mapped_column(LargeBinary)  # float32[qpos_dim]


class Frame(Base):
    # A rowid table (not WITHOUT ROWID) on purpose: large BLOBs belong in rowid tables.
    __tablename__ = "frames"
    id: Mapped[int] = mapped_column(primary_key=True)
    episode_id: Mapped[int] = mapped_column(ForeignKey("episodes.id", ondelete="CASCADE"))
    camera: Mapped[str] = mapped_column(String(64))
    t: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    __table_args__ = (UniqueConstraint("episode_id", "camera", "t", name="uq_frame"),)


class Job(Base):
    """A resumable piece of work (an improvement cycle, a training run) made of ordered steps."""

    __tablename__ = "jobs"
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    config_json: Mapped[str] = mapped_column(Text, default="{}")
    iteration_id: Mapped[int | None] = mapped_column(ForeignKey("iterations.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    owner_pid: Mapped[int | None] = mapped_column(Integer)
    owner_host: Mapped[str | None] = mapped_column(String(255))
    error: Mapped[str | None] = mapped_column(Text)


class JobStep(Base):
    __tablename__ = "job_steps"
    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    result_json: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    progress: Mapped[float | None] = mapped_column(Float)  # 0..1 within the running step
    detail: Mapped[str | None] = mapped_column(Text)  # the step's last progress line
    __table_args__ = (UniqueConstraint("job_id", "position", name="uq_job_step"),)


class Schedule(Base):
    """An overnight cycle: run ``iterations`` of the cycle at ``at_time`` (machine-local HH:MM)
    on the given weekdays. ``checked_until`` is how far the scheduler has handled its
    occurrences; anything due after it and still unhandled is run or reported missed."""

    __tablename__ = "schedules"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    task: Mapped[str] = mapped_column(String(64))
    profile: Mapped[str] = mapped_column(String(16))
    iterations: Mapped[int] = mapped_column(Integer, default=1)
    budget: Mapped[int | None] = mapped_column(Integer)  # None: the profile's P
    at_time: Mapped[str] = mapped_column(String(5))  # "HH:MM", machine-local
    weekdays: Mapped[str] = mapped_column(String(7), default="0123456")  # Monday = 0
    site: Mapped[str | None] = mapped_column(Text)  # the robot's site file (absolute); None: the sim
    overrides: Mapped[str] = mapped_column(Text, default="[]")  # JSON list of the cycle's --set assignments
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    checked_until: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ScheduleRun(Base):
    """What became of one due occurrence of a schedule: run, or missed / skipped and why."""

    __tablename__ = "schedule_runs"
    id: Mapped[int] = mapped_column(primary_key=True)
    schedule_id: Mapped[int] = mapped_column(ForeignKey("schedules.id", ondelete="CASCADE"), index=True)
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(16))  # SCHEDULE_RUN_STATUSES
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    pid: Mapped[int | None] = mapped_column(Integer)
    host: Mapped[str | None] = mapped_column(String(255))
    log_path: Mapped[str | None] = mapped_column(Text)
    note: Mapped[str] = mapped_column(Text, default="")


class SchedulerBeat(Base):
    """The scheduler service's heartbeat (one row): who runs it and when it was last alive."""

    __tablename__ = "scheduler_beats"
    id: Mapped[int] = mapped_column(primary_key=True)
    pid: Mapped[int] = mapped_column(Integer)
    host: Mapped[str] = mapped_column(String(255))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Metric(Base):
    """A named number (loss, F1, success rate...) attached to an iteration and/or a job step."""

    __tablename__ = "metrics"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128), index=True)
    value: Mapped[float] = mapped_column(Float)
    step: Mapped[int | None] = mapped_column(Integer)
    iteration_id: Mapped[int | None] = mapped_column(ForeignKey("iterations.id"), index=True)
    job_step_id: Mapped[int | None] = mapped_column(ForeignKey("job_steps.id"))
    payload_json: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


Index("ix_episodes_visible", Episode.status, Episode.iteration_id, Episode.source)
