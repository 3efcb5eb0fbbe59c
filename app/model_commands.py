"""Commands that train and measure the world model and the reward model, and list every model."""

from __future__ import annotations

from pathlib import Path

from robot.sim.tasks import TASKS
from storage import EpisodeFilter, StoreError, TrajectoryStore
from storage.model_registry import verify_entry
from storage.schema import EPISODE_SOURCES

# Configs only: torch loads inside the commands that need it (the CLI starts fast)
from learning.configs import with_overrides
from learning.errors import CheckpointError
from learning.reward_model.config import PROFILES as REWARD_PROFILES
from learning.reward_model.config import profile as reward_profile
from learning.world_model.config import PROFILES as WORLD_MODEL_PROFILES
from learning.world_model.config import PRETRAIN_LR, PRETRAIN_STEPS, SAMPLERS
from learning.world_model.config import profile as world_model_profile

from app.config_commands import add_config_option, assignments
from app.progress import PROGRESS


def add_commands(commands) -> None:
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
    add_config_option(world, "pose_maps = true\n[diffusion]\nsampling_steps = 4")
    world.add_argument("--name", default="world-model", help="checkpoint name; an interrupted or finished run resumes "
                                                             "(with more --steps) in the configuration it started with")
    world.add_argument("--from", dest="base", help="start from this world model's weights and configuration (--set "
                                                   "may change its training settings, e.g. a loss weight)")
    world.set_defaults(run=run_train_world_model)

    align = commands.add_parser("align-world-model",
                                help="fine-tune a world model on a policy's rollouts (behaviour alignment; resumable)")
    align.add_argument("--from", dest="base", required=True, help="world model to start from")
    align.add_argument("--name", required=True, help="the aligned world model's name")
    align.add_argument("--task", choices=sorted(TASKS))
    align.add_argument("--policy", help="only this policy version's rollouts (name or id; default: every policy's)")
    align.add_argument("--steps", type=int, default=1000)
    align.add_argument("--batch", type=int, default=16)
    align.add_argument("--demo-share", type=float, default=0.3,
                       help="share of every batch from the task's expert demos (0: the rollouts alone)")
    align.set_defaults(run=run_align_world_model)

    reward = commands.add_parser("train-reward", help="train the success reward model of a task (resumable)")
    reward.add_argument("--task", choices=sorted(TASKS), default="transfer_cube")
    reward.add_argument("--profile", choices=sorted(REWARD_PROFILES), default="cpu")
    reward.add_argument("--steps", type=int, default=2000)
    reward.add_argument("--batch", type=int, default=32)
    reward.add_argument("--name", help="checkpoint name (default reward-TASK); an interrupted run resumes")
    reward.add_argument("--world-model", help="also learn from episodes replayed in this world model (labelled with "
                                              "their real outcome): the frames GRPO's verdicts are about")
    reward.add_argument("--set", dest="overrides", action="append", default=[], metavar="FIELD=VALUE",
                        help="change one field of the profile, e.g. terminal_clips=8 (repeatable)")
    add_config_option(reward, "terminal_clips = 8")
    reward.set_defaults(run=run_train_reward)

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
    fidelity.set_defaults(run=run_fidelity)

    models = commands.add_parser("models", help="list every model: policies, world models and reward models "
                                                "(kind, name, parent, created, sha256)")
    models.add_argument("--verify", action="store_true",
                        help="check each registered checkpoint against its recorded sha256 (exit 1 if one differs)")
    models.set_defaults(run=run_models)


def run_train_world_model(store: TrajectoryStore, args) -> None:
    from app.arm_kinematics import with_kinematics
    from learning.artifacts import world_model_dir
    from learning.checkpoints import existing_checkpoint, read_config
    from learning.trainer import TrainConfig
    from learning.world_model.on_store import pretrain_world_model
    from learning.world_model.training import saved_config

    def progress(stage, p):
        metrics = " ".join(f"{k} {v:.3f}" for k, v in p.metrics.items())
        PROGRESS(stage, p.step, p.steps, f"loss {p.loss:.4f} {metrics} ({p.steps_per_s:.1f} steps/s)")

    start = world_model_dir(store, args.base) / "model" if args.base else None
    if start is not None and existing_checkpoint(start) is None:
        raise CheckpointError(f"no world model {args.base!r} to start from ({start})")
    base = saved_config(read_config(start)) if start else world_model_profile(args.profile)
    overrides = assignments(args, base)
    config = with_overrides(base, overrides)
    folder = world_model_dir(store, args.name) / "model"
    if existing_checkpoint(folder) is not None:  # a run goes on as it started, whatever the profile says now
        saved = saved_config(read_config(folder))
        config = with_overrides(saved, overrides)
        if config != saved:
            raise CheckpointError(f"world model {args.name!r} was started with another configuration than "
                                  f"{' '.join(overrides)} gives; resume it without --set/--config, or give a new "
                                  f"--name")
    folder = pretrain_world_model(store, args.name, with_kinematics(config),
                                  TrainConfig.scheduled(args.steps, args.lr, False), task=args.task,
                                  batch_size=args.batch, progress=progress, init_from=start, parent=args.base)
    print(f"world model {args.name!r}: {folder}")


