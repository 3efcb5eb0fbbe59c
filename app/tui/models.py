"""Models: every model of the store, as `wmpo-app models` lists them -- policy versions, world
models and reward models -- with where each came from and which policies drive a task now."""

from __future__ import annotations

from app.tui.table_pane import TablePane
from learning.artifacts import model_entries
from storage import TrajectoryStore
from storage.model_registry import ModelEntry


def deployed_tasks(store: TrajectoryStore) -> dict[str, list[str]]:
    """Policy name -> the tasks it is the latest deployment of (a policy's name is taken once)."""
    latest = {d.task: d.policy_version_id for d in store.deployments()}  # oldest first: the last one wins
    tasks: dict[str, list[str]] = {}
    for task, version_id in sorted(latest.items()):
        tasks.setdefault(store.policy_version(version_id).name, []).append(task)
    return tasks


def model_cells(entry: ModelEntry, deployed: dict[str, list[str]]) -> tuple[str, ...]:
    created = entry.created_at.strftime("%Y-%m-%d %H:%M") if entry.created_at else "-"
    sha = entry.sha256[:12] if entry.registered else "unregistered"
    # only a policy drives a task; world and reward models are chosen per cycle
    deployment = (", ".join(deployed[entry.name]) if entry.name in deployed else "no") if entry.kind == "policy" \
        else "-"
    return entry.name, entry.kind, created, entry.parent or "-", sha, deployment


class ModelsPane(TablePane):
    CAPTION = ("every model of the store, oldest first per kind; `wmpo-app models --verify` checks each "
               "checkpoint against its sha256")
    COLUMNS = ("name", "kind", "created (UTC)", "parent", "sha256", "deployed for")
    TABLE_ID = "models-table"

    def rows(self):
        deployed = deployed_tasks(self.app.store)
        return ((model_cells(entry, deployed), None) for entry in model_entries(self.app.store))
