"""Schema versions and the path between them.

The version lives in the database itself (``PRAGMA user_version``). A new store is built
from the current models and stamped with SCHEMA_VERSION; an older store is brought forward
by running, in one transaction, every migration from its version up. SQLite DDL is
transactional, so a failed migration leaves the file at its old version, untouched.

To change the schema: edit schema.py, bump SCHEMA_VERSION, and add
``MIGRATIONS[old_version] = function(connection)`` that turns an old-version database
into the new one.
"""

from __future__ import annotations

from typing import Callable

from sqlalchemy import Connection

SCHEMA_VERSION = 6
Migration = Callable[[Connection], None]


def add_deployments(connection: Connection) -> None:
    """v1 -> v2: the deployments table (which policy version drives each task)."""
    from storage.schema import Deployment  # the models import nothing from here; keep it that way

    Deployment.__table__.create(connection)


def add_schedules_and_step_progress(connection: Connection) -> None:
    """v2 -> v3: overnight schedules, their runs, the scheduler heartbeat; progress within a job step."""
    from storage.schema import Schedule, ScheduleRun, SchedulerBeat

    for table in (Schedule.__table__, ScheduleRun.__table__, SchedulerBeat.__table__):
        table.create(connection)
    connection.exec_driver_sql("ALTER TABLE job_steps ADD COLUMN progress FLOAT")
    connection.exec_driver_sql("ALTER TABLE job_steps ADD COLUMN detail TEXT")


def add_schedule_site_and_overrides(connection: Connection) -> None:
    """v3 -> v4: a schedule's robot (site file) and its cycle's --set assignments. A store older
    than v3 got its schedules table from today's model in v2 -> v3, columns included."""
    present = {row[1] for row in connection.exec_driver_sql("PRAGMA table_info(schedules)")}
    if "site" not in present:
        connection.exec_driver_sql("ALTER TABLE schedules ADD COLUMN site TEXT")
    if "overrides" not in present:
        connection.exec_driver_sql("ALTER TABLE schedules ADD COLUMN overrides TEXT NOT NULL DEFAULT '[]'")


def add_model_registry(connection: Connection) -> None:
    """v4 -> v5: the registry of world and reward models (their folders stay where they were;
    older ones are listed as unregistered until trained again). ``checkfirst``: a store made
    into an older version by dropping today's newer tables (as the migration tests do) has it."""
    from storage.schema import RegisteredModel

    RegisteredModel.__table__.create(connection, checkfirst=True)


def add_episode_scene(connection: Connection) -> None:
    """v5 -> v6: the scene each episode ran in; every earlier episode ran in the stock one. The
    default lives in the table, so a process still running v5 code keeps inserting stock rows."""
    present = {row[1] for row in connection.exec_driver_sql("PRAGMA table_info(episodes)")}
    if "scene" not in present:
        connection.exec_driver_sql("ALTER TABLE episodes ADD COLUMN scene VARCHAR(32) NOT NULL DEFAULT 'stock'")


MIGRATIONS: dict[int, Migration] = {1: add_deployments, 2: add_schedules_and_step_progress,
                                    3: add_schedule_site_and_overrides, 4: add_model_registry,
                                    5: add_episode_scene}


def upgrade(connection: Connection, from_version: int, to_version: int,
            migrations: dict[int, Migration]) -> None:
    """Run migrations ``from_version -> ... -> to_version`` inside the caller's transaction."""
    for version in range(from_version, to_version):
        if version not in migrations:
            raise RuntimeError(
                f"no migration from schema v{version} to v{version + 1}; "
                f"known migrations start at {sorted(migrations)}"
            )
        migrations[version](connection)
    connection.exec_driver_sql(f"PRAGMA user_version = {int(to_version)}")
