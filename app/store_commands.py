"""Commands on the store itself: status, episodes, check, contact sheets, labels, ALOHA and LeRobot
import and export, and which policy drives a task (deploy, rollback)."""

from __future__ import annotations

from pathlib import Path

from robot.sim.tasks import TASKS
from storage import EpisodeFilter, StoreError, TrajectoryStore
from storage.frame_codecs import CODECS, DEFAULT_CODEC
from storage.hdf5_layouts import LAYOUTS
from storage.schema import EPISODE_SOURCES, ROBOT_KINDS

from app.progress import PROGRESS
from app.store_report import episode_table, status_report

LABELS = {"success": True, "failure": False, "none": None}


def add_commands(commands) -> None:
    commands.add_parser("status", help="store summary and success rates").set_defaults(run=run_status)

    deploy = commands.add_parser("deploy", help="deploy a policy version for a task (operator override)")
    deploy.add_argument("--policy", required=True)
    deploy.add_argument("--task", choices=sorted(TASKS), required=True)
    deploy.set_defaults(run=run_deploy)
    rollback = commands.add_parser("rollback", help="deploy the previously deployed (or a given) policy version again")
    rollback.add_argument("--task", choices=sorted(TASKS), required=True)
    rollback.add_argument("--to", help="policy version name or id (default: the one deployed before the current)")
    rollback.set_defaults(run=run_rollback)

    sheet = commands.add_parser("contact-sheet", help="PNG grid of evenly spaced frames of an episode")
    sheet.add_argument("episode_id", type=int)
    sheet.add_argument("--camera", default="cam_high")
    sheet.add_argument("--out", type=Path, required=True)
    sheet.set_defaults(run=run_contact_sheet)
    commands.add_parser("check", help="full SQLite integrity check of the store").set_defaults(run=run_check)

    episodes = commands.add_parser("episodes", help="list episodes, newest first")
    episodes.add_argument("--task")
    episodes.add_argument("--source", choices=EPISODE_SOURCES)
    episodes.add_argument("--iteration", type=int, help="iteration id")
    episodes.add_argument("--scene", help="the sim scene: stock, or a disruption (e.g. wider_start)")
    episodes.add_argument("--label", choices=[*LABELS, "any"], default="any")
    episodes.add_argument("--limit", type=int, default=50)
    episodes.set_defaults(run=run_episodes)

    importer = commands.add_parser("import-aloha", help="import ALOHA-format episode_N.hdf5 files")
    importer.add_argument("files", nargs="+", type=Path, help="files, or folders of episode_N.hdf5 files")
    importer.add_argument("--task", choices=sorted(TASKS), required=True)
    importer.add_argument("--instruction", default="")
    importer.add_argument("--robot", choices=ROBOT_KINDS, help="default: the file's 'sim' attribute")
    importer.add_argument("--source", choices=EPISODE_SOURCES, default="expert")
    importer.add_argument("--label", choices=LABELS, default="success",
                          help="operator's label for every imported episode (default: success)")
    importer.add_argument("--cameras", nargs="+", help="cameras to import (default: all)")
    importer.add_argument("--codec", choices=sorted(CODECS), default=DEFAULT_CODEC)
    importer.add_argument("--jpeg-red-blue-swapped", action="store_true",
                          help="compressed files whose recorder gave RGB arrays to cv2.imencode")
    importer.add_argument("--layout", choices=sorted(LAYOUTS), default="aloha",
                          help="aloha (grippers 0..1), or cobot_magic (AgileX: grippers in metres, base_action)")
    importer.set_defaults(run=run_import)

    exporter = commands.add_parser("export-aloha", help="write episodes as ALOHA-format episode_N.hdf5 files")
    exporter.add_argument("episode_ids", nargs="+", type=int)
    exporter.add_argument("--out", type=Path, required=True, help="folder for episode_0.hdf5, episode_1.hdf5...")
    exporter.add_argument("--layout", choices=sorted(LAYOUTS), default="aloha")
    exporter.set_defaults(run=run_export)

    lerobot_out = commands.add_parser("export-lerobot", help="add episodes to a LeRobotDataset v3.0 folder "
                                      "(only those not in it yet)")
    lerobot_out.add_argument("--out", type=Path, required=True, help="dataset folder (new, or an earlier export)")
    lerobot_out.add_argument("--task")
    lerobot_out.add_argument("--source", choices=EPISODE_SOURCES)
    lerobot_out.add_argument("--iteration", type=int, help="iteration id")
    lerobot_out.add_argument("--label", choices=[*LABELS, "any"], default="any")
    lerobot_out.add_argument("--ids", type=int, nargs="+", help="only these episode ids")
    lerobot_out.add_argument("--scene", help="only episodes of this scene (stock, or a sim disruption's name)")
    lerobot_out.add_argument("--lossless", action="store_true",
                             help="bit-exact H.264 (libx264rgb, qp 0) instead of yuv420p at --crf")
    lerobot_out.add_argument("--crf", type=int,
                             help="H.264 quality, 0 best .. 51 (default: storage.video.DEFAULT_CRF, 14)")
    lerobot_out.add_argument("--keyframe-interval", type=int, default=5,
                             help="frames between keyframes: smaller seeks faster, larger is smaller on disk")
    lerobot_out.set_defaults(run=run_export_lerobot)

    lerobot_in = commands.add_parser("import-lerobot", help="import a LeRobotDataset v3.0 folder")
    lerobot_in.add_argument("folder", type=Path)
    lerobot_in.add_argument("--task", choices=sorted(TASKS), required=True)
    lerobot_in.add_argument("--robot", choices=ROBOT_KINDS, help="default: the folder's wmpo.robot_kind, else real")
    lerobot_in.add_argument("--source", choices=EPISODE_SOURCES, help="default: the folder's wmpo.source, else expert")
    lerobot_in.add_argument("--label", choices=[*LABELS, "folder"], default="folder",
                            help="default: the folder's wmpo.success, else success (operator)")
    lerobot_in.add_argument("--codec", choices=sorted(CODECS), default=DEFAULT_CODEC)
    lerobot_in.set_defaults(run=run_import_lerobot)

    relabel = commands.add_parser("relabel", help="set an episode's success label as the operator")
    relabel.add_argument("episode_id", type=int)
    relabel.add_argument("label", choices=LABELS)
    relabel.set_defaults(run=run_relabel)


