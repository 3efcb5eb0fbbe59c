"""A portable store: checkpoint paths relative to the store's folder, a store moved with its
checkpoints still verifies (also one written with absolute paths), and `bundle` / `unbundle`
carry a store to another machine as one file."""

import shutil

import pytest
from sqlalchemy import text

from app.cli import main
from conftest import copy_store
from storage import StoreError, TrajectoryStore
from storage.bundle import unbundle


def test_a_moved_store_still_finds_and_verifies_its_checkpoints(tiny_base_store, tmp_path):
    db = copy_store(tiny_base_store, tmp_path / "first")
    with TrajectoryStore(db) as store:
        with store.engine.connect() as conn:
            (recorded,) = conn.execute(text("select checkpoint_path from policy_versions")).one()
        assert recorded == "checkpoints/base"  # relative to the store's folder
        version = store.policy_versions()[0]
        assert store.verify_policy_checkpoint(version.id) == db.parent / "checkpoints" / "base"
        with store.engine.begin() as conn:  # as a store from before relative paths recorded it
            conn.execute(text("update policy_versions set checkpoint_path = :p"),
                         {"p": str(db.parent.resolve() / "checkpoints" / "base")})
    moved = tmp_path / "elsewhere"
    shutil.move(db.parent, moved)
    with TrajectoryStore(moved / db.name) as store:
        assert store.verify_policy_checkpoint(store.policy_versions()[0].id) == moved.resolve() / "checkpoints" / "base"


def test_bundle_and_unbundle_carry_a_store_to_another_folder(tiny_base_store, tmp_path, capsys):
    db = copy_store(tiny_base_store, tmp_path / "robot-pc")
    world_model = db.parent / "checkpoints" / "world-models" / "wm"
    world_model.mkdir(parents=True)
    (world_model / "model.safetensors").write_bytes(b"weights")
    with TrajectoryStore(db) as store:
        store.models.register("world_model", "wm", world_model)
    bundle = tmp_path / "store.tar"
    assert main(["--db", str(db), "bundle", str(bundle)]) == 0
    assert "checkpoint files" in capsys.readouterr().out
    assert main(["--db", str(db), "bundle", str(bundle)]) == 2  # never overwritten
    assert "exists; expected a new file" in capsys.readouterr().err
    assert main(["unbundle", str(bundle), "--into", str(tmp_path / "gpu-server")]) == 0
    assert "2/2 checkpoints verified" in capsys.readouterr().out  # the policy and the world model
    with TrajectoryStore(db) as here, TrajectoryStore(tmp_path / "gpu-server" / db.name) as there:
        assert len(here.episodes()) == len(there.episodes()) > 0
        assert [v.name for v in there.policy_versions()] == ["base"]
    assert main(["unbundle", str(bundle), "--into", str(tmp_path / "gpu-server")]) == 2
    assert "already holds" in capsys.readouterr().err
    (tmp_path / "junk.tar").write_bytes(b"not a tar at all")
    with pytest.raises(StoreError, match="is not a wmpo bundle"):
        unbundle(tmp_path / "junk.tar", tmp_path / "x")
