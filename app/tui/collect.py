"""Collect: N episodes of the scripted expert (demos) or of a policy, with live counters; a policy
runs in the sim or on the robot the site field names.

Keys while collecting: s / f label the last episode success / failure (the sim labels
automatically; this is the operator's override), d discards the running episode (or the
last one) and records its seed again, x stops: hold position, end the episode and the session.
"""

from __future__ import annotations

from textual import work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Input, Label, ProgressBar, RichLog, Select, Static

from app.collect_session import CollectRequest, CollectSession, LiveStatus
from app.tui.site_field import SiteField
from robot.sim.tasks import TASKS

EXPERT = -1  # the Select value for the scripted expert


class CollectPane(Vertical):
    BINDINGS = [("s", "label(True)", "mark success"), ("f", "label(False)", "mark failure"),
                ("d", "discard", "discard + re-record"), ("x", "stop", "stop (hold)")]

    session: CollectSession | None = None

    def compose(self) -> ComposeResult:
        with Horizontal(classes="form"):
            yield Select([("expert (scripted demos)", EXPERT)], value=EXPERT, allow_blank=False, id="collect-source")
            yield Select([(t, t) for t in sorted(TASKS)], value="transfer_cube", allow_blank=False,
                         id="collect-task")
            yield Input("10", placeholder="episodes", id="collect-n", type="integer")
            yield Input("1.0", placeholder="temperature", id="collect-temperature", type="number")
            yield Button("Start", variant="success", id="collect-start")
        yield SiteField("collect")
        yield Static("idle: choose who acts and how many episodes, then Start", id="collect-live", classes="box")
        yield ProgressBar(total=1, show_eta=False, id="collect-step")
        yield Label("keys: [b]s[/b] success  [b]f[/b] failure  [b]d[/b] discard + re-record  [b]x[/b] stop (hold)")
        yield RichLog(id="collect-log", max_lines=500, markup=False)

    def on_mount(self) -> None:
        self.refresh_policies()

    def on_show(self) -> None:
        self.refresh_policies()
        self.query_one("#collect-start", Button).focus()  # Enter starts with what the form says

    def refresh_policies(self) -> None:
        select = self.query_one("#collect-source", Select)
        options = [("expert (scripted demos)", EXPERT)] + [
            (f"policy {v.name}", v.id) for v in self.app.store.policy_versions()]
        value = select.value
        select.set_options(options)
        select.value = value if any(v == value for _, v in options) else EXPERT

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id != "collect-start":
            return
        if self.session is not None and not self.session.status.finished:
            self.app.notify("a collection is already running: stop it first (x)", severity="warning")
            return
        try:
            source = self.query_one("#collect-source", Select).value
            request = CollectRequest(task=self.query_one("#collect-task", Select).value,
                                     episodes=int(self.query_one("#collect-n", Input).value or 0),
                                     policy_version_id=None if source == EXPERT else source,
                                     temperature=float(self.query_one("#collect-temperature", Input).value or 1.0),
                                     site=self.query_one(SiteField).site())
        except ValueError as exc:
            self.app.notify(str(exc), title="cannot start", severity="error")
            return
        self.session = CollectSession(self.app.db, request)
        self.query_one("#collect-start", Button).disabled = True
        self.query_one("#collect-live", Static).focus()
        self.collect(self.session)

    @work(thread=True, exclusive=True, group="collect", exit_on_error=False)
    def collect(self, session: CollectSession) -> None:
        try:
            session.run(lambda status: self.app.call_from_thread(self.show_status, status))
        except Exception as exc:  # noqa: BLE001 -- shown to the operator, logged with its traceback
            self.app.call_from_thread(self.app.report_error, "collection stopped", exc)
        finally:
            self.app.call_from_thread(self.finished)

    def show_status(self, status: LiveStatus) -> None:
        safety = ", ".join(f"{k} {v}" for k, v in sorted(status.safety.items()) if v) or "none"
        who = "expert" if self.session.request.policy_version_id is None else "policy"
        self.query_one("#collect-live", Static).update(
            f"[b]{who}[/b] episode {status.episode}/{status.episodes} (seed {status.seed})   "
            f"step {status.step}/{status.horizon}   loop {status.loop_hz:.0f} Hz   "
            f"safety interventions: {safety}\nrecorded {len(status.recorded)}, "
            f"{status.successes} successes (sim labels)")
        bar = self.query_one("#collect-step", ProgressBar)
        bar.update(total=max(1, status.horizon), progress=status.step)
        if status.message:
            self.query_one("#collect-log", RichLog).write(status.message)
            status.message = ""

    def finished(self) -> None:
        self.query_one("#collect-start", Button).disabled = False
        if self.session is not None:
            status = self.session.status
            self.app.report(f"collection done: {len(status.recorded)} episodes recorded, {status.successes} successes")

    def action_label(self, success: bool) -> None:
        if self.session is None:
            return
        episode_id = self.session.label_last(success)
        if episode_id is not None:
            self.query_one("#collect-log", RichLog).write(
                f"episode {episode_id}: labelled {'success' if success else 'failure'} by the operator")

    def action_discard(self) -> None:
        session = self.session
        if session is None:
            return
        if not session.status.finished:
            session.discard()
            return
        if not session.status.recorded:  # between sessions: the last episode again, same seed
            return
        episode_id = session.status.recorded.pop()
        self.app.store.delete_episode(episode_id)
        self.query_one("#collect-log", RichLog).write(f"discarded episode {episode_id}; recording it again")
        request = CollectRequest(task=session.request.task, episodes=1,
                                 policy_version_id=session.request.policy_version_id,
                                 temperature=session.request.temperature, site=session.request.site)
        self.session = CollectSession(self.app.db, request)
        self.query_one("#collect-start", Button).disabled = True
        self.collect(self.session)

    def action_stop(self) -> None:
        if self.session is not None and not self.session.status.finished:
            self.session.stop()
            self.query_one("#collect-log", RichLog).write("stop: holding position, ending the episode")
