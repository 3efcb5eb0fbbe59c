import os
import shutil

import pytest

from storage import TrajectoryStore

os.environ.setdefault("HF_HUB_OFFLINE", "1")
if "PYTEST_XDIST_WORKER" in os.environ:
    # One thread per worker (and per child process it starts): N workers on N cores, each with
    # torch's default of a thread per core, would oversubscribe the machine N times over.
    # Set before torch is imported: it reads these once.
    for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(variable, "1")


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
    "base" (built once per run, shared by pytest-xdist's workers; copy it with ``copy_store``
    before writing to it)."""
    from filelock import FileLock

    from app.policies import train_base_policy
    from learning.trainer import TrainConfig
    from learning.vla.config import profile

    # Under xdist each worker has its own base temp folder; their parent is the run's.
    shared = tmp_path_factory.getbasetemp()
    shared = shared.parent if "PYTEST_XDIST_WORKER" in os.environ else shared
    db, built = shared / "tiny-base" / "wmpo.db", shared / "tiny-base.built"
    with FileLock(shared / "tiny-base.lock"):  # the first worker builds it, the others wait
        if not built.exists():
            shutil.rmtree(db.parent, ignore_errors=True)  # what a worker that failed half-way left
            db.parent.mkdir()
            with TrajectoryStore(db) as store:
                train_base_policy(store, "transfer_cube", "base", profile("tiny"),
                                  TrainConfig(steps=10, warmup_steps=2), demos=3, batch_size=8)
            built.touch()
    return db


def copy_store(db, tmp_path):
    """A private copy of a store and its checkpoints folder."""
    shutil.copytree(db.parent, tmp_path / "store")
    return tmp_path / "store" / db.name
