"""Cycle: train a base policy, then start, resume and stop lifelong iterations; each stage's
result for the latest iteration; the running command's output.

Training and the cycle run as `wmpo-app` child processes (app.background_command): the UI
stays responsive, and Stop is a signal -- the store keeps every finished step, and Resume
(`cycle --resume`) continues at the interrupted one.
"""

from __future__ import annotations

from textual import work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, DataTable, Input, Label, RichLog, Select

from app.background_command import BackgroundCommand
from app.cycle_config import JOB_KIND
from app.cycle_config import PROFILES as CYCLE_PROFILES
from app.stage_results import STAGE_RESULTS, stage_result
from app.tui.site_field import SiteField
from learning.curves import sparkline
from robot.sim.tasks import TASKS


def stage_summary(name: str, result: dict | None) -> str:
    """One line of the numbers that matter from a finished stage's stored result."""
    if not result or name not in STAGE_RESULTS:
        return ""
    return stage_result(name, result).summary()


class CyclePane(Vertical):
    command: BackgroundCommand | None = None
    policy_names: list[str] | None = None

    def compose(self) -> ComposeResult:
        profiles = [(p, p) for p in sorted(CYCLE_PROFILES)]
        yield Label("[b]base policy[/b] (imitation on expert demos; missing demos are recorded first)")
        with Horizontal(classes="form"):
            yield Select([(t, t) for t in [*sorted(TASKS), "all"]], value="transfer_cube", allow_blank=False,
                         id="base-task")
            yield Select(profiles, value="tiny", allow_blank=False, id="base-profile")
            yield Input("200", placeholder="steps", id="base-steps", type="integer")
            yield Input("5", placeholder="demos", id="base-demos", type="integer")
            yield Input("base", placeholder="name", id="base-name")
            yield Button("Train", id="base-train")
        yield Label("[b]lifelong cycle[/b] (collect -> align -> reward -> fidelity -> GRPO -> evaluate -> deploy)")
        with Horizontal(classes="form"):
            yield Select(profiles, value="tiny", allow_blank=False, id="cycle-profile")
            yield Select([(t, t) for t in sorted(TASKS)], value="transfer_cube", allow_blank=False, id="cycle-task")
            yield Input("1", placeholder="iterations", id="cycle-iterations", type="integer")
            yield Input("", placeholder="budget P (profile's)", id="cycle-budget", type="integer")
            yield Select([], prompt="policy to deploy first", id="cycle-policy")
        yield SiteField("cycle")
        with Horizontal(classes="form"):
            yield Button("Start", variant="success", id="cycle-start")
            yield Button("Resume", variant="primary", id="cycle-resume")
            yield Button("Stop", variant="error", id="cycle-stop", disabled=True)
        yield DataTable(id="cycle-stages", cursor_type="row", zebra_stripes=True)
        yield RichLog(id="cycle-log", max_lines=2000, markup=False)

    def on_mount(self) -> None:
        table = self.query_one("#cycle-stages", DataTable)
        table.add_columns("stage", "status", "tries", "result")
        self.refresh_view()
        self.set_interval(self.app.refresh_s, self.refresh_view)

    def on_show(self) -> None:
        self.refresh_view()

    def refresh_view(self) -> None:
        store = self.app.store
        select = self.query_one("#cycle-policy", Select)
        names = [v.name for v in store.policy_versions()]
        if names != self.policy_names:  # only when versions changed: keeps the operator's choice
            self.policy_names, value = names, select.value
            select.set_options([(name, name) for name in names])
            if value in names:
                select.value = value
        jobs = store.jobs.unfinished(JOB_KIND) or store.jobs.finished(JOB_KIND)[-1:]
        table = self.query_one("#cycle-stages", DataTable)
        table.clear()
        if jobs:
            job = jobs[-1]
            numbers = {i.id: i.number for i in store.iterations()}
            table.border_title = f"iteration {numbers.get(job.iteration_id)}: {job.status}"
            for step in job.steps:
                detail = stage_summary(step.name, step.result) if step.status == "done" else (
                    step.error or step.detail or "")
                losses = [m.value for m in store.metrics(f"{step.name}/loss", job_step_id=step.id)]
                if len(losses) > 1:  # the stage's training curve so far, oldest to newest
                    detail = f"{sparkline(losses)} {detail}"
                table.add_row(step.name, step.status, str(step.attempts), detail)
        self.query_one("#cycle-resume", Button).disabled = not store.jobs.unfinished(JOB_KIND) or self.busy

    @property
    def busy(self) -> bool:
        return self.command is not None and self.command.running

    def on_button_pressed(self, event: Button.Pressed) -> None:
        button = event.button.id
        if button == "cycle-stop":
            if self.command is not None:
                self.command.stop()
                self.app.report(f"stopping `{self.command.command_line}`; Resume continues where it stopped")
            return
        if self.busy:
            self.app.notify(f"`{self.command.command_line}` is still running", severity="warning")
            return
        try:
            args = {"base-train": self.train_args, "cycle-start": self.cycle_args,
                    "cycle-resume": lambda: ["cycle", "--resume"]}[button]()
        except ValueError as exc:
            self.app.notify(str(exc), title="cannot start", severity="error")
            return
        self.launch(args)

    def train_args(self) -> list[str]:
        name = self.query_one("#base-name", Input).value.strip()
        if not name:
            raise ValueError("give the policy version a name")
        return ["train-policy", "--task", self.query_one("#base-task", Select).value,
                "--profile", self.query_one("#base-profile", Select).value,
                "--steps", self.positive("#base-steps", "steps"), "--demos", self.positive("#base-demos", "demos"),
                "--name", name]

    def cycle_args(self) -> list[str]:
        args = ["cycle", "--profile", self.query_one("#cycle-profile", Select).value,
                "--task", self.query_one("#cycle-task", Select).value,
                "--iterations", self.positive("#cycle-iterations", "iterations")]
        if self.query_one("#cycle-budget", Input).value.strip():
            args += ["--budget", self.positive("#cycle-budget", "budget P")]
        policy = self.query_one("#cycle-policy", Select).value
        if policy != Select.NULL:
            args += ["--policy", policy]
        if (site := self.query_one(SiteField).site()) is not None:
            args += ["--site", site]
        return args

    def positive(self, selector: str, what: str) -> str:
        text = self.query_one(selector, Input).value.strip()
        if not text.isdigit() or int(text) < 1:
            raise ValueError(f"{what}: {text!r} is not a whole number >= 1")
        return text

    def launch(self, args: list[str]) -> None:
        self.command = BackgroundCommand(self.app.db, args, self.app.db.parent / "logs" / "ui-commands.log")
        self.query_one("#cycle-log", RichLog).write(f"$ {self.command.command_line}")
        self.query_one("#cycle-stop", Button).disabled = False
        self.follow(self.command)

    @work(thread=True, exclusive=True, group="cycle", exit_on_error=False)
    def follow(self, command: BackgroundCommand) -> None:
        try:
            command.start()
            for line in command.lines():
                self.app.call_from_thread(self.query_one("#cycle-log", RichLog).write, line)
        except Exception as exc:  # noqa: BLE001 -- shown to the operator, logged with its traceback
            self.app.call_from_thread(self.app.report_error, f"`{command.command_line}` failed", exc)
        self.app.call_from_thread(self.command_done, command)

    def command_done(self, command: BackgroundCommand) -> None:
        self.query_one("#cycle-stop", Button).disabled = True
        code = command.returncode
        if code == 0:
            self.app.report(f"`{command.command_line}` finished")
        else:
            self.app.report_error(f"`{command.command_line}` ended with exit code {code}",
                                  RuntimeError(f"see the output above and {command.log_path}"))
        self.refresh_view()
