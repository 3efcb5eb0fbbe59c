"""A store and its checkpoints as one file, to move between machines (robot PC <-> GPU server).

``bundle_store`` writes a tar with a consistent copy of the SQLite file (SQLite's online backup:
a collection or a cycle may keep writing meanwhile), the ``checkpoints/`` folder beside it, and
a manifest. ``unbundle`` extracts it into a folder that has no store of that name yet, then
verifies every policy version's checkpoint against its recorded sha256: checkpoint paths are
relative to the store's folder, so they resolve in the new place.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import tarfile
import tempfile
import time
from pathlib import Path

from storage.errors import StoreError
from storage.store import CHECKPOINTS

MANIFEST = "bundle.json"


def bundle_store(db: Path, out: Path) -> dict:
    """Write ``out`` (a .tar; .tar.gz compresses, slowly) from the store at ``db``; the manifest."""
    db, out = Path(db), Path(out)
    if not db.is_file():
        raise StoreError(f"no store at {db}")
    if out.exists():
        raise StoreError(f"{out} exists; expected a new file (nothing is overwritten)")
    folder = db.parent
    mode = "w:gz" if out.name.endswith((".tar.gz", ".tgz")) else "w"
    with tempfile.TemporaryDirectory(dir=out.parent if out.parent.exists() else None) as scratch:
        copy = Path(scratch) / db.name
        source = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        target = sqlite3.connect(copy)
        try:
            source.backup(target)  # a consistent snapshot, whatever writes meanwhile
        finally:
            target.close()
            source.close()
        checkpoints = sorted(p for p in (folder / CHECKPOINTS).rglob("*")
                             if p.is_file() and not any(part.endswith(".writing") for part in p.parts))
        manifest = {"store": db.name, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                    "store_bytes": copy.stat().st_size, "checkpoint_files": len(checkpoints),
                    "checkpoint_bytes": sum(p.stat().st_size for p in checkpoints)}
        (Path(scratch) / MANIFEST).write_text(json.dumps(manifest, indent=2))
        partial = out.with_name(out.name + ".partial")
        with tarfile.open(partial, mode) as tar:  # written aside, renamed when complete
            tar.add(Path(scratch) / MANIFEST, arcname=MANIFEST)
            tar.add(copy, arcname=db.name)
            for path in checkpoints:
                tar.add(path, arcname=path.relative_to(folder).as_posix())
        partial.rename(out)
    return manifest


def unbundle(bundle: Path, folder: Path) -> Path:
    """Extract ``bundle`` into ``folder``; the store file's path. Refuses to overwrite a store."""
    bundle, folder = Path(bundle), Path(folder)
    try:
        with tarfile.open(bundle) as tar:
            manifest = json.load(tar.extractfile(MANIFEST))
            db = folder / manifest["store"]
            if db.exists() or (folder / CHECKPOINTS).exists():
                raise StoreError(f"{folder} already holds {db.name if db.exists() else CHECKPOINTS}; "
                                 f"expected a folder without a store (nothing is overwritten)")
            staging = Path(tempfile.mkdtemp(prefix=".unbundle-", dir=_existing(folder)))
            try:
                tar.extractall(staging, filter="data")  # no absolute paths, links out, or devices
                for name in (manifest["store"], CHECKPOINTS):
                    if (staging / name).exists():
                        (staging / name).rename(folder / name)
            finally:
                shutil.rmtree(staging, ignore_errors=True)
    except (tarfile.TarError, KeyError, json.JSONDecodeError) as exc:
        raise StoreError(f"{bundle} is not a wmpo bundle ({type(exc).__name__}: {exc}); "
                         f"expected a tar written by `wmpo-app bundle`") from None
    return db


def _existing(folder: Path) -> Path:
    """``folder`` made if needed: the staging folder goes inside it, on the same disk, so the
    final step is a rename."""
    folder.mkdir(parents=True, exist_ok=True)
    return folder
