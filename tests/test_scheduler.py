"""Overnight schedules: due times, missed runs reported, never two cycles at once, a real
detached scheduled run of a tiny cycle, a killed run reconciled, one scheduler at a time."""

import json
import os
import shlex
import sqlite3
import subprocess
import sys
import time
from dataclasses import asdict
from datetime import datetime, timedelta

import pytest

from app.scheduler import SchedulerConfig, check_schedules, schedule_cycle_config
from app.scheduler_install import CRON_MARKER, cron_line, systemd_unit
from conftest import copy_store
from robot.cobot_magic.site import SITES_DIR, load_cobot_site
from test_cli import wmpo_app

from storage import EpisodeFilter, StoreError, TrajectoryStore
from storage.schedules import ScheduleSpec, parse_weekdays


def local(year, month, day, hour, minute=0) -> datetime:
    return datetime(year, month, day, hour, minute).astimezone()


CONFIG = SchedulerConfig(poll_s=30, grace_s=3600)


def test_occurrences_follow_time_of_day_and_weekdays(store):
    monday = local(2026, 11, 16, 12)  # a Monday noon
    nightly = store.schedules.add(ScheduleSpec("nightly", "transfer_cube", "02:00"), now=monday)
    week = nightly.occurrences(monday, monday + timedelta(days=7))
    assert [d.astimezone().strftime("%a %H:%M") for d in week] == [
        "Tue 02:00", "Wed 02:00", "Thu 02:00", "Fri 02:00", "Sat 02:00", "Sun 02:00", "Mon 02:00"]
    odd = store.schedules.add(ScheduleSpec("odd", "transfer_cube", "23:30", weekdays=parse_weekdays("mon,wed")),
                              now=monday)
    assert [d.astimezone().strftime("%a %H:%M") for d in odd.occurrences(monday, monday + timedelta(days=7))] == [
        "Mon 23:30", "Wed 23:30"]
    assert odd.next_due(monday).astimezone() == local(2026, 11, 16, 23, 30)
    with pytest.raises(ValueError, match="HH:MM"):
        ScheduleSpec("bad", "transfer_cube", "24:00")
    with pytest.raises(ValueError, match="weekday 'funday'"):
        parse_weekdays("mon,funday")
    with pytest.raises(StoreError, match="exists"):
        store.schedules.add(ScheduleSpec("nightly", "transfer_cube", "03:00"))


def test_a_night_the_scheduler_was_down_is_reported_missed_not_skipped_silently(store):
    monday = local(2026, 11, 16, 12)
    store.schedules.add(ScheduleSpec("nightly", "transfer_cube", "02:00"), now=monday)
    # Back on Thursday 09:00: Tue, Wed and Thu 02:00 were never checked within the hour of grace.
    events = check_schedules(store, CONFIG, now=local(2026, 11, 19, 9))
    runs = store.schedules.runs()
    assert [r.status for r in runs] == ["missed"] * 3 and len(events) == 3
    assert "scheduler was not running" in runs[0].note
    assert check_schedules(store, CONFIG, now=local(2026, 11, 19, 9, 5)) == []  # handled once, not again
    # Disabled nights are not "missed": enabling counts from then on.
    store.schedules.set_enabled("nightly", False)
    store.schedules.set_enabled("nightly", True, now=local(2026, 11, 22, 12))
    check_schedules(store, CONFIG, now=local(2026, 11, 22, 13))
    assert len(store.schedules.runs()) == 3


def test_a_due_run_is_skipped_with_the_reason_while_a_cycle_runs(store):
    monday = local(2026, 11, 16, 1)
    store.schedules.add(ScheduleSpec("nightly", "transfer_cube", "02:00"), now=monday)
    iteration = store.start_iteration("transfer_cube", 4)
    job = store.jobs.create("cycle-iteration", ["collect"], {"cycle": {}}, iteration_id=iteration.id)
    store.jobs.claim(job.id)  # owned by this (live) process: a cycle is running
    events = check_schedules(store, CONFIG, now=local(2026, 11, 16, 2, 1))
    [run] = store.schedules.runs()
    assert run.status == "skipped" and f"cycle iteration job {job.id} is running" in run.note
    assert "skipped" in events[0]


