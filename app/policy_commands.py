"""Commands that make and run policies: expert demos, imitation training, evaluation, collection."""

from __future__ import annotations

import argparse

from robot.sim.aloha_sim import SIM_PICTURES
from robot.sim.disruptions import SCENES
from robot.sim.tasks import TASKS
from storage import TrajectoryStore

# Configs only: torch loads inside the commands that need it (the CLI starts fast)
from learning.configs import with_overrides
from learning.vla.config import PROFILES, profile

from app import hardware_commands
from app.config_commands import add_config_option, assignments
from app.progress import PROGRESS


def image_size(text: str) -> tuple[int, int]:
    try:
        height, width = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not HEIGHTxWIDTH, e.g. 96x128") from None
    return height, width


def add_commands(commands) -> None:
    demos = commands.add_parser("demos", help="record scripted expert demonstrations in the sim")
    demos.add_argument("--task", choices=sorted(TASKS), default="transfer_cube")
    demos.add_argument("--n", type=int, default=10, help="episodes (default %(default)s)")
    demos.add_argument("--first-seed", type=int, help="default: after the task's last demo seed")
    demos.add_argument("--cameras", nargs="+", default=["cam_high"], choices=SIM_PICTURES)
    demos.add_argument("--size", type=image_size, default=(96, 128), help="HxW per camera (default 96x128)")
    demos.set_defaults(run=run_demos)

    trainer = commands.add_parser("train-policy", help="imitation-train a base policy on expert demos (resumable)")
    trainer.add_argument("--task", choices=[*sorted(TASKS), "all"], default="transfer_cube",
                         help="'all': one instruction-conditioned policy for every task")
    trainer.add_argument("--profile", choices=sorted(PROFILES), default="cpu")
    trainer.add_argument("--demos", type=demos_arg, default=50,
                         help="expert demos per task to train on, the first recorded; missing ones are recorded "
                              "('all': every stored demo, none recorded)")
    trainer.add_argument("--steps", type=int, default=3000)
    trainer.add_argument("--batch", type=int, default=64)
    trainer.add_argument("--camera", choices=SIM_PICTURES, help="the camera the policy sees (default cam_high)")
    trainer.add_argument("--action-mode", choices=["absolute", "delta"],
                         help="joint targets as they are, or relative to the joints when a chunk starts")
    trainer.add_argument("--command-input", action="store_true",
                         help="the policy also reads the joint command in force at each chunk's start (the last "
                              "action sent): where the arms are, which a task-region view may not show")
    trainer.add_argument("--command-noise", type=float,
                         help="with --command-input: noise std on the command as the policy reads it while it "
                              "imitates, in the bins' [-1, 1] units, so that it does not learn to copy the last action")
    trainer.add_argument("--set", dest="overrides", action="append", default=[], metavar="FIELD=VALUE",
                         help="change one field of the profile's policy configuration, e.g. width=32 (repeatable; "
                              "saved with the checkpoint)")
    add_config_option(trainer, "width = 32")
    trainer.add_argument("--name", help="policy version name (default base-TASK-PROFILE); an interrupted "
                                        "run with the same name resumes")
    trainer.set_defaults(run=run_train_policy)

    evaluate = commands.add_parser("eval", help="evaluate a policy version on the fixed evaluation seeds")
    evaluate.add_argument("--policy", required=True, help="policy version name or id")
    evaluate.add_argument("--task", choices=sorted(TASKS), help="default: the task it was trained on")
    evaluate.add_argument("--n", type=int, default=128, help="evaluation episodes (default %(default)s)")
    evaluate.add_argument("--sample", action="store_true", help="sample actions instead of greedy decoding")
    evaluate.add_argument("--temperature", type=float, default=1.0)
    evaluate.add_argument("--record-frames", action="store_true", help="also store the evaluation images")
    evaluate.add_argument("--scene", default="stock", choices=SCENES,
                          help="the sim's scene: stock (default), or a disruption the demos never showed "
                               "(robot/sim/disruptions.py); its episodes and metric are kept apart from the stock "
                               "evaluation's. Sim only")
    evaluate.add_argument("--reuse", action="store_true",
                          help="count this version's stored evaluation episodes of the same scene and seeds instead "
                               "of running them again (an interrupted evaluation resumes)")
    hardware_commands.add_site_option(evaluate)
    evaluate.set_defaults(run=run_eval)

    collect = commands.add_parser("collect", help="sample N rollouts of a policy (with frames) on fresh training seeds")
    collect.add_argument("--policy", required=True, help="policy version name or id")
    collect.add_argument("--task", choices=sorted(TASKS), help="default: the task it was trained on")
    collect.add_argument("--n", type=int, default=128, help="episodes: the real budget P (default %(default)s)")
    collect.add_argument("--temperature", type=float, default=1.0)
    hardware_commands.add_site_option(collect)
    collect.set_defaults(run=run_collect)


def demos_arg(text: str) -> int | None:
    """``--demos``: a count per task, or 'all' (None)."""
    if text == "all":
        return None
    try:
        count = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a number of demos per task, or 'all'") from None
    if count < 1:
        raise argparse.ArgumentTypeError(f"{count}: expected at least 1 demo per task, or 'all'")
    return count


def run_demos(store: TrajectoryStore, args) -> None:
    from app.demos import record_expert_demos

    def progress(done: int, total: int, result, seconds: float) -> None:
        outcome = "success" if result.success else result.end
        PROGRESS("", done, total, f"{args.task} episode {result.episode_id}: {outcome} in {result.steps} steps, "
                 f"{result.steps / seconds:.0f} steps/s, {sum(result.safety.values())} safety interventions")

    results = record_expert_demos(store, args.task, args.n, cameras={c: args.size for c in args.cameras},
                                  first_seed=args.first_seed, progress=progress)
    print(f"recorded {len(results)} expert episodes of {args.task}: "
          f"{sum(bool(r.success) for r in results)} succeeded")


def run_train_policy(store: TrajectoryStore, args) -> None:
    from app.policies import train_base_policy
    from learning.trainer import TrainConfig

    name = args.name or f"base-{args.task}-{args.profile}"
    overrides = {"camera": args.camera, "action_mode": args.action_mode, "command_input": args.command_input,
                 "command_noise": args.command_noise}
    config = profile(args.profile, **{k: v for k, v in overrides.items() if v})
    config = with_overrides(config, assignments(args, config))
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


def every_eighth(stage: str):
    def progress(done, total, success):
        if done % 8 == 0 or done == total:
            PROGRESS(stage, done, total, f"last: {'success' if success else 'failure'}")
    return progress


def run_eval(store: TrajectoryStore, args) -> None:
    from app.policies import evaluate_policy

    robot = hardware_commands.robot_choice(args.site, args.scene)  # a --scene with --site: refused before any work
    summary = evaluate_policy(store, store.find_policy_version(args.policy), args.task, args.n,
                              greedy=not args.sample, temperature=args.temperature,
                              record_frames=args.record_frames, reuse_finished=args.reuse,
                              robot=robot, progress=every_eighth("eval"))
    print(summary if args.scene == "stock" else f"scene {args.scene}: {summary}")


def run_collect(store: TrajectoryStore, args) -> None:
    from app.policies import collect_rollouts

    summary = collect_rollouts(store, store.find_policy_version(args.policy), args.task, args.n,
                               temperature=args.temperature, robot=hardware_commands.robot_choice(args.site),
                               progress=every_eighth("collect"))
    print(summary)
