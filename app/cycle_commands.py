"""`wmpo-app cycle`: lifelong WMPO iterations from the command line (start, resume, cancel)."""

from __future__ import annotations

import time

from robot.sim.tasks import TASKS
from storage import StoreError, TrajectoryStore

from app import hardware_commands
from app.config_commands import add_config_option, assignments
from app.cycle_config import PROFILES as CYCLE_PROFILES
from app.cycle_config import cycle_config, cycle_sections
from app.cycle_config import profile as cycle_profile
from app.stage_results import stage_result


def add_commands(commands) -> None:
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
    add_config_option(cycle, "[grpo]\ntemperature = 0.5\n[cycle]\nalign_steps = 500")
    hardware_commands.add_site_option(cycle)
    cycle.add_argument("--resume", action="store_true", help="finish the interrupted iteration and its planned ones")
    cycle.add_argument("--cancel", action="store_true",
                       help="give up the unfinished iteration, keeping everything it recorded")
    cycle.set_defaults(run=run_cycle_command)


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
    config = cycle_config(args.profile, assignments(args, cycle_sections(cycle_profile(args.profile))),
                          **{k: v for k, v in overrides.items() if v is not None})
    if args.policy and store.deployed(config.task) is None:
        store.deploy(config.task, store.find_policy_version(args.policy), "initial")
    if not args.resume:
        check_a_policy_is_deployed(store, config.task, args.profile)
    started = time.perf_counter()

    def report(message: str) -> None:
        print(f"[cycle {time.perf_counter() - started:7.0f} s] {message}", flush=True)

    for result in run_cycle(store, config, args.iterations, resume=args.resume, report=report,
                            operator=hardware_commands.terminal_operator()):
        deploy = stage_result("deploy", result.get("deploy"))
        evaluation = stage_result("evaluate", result.get("evaluate"))
        rates = ", ".join(f"{role} {100 * e['rate']:.1f}% [{100 * e['interval95'][0]:.1f}, "
                          f"{100 * e['interval95'][1]:.1f}]" for role, e in evaluation.roles())
        print(f"iteration done: {rates or evaluation.skipped or ''}; "
              f"{'deployed' if deploy.deployed else 'not deployed'}: {deploy.note or deploy.reason or ''}", flush=True)


def check_a_policy_is_deployed(store: TrajectoryStore, task: str, profile: str) -> None:
    """Before any work: an iteration improves the deployed policy, so one must be, and a newcomer's
    fresh store has none -- say which step comes first."""
    if store.deployed(task) is not None:
        return
    names = [v.name for v in store.policy_versions()]
    if not names:
        raise StoreError(f"this store has no policy yet; train the base policy first (it records the expert demos "
                         f"it needs): wmpo-app train-policy --profile {profile} --task {task} --name base"
                         + (" --demos 10 --steps 300" if profile == "tiny" else "")
                         + f", then: wmpo-app cycle --profile {profile} --task {task} --policy base")
    raise StoreError(f"no policy is deployed for {task}; start from one of this store's ({', '.join(names[-5:])}): "
                     f"wmpo-app cycle --profile {profile} --task {task} --policy NAME")

