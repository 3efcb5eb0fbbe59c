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
