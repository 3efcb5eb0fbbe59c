import os

import pytest

from storage import TrajectoryStore

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture
def store_path(tmp_path):
    return tmp_path / "wmpo.db"


@pytest.fixture
def store(store_path):
    with TrajectoryStore(store_path) as store:
        yield store


@pytest.fixture(scope="session")
def tiny_base_store(tmp_path_factory):
    """A store with 3 tiny-size expert demos of transfer_cube and a tiny base policy named
    "base" (built once per session; copy it with ``copy_store`` before writing to it)."""
    from app.policies import train_base_policy
    from learning.trainer import TrainConfig
    from learning.vla.config import profile

    db = tmp_path_factory.mktemp("tiny-base") / "wmpo.db"
    with TrajectoryStore(db) as store:
        train_base_policy(store, "transfer_cube", "base", profile("tiny"), TrainConfig(steps=10, warmup_steps=2),
                          demos=3, batch_size=8)
    return db


def copy_store(db, tmp_path):
    """A private copy of a store and its checkpoints folder."""
    import shutil

    shutil.copytree(db.parent, tmp_path / "store")
    return tmp_path / "store" / db.name
