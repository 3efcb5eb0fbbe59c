"""Iterations: one row per lifelong iteration; Enter drills down into its episodes."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import DataTable, Label

from app.cycle_report import IterationRow, iteration_rows


def percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def iteration_cells(row: IterationRow) -> tuple[str, ...]:
    success = percent(row.eval_success)
    if row.eval_interval:
        success += f" [{100 * row.eval_interval[0]:.0f}-{100 * row.eval_interval[1]:.0f}]"
    return (str(row.number), row.task, str(row.budget or "-"), row.status, success, percent(row.deployed_eval),
            percent(row.collect_success), percent(row.imagined_success), percent(row.kept_fraction),
            percent(row.outcome_agreement), "-" if row.reward_f1 is None else f"{row.reward_f1:.3f}",
            "yes" if row.deployed else "no", row.note)


class IterationsPane(Vertical):
    COLUMNS = ("#", "task", "P", "status", "success [95% CI]", "deployed's", "sampled", "imagined", "kept",
               "WM agreement", "reward F1", "deployed", "note")

    def compose(self) -> ComposeResult:
        yield Label("success = the candidate's greedy evaluation; deployed's = the deployed policy in the same "
                    "evaluation; sampled = the P collected rollouts; Enter: the iteration's episodes")
        yield DataTable(id="iterations-table", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        self.query_one(DataTable).add_columns(*self.COLUMNS)
        self.refresh_view()

    def on_show(self) -> None:
        self.refresh_view()
        self.query_one(DataTable).focus()

    def refresh_view(self) -> None:
        table = self.query_one(DataTable)
        table.clear()
        for row in iteration_rows(self.app.store):
            table.add_row(*iteration_cells(row), key=str(row.id))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        episodes = self.app.query_one("#episodes-pane")
        episodes.show_iteration(int(event.row_key.value))
        self.app.action_show("episodes")
        episodes.query_one(DataTable).focus()
