"""`wmpo-app`: the operator's terminal UI (no command, or `ui`) and the headless command line."""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from dataclasses import replace
from pathlib import Path

from storage import DEFAULT_STORE_PATH, EpisodeFilter, StoreError, StoreFileError, StoreFullError, TrajectoryStore
from storage.database import is_writable
from storage.frame_codecs import CODECS, DEFAULT_CODEC
from storage.hdf5_layouts import LAYOUTS
from storage.schema import EPISODE_SOURCES, ROBOT_KINDS

from robot.sim.aloha_sim import SIM_CAMERAS
from robot.sim.tasks import TASKS

# Configs only: torch, transformers and diffusers load inside the commands that need them,
# so `status`, the UI and the scheduler start in a fraction of a second.
from learning.errors import CheckpointError
from learning.reward_model.config import PROFILES as REWARD_PROFILES
from learning.reward_model.config import profile as reward_profile
from learning.vla.config import PROFILES, profile
from learning.world_model.config import PROFILES as WORLD_MODEL_PROFILES
from learning.world_model.config import PRETRAIN_LR, PRETRAIN_STEPS, SAMPLERS
from learning.world_model.config import profile as world_model_profile
from learning.configs import with_overrides

from app import bundle_commands, config_commands, curve_commands, hardware_commands, schedule_commands
from app.cycle_config import PROFILES as CYCLE_PROFILES
from app.progress import PROGRESS
from app.cycle_config import cycle_config
from app.store_report import episode_table, status_report