def run_train_reward(store: TrajectoryStore, args) -> None:
    from app.cycle import REWARD_LR
    from learning.reward_model.on_store import train_success_model
    from learning.trainer import TrainConfig

    def progress(p):
        PROGRESS("reward", p.step, p.steps, f"loss {p.loss:.4f} accuracy {p.metrics['accuracy']:.3f} "
                 f"({p.steps_per_s:.1f} steps/s)")

    train = TrainConfig.scheduled(args.steps, REWARD_LR)
    base = reward_profile(args.profile)
    config = with_overrides(base, assignments(args, base))
    report = train_success_model(store, args.name or f"reward-{args.task}", args.task, config, train,
                                 batch_size=args.batch, world_model=args.world_model, progress=progress)
    print(f"reward model: {report.folder}")
    for split in ("validation", "held_out", "evaluation"):
        scores = getattr(report, split)
        print(f"  {split}: {scores if scores is not None else 'no episodes'}")


def run_align_world_model(store: TrajectoryStore, args) -> None:
    from learning.trainer import TrainConfig
    from learning.world_model.config import ALIGN_LR
    from learning.world_model.on_store import align_world_model

    def progress(stage, p):
        PROGRESS(stage, p.step, p.steps, f"loss {p.loss:.4f} ({p.steps_per_s:.1f} steps/s)")

    where = EpisodeFilter(task=args.task, source="policy",
                          policy_version_id=store.find_policy_version(args.policy) if args.policy else None)
    train = TrainConfig.scheduled(args.steps, ALIGN_LR)
    folder = align_world_model(store, args.name, args.base, where, train, batch_size=args.batch,
                               demo_share=args.demo_share, progress=progress)
    print(f"world model {args.name!r} (aligned from {args.base!r}): {folder}")


def run_fidelity(store: TrajectoryStore, args) -> None:
    from learning.artifacts import reward_model_dir
    from learning.reward_model.training import load_reward_model
    from learning.world_model.on_store import measure_fidelity

    reward = load_reward_model(reward_model_dir(store, args.reward)) if args.reward else None
    report = measure_fidelity(store, args.name, episodes=args.episodes, horizon=args.horizon, sampler=args.sampler,
                              steps=args.sampling_steps, strips_dir=args.strips, reward_model=reward,
                              where=EpisodeFilter(task=args.task, source=args.source))
    print(report.summary())


def run_models(store: TrajectoryStore, args) -> int:
    from learning.artifacts import model_entries

    entries = model_entries(store)
    if not entries:
        print("no models yet: train a policy (wmpo-app train-policy) or a world model (wmpo-app train-world-model)")
        return 0
    print(f"{'kind':<13} {'name':<30} {'parent':<24} {'created (UTC)':<17} sha256")
    failed = 0
    for entry in entries:
        created = entry.created_at.strftime("%Y-%m-%d %H:%M") if entry.created_at else "-"
        line = (f"{entry.kind:<13} {entry.name:<30} {entry.parent or '-':<24} {created:<17} "
                f"{entry.sha256[:12] if entry.registered else 'unregistered'}")
        if args.verify and entry.registered:
            try:
                verify_entry(entry)
                line += "  ok"
            except StoreError:
                failed += 1
                line += "  CHANGED" if entry.checkpoint_path.exists() else "  MISSING"
        print(line)
    if args.verify:
        checked = sum(e.registered for e in entries)
        verdict = f"{failed} differ from their recorded sha256" if failed else "all match"
        print(f"verified {checked} checkpoints: {verdict}")
    return 1 if failed else 0
