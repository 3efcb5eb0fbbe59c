"""Opening a store file: refuse anything that is not a wmpo store, then connect.

Checks run on the raw bytes and through a read-only connection before anything is
written, so opening a foreign, truncated or too-new file modifies nothing.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import QueuePool

from storage.errors import SchemaVersionError, StoreFileError, StoreFullError, StoreReadOnlyError
from storage.migrations import MIGRATIONS, SCHEMA_VERSION, Migration, upgrade
from storage.schema import Base

APPLICATION_ID = 0x574D504F  # "WMPO", in the SQLite header at offset 68
SQLITE_MAGIC = b"SQLite format 3\x00"
FULL_DISK_BYTES = 1 << 20  # less free than this beside a store that cannot be opened: the disk is full


@dataclass(frozen=True)
class FileState:
    exists: bool
    schema_version: int = 0
    empty_sqlite: bool = False  # a valid SQLite file with no tables: safe to adopt


# Files this process has opened through SQLite. Their raw bytes are never read again here:
# closing *any* descriptor of a file drops *all* of this process's POSIX locks on it,
# SQLite's included -- another process may then think it is alone, checkpoint and delete
# the WAL under our connections, and later commits are lost. SQLite guards only its own
# descriptors against this.
_opened_by_sqlite: set[str] = set()


def inspect_store_file(path: Path) -> FileState:
    """Say what is at ``path`` without changing it; raise StoreFileError if it is unusable."""
    if not path.exists():
        return FileState(exists=False)
    if path.is_dir():
        raise StoreFileError(f"{path} is a directory; expected a wmpo store file (SQLite)")
    if os.path.realpath(path) not in _opened_by_sqlite:
        check_raw_header(path)
    try:
        conn = sqlite3.connect(read_only_uri(path), uri=True)
        try:
            app_id = conn.execute("PRAGMA application_id").fetchone()[0]
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        finally:
            conn.close()
    except sqlite3.OperationalError as exc:  # the file may be fine: the disk or the access is not
        raise opening_error(path, exc) from exc
    except sqlite3.DatabaseError as exc:
        raise StoreFileError(f"{path} is a damaged SQLite database ({exc}); expected a wmpo store") from exc
    if app_id != APPLICATION_ID:
        if not tables:
            return FileState(exists=True, empty_sqlite=True)
        raise StoreFileError(
            f"{path} is a SQLite database but not a wmpo store (application_id={app_id:#x}, "
            f"expected {APPLICATION_ID:#x}; tables: {', '.join(sorted(tables)[:8])})"
        )
    return FileState(exists=True, schema_version=version)


def sqlite_message(exc: BaseException) -> str:
    """SQLite's own words, without SQLAlchemy's statement and parameters."""
    return str(getattr(exc, "orig", None) or exc)


def opening_error(path: Path, exc: BaseException) -> StoreFileError | StoreFullError:
    """What to say when SQLite cannot open a store that looked sound."""
    reason = sqlite_message(exc)
    if shutil.disk_usage(path.parent).free < FULL_DISK_BYTES:
        return StoreFullError(f"{path} cannot be opened: its disk is full ({reason}). Free space and try again; "
                              f"the store itself is intact.")
    return StoreFileError(f"{path} cannot be opened ({reason}); check its permissions and its disk")


def is_writable(path: Path) -> bool:
    """Whether this process may write the store file and create its journal files beside it
    (False for a read-only file mode, an immutable flag or a read-only mount)."""
    return os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)


def read_only_uri(path: Path) -> str:
    """A read-only SQLite URI. Where no journal file can be created beside the store (a
    read-only folder or mount, a full disk) and none is left over, the file is opened as
    immutable: with no write-ahead log there is nothing newer to read than the file itself."""
    wal = path.with_name(path.name + "-wal")
    cannot_create = not os.access(path.parent, os.W_OK) or shutil.disk_usage(path.parent).free < FULL_DISK_BYTES
    immutable = cannot_create and not (wal.exists() and wal.stat().st_size > 0)
    return f"file:{quote(str(path))}?mode=ro" + ("&immutable=1" if immutable else "")


def check_raw_header(path: Path) -> None:
    """Refuse empty, non-SQLite and truncated files from their first 100 bytes and size."""
    size = path.stat().st_size
    if size == 0:
        raise StoreFileError(
            f"{path} is empty (0 bytes); expected a wmpo store. Remove it to create a new store."
        )
    with open(path, "rb") as f:
        header = f.read(100)
    if not header.startswith(SQLITE_MAGIC):
        raise StoreFileError(
            f"{path} is not a SQLite database (first bytes {header[:16]!r}); "
            f"expected a wmpo store starting with {SQLITE_MAGIC!r}"
        )
    if len(header) < 100:
        raise StoreFileError(f"{path} is truncated: {size} bytes, shorter than the 100-byte SQLite header")
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    page_count = int.from_bytes(header[28:32], "big")
    header_count_valid = header[24:28] == header[92:96]
    # A process killed mid-checkpoint may leave page 1 (with the new page count) written
    # before the file grew; the WAL still holds everything, and SQLite recovers from it.
    wal = path.with_name(path.name + "-wal")
    wal_pending = wal.exists() and wal.stat().st_size > 0
    if size % page_size or (header_count_valid and not wal_pending and size < page_count * page_size):
        expected = page_count * page_size if header_count_valid else f"a multiple of {page_size}"
        raise StoreFileError(
            f"{path} is truncated or damaged: {size} bytes, expected {expected} "
            f"({page_count} pages of {page_size} bytes). Restore it from a backup."
        )


def _make_engine(path: Path, readonly: bool, max_size_bytes: int | None,
                 busy_timeout_s: float) -> Engine:
    # Read-only stores are ordinary connections with PRAGMA query_only set, opened read-only
    # at the file level too, so that a store on a read-only mount can be read.
    if readonly:
        uri = read_only_uri(path)
        engine = create_engine("sqlite://", creator=lambda: sqlite3.connect(uri, uri=True, check_same_thread=False),
                               poolclass=QueuePool)
    else:
        engine = create_engine(f"sqlite:///{path}")
    _opened_by_sqlite.add(os.path.realpath(path))

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection, _record):
        # Autocommit at the driver level; transactions are begun explicitly below.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
        cursor.execute("PRAGMA foreign_keys = ON")
        if readonly:
            cursor.execute("PRAGMA query_only = ON")
        else:
            cursor.execute("PRAGMA journal_mode = WAL")
            # NORMAL in WAL mode: a killed process never corrupts the file or loses a commit;
            # only a power cut may drop the last few commits.
            cursor.execute("PRAGMA synchronous = NORMAL")
            if max_size_bytes is not None:
                page_size = cursor.execute("PRAGMA page_size").fetchone()[0]
                cursor.execute(f"PRAGMA max_page_count = {max(1, max_size_bytes // page_size)}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection):
        # Writers take the write lock at BEGIN so two processes never deadlock upgrading
        # a read transaction to a write one (SQLITE_BUSY_SNAPSHOT in WAL mode).
        connection.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")

    return engine


def open_database(path: Path, *, readonly: bool = False, max_size_bytes: int | None = None,
                  busy_timeout_s: float = 30.0, schema_version: int = SCHEMA_VERSION,
                  migrations: dict[int, Migration] | None = None) -> Engine:
    """Check ``path``, create or migrate it when writable, and return a configured engine."""
    path = Path(path)
    state = inspect_store_file(path)
    migrations = MIGRATIONS if migrations is None else migrations
    if state.exists and state.schema_version > schema_version:
        raise SchemaVersionError(
            f"{path} has schema v{state.schema_version}, written by a newer wmpo; this "
            f"version understands up to v{schema_version}. Upgrade wmpo to open it."
        )
    if readonly:
        if not state.exists or state.empty_sqlite:
            raise StoreFileError(f"{path}: no wmpo store there to open read-only")
        if state.schema_version < schema_version:
            raise SchemaVersionError(
                f"{path} has schema v{state.schema_version} and needs migrating to "
                f"v{schema_version}; open it once writable (e.g. `wmpo-app status`)"
            )
        return _make_engine(path, True, None, busy_timeout_s)

    if state.exists and not is_writable(path):
        raise StoreReadOnlyError(
            f"{path} is read-only (its file mode, an immutable flag or a read-only mount); it can be read "
            f"(wmpo-app status, episodes, check) but not written. Copy it somewhere writable to record or train.")
    path.parent.mkdir(parents=True, exist_ok=True)
    engine = _make_engine(path, False, max_size_bytes, busy_timeout_s)
    try:
        with engine.begin() as connection:
            if not state.exists or state.empty_sqlite:
                Base.metadata.create_all(connection)
                connection.exec_driver_sql(f"PRAGMA application_id = {APPLICATION_ID}")
                connection.exec_driver_sql(f"PRAGMA user_version = {schema_version}")
            elif state.schema_version < schema_version:
                upgrade(connection, state.schema_version, schema_version, migrations)
    except OperationalError as exc:
        engine.dispose()
        if "locked" in str(exc):  # another writer held the store past the busy timeout
            raise
        raise opening_error(path, exc) from exc
    return engine


def is_process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
