"""`wmpo-app bundle OUT.tar` and `wmpo-app unbundle OUT.tar --into FOLDER`: a store and its
checkpoints moved as one file (robot PC -> GPU server and back), verified where it lands."""

from __future__ import annotations

from pathlib import Path

from storage import TrajectoryStore
from storage.bundle import bundle_store, unbundle
from storage.model_registry import verify_entry

COMMANDS = {"bundle", "unbundle"}


def add_commands(commands) -> None:
    bundle = commands.add_parser("bundle", help="the store and its checkpoints in one tar file, to move elsewhere")
    bundle.add_argument("out", type=Path, help="a new .tar (or .tar.gz: smaller, slower) file")
    unpack = commands.add_parser("unbundle", help="extract a bundle into a folder and verify its checkpoints")
    unpack.add_argument("bundle", type=Path)
    unpack.add_argument("--into", type=Path, required=True, help="a folder without a store of that name")


def run(args) -> int:
    """Errors (StoreError) are reported by the CLI."""
    if args.command == "bundle":
        manifest = bundle_store(Path(args.db), args.out)
        print(f"wrote {args.out}: {manifest['store']} ({manifest['store_bytes'] / 1e6:.1f} MB) and "
              f"{manifest['checkpoint_files']} checkpoint files ({manifest['checkpoint_bytes'] / 1e6:.1f} MB)")
        return 0
    db = unbundle(args.bundle, args.into)
    failed = checked = 0
    with TrajectoryStore(db) as store:
        # every checkpoint the store names: policy versions, then world and reward models
        checks = [(f"policy {v.name!r}", lambda v=v: store.verify_policy_checkpoint(v.id))
                  for v in store.policy_versions()]
        checks += [(f"{e.kind} {e.name!r}", lambda e=e: verify_entry(e)) for e in store.models.entries()]
        for label, verify in checks:
            checked += 1
            try:
                verify()
            except Exception as exc:  # report every one, then fail
                failed += 1
                print(f"{label}: {exc}")
    print(f"extracted {db}; {checked - failed}/{checked} checkpoints verified (policies, world and reward models)"
          + (f" (use it with --db {db})" if not failed else ""))
    return 1 if failed else 0
