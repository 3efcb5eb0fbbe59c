"""`wmpo-app`: the headless command line. With no command it runs the main job (status for now)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from storage import DEFAULT_STORE_PATH, EpisodeFilter, StoreError, TrajectoryStore
from storage.aloha_hdf5 import import_aloha_episodes
from storage.frame_codecs import CODECS, DEFAULT_CODEC
from storage.schema import EPISODE_SOURCES, ROBOT_KINDS

from app.store_report import episode_table, status_report

LABELS = {"success": True, "failure": False, "none": None}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="wmpo-app", description=__doc__)
    parser.add_argument("--db", type=Path, default=Path(os.environ.get("WMPO_DB", DEFAULT_STORE_PATH)),
                        help="trajectory store file (default: $WMPO_DB or %(default)s)")
    commands = parser.add_subparsers(dest="command")

    commands.add_parser("status", help="store summary and success rates (the default)")
    commands.add_parser("check", help="full SQLite integrity check of the store")

    episodes = commands.add_parser("episodes", help="list episodes, newest first")
    episodes.add_argument("--task")
    episodes.add_argument("--source", choices=EPISODE_SOURCES)
    episodes.add_argument("--iteration", type=int, help="iteration id")
    episodes.add_argument("--label", choices=[*LABELS, "any"], default="any")
    episodes.add_argument("--limit", type=int, default=50)

    importer = commands.add_parser("import-aloha", help="import ALOHA-format episode_N.hdf5 files")
    importer.add_argument("files", nargs="+", type=Path)
    importer.add_argument("--task", required=True)
    importer.add_argument("--instruction", default="")
    importer.add_argument("--robot", choices=ROBOT_KINDS, help="default: the file's 'sim' attribute")
    importer.add_argument("--source", choices=EPISODE_SOURCES, default="expert")
    importer.add_argument("--label", choices=LABELS, default="success",
                          help="operator's label for every imported episode (default: success)")
    importer.add_argument("--cameras", nargs="+", help="cameras to import (default: all)")
    importer.add_argument("--codec", choices=sorted(CODECS), default=DEFAULT_CODEC)
    importer.add_argument("--jpeg-red-blue-swapped", action="store_true",
                          help="compressed files whose recorder gave RGB arrays to cv2.imencode")

    relabel = commands.add_parser("relabel", help="set an episode's success label as the operator")
    relabel.add_argument("episode_id", type=int)
    relabel.add_argument("label", choices=LABELS)
    return parser


def run_episodes(store: TrajectoryStore, args) -> None:
    where = EpisodeFilter(task=args.task, source=args.source, iteration_id=args.iteration,
                          success=LABELS.get(args.label), labelled=False if args.label == "none" else None)
    print(episode_table(store, where, args.limit))


def run_import(store: TrajectoryStore, args) -> None:
    def progress(done: int, total: int, path: Path) -> None:
        print(f"[{done}/{total}] imported {path}", flush=True)

    ids = import_aloha_episodes(
        store, args.files, task=args.task, instruction=args.instruction, robot_kind=args.robot,
        source=args.source, success=LABELS[args.label], cameras=args.cameras, codec=args.codec,
        jpeg_red_blue_swapped=args.jpeg_red_blue_swapped, progress=progress)
    print(f"imported {len(ids)} episodes: ids {ids[0]}..{ids[-1]}")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        with TrajectoryStore(args.db) as store:
            if args.command in (None, "status"):
                print(status_report(store))
            elif args.command == "check":
                result = store.integrity_check()
                print("integrity: " + "; ".join(result))
                return 0 if result == ["ok"] else 1
            elif args.command == "episodes":
                run_episodes(store, args)
            elif args.command == "import-aloha":
                run_import(store, args)
            elif args.command == "relabel":
                label = LABELS[args.label]
                store.set_label(args.episode_id, label, "operator" if label is not None else None)
                print(f"episode {args.episode_id}: label {args.label} (operator)")
    except (StoreError, ValueError) as exc:
        print(f"wmpo-app: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
