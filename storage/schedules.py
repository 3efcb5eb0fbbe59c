"""Overnight schedules kept in the store, what became of each due run, and the scheduler's heartbeat.

A schedule fires at a machine-local time of day on chosen weekdays. The scheduler service
moves each schedule's ``checked_until`` forward as it handles occurrences, so after a
restart (or a night the machine was off) it still sees every occurrence it has not handled
and reports it -- run, skipped, or missed -- instead of silently jumping ahead.
"""

from __future__ import annotations

import json
import os
import re
import socket
from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone

from sqlalchemy import Engine, delete, insert, select, update

from storage.database import is_process_alive
from storage.errors import StoreError
from storage.jobs import as_utc
from storage.schema import SCHEDULE_RUN_STATUSES, Schedule, ScheduleRun, SchedulerBeat, utcnow

WEEKDAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class ScheduleSpec:
    """What an operator asks for: ``iterations`` cycle iterations of ``task`` at ``at_time``, on the
    robot ``site`` names (None: the sim), with the cycle's ``--set`` assignments ``overrides``."""

    name: str
    task: str
    at_time: str  # "HH:MM", machine-local
    profile: str = "cpu"
    iterations: int = 1
    budget: int | None = None
    weekdays: str = "0123456"  # Monday = 0
    site: str | None = None  # a site file's absolute path
    overrides: tuple[str, ...] = ()  # "SECTION.FIELD=VALUE"

    def __post_init__(self):
        if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", self.name):
            raise ValueError(f"schedule name {self.name!r}: expected 1-64 letters, digits, '_', '.', '-'")
        parse_time_of_day(self.at_time)
        if self.iterations < 1:
            raise ValueError(f"iterations {self.iterations}: expected >= 1")
        if self.budget is not None and self.budget < 1:
            raise ValueError(f"budget {self.budget}: expected >= 1 real rollouts")
        if self.site is not None and not os.path.isabs(self.site):
            raise ValueError(f"site {self.site!r}: expected an absolute path (the scheduler runs from its own folder)")
        if not self.weekdays or not set(self.weekdays) <= set("0123456") or len(set(self.weekdays)) != len(self.weekdays):
            raise ValueError(f"weekdays {self.weekdays!r}: expected distinct digits 0 (Monday) .. 6 (Sunday)")


def parse_time_of_day(text: str) -> time:
    match = re.fullmatch(r"(\d{1,2}):(\d{2})", text.strip())
    if not match or int(match[1]) > 23 or int(match[2]) > 59:
        raise ValueError(f"time of day {text!r}: expected HH:MM on a 24-hour clock, e.g. 02:30")
    return time(int(match[1]), int(match[2]))


def parse_weekdays(text: str) -> str:
    """'mon,wed,fri' / 'all' / 'weekdays' -> '024'."""
    text = text.strip().lower()
    if text in ("all", "daily", "every"):
        return "0123456"
    if text == "weekdays":
        return "01234"
    days = []
    for name in text.split(","):
        if name.strip()[:3] not in WEEKDAY_NAMES:
            raise ValueError(f"weekday {name!r}: expected one of {', '.join(WEEKDAY_NAMES)} (or 'all', 'weekdays')")
        days.append(str(WEEKDAY_NAMES.index(name.strip()[:3])))
    return "".join(sorted(set(days)))


@dataclass(frozen=True)
class ScheduleState:
    id: int
    spec: ScheduleSpec
    enabled: bool
    created_at: datetime
    checked_until: datetime

    def occurrences(self, after: datetime, until: datetime) -> list[datetime]:
        """Due times in (after, until], as aware UTC datetimes (the time of day is machine-local)."""
        at = parse_time_of_day(self.spec.at_time)
        local_after, local_until = after.astimezone(), until.astimezone()
        found, day = [], local_after.date()
        while day <= local_until.date():
            if str(day.weekday()) in self.spec.weekdays:
                due = datetime.combine(day, at).astimezone()  # naive local -> aware local
                if local_after < due <= local_until:
                    found.append(due.astimezone(timezone.utc))
            day += timedelta(days=1)
        return found

    def next_due(self, now: datetime) -> datetime | None:
        if not self.enabled:
            return None
        upcoming = self.occurrences(max(now, self.checked_until), max(now, self.checked_until) + timedelta(days=8))
        return upcoming[0] if upcoming else None


