"""`wmpo-app` with no command: the operator's terminal UI.

Seven panes (keys 1-7): Dashboard, Collect, Cycle, Iterations, Episodes, Schedule, Models. Domain
work lives outside the widgets (app.collect_session, app.background_command, app.scheduler,
app.cycle_report); panes read the store on a timer and start long work in workers. Errors
become notifications; their details go to ``<store folder>/logs/wmpo-app.log``.
"""

from __future__ import annotations

import logging
from pathlib import Path

from textual.app import App, ComposeResult
from textual.widgets import Footer, Header, TabbedContent, TabPane

from app.tui.collect import CollectPane
from app.tui.cycle import CyclePane
from app.tui.dashboard import DashboardPane
from app.tui.episodes import EpisodesPane
from app.tui.iterations import IterationsPane
from app.tui.models import ModelsPane
from app.tui.schedule import SchedulePane
from storage import TrajectoryStore

PANES = (("dashboard", "Dashboard", DashboardPane), ("collect", "Collect", CollectPane),
         ("cycle", "Cycle", CyclePane), ("iterations", "Iterations", IterationsPane),
         ("episodes", "Episodes", EpisodesPane), ("schedule", "Schedule", SchedulePane),
         ("models", "Models", ModelsPane))


class WmpoApp(App):
    TITLE = "wmpo"
    CSS_PATH = "wmpo.tcss"
    BINDINGS = [(str(i + 1), f"show('{pane}')", title) for i, (pane, title, _) in enumerate(PANES)] + [
        ("q", "quit", "quit")]

    def __init__(self, db: Path, *, refresh_s: float = 2.0):
        super().__init__()
        self.db = Path(db)
        self.refresh_s = refresh_s
        self.store = TrajectoryStore(self.db)  # the UI thread's connection; workers open their own
        self.log_path = self.db.parent / "logs" / "wmpo-app.log"
        self.logger = app_logger(self.log_path)
        self.sub_title = str(self.db)

    def compose(self) -> ComposeResult:
        yield Header()
        with TabbedContent(initial="dashboard"):
            for pane_id, title, widget in PANES:
                with TabPane(title, id=pane_id):
                    yield widget(id=f"{pane_id}-pane")
        yield Footer()

    def action_show(self, pane: str) -> None:
        self.query_one(TabbedContent).active = pane

    def report_error(self, what: str, exc: BaseException) -> None:
        """A notification for the operator; the traceback in the log file."""
        self.logger.error("%s", what, exc_info=exc)
        self.notify(f"{what}: {exc}\n(details: {self.log_path})", title="error", severity="error", timeout=15)

    def report(self, message: str) -> None:
        self.logger.info("%s", message)
        self.notify(message, timeout=6)

    def on_unmount(self) -> None:
        self.store.close()


def app_logger(path: Path) -> logging.Logger:
    path.parent.mkdir(parents=True, exist_ok=True)
    logger = logging.getLogger(f"wmpo.ui.{path}")
    if not logger.handlers:
        handler = logging.FileHandler(path)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
    return logger


def run_ui(db: Path) -> int:
    WmpoApp(db).run()
    return 0
