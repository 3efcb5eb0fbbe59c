"""The scheduler service: runs the store's overnight schedules, one cycle at a time.

``wmpo-app scheduler`` checks every ``poll_s`` seconds (``--once``: a single check, for
cron). Each due occurrence of an enabled schedule becomes exactly one schedule run:
- ``running`` -> ``done`` / ``failed``: a detached ``wmpo-app scheduled-run`` process ran the
  cycle (it outlives the scheduler, and finishes its own run row);
- ``skipped``: another cycle was running at the time (never two at once);
- ``missed``: nobody checked within ``grace_s`` of the due time (the machine was off, the
  service was not running) -- reported, never silently skipped.
A run whose process died without finishing its row is marked failed; the next run resumes
the interrupted cycle iteration before starting new ones.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Callable

from app.cycle_config import JOB_KIND, CycleConfig, cycle_config
from storage import TrajectoryStore
from storage.schedules import ScheduleRunState, ScheduleSpec, ScheduleState
from storage.schema import utcnow


@dataclass(frozen=True)
class SchedulerConfig:
    poll_s: float = 30.0
    grace_s: float = 3600.0  # an occurrence found later than this after its due time is missed

    def __post_init__(self):
        if self.poll_s <= 0 or self.grace_s < self.poll_s:
            raise ValueError(f"poll_s {self.poll_s} must be > 0 and grace_s {self.grace_s} >= poll_s")

    @property
    def stale_after_s(self) -> float:
        """A heartbeat older than this means no scheduler is running."""
        return 3 * self.poll_s + 10


Launch = Callable[[TrajectoryStore, ScheduleRunState, Path], int]  # starts the run's process; its pid


def logs_dir(store: TrajectoryStore) -> Path:
    return store.path.parent / "logs"


def launch_detached(store: TrajectoryStore, run: ScheduleRunState, log_path: Path) -> int:
    """Start ``wmpo-app scheduled-run RUN`` in its own session: it survives the scheduler."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        process = subprocess.Popen([sys.executable, "-m", "app.cli", "--db", str(store.path), "scheduled-run",
                                    str(run.id)], stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   start_new_session=True)
    return process.pid


def busy_reason(store: TrajectoryStore) -> str | None:
    """Why a new cycle must not start now, or None."""
    for run in store.schedules.runs(status="running"):
        if run.process_alive():
            return f"schedule run {run.id} (pid {run.pid}) is still running"
    for job in store.jobs.unfinished(JOB_KIND):
        if job.status == "running" and job.owner_alive():
            return f"cycle iteration job {job.id} is running (pid {job.owner_pid})"
    return None


def reconcile_runs(store: TrajectoryStore) -> list[str]:
    """Runs left 'running' by a process that no longer exists become 'failed', with the reason."""
    events = []
    for run in store.schedules.runs(status="running"):
        if run.pid is not None and not run.process_alive():
            note = (f"process {run.pid} ended without finishing the run (killed or crashed); "
                    f"the next run resumes the interrupted iteration; log: {run.log_path}")
            store.schedules.finish_run(run.id, "failed", note)
            events.append(f"run {run.id}: failed -- {note}")
    return events


def check_schedules(store: TrajectoryStore, config: SchedulerConfig, now: datetime | None = None,
                    launch: Launch = launch_detached) -> list[str]:
    """Handle every occurrence due since each schedule was last checked; lines saying what happened."""
    now = now or utcnow()
    events = reconcile_runs(store)
    for schedule in store.schedules.all():
        if not schedule.enabled:
            continue
        due = schedule.occurrences(schedule.checked_until, now)
        for when in due:
            late_s = (now - when).total_seconds()
            if late_s > config.grace_s:
                note = (f"not run: nothing checked the schedule within {config.grace_s / 60:.0f} min of "
                        f"{when.astimezone():%a %Y-%m-%d %H:%M} (the scheduler was not running or the machine was off)")
                store.schedules.record_run(schedule.id, when, "missed", note=note)
                events.append(f"{schedule.spec.name}: missed {when.astimezone():%Y-%m-%d %H:%M}")
            elif (reason := busy_reason(store)) is not None:
                store.schedules.record_run(schedule.id, when, "skipped", note=f"not started: {reason}")
                events.append(f"{schedule.spec.name}: skipped {when.astimezone():%H:%M} -- {reason}")
            else:
                events.append(start_run(store, schedule, when, launch))
        store.schedules.mark_checked(schedule.id, now)
    return events


def start_run(store: TrajectoryStore, schedule: ScheduleState, when: datetime, launch: Launch) -> str:
    run = store.schedules.record_run(schedule.id, when, "running", note="starting")
    log_path = logs_dir(store) / f"schedule-{schedule.spec.name}-run{run.id}.log"
    try:
        pid = launch(store, run, log_path)
    except OSError as exc:
        store.schedules.finish_run(run.id, "failed", f"could not start the run: {exc}")
        return f"{schedule.spec.name}: run {run.id} failed to start -- {exc}"
    store.schedules.set_process(run.id, pid, str(log_path))
    return f"{schedule.spec.name}: started run {run.id} (pid {pid}), log {log_path}"


def execute_run(store: TrajectoryStore, run_id: int, report: Callable[[str], None] = print) -> None:
    """The body of ``wmpo-app scheduled-run``: the schedule's cycle, then the run row finished."""
    from app.cycle import run_cycle  # the learning stack: only in the run's own process

    run = store.schedules.run(run_id)
    spec = store.schedules.get(run.schedule_id).spec
    try:
        results = []
        if store.jobs.unfinished(JOB_KIND):
            report("an interrupted cycle iteration exists: resuming it first")
            results += run_cycle(store, None, 0, resume=True, report=report)
        results += run_cycle(store, schedule_cycle_config(spec), spec.iterations, report=report)
    except BaseException as exc:  # SIGTERM / Ctrl-C included: the row must say what happened
        store.schedules.finish_run(run_id, "failed", f"{type(exc).__name__}: {exc}")
        raise
    deployed = sum(bool(r.get("deploy", {}).get("deployed")) for r in results)
    store.schedules.finish_run(run_id, "done", f"{len(results)} iteration(s) finished, {deployed} deployed a new policy")


def schedule_cycle_config(spec: ScheduleSpec) -> CycleConfig:
    """The cycle a schedule runs: its profile, task, budget, robot (site) and ``--set`` assignments.
    Nothing passes through a shell: the values go from the store to the cycle as they are. A
    scheduled run has no operator at a terminal: real episodes stay unlabelled."""
    fields = {"task": spec.task, "site": spec.site} | ({"budget": spec.budget} if spec.budget else {})
    return cycle_config(spec.profile, list(spec.overrides), **fields)


def run_service(store: TrajectoryStore, config: SchedulerConfig, *, once: bool = False,
                stop: threading.Event | None = None, report: Callable[[str], None] = print) -> None:
    """Beat, check, sleep; until ``stop`` is set (or after one check with ``once``)."""
    started = utcnow()
    stop = stop or threading.Event()
    while True:
        store.schedules.beat(started, config.stale_after_s)
        for event in check_schedules(store, config):
            report(event)
        if once or stop.wait(config.poll_s):
            return


def describe_next(schedule: ScheduleState, now: datetime | None = None) -> str:
    due = schedule.next_due(now or utcnow())
    return "disabled" if due is None else f"{due.astimezone():%a %Y-%m-%d %H:%M}"
