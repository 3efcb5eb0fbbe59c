"""Dashboard: robot and store status, deployed policies, the running iteration's stages with
an ETA, and success per iteration as a chart."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Label, ProgressBar, Static

from app.cycle_config import STAGES
from app.cycle_report import iteration_rows, running_iteration
from app.scheduler import SchedulerConfig
from app.tui.charts import success_bars
from robot.sim.tasks import TASKS
from storage.schema import utcnow


def minutes(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 60 else f"{seconds:.0f} s"


class DashboardPane(VerticalScroll):
    def compose(self) -> ComposeResult:
        with Horizontal(id="status-row"):
            yield Static(id="robot-status", classes="box")
            yield Static(id="store-status", classes="box")
            yield Static(id="deployed-status", classes="box")
        with Vertical(id="job", classes="box"):
            yield Label("", id="job-title")
            for stage in STAGES:
                with Horizontal(classes="stage-row"):
                    yield Label(stage, classes="stage-name")
                    yield ProgressBar(total=1.0, show_eta=False, id=f"stage-{stage}")
                    yield Label("", id=f"stage-detail-{stage}", classes="stage-detail")
        yield Static(id="success-chart", classes="box")

    def on_mount(self) -> None:
        self.query_one("#job").border_title = "running iteration"
        self.query_one("#success-chart").border_title = "success per iteration (greedy evaluation)"
        self.refresh_view()
        self.set_interval(self.app.refresh_s, self.refresh_view)

    def refresh_view(self) -> None:
        store = self.app.store
        summary = store.summary()
        beat = store.schedules.heartbeat()
        scheduler = ("running" if beat and beat.alive(utcnow(), SchedulerConfig().stale_after_s)
                     else "not running")
        self.query_one("#robot-status", Static).update(
            f"[b]robot[/b]  simulated ALOHA (MuJoCo)\ntasks  {', '.join(sorted(TASKS))}\n"
            f"scheduler  {scheduler}\nreal robot: wmpo-app doctor")
        episodes = ", ".join(f"{n} {source}" for source, n in sorted(summary["episodes"].items())) or "none yet"
        self.query_one("#store-status", Static).update(
            f"[b]store[/b]  {store.path.name} (schema v{store.schema_version()})\n"
            f"episodes  {episodes}\npolicies  {summary['policy_versions']} versions\n"
            f"size  {summary['bytes'] / 2**20:.1f} MiB")
        lines = ["[b]deployed[/b]"]
        for task in sorted(TASKS):
            deployment = store.deployed(task)
            name = store.policy_version(deployment.policy_version_id).name if deployment else "none"
            lines.append(f"{task}  {name}" + (f" ({deployment.reason})" if deployment else ""))
        self.query_one("#deployed-status", Static).update("\n".join(lines))
        self.show_job()
        self.query_one("#success-chart", Static).update(success_bars(iteration_rows(store)))

    def show_job(self) -> None:
        running = running_iteration(self.app.store)
        title = self.query_one("#job-title", Label)
        if running is None:
            title.update("no cycle iteration running")
        else:
            eta = minutes(running.eta_s) + ("" if running.eta_complete else "+ (later stages: unknown until "
                                                                            "one iteration has finished)")
            state = "running" if running.owner_alive else "interrupted: resume it from the Cycle pane"
            title.update(f"iteration {running.iteration_number} of {running.task} (job {running.job_id}), "
                         f"{state}; ETA {eta}")
        stages = {s.name: s for s in running.stages} if running else {}
        for stage in STAGES:
            progress = stages.get(stage)
            self.query_one(f"#stage-{stage}", ProgressBar).update(progress=progress.fraction if progress else 0.0)
            detail = "" if progress is None else (
                f"{progress.status}" + (f", {minutes(progress.seconds)}" if progress.seconds else "")
                + (f" -- {progress.detail}" if progress.detail and progress.status != "done" else ""))
            self.query_one(f"#stage-detail-{stage}", Label).update(detail)
