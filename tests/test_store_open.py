"""Opening: new stores, refusal of foreign / truncated / newer files (untouched), migrations."""

import hashlib
import sqlite3

import pytest
from sqlalchemy import text

from episode_data import assert_episode_intact, write_episode

from storage import SchemaVersionError, StoreFileError, TrajectoryStore
from storage.database import APPLICATION_ID
from storage.migrations import SCHEMA_VERSION


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_new_store_is_wal_with_schema_version(store_path):
    with TrajectoryStore(store_path) as store:
        assert store.schema_version() == SCHEMA_VERSION
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA application_id").scalar() == APPLICATION_ID
        write_episode(store, seed=1)
    with TrajectoryStore(store_path) as again:
        assert_episode_intact(again, 1, seed=1, length=10)


def test_creates_parent_directories(tmp_path):
    path = tmp_path / "a" / "b" / "wmpo.db"
    TrajectoryStore(path).close()
    assert path.exists()


def closed_store(path, episodes=1):
    with TrajectoryStore(path) as store:
        for seed in range(episodes):
            write_episode(store, seed=seed)
    return path


def test_newer_schema_refused_and_untouched(store_path):
    closed_store(store_path)
    raw = sqlite3.connect(store_path)
    raw.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    raw.close()
    before = digest(store_path)
    with pytest.raises(SchemaVersionError, match=rf"schema v{SCHEMA_VERSION + 1}.*newer wmpo.*up to v{SCHEMA_VERSION}"):
        TrajectoryStore(store_path)
    assert digest(store_path) == before


def test_non_sqlite_file_refused_and_untouched(store_path):
    store_path.write_bytes(b"episode_id,success\n1,true\n" * 100)
    before = digest(store_path)
    with pytest.raises(StoreFileError, match="not a SQLite database"):
        TrajectoryStore(store_path)
    assert digest(store_path) == before


def test_truncated_file_refused_and_untouched(store_path):
    closed_store(store_path, episodes=3)
    data = store_path.read_bytes()
    store_path.write_bytes(data[: len(data) // 2 + 100])
    before = digest(store_path)
    with pytest.raises(StoreFileError, match="truncated"):
        TrajectoryStore(store_path)
    assert digest(store_path) == before


def test_empty_file_and_directory_refused(tmp_path):
    empty = tmp_path / "empty.db"
    empty.touch()
    with pytest.raises(StoreFileError, match="empty"):
        TrajectoryStore(empty)
    assert empty.stat().st_size == 0
    with pytest.raises(StoreFileError, match="directory"):
        TrajectoryStore(tmp_path)


def test_foreign_sqlite_database_refused_and_untouched(store_path):
    raw = sqlite3.connect(store_path)
    raw.execute("CREATE TABLE customers (id INTEGER, name TEXT)")
    raw.commit()
    raw.close()
    before = digest(store_path)
    with pytest.raises(StoreFileError, match="not a wmpo store.*customers"):
        TrajectoryStore(store_path)
    assert digest(store_path) == before


def test_read_only_open_of_missing_store_refused(store_path):
    with pytest.raises(StoreFileError, match="no wmpo store"):
        TrajectoryStore(store_path, readonly=True)
    assert not store_path.exists()


def add_operator_note_column(connection):
    connection.execute(text("ALTER TABLE episodes ADD COLUMN operator_note TEXT DEFAULT ''"))


def test_migration_path_upgrades_old_store_and_keeps_data(store_path):
    closed_store(store_path, episodes=2)
    with pytest.raises(SchemaVersionError, match="needs migrating"):
        TrajectoryStore(store_path, readonly=True, schema_version=SCHEMA_VERSION + 1)
    migrations = {SCHEMA_VERSION: add_operator_note_column}
    with TrajectoryStore(store_path, schema_version=SCHEMA_VERSION + 1, migrations=migrations) as store:
        assert store.schema_version() == SCHEMA_VERSION + 1
        with store.engine.connect() as conn:
            notes = conn.execute(text("SELECT operator_note FROM episodes")).scalars().all()
        assert notes == ["", ""]
        assert_episode_intact(store, 1, seed=0, length=10)


def test_failed_migration_leaves_store_at_old_version(store_path):
    closed_store(store_path)

    def broken(connection):
        add_operator_note_column(connection)
        connection.execute(text("SELECT * FROM no_such_table"))

    with pytest.raises(Exception, match="no_such_table"):
        TrajectoryStore(store_path, schema_version=SCHEMA_VERSION + 1, migrations={SCHEMA_VERSION: broken})
    with TrajectoryStore(store_path) as store:
        assert store.schema_version() == SCHEMA_VERSION
        with store.engine.connect() as conn:
            columns = [r[1] for r in conn.exec_driver_sql("PRAGMA table_info(episodes)")]
        assert "operator_note" not in columns


def test_missing_migration_step_is_a_clear_error(store_path):
    closed_store(store_path)
    with pytest.raises(RuntimeError, match=f"no migration from schema v{SCHEMA_VERSION}"):
        TrajectoryStore(store_path, schema_version=SCHEMA_VERSION + 1, migrations={})
