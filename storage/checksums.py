"""The sha256 a checkpoint is registered with and verified against (policies, world and reward models)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from storage.errors import StoreError


def checkpoint_sha256(path: Path) -> str:
    """sha256 of a checkpoint file, or of a directory's files (relative names and bytes, sorted)."""
    path = Path(path)
    digest = hashlib.sha256()
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file())
        if not files:
            raise StoreError(f"checkpoint directory {path} is empty")
    elif path.is_file():
        files = [path]
    else:
        raise StoreError(f"checkpoint {path} does not exist")
    for file in files:
        if path.is_dir():
            digest.update(file.relative_to(path).as_posix().encode() + b"\0")
        with open(file, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()
