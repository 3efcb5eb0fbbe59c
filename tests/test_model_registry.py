"""The registry of world and reward models beside policy versions, and `wmpo-app models`."""

import sqlite3

import pytest

from app.cli import main
from learning.artifacts import (
    REWARD_MODEL,
    WORLD_MODEL,
    model_entries,
    register_reward_model,
    register_world_model,
    reward_model_dir,
    world_model_dir,
)
from storage import StoreError, TrajectoryStore
from storage.migrations import SCHEMA_VERSION


def fake_checkpoint(folder, weights=b"weights"):
    """A checkpoint's files, as the registry sees them: bytes in a folder."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.safetensors").write_bytes(weights)
    (folder / "config.json").write_text("{}")
    return folder


def test_world_and_reward_models_register_with_parent_and_no_duplicates(store):
    fake_checkpoint(world_model_dir(store, "pretrained") / "model")
    fake_checkpoint(world_model_dir(store, "aligned") / "model")
    fake_checkpoint(reward_model_dir(store, "reward-1"))
    register_world_model(store, "pretrained", config={"task": "transfer_cube"})
    first = register_world_model(store, "aligned", parent="pretrained")
    register_reward_model(store, "reward-1", config={"task": "transfer_cube"})
    assert first.parent == "pretrained" and first.registered
    assert first.checkpoint_path == world_model_dir(store, "aligned").resolve() / "model"

    fake_checkpoint(world_model_dir(store, "aligned") / "model", b"trained on")  # a resumed run finishes
    again = register_world_model(store, "aligned", parent="pretrained")
    assert [(e.kind, e.name) for e in store.models.entries()] == [
        (WORLD_MODEL, "pretrained"), (WORLD_MODEL, "aligned"), (REWARD_MODEL, "reward-1")]
    assert again.sha256 != first.sha256 and again.created_at == first.created_at
    with store.engine.connect() as conn:  # relative to the store's folder, as policy checkpoints are
        paths = [row[0] for row in conn.exec_driver_sql("SELECT checkpoint_path FROM models ORDER BY id")]
    assert paths == ["checkpoints/world-models/pretrained/model", "checkpoints/world-models/aligned/model",
                     "checkpoints/reward-models/reward-1"]
    assert store.models.verify(WORLD_MODEL, "aligned") == again.checkpoint_path
    with pytest.raises(StoreError, match="no registered world_model 'nothing' to record as the parent"):
        store.models.register(WORLD_MODEL, "orphan", world_model_dir(store, "aligned") / "model", parent="nothing")
    with pytest.raises(ValueError, match="model kind 'policy'"):
        store.models.register("policy", "x", world_model_dir(store, "aligned") / "model")


def test_verify_detects_a_changed_checkpoint(store):
    fake_checkpoint(reward_model_dir(store, "reward-1"))
    register_reward_model(store, "reward-1")
    (reward_model_dir(store, "reward-1") / "model.safetensors").write_bytes(b"tampered")
    with pytest.raises(StoreError, match="reward_model 'reward-1' .* changed: sha256"):
        store.models.verify(REWARD_MODEL, "reward-1")


def test_an_unregistered_parent_folder_is_registered_and_older_folders_are_listed(store):
    fake_checkpoint(world_model_dir(store, "old-pretrained") / "model")
    fake_checkpoint(world_model_dir(store, "aligned") / "model")
    fake_checkpoint(reward_model_dir(store, "old-reward"))
    fake_checkpoint(reward_model_dir(store, "old-reward.previous"))  # a crash between two renames
    register_world_model(store, "aligned", parent="old-pretrained")
    entries = model_entries(store)
    assert [(e.kind, e.name, e.parent, e.registered) for e in entries] == [
        (WORLD_MODEL, "old-pretrained", None, True), (WORLD_MODEL, "aligned", "old-pretrained", True),
        (REWARD_MODEL, "old-reward", None, False)]
    assert entries[-1].checkpoint_path == reward_model_dir(store, "old-reward")


def test_a_version_4_store_gains_the_models_table(store_path):
    with TrajectoryStore(store_path) as store:
        store.start_iteration("transfer_cube")
    raw = sqlite3.connect(store_path)  # make it what a v4 file was
    raw.execute("DROP TABLE models")
    raw.execute("PRAGMA user_version = 4")
    raw.commit()
    raw.close()
    with TrajectoryStore(store_path) as store:
        assert store.schema_version() == SCHEMA_VERSION  # v4 -> v5 (this table) -> today
        assert store.models.entries() == [] and len(store.iterations()) == 1
        fake_checkpoint(reward_model_dir(store, "reward-1"))
        assert register_reward_model(store, "reward-1").registered


def test_models_command_lists_and_verifies_every_kind(store_path, capsys):
    with TrajectoryStore(store_path) as store:
        store.register_policy_version("base", fake_checkpoint(store_path.parent / "checkpoints" / "base"))
        fake_checkpoint(world_model_dir(store, "world-model") / "model")
        fake_checkpoint(world_model_dir(store, "wm-1") / "model")
        fake_checkpoint(world_model_dir(store, "before-registry") / "model")
        register_world_model(store, "wm-1", parent="world-model")
    assert main(["--db", str(store_path), "models", "--verify"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["kind", "name", "parent", "created", "(UTC)", "sha256"]
    rows = [line.split() for line in lines[1:-1]]
    assert [(r[0], r[1], r[2]) for r in rows] == [("policy", "base", "-"), ("world_model", "world-model", "-"),
                                                   ("world_model", "wm-1", "world-model"),
                                                   ("world_model", "before-registry", "-")]
    assert [r[-1] for r in rows] == ["ok", "ok", "ok", "unregistered"]
    assert lines[-1] == "verified 3 checkpoints: all match"

    (store_path.parent / "checkpoints" / "base" / "config.json").write_text('{"changed": true}')
    assert main(["--db", str(store_path), "models", "--verify"]) == 1
    out = capsys.readouterr().out
    assert "CHANGED" in out and "1 differ from their recorded sha256" in out
    assert main(["--db", str(store_path.parent / "none.db"), "models"]) == 2  # never creates a store