def run_status(store: TrajectoryStore, args) -> None:
    print(status_report(store))


def run_deploy(store: TrajectoryStore, args) -> None:
    store.deploy(args.task, store.find_policy_version(args.policy), "operator")
    print(f"{args.task}: policy version {args.policy!r} deployed (operator)")


def run_rollback(store: TrajectoryStore, args) -> None:
    if args.to:
        version = store.find_policy_version(args.to)
    else:
        history = store.deployments(args.task)
        if len(history) < 2:
            raise StoreError(f"{args.task} has {len(history)} deployment(s): nothing earlier to roll back to")
        version = history[-2].policy_version_id
    store.deploy(args.task, version, "rollback")
    print(f"{args.task}: policy version {store.policy_version(version).name!r} deployed again (rollback)")


def run_contact_sheet(store: TrajectoryStore, args) -> None:
    from app.contact_sheet import contact_sheet

    contact_sheet(store, args.episode_id, args.camera).save(args.out)
    print(f"wrote {args.out}")


def run_check(store: TrajectoryStore, args) -> int:
    result = store.integrity_check()
    print("integrity: " + "; ".join(result))
    return 0 if result == ["ok"] else 1


def run_episodes(store: TrajectoryStore, args) -> None:
    where = EpisodeFilter(task=args.task, source=args.source, iteration_id=args.iteration, scene=args.scene,
                          success=LABELS.get(args.label), labelled=False if args.label == "none" else None)
    print(episode_table(store, where, args.limit))


def episode_files(paths: list[Path]) -> list[Path]:
    """Files as given; a folder stands for its episode_N.hdf5 files, in episode order."""
    files = []
    for path in paths:
        if path.is_dir():
            found = sorted(path.glob("episode_*.hdf5"), key=lambda p: (len(p.stem), p.stem))
            if not found:
                raise StoreError(f"{path} is a folder without episode_N.hdf5 files; expected ALOHA episode files")
            files += found
        else:
            files.append(path)
    return files


def run_import(store: TrajectoryStore, args) -> None:
    from storage.aloha_hdf5 import import_aloha_episodes

    def progress(done: int, total: int, path: Path) -> None:
        PROGRESS("", done, total, f"imported {path}")

    ids = import_aloha_episodes(
        store, episode_files(args.files), task=args.task, instruction=args.instruction, robot_kind=args.robot,
        source=args.source, success=LABELS[args.label], cameras=args.cameras, codec=args.codec,
        jpeg_red_blue_swapped=args.jpeg_red_blue_swapped, layout=args.layout, progress=progress)
    print(f"imported {len(ids)} episodes: ids {ids[0]}..{ids[-1]}")


def run_export(store: TrajectoryStore, args) -> None:
    from storage.aloha_export import export_aloha_episodes

    paths = export_aloha_episodes(store, args.episode_ids, args.out, args.layout)
    print(f"wrote {len(paths)} episodes ({args.layout} layout) to {args.out}")


def run_export_lerobot(store: TrajectoryStore, args) -> None:
    from storage.lerobot_export import export_lerobot
    from storage.video import H264_LOSSLESS, h264

    where = EpisodeFilter(task=args.task, source=args.source, iteration_id=args.iteration,
                          success=LABELS.get(args.label), labelled=False if args.label == "none" else None,
                          ids=tuple(args.ids) if args.ids else None, scene=args.scene)
    codec = H264_LOSSLESS if args.lossless else h264() if args.crf is None else h264(args.crf)
    report = export_lerobot(store, where, args.out, codec=codec, keyframe_interval=args.keyframe_interval)
    skipped = f"; {len(report.skipped)} already there" if report.skipped else ""
    print(f"{args.out}: added {len(report.added)} episodes ({report.frames} frames){skipped}")
    for camera, size in report.video_bytes.items():
        print(f"  {camera}: {size / report.frames:,.0f} bytes/frame, PSNR {report.psnr_db[camera]:.1f} dB "
              f"(worst frame {report.worst_frame_psnr_db[camera]:.1f} dB)")


def run_import_lerobot(store: TrajectoryStore, args) -> None:
    from storage.lerobot_import import import_lerobot

    def progress(done: int, total: int) -> None:
        PROGRESS("", done, total, f"imported {done} of {total} episodes")

    ids = import_lerobot(store, args.folder, task=args.task, robot_kind=args.robot, source=args.source,
                         success="folder" if args.label == "folder" else LABELS[args.label], codec=args.codec,
                         progress=progress)
    print(f"imported {len(ids)} episodes: ids {ids[0]}..{ids[-1]}" if ids else "the folder holds no episodes")


def run_relabel(store: TrajectoryStore, args) -> None:
    label = LABELS[args.label]
    store.set_label(args.episode_id, label, "operator" if label is not None else None)
    print(f"episode {args.episode_id}: label {args.label} (operator)")