def test_scheduled_run_executes_a_tiny_cycle_detached_and_finishes_its_row(tiny_base_store, tmp_path):
    db = copy_store(tiny_base_store, tmp_path)
    now = datetime.now().astimezone().replace(second=0, microsecond=0)
    with TrajectoryStore(db) as store:
        store.deploy("transfer_cube", 1, "initial")
        due = now - timedelta(minutes=1)
        store.schedules.add(ScheduleSpec("tiny-nightly", "transfer_cube", f"{due:%H:%M}", profile="tiny",
                                         overrides=("cycle.max_steps=40",)),  # short episodes: a quick cycle
                            now=due - timedelta(minutes=1))
        events = check_schedules(store, CONFIG, now=now)
        assert len(events) == 1 and "started run 1" in events[0]
        assert check_schedules(store, CONFIG, now=now) == []  # never launched twice
        deadline = time.monotonic() + 400
        while (run := store.schedules.run(1)).status == "running":
            assert time.monotonic() < deadline, "the scheduled run did not finish"
            time.sleep(1)
        log = open(run.log_path).read()
        assert run.status == "done", f"{run.note}\n{log[-3000:]}"
        assert "1 iteration(s) finished" in run.note and run.pid != os.getpid()
        assert [i.status for i in store.iterations()] == ["done"]
        assert {e.length for e in store.episodes(EpisodeFilter(source="policy"))} == {40}  # the schedule's --set


def test_a_run_whose_process_died_is_marked_failed(store):
    store.schedules.add(ScheduleSpec("nightly", "transfer_cube", "02:00"))
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    run = store.schedules.record_run(1, local(2026, 11, 16, 2), "running")
    store.schedules.set_process(run.id, dead.pid, "/tmp/none.log")
    events = check_schedules(store, CONFIG, now=local(2026, 11, 16, 2, 5))
    assert store.schedules.run(run.id).status == "failed" and "ended without finishing" in events[0]


def test_one_scheduler_at_a_time_and_the_cli(tmp_path):
    db = tmp_path / "wmpo.db"
    bad = wmpo_app("schedule", "add", "nightly", "--at", "7pm", db=db)
    assert bad.returncode == 2 and "expected HH:MM" in bad.stderr
    added = wmpo_app("schedule", "add", "nightly", "--at", "02:00", "--days", "weekdays", "--profile", "tiny", db=db)
    assert added.returncode == 0 and "next" in added.stdout, added.stderr
    listing = wmpo_app("schedule", "list", db=db)
    assert "nightly: 1 x tiny transfer_cube at 02:00 (mon,tue,wed,thu,fri)" in listing.stdout
    once = wmpo_app("scheduler", "--once", db=db)
    assert once.returncode == 0, once.stderr
    with TrajectoryStore(db) as store:
        beat = store.schedules.heartbeat()
        assert beat is not None and beat.pid != os.getpid()
        store.schedules.beat(beat.started_at, CONFIG.stale_after_s)  # this process takes over (the other ended)
    second = wmpo_app("scheduler", "--once", db=db)  # a live scheduler (this process) is running
    assert second.returncode == 0 and "already running" in second.stdout
    assert "scheduler --once" in wmpo_app("scheduler", "--show", "cron", db=db).stdout
    unit = systemd_unit(db, tmp_path)
    assert f'--db "{db.resolve()}" scheduler' in unit and "Restart=on-failure" in unit
    assert cron_line(db, tmp_path).startswith("*/5 * * * * ")