LABELS = {"success": True, "failure": False, "none": None}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="wmpo-app", description=__doc__)
    parser.add_argument("--db", type=Path, default=Path(os.environ.get("WMPO_DB", DEFAULT_STORE_PATH)),
                        help="trajectory store file (default: $WMPO_DB or %(default)s)")
    parser.add_argument("--device", default=os.environ.get("WMPO_DEVICE", "auto"),
                        help="where learners, imagination and policies run: auto (cuda when torch sees a GPU), "
                             "cpu, cuda or cuda:N (default: $WMPO_DEVICE or %(default)s); child processes "
                             "(the UI's jobs, scheduled cycles) inherit it")
    commands = parser.add_subparsers(dest="command")

    commands.add_parser("status", help="store summary and success rates")

    demos = commands.add_parser("demos", help="record scripted expert demonstrations in the sim")
    demos.add_argument("--task", choices=sorted(TASKS), default="transfer_cube")
    demos.add_argument("--n", type=int, default=10, help="episodes (default %(default)s)")
    demos.add_argument("--first-seed", type=int, help="default: after the task's last demo seed")
    demos.add_argument("--cameras", nargs="+", default=["cam_high"], choices=sorted(SIM_CAMERAS))
    demos.add_argument("--size", type=image_size, default=(96, 128), help="HxW per camera (default 96x128)")

    trainer = commands.add_parser("train-policy", help="imitation-train a base policy on expert demos (resumable)")
    trainer.add_argument("--task", choices=[*sorted(TASKS), "all"], default="transfer_cube",
                         help="'all': one instruction-conditioned policy for every task")
    trainer.add_argument("--profile", choices=sorted(PROFILES), default="cpu")
    trainer.add_argument("--demos", type=int, default=50, help="expert demos to train on; missing ones are recorded")
    trainer.add_argument("--steps", type=int, default=3000)
    trainer.add_argument("--batch", type=int, default=64)
    trainer.add_argument("--camera", choices=sorted(SIM_CAMERAS), help="the camera the policy sees (default cam_high)")
    trainer.add_argument("--action-mode", choices=["absolute", "delta"],
                         help="joint targets as they are, or relative to the joints when a chunk starts")
    trainer.add_argument("--name", help="policy version name (default base-TASK-PROFILE); an interrupted "
                                        "run with the same name resumes")

    evaluate = commands.add_parser("eval", help="evaluate a policy version on the fixed evaluation seeds")
    evaluate.add_argument("--policy", required=True, help="policy version name or id")
    evaluate.add_argument("--task", choices=sorted(TASKS), help="default: the task it was trained on")
    evaluate.add_argument("--n", type=int, default=128, help="evaluation episodes (default %(default)s)")
    evaluate.add_argument("--sample", action="store_true", help="sample actions instead of greedy decoding")
    evaluate.add_argument("--temperature", type=float, default=1.0)
    evaluate.add_argument("--record-frames", action="store_true", help="also store the evaluation images")
    hardware_commands.add_site_option(evaluate)

    collect = commands.add_parser("collect", help="sample N rollouts of a policy (with frames) on fresh training seeds")
    collect.add_argument("--policy", required=True, help="policy version name or id")
    collect.add_argument("--task", choices=sorted(TASKS), help="default: the task it was trained on")
    collect.add_argument("--n", type=int, default=128, help="episodes: the real budget P (default %(default)s)")
    collect.add_argument("--temperature", type=float, default=1.0)
    hardware_commands.add_site_option(collect)

    world = commands.add_parser("train-world-model",
                                help="pretrain the video world model on stored episodes (resumable)")
    world.add_argument("--profile", choices=sorted(WORLD_MODEL_PROFILES), default="cpu")
    world.add_argument("--task", choices=sorted(TASKS), help="only this task's episodes (default: all)")
    world.add_argument("--steps", type=int, default=PRETRAIN_STEPS)
    world.add_argument("--lr", type=float, default=PRETRAIN_LR)
    world.add_argument("--batch", type=int, default=16)
    world.add_argument("--set", dest="overrides", action="append", default=[], metavar="FIELD=VALUE",
                       help="change one field of the profile's configuration, e.g. diffusion.sampling_steps=4 or "
                            "denoiser.channels=32,64,128 (repeatable; saved with the checkpoint)")
    world.add_argument("--name", default="world-model", help="checkpoint name; an interrupted or finished run resumes (with more --steps) in the configuration it started with")

    align = commands.add_parser("align-world-model",
                                help="fine-tune a world model on a policy's rollouts (behaviour alignment; resumable)")
    align.add_argument("--from", dest="base", required=True, help="world model to start from")
    align.add_argument("--name", required=True, help="the aligned world model's name")
    align.add_argument("--task", choices=sorted(TASKS))
    align.add_argument("--policy", help="only this policy version's rollouts (name or id; default: every policy's)")
    align.add_argument("--steps", type=int, default=1000)
    align.add_argument("--batch", type=int, default=16)

    reward = commands.add_parser("train-reward", help="train the success reward model of a task (resumable)")
    reward.add_argument("--task", choices=sorted(TASKS), default="transfer_cube")
    reward.add_argument("--profile", choices=sorted(REWARD_PROFILES), default="cpu")
    reward.add_argument("--steps", type=int, default=2000)
    reward.add_argument("--batch", type=int, default=32)
    reward.add_argument("--name", help="checkpoint name (default reward-TASK); an interrupted run resumes")
    reward.add_argument("--world-model", help="also learn from episodes replayed in this world model (labelled with "
                                              "their real outcome): the frames GRPO's verdicts are about")

    fidelity = commands.add_parser("fidelity", help="replay held-out episodes in the world model: PSNR/SSIM per step")
    fidelity.add_argument("--name", default="world-model")
    fidelity.add_argument("--episodes", type=int, default=8)
    fidelity.add_argument("--horizon", type=int, help="steps to imagine (default: whole episodes)")
    fidelity.add_argument("--sampler", choices=SAMPLERS, help="default: the world model's")
    fidelity.add_argument("--sampling-steps", type=int)
    fidelity.add_argument("--strips", type=Path, help="folder for real-over-imagined PNG strips")
    fidelity.add_argument("--task", choices=sorted(TASKS), help="only held-out episodes of this task")
    fidelity.add_argument("--source", choices=EPISODE_SOURCES, help="only held-out episodes from this source")
    fidelity.add_argument("--reward", help="reward model name: adds the outcome agreement")

    cycle = commands.add_parser("cycle", help="lifelong WMPO iterations: collect, align, reward, GRPO, evaluate, deploy")
    cycle.add_argument("--iterations", type=int, default=1)
    cycle.add_argument("--profile", choices=sorted(CYCLE_PROFILES), default="cpu")
    cycle.add_argument("--task", choices=sorted(TASKS), default="transfer_cube")
    cycle.add_argument("--budget", type=int, help="P: real rollouts per iteration (default: the profile's)")
    cycle.add_argument("--policy", help="deploy this policy version first if none is deployed for the task")
    cycle.add_argument("--world-model", help="pretrained world model to start from (default: the profile's)")
    cycle.add_argument("--grpo-updates", type=int, help="GRPO updates per iteration (default: the profile's)")
    cycle.add_argument("--eval-episodes", type=int, help="evaluation episodes (default: the profile's)")
    cycle.add_argument("--deploy-margin", type=float, help="deploy if new success >= deployed - margin")
    cycle.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.FIELD=VALUE",
                       help="change a knob: cycle.align_steps=500, grpo.temperature=0.5, world_model.diffusion."
                            "sampling_steps=2, reward_model.layers=2 (see `wmpo-app config show`)")
    hardware_commands.add_site_option(cycle)
    cycle.add_argument("--resume", action="store_true", help="finish the interrupted iteration and its planned ones")
    cycle.add_argument("--cancel", action="store_true",
                       help="give up the unfinished iteration, keeping everything it recorded")

    deploy = commands.add_parser("deploy", help="deploy a policy version for a task (operator override)")
    deploy.add_argument("--policy", required=True)
    deploy.add_argument("--task", choices=sorted(TASKS), required=True)
    rollback = commands.add_parser("rollback", help="deploy the previously deployed (or a given) policy version again")
    rollback.add_argument("--task", choices=sorted(TASKS), required=True)
    rollback.add_argument("--to", help="policy version name or id (default: the one deployed before the current)")

    sheet = commands.add_parser("contact-sheet", help="PNG grid of evenly spaced frames of an episode")
    sheet.add_argument("episode_id", type=int)
    sheet.add_argument("--camera", default="cam_high")
    sheet.add_argument("--out", type=Path, required=True)
    commands.add_parser("check", help="full SQLite integrity check of the store")

    episodes = commands.add_parser("episodes", help="list episodes, newest first")
    episodes.add_argument("--task")
    episodes.add_argument("--source", choices=EPISODE_SOURCES)
    episodes.add_argument("--iteration", type=int, help="iteration id")
    episodes.add_argument("--label", choices=[*LABELS, "any"], default="any")
    episodes.add_argument("--limit", type=int, default=50)

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

    exporter = commands.add_parser("export-aloha", help="write episodes as ALOHA-format episode_N.hdf5 files")
    exporter.add_argument("episode_ids", nargs="+", type=int)
    exporter.add_argument("--out", type=Path, required=True, help="folder for episode_0.hdf5, episode_1.hdf5...")
    exporter.add_argument("--layout", choices=sorted(LAYOUTS), default="aloha")

    relabel = commands.add_parser("relabel", help="set an episode's success label as the operator")
    relabel.add_argument("episode_id", type=int)
    relabel.add_argument("label", choices=LABELS)

    commands.add_parser("ui", help="the terminal UI (the default without a command)")
    schedule_commands.add_commands(commands)
    hardware_commands.add_commands(commands)
    curve_commands.add_commands(commands)
    config_commands.add_commands(commands)
    bundle_commands.add_commands(commands)
    return parser


