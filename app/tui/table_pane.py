"""A pane that is one caption over one table of rows, reloaded each time it is shown."""

from __future__ import annotations

from typing import Callable, Iterable

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import DataTable, Label


class TablePane(Vertical):
    """Subclasses name the caption, the columns and the table's id, and define ``rows()``, which
    ``refresh_view`` reads: (cells, key) pairs, key None where a row needs none."""

    rows: Callable[[], Iterable[tuple[tuple[str, ...], str | None]]]  # defined by each subclass

    CAPTION = ""
    COLUMNS: tuple[str, ...] = ()
    TABLE_ID = "table"

    def compose(self) -> ComposeResult:
        yield Label(self.CAPTION)
        yield DataTable(id=self.TABLE_ID, cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        self.query_one(DataTable).add_columns(*self.COLUMNS)
        self.refresh_view()

    def on_show(self) -> None:
        self.refresh_view()
        self.query_one(DataTable).focus()

    def refresh_view(self) -> None:
        table = self.query_one(DataTable)
        table.clear()
        for cells, key in self.rows():
            table.add_row(*cells, key=key)
