"""World and reward models, registered like policy versions: name, checkpoint, sha256, parent, config.

A table of its own (``models``) rather than a ``kind`` column on ``policy_versions``: policy
versions are what episodes, deployments and the redeploy gate point at, and every list of
policies (the CLI, the UI's pickers, ``find_policy_version``) would have to learn to skip the
other kinds; stores from before keep their policy rows exactly as they were. A world or reward
model is trained again under its name when a run resumes or is re-run, so registering updates
the (kind, name) row and never adds a second one -- a policy version's name is taken once.

Checkpoint paths inside the store's folder are recorded relative to it, as policy checkpoints
are, so a bundled store (``wmpo-app bundle``) verifies wherever it is unpacked.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from storage.checksums import checkpoint_sha256
from storage.errors import StoreError
from storage.jobs import as_utc
from storage.schema import MODEL_KINDS, RegisteredModel, utcnow


@dataclass(frozen=True)
class ModelEntry:
    """One model of any kind as it is listed: a registered one, a policy version, or an older
    model folder that was never registered (``sha256`` None)."""

    kind: str  # "policy", "world_model" or "reward_model"
    name: str
    checkpoint_path: Path  # absolute, wherever the store is now
    sha256: str | None = None
    parent: str | None = None  # the name of the model (same kind) it started from
    created_at: datetime | None = None
    config: dict = field(default_factory=dict)

    @property
    def registered(self) -> bool:
        return self.sha256 is not None


class ModelRegistry:
    """The ``models`` table of a store whose folder is ``folder``."""

    def __init__(self, engine: Engine, folder: Path):
        self.engine = engine
        self.folder = Path(folder)

    def register(self, kind: str, name: str, checkpoint_path: Path | str, *, parent: str | None = None,
                 iteration_id: int | None = None, config: dict | None = None) -> ModelEntry:
        """Record the checkpoint (file or folder) of model ``name`` with its sha256; a model of that
        kind and name trained again gets its row updated (path, sha256, parent, config), keeping
        its creation time. ``parent`` must be registered already (same kind)."""
        if kind not in MODEL_KINDS:
            raise ValueError(f"model kind {kind!r}; expected one of {MODEL_KINDS}")
        path, folder = Path(checkpoint_path).resolve(), self.folder.resolve()
        values = {"checkpoint_path": str(path.relative_to(folder) if path.is_relative_to(folder) else path),
                  "checkpoint_sha256": checkpoint_sha256(path), "iteration_id": iteration_id,
                  "config_json": json.dumps(config or {}), "parent_id": None}
        with Session(self.engine) as session, session.begin():
            if parent is not None:
                values["parent_id"] = session.scalar(select(RegisteredModel.id).where(
                    RegisteredModel.kind == kind, RegisteredModel.name == parent))
                if values["parent_id"] is None:
                    raise StoreError(f"no registered {kind} {parent!r} to record as the parent of {name!r}")
            row = session.scalars(select(RegisteredModel).where(RegisteredModel.kind == kind,
                                                                RegisteredModel.name == name)).first()
            if row is None:
                session.add(RegisteredModel(kind=kind, name=name, **values))
            else:
                for key, value in values.items():
                    setattr(row, key, value)
                row.updated_at = utcnow()
        return self.get(kind, name)

    def get(self, kind: str, name: str) -> ModelEntry | None:
        return next((e for e in self.entries(kind) if e.name == name), None)

    def entries(self, kind: str | None = None) -> list[ModelEntry]:
        """Registered models (of ``kind``), oldest first."""
        with Session(self.engine) as session:
            rows = list(session.scalars(select(RegisteredModel).order_by(RegisteredModel.id)))
        names = {row.id: row.name for row in rows}
        return [ModelEntry(row.kind, row.name, self.folder.resolve() / row.checkpoint_path, row.checkpoint_sha256,
                           names.get(row.parent_id), as_utc(row.created_at), json.loads(row.config_json))
                for row in rows if kind is None or row.kind == kind]

    def verify(self, kind: str, name: str) -> Path:
        """The checkpoint's path if its bytes still match the recorded sha256; StoreError if not."""
        entry = self.get(kind, name)
        if entry is None:
            raise StoreError(f"no registered {kind} named {name!r}; see `wmpo-app models`")
        return verify_entry(entry)


def verify_entry(entry: ModelEntry) -> Path:
    """``entry``'s checkpoint path if its bytes match its recorded sha256; StoreError if not."""
    actual = checkpoint_sha256(entry.checkpoint_path)
    if actual != entry.sha256:
        raise StoreError(f"checkpoint of {entry.kind} {entry.name!r} at {entry.checkpoint_path} changed: "
                         f"sha256 {actual[:12]}..., expected {entry.sha256[:12]}...")
    return entry.checkpoint_path
