"""Where learned artifacts live beside the store, and how a trained policy joins it.

Everything a learner writes goes under the store's ``checkpoints`` folder, named by the
run: policies at ``<name>``, world models at ``world-models/<name>/model``, reward models
at ``reward-models/<name>``, GRPO runs (weights, optimizer, counters) at ``grpo-runs/<run>``.
A name, not a path, is what the store's rows and the CLI carry, so these folders are the
one place a name becomes a path.
"""

from __future__ import annotations

from pathlib import Path

from learning.checkpoints import save_checkpoint
from learning.vla.imitation import CHECKPOINT_KIND
from learning.vla.policy import VLAPolicy
from storage import TrajectoryStore


def checkpoints_dir(store: TrajectoryStore) -> Path:
    return store.path.parent / "checkpoints"


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
    folder = checkpoints_dir(store) / name
    save_checkpoint(folder, policy, {"kind": CHECKPOINT_KIND, "policy": policy.config.to_json(),
                                     "bins": policy.bins.to_json(), "task": task, **method})
    return store.register_policy_version(name, folder, parent_id=parent_id,
                                         config={"task": task, "policy": policy.config.to_json(), **method}).id
