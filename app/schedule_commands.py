"""`wmpo-app schedule ...`, `wmpo-app scheduler` and `wmpo-app scheduled-run`: overnight cycles from the shell."""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path

from app import hardware_commands
from app.config_commands import add_config_option, assignments
from app.cycle_config import PROFILES as CYCLE_PROFILES
from app.cycle_config import cycle_sections
from app.cycle_config import profile as cycle_profile
from app.scheduler import SchedulerConfig, describe_next, execute_run, run_service, schedule_cycle_config
from app.scheduler_install import cron_line, install_cron, install_systemd, systemd_unit
from robot.sim.tasks import TASKS
from storage import StoreError, TrajectoryStore
from storage.schedules import WEEKDAY_NAMES, ScheduleSpec, parse_weekdays

COMMANDS = {"schedule", "scheduler", "scheduled-run"}


def add_commands(commands) -> None:
    schedule = commands.add_parser("schedule", help="overnight cycles kept in the store (add, list, enable, ...)")
    actions = schedule.add_subparsers(dest="action", required=True)
    add = actions.add_parser("add", help="a new schedule")
    add.add_argument("name")
    add.add_argument("--at", required=True, help="machine-local time of day, HH:MM")
    add.add_argument("--days", default="all", help="mon,tue,... or 'all' or 'weekdays' (default all)")
    add.add_argument("--task", choices=sorted(TASKS), default="transfer_cube")
    add.add_argument("--profile", choices=sorted(CYCLE_PROFILES), default="cpu")
    add.add_argument("--iterations", type=int, default=1)
    add.add_argument("--budget", type=int, help="P (default: the profile's)")
    add.add_argument("--site", help="run on the real robot this site file describes (default: the MuJoCo sim); "
                                    "nobody is at a terminal at night: its episodes stay unlabelled")
    add.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.FIELD=VALUE",
                     help="a knob of the scheduled cycle, as `wmpo-app cycle --set` (repeatable)")
    add_config_option(add, "[grpo]\ntemperature = 0.5")
    actions.add_parser("list", help="schedules, their next run and their recent runs")
    for name in ("enable", "disable", "remove"):
        action = actions.add_parser(name, help=f"{name} a schedule")
        action.add_argument("name")

    scheduler = commands.add_parser("scheduler", help="the service that runs due schedules (or installs it)")
    scheduler.add_argument("--once", action="store_true", help="one check, then exit (for cron)")
    scheduler.add_argument("--poll", type=float, default=30.0, help="seconds between checks")
    scheduler.add_argument("--grace-min", type=float, default=60.0,
                           help="a run not started within this many minutes of its time is reported missed")
    scheduler.add_argument("--install", choices=["systemd", "cron"], help="install the service and exit")
    scheduler.add_argument("--show", choices=["systemd", "cron"], help="print what --install would install")

    run = commands.add_parser("scheduled-run", help="(started by the scheduler) run one due schedule run")
    run.add_argument("run_id", type=int)


def run(args) -> int:
    try:
        if args.command == "scheduler" and (args.show or args.install):
            return install(args)
        with TrajectoryStore(args.db) as store:
            if args.command == "schedule":
                return schedule_action(store, args)
            if args.command == "scheduled-run":
                stop_on_sigterm()
                execute_run(store, args.run_id, report=lambda line: print(line, flush=True))
                return 0
            return serve(store, args)
    except (StoreError, ValueError, RuntimeError) as exc:
        print(f"wmpo-app: error: {exc}", file=sys.stderr)
        return 2


def schedule_action(store: TrajectoryStore, args) -> int:
    book = store.schedules
    if args.action == "add":
        site = hardware_commands.robot_choice(args.site).site  # checked now, kept as an absolute path
        # the file is read now and kept as the --set assignments it amounts to: editing or losing
        # it later does not change the schedule
        knobs = assignments(args, cycle_sections(cycle_profile(args.profile)))
        spec = ScheduleSpec(name=args.name, task=args.task, at_time=args.at, profile=args.profile,
                            iterations=args.iterations, budget=args.budget, weekdays=parse_weekdays(args.days),
                            site=site, overrides=tuple(knobs))
        schedule_cycle_config(spec)  # a bad --set is refused now, not at 2 am
        schedule = book.add(spec)
        print(f"schedule {spec.name!r}: {spec.iterations} {spec.profile} iteration(s) of {spec.task} at "
              f"{spec.at_time} on {robot_name(spec)}; next {describe_next(schedule)}. It runs while "
              f"`wmpo-app scheduler` runs (install it: wmpo-app scheduler --install systemd|cron)")
    elif args.action == "list":
        print(schedule_listing(store))
    elif args.action == "remove":
        book.remove(args.name)
        print(f"schedule {args.name!r} removed")
    else:
        book.set_enabled(args.name, args.action == "enable")
        print(f"schedule {args.name!r} {args.action}d")
    return 0


def schedule_listing(store: TrajectoryStore) -> str:
    schedules = store.schedules.all()
    if not schedules:
        return "no schedules (add one: wmpo-app schedule add NAME --at 02:00)"
    lines = []
    for s in schedules:
        days = ",".join(WEEKDAY_NAMES[int(d)] for d in s.spec.weekdays)
        knobs = "".join(f" --set {o}" for o in s.spec.overrides)
        lines.append(f"{s.spec.name}: {s.spec.iterations} x {s.spec.profile} {s.spec.task} at {s.spec.at_time} "
                     f"({days}) on {robot_name(s.spec)}{knobs}; next {describe_next(s)}")
        for r in store.schedules.runs(s.id, limit=5):
            lines.append(f"  run {r.id} due {r.due_at.astimezone():%Y-%m-%d %H:%M}: {r.status} -- {r.note}")
    return "\n".join(lines)


def robot_name(spec: ScheduleSpec) -> str:
    return "the MuJoCo sim" if spec.site is None else f"the robot of {spec.site}"


def serve(store: TrajectoryStore, args) -> int:
    config = SchedulerConfig(poll_s=args.poll, grace_s=max(args.grace_min * 60, args.poll))
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    try:
        run_service(store, config, once=args.once, stop=stop, report=lambda line: print(line, flush=True))
    except StoreError as exc:
        if args.once and "already running" in str(exc):  # cron next to a running service: nothing to do
            print(f"wmpo-app scheduler --once: {exc}; leaving it to that one")
            return 0
        raise
    return 0


def install(args) -> int:
    workdir = Path.cwd()
    kind = args.show or args.install
    if args.show:
        print(systemd_unit(args.db, workdir) if kind == "systemd" else cron_line(args.db, workdir))
        return 0
    print(install_systemd(args.db, workdir) if kind == "systemd" else install_cron(args.db, workdir))
    return 0


def stop_on_sigterm() -> None:
    """SIGTERM raises, so the run row is finished as failed (and the cycle resumes next time)."""
    def raise_exit(*_):
        raise SystemExit("stopped by SIGTERM")

    signal.signal(signal.SIGTERM, raise_exit)