def test_a_store_path_with_shell_characters_stays_one_argument(tmp_path):
    """`wmpo-app --db 'x;touch P;/s.db' scheduler --show cron` once printed the path unquoted."""
    weird = tmp_path / "a b;touch INJECTED;%d $HOME"
    db = weird / "s.db"
    line = cron_line(db, tmp_path)
    command = line.removeprefix("*/5 * * * * ").removesuffix(CRON_MARKER).replace("\\%", "%")  # as cron hands it to sh
    done = subprocess.run(["sh", "-c", command], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, (command, done.stderr)
    assert not list(tmp_path.rglob("INJECTED")) and db.exists()  # the store was made where the path says
    assert (weird / "logs" / "scheduler-cron.log").exists()
    exec_start = next(x for x in systemd_unit(db, tmp_path).splitlines() if x.startswith("ExecStart="))
    words = shlex.split(exec_start.removeprefix("ExecStart=").replace("%%", "%").replace("$$", "$"))
    assert words[1:] == ["--db", str(db.resolve()), "scheduler"]


def test_a_schedule_keeps_its_site_and_sets_literally_for_the_cycle_it_runs(tmp_path):
    """`schedule add --site F --set ...`: the site (checked, absolute) and the assignments go from the
    store to the scheduled cycle's config as they are; no shell sees them (the installed cron line and
    unit run the scheduler, which reads the store)."""
    weird = tmp_path / "a b;touch INJECTED;%d $HOME 'q'"
    weird.mkdir()
    site_file = weird / "cobot.json"
    site_file.write_text(json.dumps(asdict(load_cobot_site(SITES_DIR / "piper_ros2.json"))))
    db = tmp_path / "wmpo.db"
    added = wmpo_app("schedule", "add", "robot-night", "--at", "02:00", "--profile", "tiny", "--site",
                     str(site_file), "--set", "cycle.max_steps=12", "--set", "grpo.temperature=0.5", db=db)
    assert added.returncode == 0, added.stderr
    assert f"on the robot of {site_file}" in added.stdout
    listing = wmpo_app("schedule", "list", db=db).stdout
    assert "--set cycle.max_steps=12 --set grpo.temperature=0.5" in listing, listing
    with TrajectoryStore(db) as store:
        spec = store.schedules.get("robot-night").spec
    assert spec.site == str(site_file) and spec.overrides == ("cycle.max_steps=12", "grpo.temperature=0.5")
    config = schedule_cycle_config(spec)  # what `scheduled-run` hands to run_cycle
    assert (config.site, config.max_steps, config.overrides) == (str(site_file), 12, ("grpo.temperature=0.5",))
    assert str(site_file) not in cron_line(db, tmp_path) and not list(tmp_path.rglob("INJECTED"))

    relative = wmpo_app("schedule", "add", "relative", "--at", "02:00", "--site", "nowhere.json", db=db)
    assert relative.returncode == 2 and "site file nowhere.json does not exist" in relative.stderr
    bad_set = wmpo_app("schedule", "add", "bad", "--at", "02:00", "--set", "grpo.nope=1", db=db)
    assert bad_set.returncode == 2 and "GRPOConfig has no field 'nope'" in bad_set.stderr
    assert bad_set.stderr.count("\n") == 1  # one line
    with TrajectoryStore(db) as store:
        assert [s.spec.name for s in store.schedules.all()] == ["robot-night"]


def test_a_v3_store_gains_schedule_site_and_overrides_keeping_its_schedules(tmp_path):
    db = tmp_path / "old.db"
    with TrajectoryStore(db) as store:
        store.schedules.add(ScheduleSpec("nightly", "transfer_cube", "02:00"))
    raw = sqlite3.connect(db)  # back to schema v3: schedules without the two columns
    raw.execute("ALTER TABLE schedules DROP COLUMN site")
    raw.execute("ALTER TABLE schedules DROP COLUMN overrides")
    raw.execute("PRAGMA user_version = 3")
    raw.commit()
    raw.close()
    with TrajectoryStore(db) as store:
        spec = store.schedules.get("nightly").spec
        assert (spec.at_time, spec.site, spec.overrides) == ("02:00", None, ())