@dataclass(frozen=True)
class ScheduleRunState:
    id: int
    schedule_id: int
    due_at: datetime
    status: str
    started_at: datetime | None
    finished_at: datetime | None
    pid: int | None
    host: str | None
    log_path: str | None
    note: str

    def process_alive(self) -> bool:
        return self.pid is not None and self.host == socket.gethostname() and is_process_alive(self.pid)


@dataclass(frozen=True)
class Heartbeat:
    pid: int
    host: str
    started_at: datetime
    seen_at: datetime

    def alive(self, now: datetime, stale_after_s: float) -> bool:
        """Seen recently, and (on this host) its process still exists."""
        if (now - self.seen_at).total_seconds() > stale_after_s:
            return False
        return self.host != socket.gethostname() or is_process_alive(self.pid)


class ScheduleBook:
    def __init__(self, engine: Engine):
        self._engine = engine

    # -- schedules -------------------------------------------------------------------------

    def add(self, spec: ScheduleSpec, now: datetime | None = None) -> ScheduleState:
        now = now or utcnow()
        with self._engine.begin() as conn:
            if conn.execute(select(Schedule.id).where(Schedule.name == spec.name)).first():
                raise StoreError(f"a schedule named {spec.name!r} exists; remove it first or pick another name")
            schedule_id = conn.execute(insert(Schedule).values(
                name=spec.name, task=spec.task, profile=spec.profile, iterations=spec.iterations, budget=spec.budget,
                at_time=spec.at_time, weekdays=spec.weekdays, site=spec.site,
                overrides=json.dumps(list(spec.overrides)), enabled=True, created_at=now,
                checked_until=now)).inserted_primary_key[0]
        return self.get(schedule_id)

    def get(self, ref: int | str) -> ScheduleState:
        column = Schedule.id if isinstance(ref, int) else Schedule.name
        with self._engine.connect() as conn:
            row = conn.execute(select(Schedule).where(column == ref)).one_or_none()
        if row is None:
            raise StoreError(f"no schedule {ref!r}; see `wmpo-app schedule list`")
        return _schedule_state(row)

    def all(self) -> list[ScheduleState]:
        with self._engine.connect() as conn:
            return [_schedule_state(r) for r in conn.execute(select(Schedule).order_by(Schedule.id)).all()]

    def set_enabled(self, ref: int | str, enabled: bool, now: datetime | None = None) -> None:
        """Enabling starts counting occurrences from now: the nights it was off are not 'missed'."""
        schedule = self.get(ref)
        values = {"enabled": enabled}
        if enabled and not schedule.enabled:
            values["checked_until"] = now or utcnow()
        with self._engine.begin() as conn:
            conn.execute(update(Schedule).where(Schedule.id == schedule.id).values(**values))

    def remove(self, ref: int | str) -> None:
        schedule = self.get(ref)
        with self._engine.begin() as conn:
            conn.execute(delete(ScheduleRun).where(ScheduleRun.schedule_id == schedule.id))
            conn.execute(delete(Schedule).where(Schedule.id == schedule.id))

    def mark_checked(self, schedule_id: int, until: datetime) -> None:
        with self._engine.begin() as conn:
            conn.execute(update(Schedule).where(Schedule.id == schedule_id).values(checked_until=until))

    # -- runs ------------------------------------------------------------------------------

    def record_run(self, schedule_id: int, due_at: datetime, status: str, *, note: str = "",
                   pid: int | None = None, log_path: str | None = None) -> ScheduleRunState:
        if status not in SCHEDULE_RUN_STATUSES:
            raise ValueError(f"schedule run status {status!r}; expected one of {SCHEDULE_RUN_STATUSES}")
        now = utcnow()
        with self._engine.begin() as conn:
            run_id = conn.execute(insert(ScheduleRun).values(
                schedule_id=schedule_id, due_at=due_at, status=status, note=note, pid=pid,
                host=socket.gethostname() if pid else None, log_path=log_path,
                started_at=now if status == "running" else None,
                finished_at=None if status == "running" else now)).inserted_primary_key[0]
        return self.run(run_id)

    def set_process(self, run_id: int, pid: int, log_path: str) -> None:
        with self._engine.begin() as conn:
            conn.execute(update(ScheduleRun).where(ScheduleRun.id == run_id).values(
                pid=pid, host=socket.gethostname(), log_path=log_path, note="running"))

    def finish_run(self, run_id: int, status: str, note: str) -> None:
        if status not in ("done", "failed"):
            raise ValueError(f"finish status {status!r}; expected 'done' or 'failed'")
        with self._engine.begin() as conn:
            conn.execute(update(ScheduleRun).where(ScheduleRun.id == run_id).values(
                status=status, note=note, finished_at=utcnow()))

    def run(self, run_id: int) -> ScheduleRunState:
        with self._engine.connect() as conn:
            return _run_state(conn.execute(select(ScheduleRun).where(ScheduleRun.id == run_id)).one())

    def runs(self, schedule_id: int | None = None, status: str | None = None, limit: int = 50) -> list[ScheduleRunState]:
        """Newest first."""
        query = select(ScheduleRun).order_by(ScheduleRun.id.desc()).limit(limit)
        if schedule_id is not None:
            query = query.where(ScheduleRun.schedule_id == schedule_id)
        if status is not None:
            query = query.where(ScheduleRun.status == status)
        with self._engine.connect() as conn:
            return [_run_state(r) for r in conn.execute(query).all()]

    # -- the service's heartbeat -----------------------------------------------------------

    def heartbeat(self) -> Heartbeat | None:
        with self._engine.connect() as conn:
            row = conn.execute(select(SchedulerBeat).where(SchedulerBeat.id == 1)).one_or_none()
        return None if row is None else Heartbeat(row.pid, row.host, as_utc(row.started_at), as_utc(row.seen_at))

    def beat(self, started_at: datetime, stale_after_s: float) -> None:
        """Record that this process is the scheduler; refuse if another live one is."""
        now, pid, host = utcnow(), os.getpid(), socket.gethostname()
        with self._engine.begin() as conn:
            row = conn.execute(select(SchedulerBeat).where(SchedulerBeat.id == 1)).one_or_none()
            if row is None:
                conn.execute(insert(SchedulerBeat).values(id=1, pid=pid, host=host, started_at=started_at, seen_at=now))
                return
            other = Heartbeat(row.pid, row.host, as_utc(row.started_at), as_utc(row.seen_at))
            if (other.pid, other.host) != (pid, host) and other.alive(now, stale_after_s):
                raise StoreError(f"a scheduler is already running (pid {other.pid} on {other.host}, "
                                 f"seen {int((now - other.seen_at).total_seconds())} s ago)")
            conn.execute(update(SchedulerBeat).where(SchedulerBeat.id == 1).values(
                pid=pid, host=host, started_at=started_at, seen_at=now))


def _schedule_state(row) -> ScheduleState:
    spec = ScheduleSpec(name=row.name, task=row.task, at_time=row.at_time, profile=row.profile,
                        iterations=row.iterations, budget=row.budget, weekdays=row.weekdays, site=row.site,
                        overrides=tuple(json.loads(row.overrides or "[]")))
    return ScheduleState(row.id, spec, bool(row.enabled), as_utc(row.created_at), as_utc(row.checked_until))


def _run_state(row) -> ScheduleRunState:
    return ScheduleRunState(row.id, row.schedule_id, as_utc(row.due_at), row.status, as_utc(row.started_at),
                            as_utc(row.finished_at), row.pid, row.host, row.log_path, row.note)
