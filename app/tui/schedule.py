"""Schedule: overnight cycles kept in the store, whether the scheduler service is running,
its recent runs (missed and skipped ones included, with the reason), and how to install it."""

from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, DataTable, Input, Label, Select, Static

from app.cycle_config import PROFILES as CYCLE_PROFILES
from app.scheduler import SchedulerConfig, describe_next
from app.scheduler_install import install_cron, install_systemd
from app.tui.confirm import ConfirmScreen
from robot.sim.tasks import TASKS
from storage import StoreError
from storage.schedules import WEEKDAY_NAMES, ScheduleSpec, parse_weekdays
from storage.schema import utcnow


class SchedulePane(Vertical):
    BINDINGS = [("e", "toggle", "enable/disable"), ("delete", "remove", "remove")]

    def compose(self) -> ComposeResult:
        with Horizontal(classes="form"):
            yield Input("nightly", placeholder="name", id="schedule-name")
            yield Input("02:00", placeholder="HH:MM", id="schedule-at")
            yield Input("all", placeholder="days: all / weekdays / mon,wed", id="schedule-days")
            yield Select([(t, t) for t in sorted(TASKS)], value="transfer_cube", allow_blank=False,
                         id="schedule-task")
            yield Select([(p, p) for p in sorted(CYCLE_PROFILES)], value="cpu", allow_blank=False,
                         id="schedule-profile")
            yield Input("1", placeholder="iterations", id="schedule-iterations", type="integer")
            yield Button("Add", variant="success", id="schedule-add")
        yield DataTable(id="schedules-table", cursor_type="row", zebra_stripes=True)
        yield Label("recent runs")
        yield DataTable(id="runs-table", cursor_type="row", zebra_stripes=True)
        yield Static(id="scheduler-status", classes="box")
        with Horizontal(classes="form"):
            yield Button("Install systemd service", id="install-systemd")
            yield Button("Install cron entry", id="install-cron")

    def on_mount(self) -> None:
        self.query_one("#schedules-table", DataTable).add_columns("name", "at", "days", "task", "profile",
                                                                  "iterations", "enabled", "next run")
        self.query_one("#runs-table", DataTable).add_columns("run", "schedule", "due", "status", "note")
        self.refresh_view()
        self.set_interval(max(5.0, self.app.refresh_s), self.refresh_view)

    def on_show(self) -> None:
        self.refresh_view()

    def refresh_view(self) -> None:
        store = self.app.store
        schedules = store.schedules.all()
        table = self.query_one("#schedules-table", DataTable)
        row = table.cursor_row
        table.clear()
        for s in schedules:
            days = ",".join(WEEKDAY_NAMES[int(d)] for d in s.spec.weekdays)
            table.add_row(s.spec.name, s.spec.at_time, "all" if len(days) == 27 else days, s.spec.task,
                          s.spec.profile, str(s.spec.iterations), "yes" if s.enabled else "no", describe_next(s),
                          key=s.spec.name)
        if schedules:
            table.move_cursor(row=min(row, len(schedules) - 1))
        names = {s.id: s.spec.name for s in schedules}
        runs = self.query_one("#runs-table", DataTable)
        runs.clear()
        for r in store.schedules.runs(limit=20):
            runs.add_row(str(r.id), names.get(r.schedule_id, "?"), f"{r.due_at.astimezone():%a %m-%d %H:%M}",
                         r.status, r.note)
        beat = store.schedules.heartbeat()
        if beat and beat.alive(utcnow(), SchedulerConfig().stale_after_s):
            state = (f"[green]scheduler running[/green]: pid {beat.pid} on {beat.host}, last check "
                     f"{(utcnow() - beat.seen_at).total_seconds():.0f} s ago")
        else:
            last = f" (last seen {beat.seen_at.astimezone():%Y-%m-%d %H:%M})" if beat else ""
            state = (f"[red]scheduler not running{last}[/red]: schedules run only while it runs -- "
                     f"start `wmpo-app scheduler`, or install it below")
        self.query_one("#scheduler-status", Static).update(
            f"{state}\nsystemd: a user service running `wmpo-app scheduler` (restarted if it dies); "
            f"cron: `wmpo-app scheduler --once` every 5 min.\n"
            f"See either before installing: wmpo-app --db {self.app.db} scheduler --show systemd|cron")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        button = event.button.id
        try:
            if button == "schedule-add":
                self.add_schedule()
            elif button == "install-systemd":
                self.app.report(install_systemd(self.app.db, Path.cwd()))
            elif button == "install-cron":
                self.app.report(install_cron(self.app.db, Path.cwd()))
        except (ValueError, StoreError, RuntimeError, OSError) as exc:
            self.app.report_error("schedule", exc)
        self.refresh_view()

    def add_schedule(self) -> None:
        iterations = self.query_one("#schedule-iterations", Input).value.strip()
        if not iterations.isdigit():
            raise ValueError(f"iterations {iterations!r}: expected a whole number >= 1")
        spec = ScheduleSpec(name=self.query_one("#schedule-name", Input).value.strip(),
                            task=self.query_one("#schedule-task", Select).value,
                            at_time=self.query_one("#schedule-at", Input).value.strip(),
                            profile=self.query_one("#schedule-profile", Select).value, iterations=int(iterations),
                            weekdays=parse_weekdays(self.query_one("#schedule-days", Input).value))
        schedule = self.app.store.schedules.add(spec)
        self.app.report(f"schedule {spec.name!r} added; next run {describe_next(schedule)}")

    def selected_name(self) -> str | None:
        table = self.query_one("#schedules-table", DataTable)
        if table.row_count == 0:
            return None
        return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value

    def action_toggle(self) -> None:
        name = self.selected_name()
        if name is not None:
            enabled = self.app.store.schedules.get(name).enabled
            self.app.store.schedules.set_enabled(name, not enabled)
            self.app.report(f"schedule {name!r} {'disabled' if enabled else 'enabled'}")
            self.refresh_view()

    def action_remove(self) -> None:
        name = self.selected_name()
        if name is None:
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.app.store.schedules.remove(name)
                self.app.report(f"schedule {name!r} removed")
                self.refresh_view()

        self.app.push_screen(ConfirmScreen(f"Remove schedule {name!r} and its run history?"), answered)
