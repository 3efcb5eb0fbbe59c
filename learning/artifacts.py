"""Where learned artifacts live beside the store, and how a trained model joins its registry.

Everything a learner writes goes under the store's ``checkpoints`` folder, named by the
run: policies at ``<name>``, world models at ``world-models/<name>/model``, reward models
at ``reward-models/<name>``, GRPO runs (weights, optimizer, counters) at ``grpo-runs/<run>``.
A name, not a path, is what the store's rows and the CLI carry, so these folders are the
one place a name becomes a path.

Trained policies are policy versions; trained world and reward models are registered in the
store's ``models`` table (``storage/model_registry.py``) when their training finishes. Folders
written before that registry existed still load by name and are listed as unregistered.
This module imports no torch (the CLI and the UI list models without it).
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from storage import TrajectoryStore
from storage.jobs import as_utc
from storage.model_registry import ModelEntry
from storage.store import CHECKPOINTS

if TYPE_CHECKING:
    from learning.vla.policy import VLAPolicy

WORLD_MODEL, REWARD_MODEL = "world_model", "reward_model"  # the registry's kinds


def checkpoints_dir(store: TrajectoryStore) -> Path:
    return store.path.parent / CHECKPOINTS


def world_model_dir(store: TrajectoryStore, name: str) -> Path:
    return checkpoints_dir(store) / "world-models" / name


def reward_model_dir(store: TrajectoryStore, name: str) -> Path:
    return checkpoints_dir(store) / "reward-models" / name


def grpo_run_dir(store: TrajectoryStore, run: str) -> Path:
    return checkpoints_dir(store) / "grpo-runs" / run


def register_policy(store: TrajectoryStore, policy: VLAPolicy, name: str, parent_id: int, task: str,
                    method: dict) -> int:
    """Save ``policy`` as ``<checkpoints>/<name>`` and register it as a version whose parent is
    ``parent_id``; ``method`` (how it was made) goes into both its checkpoint and its row."""
    from learning.checkpoints import save_checkpoint
    from learning.vla.imitation import CHECKPOINT_KIND

    folder = checkpoints_dir(store) / name
    save_checkpoint(folder, policy, {"kind": CHECKPOINT_KIND, "policy": policy.config.to_json(),
                                     "bins": policy.bins.to_json(), "task": task, **method})
    return store.register_policy_version(name, folder, parent_id=parent_id,
                                         config={"task": task, "policy": policy.config.to_json(), **method}).id


def register_world_model(store: TrajectoryStore, name: str, *, parent: str | None = None,
                         config: dict | None = None) -> ModelEntry:
    """Register (or, trained again under its name, update) world model ``name``. A ``parent`` from
    before the registry (a folder of an older store) is registered first, as it is now."""
    if parent is not None and store.models.get(WORLD_MODEL, parent) is None:
        register_world_model(store, parent)
    return store.models.register(WORLD_MODEL, name, world_model_dir(store, name) / "model", parent=parent,
                                 config=config)


def register_reward_model(store: TrajectoryStore, name: str, *, iteration_id: int | None = None,
                          config: dict | None = None) -> ModelEntry:
    """Register (or, trained again under its name, update) reward model ``name``."""
    return store.models.register(REWARD_MODEL, name, reward_model_dir(store, name), iteration_id=iteration_id,
                                 config=config)


def model_entries(store: TrajectoryStore) -> list[ModelEntry]:
    """Every model of the store: policy versions, registered world and reward models, then the
    world- and reward-model folders without an entry (trained before models were registered)."""
    versions = store.policy_versions()
    names = {v.id: v.name for v in versions}
    policies = [ModelEntry("policy", v.name, Path(v.checkpoint_path), v.checkpoint_sha256, names.get(v.parent_id),
                           as_utc(v.created_at), json.loads(v.config_json)) for v in versions]
    registered = store.models.entries()
    known = {(e.kind, e.name) for e in registered}
    unregistered = []
    for kind, folder, checkpoint in ((WORLD_MODEL, "world-models", "model"), (REWARD_MODEL, "reward-models", "")):
        root = checkpoints_dir(store) / folder
        for path in sorted(root.iterdir()) if root.is_dir() else []:
            if path.is_dir() and not path.name.endswith((".writing", ".previous")) and (kind, path.name) not in known:
                unregistered.append(ModelEntry(kind, path.name, path / checkpoint,
                                               created_at=datetime.fromtimestamp(path.stat().st_mtime, timezone.utc)))
    return policies + registered + unregistered
