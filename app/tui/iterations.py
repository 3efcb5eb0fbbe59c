"""Iterations: one row per lifelong iteration; Enter drills down into its episodes."""

from __future__ import annotations

from textual.widgets import DataTable

from app.cycle_report import IterationRow, iteration_rows
from app.tui.table_pane import TablePane


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


class IterationsPane(TablePane):
    CAPTION = ("success = the candidate's greedy evaluation; deployed's = the deployed policy in the same "
               "evaluation; sampled = the P collected rollouts; Enter: the iteration's episodes")
    COLUMNS = ("#", "task", "P", "status", "success [95% CI]", "deployed's", "sampled", "imagined", "kept",
               "WM agreement", "reward F1", "deployed", "note")
    TABLE_ID = "iterations-table"

    def rows(self):
        return ((iteration_cells(row), str(row.id)) for row in iteration_rows(self.app.store))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        episodes = self.app.query_one("#episodes-pane")
        episodes.show_iteration(int(event.row_key.value))
        self.app.action_show("episodes")
        episodes.query_one(DataTable).focus()
