"""Episodes: filter by iteration, source and label; a frame preview in the terminal;
relabel; delete (after a confirmation)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Label, Select, Static

from app.tui.charts import frame_cells
from app.tui.confirm import ConfirmScreen
from storage import EpisodeFilter
from storage.schema import EPISODE_SOURCES

LABEL_FILTERS = {"any label": None, "success": True, "failure": False, "unlabelled": "none"}
PREVIEW_WIDTH = 64


class EpisodesPane(Vertical):
    BINDINGS = [("r", "relabel", "relabel"), ("delete", "delete", "delete"), ("[", "frame(-1)", "earlier frame"),
                ("]", "frame(1)", "later frame")]

    frame_index = 0
    frame_count = 0

    def compose(self) -> ComposeResult:
        with Horizontal(classes="form"):
            yield Select([], prompt="any iteration", id="filter-iteration")
            yield Select([(s, s) for s in EPISODE_SOURCES], prompt="any source", id="filter-source")
            yield Select([(k, k) for k in LABEL_FILTERS], value="any label", allow_blank=False, id="filter-label")
        with Horizontal():
            yield DataTable(id="episodes-table", cursor_type="row", zebra_stripes=True)
            with Vertical(id="preview-side"):
                yield Static("select an episode", id="frame-preview")
                yield Label("", id="frame-caption")
        yield Label("keys: [b]r[/b] relabel (success -> failure -> none)  [b]del[/b] delete  "
                    "[b][ ][/b] step through frames")

    def on_mount(self) -> None:
        self.query_one(DataTable).add_columns("id", "task", "source", "iteration", "len", "success", "by", "loop Hz",
                                              "safety")
        self.refresh_view()

    def on_show(self) -> None:
        self.refresh_view()

    def show_iteration(self, iteration_id: int) -> None:
        self.refresh_iterations()
        self.query_one("#filter-iteration", Select).value = iteration_id

    def refresh_iterations(self) -> None:
        select = self.query_one("#filter-iteration", Select)
        value = select.value
        iterations = self.app.store.iterations()
        select.set_options([(f"iteration {i.number}", i.id) for i in iterations])
        if any(i.id == value for i in iterations):
            select.value = value

    def on_select_changed(self, event: Select.Changed) -> None:
        self.refresh_episodes()

    def refresh_view(self) -> None:
        self.refresh_iterations()
        self.refresh_episodes()

    def current_filter(self) -> EpisodeFilter:
        iteration = self.query_one("#filter-iteration", Select).value
        source = self.query_one("#filter-source", Select).value
        label = LABEL_FILTERS[self.query_one("#filter-label", Select).value]
        return EpisodeFilter(iteration_id=None if iteration == Select.NULL else iteration,
                             source=None if source == Select.NULL else source,
                             success=label if isinstance(label, bool) else None,
                             labelled=False if label == "none" else None)

    def refresh_episodes(self) -> None:
        table = self.query_one(DataTable)
        table.clear()
        numbers = {i.id: i.number for i in self.app.store.iterations()}
        for e in self.app.store.episodes(self.current_filter(), limit=500, newest_first=True):
            label = "-" if e.success is None else ("yes" if e.success else "no")
            table.add_row(str(e.id), e.task, e.source, str(numbers.get(e.iteration_id, "-")), str(e.length), label,
                          e.label_source or "-", f"{e.loop_hz_mean:.0f}" if e.loop_hz_mean else "-",
                          str(e.safety_interventions), key=str(e.id))

    def selected_episode(self) -> int | None:
        table = self.query_one(DataTable)
        if table.row_count == 0:
            return None
        return int(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.frame_index = 0
        self.show_frame()

    def show_frame(self) -> None:
        episode_id = self.selected_episode()
        preview, caption = self.query_one("#frame-preview", Static), self.query_one("#frame-caption", Label)
        if episode_id is None:
            preview.update("no episode matches")
            caption.update("")
            return
        store = self.app.store
        cameras = store.cameras(episode_id)
        if not cameras:
            preview.update(f"episode {episode_id} was recorded without images")
            caption.update("")
            return
        camera = "cam_high" if "cam_high" in cameras else sorted(cameras)[0]
        self.frame_count = store.episode(episode_id).length
        self.frame_index = max(0, min(self.frame_index, self.frame_count - 1))
        frame = store.load_frames(episode_id, camera, self.frame_index, self.frame_index + 1)[0]
        preview.update(frame_cells(frame, PREVIEW_WIDTH))
        caption.update(f"episode {episode_id}, {camera}, frame {self.frame_index + 1}/{self.frame_count}")

    def action_frame(self, direction: int) -> None:
        self.frame_index += direction * max(1, self.frame_count // 20)
        self.show_frame()

    def action_relabel(self) -> None:
        episode_id = self.selected_episode()
        if episode_id is None:
            return
        current = self.app.store.episode(episode_id).success
        label = {True: False, False: None, None: True}[current]
        self.app.store.set_label(episode_id, label, "operator" if label is not None else None)
        self.app.report(f"episode {episode_id}: label {'none' if label is None else label} (operator)")
        row = self.query_one(DataTable).cursor_row
        self.refresh_episodes()
        self.query_one(DataTable).move_cursor(row=row)

    def action_delete(self) -> None:
        episode_id = self.selected_episode()
        if episode_id is None:
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.app.store.delete_episode(episode_id)
                self.app.report(f"episode {episode_id} deleted")
                self.refresh_episodes()

        self.app.push_screen(ConfirmScreen(f"Delete episode {episode_id} and its frames? This cannot be undone."),
                             answered)