def image_size(text: str) -> tuple[int, int]:
    try:
        height, width = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not HEIGHTxWIDTH, e.g. 96x128") from None
    return height, width


def run_demos(store: TrajectoryStore, task: str, n: int, first_seed: int | None,
              cameras: list[str], size: tuple[int, int]) -> None:
    from app.demos import record_expert_demos

    def progress(done: int, total: int, result, seconds: float) -> None:
        outcome = "success" if result.success else result.end
        PROGRESS("", done, total, f"{task} episode {result.episode_id}: {outcome} in {result.steps} steps, "
                 f"{result.steps / seconds:.0f} steps/s, {sum(result.safety.values())} safety interventions")

    results = record_expert_demos(store, task, n, cameras={c: size for c in cameras},
                                  first_seed=first_seed, progress=progress)
    print(f"recorded {len(results)} expert episodes of {task}: "
          f"{sum(bool(r.success) for r in results)} succeeded")


def run_train_policy(store: TrajectoryStore, args) -> None:
    from app.policies import train_base_policy
    from learning.trainer import TrainConfig

    name = args.name or f"base-{args.task}-{args.profile}"
    overrides = {"camera": args.camera, "action_mode": args.action_mode}
    config = profile(args.profile, **{k: v for k, v in overrides.items() if v})
    train_config = TrainConfig(steps=args.steps, log_every=max(1, min(100, args.steps // 20)),
                               checkpoint_every=max(1, min(500, args.steps // 4)))

    def demo_progress(done, total, result, seconds):
        PROGRESS("demos", done, total, f"episode {result.episode_id}: {result.end} in {result.steps} steps")

    def progress(p):
        metrics = " ".join(f"{k} {v:.3f}" for k, v in p.metrics.items())
        PROGRESS("train", p.step, p.steps, f"loss {p.loss:.4f} {metrics} ({p.steps_per_s:.1f} steps/s)")

    task = None if args.task == "all" else args.task
    version_id = train_base_policy(store, task, name, config, train_config, args.demos, batch_size=args.batch,
                                   demo_progress=demo_progress, progress=progress)
    if version_id is None:  # another rank of a torchrun launch: rank 0 registers and reports
        return
    version = store.policy_version(version_id)
    print(f"policy version {version.id} {version.name!r}: {version.checkpoint_path} (sha256 {version.checkpoint_sha256[:12]})")


def find_policy_version(store: TrajectoryStore, ref: str) -> int:
    for version in store.policy_versions():
        if ref in (version.name, str(version.id)):
            return version.id
    raise StoreError(f"no policy version named or numbered {ref!r}; see `wmpo-app status`")


def run_eval(store: TrajectoryStore, args) -> None:
    from app.policies import evaluate_policy

    def progress(done, total, success):
        if done % 8 == 0 or done == total:
            PROGRESS("eval", done, total, f"last: {'success' if success else 'failure'}")

    summary = evaluate_policy(store, find_policy_version(store, args.policy), args.task, args.n,
                              greedy=not args.sample, temperature=args.temperature,
                              record_frames=args.record_frames,
                              robot=hardware_commands.robot_choice(args.site), progress=progress)
    print(summary)


def run_collect(store: TrajectoryStore, args) -> None:
    from app.policies import collect_rollouts

    def progress(done, total, success):
        if done % 8 == 0 or done == total:
            PROGRESS("collect", done, total, f"last: {'success' if success else 'failure'}")

    summary = collect_rollouts(store, find_policy_version(store, args.policy), args.task, args.n,
                               temperature=args.temperature, robot=hardware_commands.robot_choice(args.site),
                               progress=progress)
    print(summary)


def run_train_world_model(store: TrajectoryStore, args) -> None:
    from app.world_models import pretrain_world_model, world_model_dir
    from learning.checkpoints import existing_checkpoint, read_config
    from learning.trainer import TrainConfig
    from learning.world_model.training import saved_config

    def progress(stage, p):
        metrics = " ".join(f"{k} {v:.3f}" for k, v in p.metrics.items())
        PROGRESS(stage, p.step, p.steps, f"loss {p.loss:.4f} {metrics} ({p.steps_per_s:.1f} steps/s)")

    config = with_overrides(world_model_profile(args.profile), args.overrides)
    folder = world_model_dir(store, args.name) / "model"
    if existing_checkpoint(folder) is not None:  # a run goes on as it started, whatever the profile says now
        saved = saved_config(read_config(folder))
        config = with_overrides(saved, args.overrides)
        if config != saved:
            raise CheckpointError(f"world model {args.name!r} was started with another configuration than "
                                  f"{' '.join(args.overrides)} gives; resume it without --set, or give a new --name")
    folder = pretrain_world_model(store, args.name, config, TrainConfig.scheduled(args.steps, args.lr, False),
                                  task=args.task, batch_size=args.batch, progress=progress)
    print(f"world model {args.name!r}: {folder}")


def run_train_reward(store: TrajectoryStore, args) -> None:
    from app.cycle import REWARD_LR
    from app.reward_models import train_success_model
    from learning.trainer import TrainConfig

    def progress(p):
        PROGRESS("reward", p.step, p.steps, f"loss {p.loss:.4f} accuracy {p.metrics['accuracy']:.3f} "
                 f"({p.steps_per_s:.1f} steps/s)")

    train = TrainConfig.scheduled(args.steps, REWARD_LR)
    report = train_success_model(store, args.name or f"reward-{args.task}", args.task, reward_profile(args.profile),
                                 train, batch_size=args.batch, world_model=args.world_model, progress=progress)
    print(f"reward model: {report.folder}")
    for split in ("validation", "held_out", "evaluation"):
        scores = getattr(report, split)
        print(f"  {split}: {scores if scores is not None else 'no episodes'}")


def run_align_world_model(store: TrajectoryStore, args) -> None:
    from app.world_models import align_world_model
    from learning.world_model.config import ALIGN_LR
    from learning.trainer import TrainConfig

    def progress(stage, p):
        PROGRESS(stage, p.step, p.steps, f"loss {p.loss:.4f} ({p.steps_per_s:.1f} steps/s)")

    where = EpisodeFilter(task=args.task, source="policy",
                          policy_version_id=find_policy_version(store, args.policy) if args.policy else None)
    train = TrainConfig.scheduled(args.steps, ALIGN_LR)
    folder = align_world_model(store, args.name, args.base, where, train, batch_size=args.batch, progress=progress)
    print(f"world model {args.name!r} (aligned from {args.base!r}): {folder}")


def run_fidelity(store: TrajectoryStore, args) -> None:
    from app.reward_models import reward_model_dir
    from app.world_models import measure_fidelity
    from learning.reward_model.training import load_reward_model

    reward = load_reward_model(reward_model_dir(store, args.reward)) if args.reward else None
    report = measure_fidelity(store, args.name, episodes=args.episodes, horizon=args.horizon, sampler=args.sampler,
                              steps=args.sampling_steps, strips_dir=args.strips, reward_model=reward,
                              where=EpisodeFilter(task=args.task, source=args.source))
    print(report.summary())


def run_cycle_command(store: TrajectoryStore, args) -> None:
    from app.cycle import cancel_cycle, run_cycle

    if args.cancel:
        if args.resume:
            raise ValueError("--cancel and --resume exclude each other")
        print(cancel_cycle(store))
        return
    if args.resume and args.site:
        raise ValueError("--resume drives the robot the iteration started on (kept with it); expected no --site")
    overrides = {"task": args.task, "budget": args.budget, "world_model": args.world_model,
                 "grpo_updates": args.grpo_updates, "eval_episodes": args.eval_episodes,
                 "deploy_margin": args.deploy_margin}
    robot = hardware_commands.robot_choice(args.site)  # a resumed iteration keeps the site it started with
    overrides["site"] = robot.site
    config = cycle_config(args.profile, args.overrides, **{k: v for k, v in overrides.items() if v is not None})
    if args.policy and store.deployed(config.task) is None:
        store.deploy(config.task, find_policy_version(store, args.policy), "initial")
    started = time.perf_counter()

    def report(message: str) -> None:
        print(f"[cycle {time.perf_counter() - started:7.0f} s] {message}", flush=True)

    for result in run_cycle(store, config, args.iterations, resume=args.resume, report=report,
                            operator=hardware_commands.terminal_operator()):
        deploy = result.get("deploy", {})
        evaluation = result.get("evaluate", {})
        rates = ", ".join(f"{role} {100 * e['rate']:.1f}% [{100 * e['interval95'][0]:.1f}, "
                          f"{100 * e['interval95'][1]:.1f}]" for role, e in evaluation.items() if role != "skipped")
        print(f"iteration done: {rates or evaluation.get('skipped', '')}; "
              f"{'deployed' if deploy.get('deployed') else 'not deployed'}: "
              f"{deploy.get('note') or deploy.get('reason', '')}", flush=True)


def run_rollback(store: TrajectoryStore, args) -> None:
    if args.to:
        version = find_policy_version(store, args.to)
    else:
        history = store.deployments(args.task)
        if len(history) < 2:
            raise StoreError(f"{args.task} has {len(history)} deployment(s): nothing earlier to roll back to")
        version = history[-2].policy_version_id
    store.deploy(args.task, version, "rollback")
    print(f"{args.task}: policy version {store.policy_version(version).name!r} deployed again (rollback)")


def run_episodes(store: TrajectoryStore, args) -> None:
    where = EpisodeFilter(task=args.task, source=args.source, iteration_id=args.iteration,
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


# Commands that only read the store: they refuse a store that is not there instead of creating
# one, and read a store that cannot be written (a read-only mount, an immutable file).
READ_COMMANDS = ("status", "check", "episodes", "contact-sheet", "curves", "export-aloha")


def open_store(path: Path, command: str) -> TrajectoryStore:
    if command in READ_COMMANDS:
        if not path.exists():
            raise StoreFileError(f"no store at {path}; pass the store with --db, or record into a new one "
                                 f"(wmpo-app --db {shlex.quote(str(path))} demos)")
        if not is_writable(path):
            return TrajectoryStore(path, readonly=True)
        try:
            return TrajectoryStore(path)  # writable: a store from an older wmpo is migrated
        except StoreFullError:  # nothing can be written, not even SQLite's shared-memory file
            return TrajectoryStore(path, readonly=True)
    return TrajectoryStore(path)


def main(argv: list[str] | None = None) -> int:
    try:
        return run_command(argv)
    except BrokenPipeError:  # `wmpo-app status | head`: the reader has seen enough
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so the exit's flush cannot fail
        return 0


def run_command(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    if args.device != "auto":  # say now, not an hour into a cycle, that the GPU is not there
        from learning.device import resolve_device

        try:
            resolve_device(args.device)
        except ValueError as exc:
            print(f"wmpo-app: error: {exc}", file=sys.stderr)
            return 2
    os.environ["WMPO_DEVICE"] = args.device  # for the children: background jobs, scheduled cycles
    if int(os.environ.get("RANK", "0")) > 0:  # launched by torchrun / accelerate: rank 0 alone reports
        sys.stdout = open(os.devnull, "w")
    if args.command in (None, "ui"):  # the main job: the operator's UI
        from app.tui.app import run_ui

        try:
            return run_ui(args.db)
        except StoreError as exc:  # a foreign or newer file: say so before any screen opens
            print(f"wmpo-app: error: {exc}", file=sys.stderr)
            return 2
    if args.command in schedule_commands.COMMANDS:
        return schedule_commands.run(args)
    if args.command in config_commands.COMMANDS | bundle_commands.COMMANDS:  # they open stores themselves
        try:
            return (config_commands if args.command in config_commands.COMMANDS else bundle_commands).run(args)
        except (StoreError, ValueError) as exc:
            print(f"wmpo-app: error: {exc}", file=sys.stderr)
            return 2
    if args.command in hardware_commands.COMMANDS:
        return hardware_commands.run(args)
    try:
        with open_store(Path(args.db), args.command) as store:
            if args.command in curve_commands.COMMANDS:
                return curve_commands.run(store, args)
            if args.command == "status":
                print(status_report(store))
            elif args.command == "demos":
                run_demos(store, args.task, args.n, args.first_seed, args.cameras, args.size)
            elif args.command == "train-policy":
                run_train_policy(store, args)
            elif args.command == "eval":
                run_eval(store, args)
            elif args.command == "collect":
                run_collect(store, args)
            elif args.command == "train-world-model":
                run_train_world_model(store, args)
            elif args.command == "align-world-model":
                run_align_world_model(store, args)
            elif args.command == "train-reward":
                run_train_reward(store, args)
            elif args.command == "fidelity":
                run_fidelity(store, args)
            elif args.command == "cycle":
                run_cycle_command(store, args)
            elif args.command == "deploy":
                store.deploy(args.task, find_policy_version(store, args.policy), "operator")
                print(f"{args.task}: policy version {args.policy!r} deployed (operator)")
            elif args.command == "rollback":
                run_rollback(store, args)
            elif args.command == "contact-sheet":
                from app.contact_sheet import contact_sheet

                contact_sheet(store, args.episode_id, args.camera).save(args.out)
                print(f"wrote {args.out}")
            elif args.command == "check":
                result = store.integrity_check()
                print("integrity: " + "; ".join(result))
                return 0 if result == ["ok"] else 1
            elif args.command == "episodes":
                run_episodes(store, args)
            elif args.command == "import-aloha":
                run_import(store, args)
            elif args.command == "export-aloha":
                from storage.aloha_export import export_aloha_episodes

                paths = export_aloha_episodes(store, args.episode_ids, args.out, args.layout)
                print(f"wrote {len(paths)} episodes ({args.layout} layout) to {args.out}")
            elif args.command == "relabel":
                label = LABELS[args.label]
                store.set_label(args.episode_id, label, "operator" if label is not None else None)
                print(f"episode {args.episode_id}: label {args.label} (operator)")
    except (StoreError, CheckpointError, ValueError) as exc:
        print(f"wmpo-app: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
