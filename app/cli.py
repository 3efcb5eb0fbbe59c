"""`wmpo-app`: the operator's terminal UI (no command, or `ui`) and the headless command line.

Each group of commands lives in its own module and registers its parsers there, each with the
function that runs it (``set_defaults(run=...)``); this module parses, opens the store, and
dispatches. Torch, transformers and diffusers load inside the commands that need them, so
`status`, the UI and the scheduler start in a fraction of a second.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path

from storage import DEFAULT_STORE_PATH, StoreError, StoreFileError, StoreFullError, TrajectoryStore
from storage.database import is_writable

from learning.errors import CheckpointError
from robot.robot import RobotError

from app import (bundle_commands, config_commands, curve_commands, cycle_commands, hardware_commands,
                 model_commands, policy_commands, schedule_commands, store_commands)

# Groups in the order `wmpo-app --help` lists them. The first five run on an open store.
STORE_GROUPS = (store_commands, policy_commands, model_commands, cycle_commands, curve_commands)
OTHER_GROUPS = (schedule_commands, hardware_commands, config_commands, bundle_commands)

# Commands that only read the store: they refuse a store that is not there instead of creating
# one, and read a store that cannot be written (a read-only mount, an immutable file).
READ_COMMANDS = ("status", "check", "episodes", "contact-sheet", "curves", "export-aloha", "export-lerobot",
                 "models")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="wmpo-app", description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", type=Path, default=Path(os.environ.get("WMPO_DB", DEFAULT_STORE_PATH)),
                        help="trajectory store file (default: $WMPO_DB or %(default)s)")
    parser.add_argument("--device", default=os.environ.get("WMPO_DEVICE", "auto"),
                        help="where learners, imagination and policies run: auto (cuda when torch sees a GPU), "
                             "cpu, cuda or cuda:N (default: $WMPO_DEVICE or %(default)s); child processes "
                             "(the UI's jobs, scheduled cycles) inherit it")
    commands = parser.add_subparsers(dest="command")
    for group in STORE_GROUPS:
        group.add_commands(commands)
    commands.add_parser("ui", help="the terminal UI (the default without a command)")
    for group in OTHER_GROUPS:
        group.add_commands(commands)
    return parser


def open_store(path: Path, command: str) -> TrajectoryStore:
    if command in READ_COMMANDS:
        if not path.exists():
            raise StoreFileError(f"no store at {path}; pass the store with --db, or record into a new one "
                                 f"(wmpo-app --db {shlex.quote(str(path))} demos)")
        if not is_writable(path):
            return TrajectoryStore(path, readonly=True)
        try:
            return TrajectoryStore(path)  # writable: a store from an older wmpo is migrated
        except StoreFullError:  # nothing can be written, not even SQLite's shared-memory file
            return TrajectoryStore(path, readonly=True)
    return TrajectoryStore(path)


def main(argv: list[str] | None = None) -> int:
    try:
        return run_command(argv)
    except BrokenPipeError:  # `wmpo-app status | head`: the reader has seen enough
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so the exit's flush cannot fail
        return 0


def error(exc: Exception) -> int:
    print(f"wmpo-app: error: {exc}", file=sys.stderr)
    return 2


def run_command(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    if args.device != "auto":  # say now, not an hour into a cycle, that the GPU is not there
        from learning.device import resolve_device

        try:
            resolve_device(args.device)
        except ValueError as exc:
            return error(exc)
    os.environ["WMPO_DEVICE"] = args.device  # for the children: background jobs, scheduled cycles
    if int(os.environ.get("RANK", "0")) > 0:  # launched by torchrun / accelerate: rank 0 alone reports
        sys.stdout = open(os.devnull, "w")
    if args.command in (None, "ui"):  # the main job: the operator's UI
        from app.tui.app import run_ui

        try:
            return run_ui(args.db)
        except StoreError as exc:  # a foreign or newer file: say so before any screen opens
            return error(exc)
    if args.command in schedule_commands.COMMANDS:
        return schedule_commands.run(args)
    if args.command in hardware_commands.COMMANDS:
        return hardware_commands.run(args)
    try:
        if args.command in config_commands.COMMANDS | bundle_commands.COMMANDS:  # they open stores themselves
            return (config_commands if args.command in config_commands.COMMANDS else bundle_commands).run(args)
        with open_store(Path(args.db), args.command) as store:
            return args.run(store, args) or 0
    except (StoreError, CheckpointError, ValueError, RobotError) as exc:  # RobotError: a real robot's, one line
        return error(exc)


if __name__ == "__main__":
    sys.exit(main())
