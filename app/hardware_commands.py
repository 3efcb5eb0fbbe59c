"""`wmpo-app doctor | teleop-record | sim-node`: the real-robot (Mobile ALOHA) commands; and the
`--site` option, with the operator at the terminal, of the commands that drive a robot
(eval, collect, cycle)."""

from __future__ import annotations

import argparse
import os
import sys
import threading
from contextlib import nullcontext

from app.stop_key import HINT as STOP_HINT, StopKey
from robot.aloha.site import SITES_DIR, SiteConfig, SiteConfigError
from robot.factory import Operator, RobotChoice, check_scene
from robot.sites import diagnose_site, leader_policy, load_robot_site, open_robot
from robot.robot import RobotError
from storage import STOCK_SCENE

COMMANDS = {"doctor", "teleop-record", "sim-node"}
DEFAULT_SITE = SITES_DIR / "sim.json"
TEMPLATE_SITE = SITES_DIR / "interbotix_mobile_aloha.json"  # copy it, fill in the serials


def add_commands(subparsers) -> None:
    doctor = subparsers.add_parser("doctor", help="check the robot's devices and topics (exit 1 unless all green)")
    doctor.add_argument("--site", help=f"the robot's site file (required for a real robot; template: {TEMPLATE_SITE})")
    doctor.add_argument("--sim", action="store_true", help="check the simulated node (its site file) instead")
    doctor.add_argument("--listen", type=float, default=1.5, help="seconds to listen to each topic")
    doctor.add_argument("--loopback", action="store_true", help="DDS on the loopback interface only "
                                                                "(to reach a `sim-node --loopback`)")

    teleop = subparsers.add_parser("teleop-record", help="record expert demos by teleoperation with the leader arms")
    teleop.add_argument("--site", default=str(DEFAULT_SITE))
    teleop.add_argument("--task", default="transfer_cube")
    teleop.add_argument("--instruction", default="")
    teleop.add_argument("--n", type=int, default=1, help="episodes (default %(default)s)")
    teleop.add_argument("--horizon", type=int, default=400, help="control steps per episode")
    teleop.add_argument("--label", choices=["success", "failure", "ask"], default="ask",
                        help="operator's label for each episode; 'ask' prompts after each one")
    teleop.add_argument("--loopback", action="store_true", help="DDS on the loopback interface only")

    node = subparsers.add_parser("sim-node", help="serve the MuJoCo sim on the robot's ROS 2 topics (Cyclone DDS)")
    node.add_argument("--site", default=str(DEFAULT_SITE))
    node.add_argument("--task", default="transfer_cube")
    node.add_argument("--seed", type=int, default=0)
    node.add_argument("--loopback", action="store_true", help="keep DDS on the loopback interface")


def add_site_option(parser: argparse.ArgumentParser) -> None:
    """``--site`` for a command that drives a robot (eval, collect, cycle)."""
    parser.add_argument("--site", help="run on the real robot this site file describes (Interbotix ALOHA or Cobot "
                                       "Magic, by its 'robot' field); default: the MuJoCo sim. On a real robot the "
                                       "operator resets the scene before each episode (prompted on a terminal)")


def robot_choice(site: str | None, scene: str = STOCK_SCENE) -> RobotChoice:
    """The robot ``--site`` names, its file checked now (SiteConfigError names the bad field) and
    kept as an absolute path, so a resumed cycle finds it from any folder. ``scene``: the sim's
    (``--scene``); with a site, anything but the stock scene is refused before the file is read."""
    check_scene(site, scene)
    if site is None:
        return RobotChoice(scene=scene)
    load_robot_site(site)
    return RobotChoice(os.path.abspath(site), terminal_operator())


def terminal_operator() -> Operator:
    """The operator at this terminal, asked before each real-robot episode and after it; without a
    terminal (a scheduled or background run) nobody: episodes start once the arms are at the start
    pose and stay unlabelled (label them later: wmpo-app relabel, or the UI's episode screen)."""
    if not sys.stdin.isatty():
        return Operator()
    return Operator(scene_ready=prompt_scene, label=prompt_label, stop_key=StopKey)


def prompt_scene() -> None:
    with StopKey.paused():  # the stop key's watcher must not eat the Enter
        input(f"arms at the start pose: reset the scene, then press Enter to start the episode ({STOP_HINT}) ")


def prompt_label(episode_id: int) -> bool | None:
    while (answer := input(f"episode {episode_id}: success? [y/n/skip] ").strip().lower()) not in ("y", "n", "skip"):
        print(f"{answer!r}: expected y, n or skip")
    return None if answer == "skip" else answer == "y"


def run(args: argparse.Namespace) -> int:
    if args.loopback:  # before any DDS participant exists: Cyclone reads it once
        from robot.aloha.dds_transport import loopback_config

        os.environ.setdefault("CYCLONEDDS_URI", loopback_config())
    try:
        # its "robot" field picks the backend
        site = load_robot_site(doctor_site(args) if args.command == "doctor" else args.site)
        if args.command == "doctor":
            from robot.aloha.doctor import report
            checks = diagnose_site(site, listen_s=args.listen)
            print(report(checks))
            return 0 if all(check.ok for check in checks) else 1
        if args.command == "sim-node":
            from robot.aloha.sim_node import serve
            node_class = None
            if not isinstance(site, SiteConfig):
                from robot.cobot_magic.sim_node import CobotSimNode as node_class
            return serve(site, task=args.task, seed=args.seed, loopback=args.loopback, node_class=node_class)
        return run_teleop_record(site, args)
    except (SiteConfigError, RobotError) as exc:
        print(f"wmpo-app: error: {exc}", file=sys.stderr)
        return 2


def doctor_site(args) -> str:
    """The site file doctor checks: --site, or with --sim the simulated node's; a real robot has no
    default (its serials, namespaces and caps are its own)."""
    if args.site and args.sim:
        raise RobotError("doctor: --site and --sim both given; expected one")
    if args.sim:
        return str(DEFAULT_SITE)
    if not args.site:
        raise RobotError(f"doctor: a site file is required for a real robot: --site FILE (start from the template "
                         f"{TEMPLATE_SITE}; README 'Real robot'), or --sim for the simulated node")
    return args.site


def run_teleop_record(site, args) -> int:
    from robot.aloha.teleop import record_teleop_demo
    from storage import TrajectoryStore

    if args.n < 1 or args.horizon < 1:
        raise RobotError(f"--n {args.n} and --horizon {args.horizon}; expected at least 1")
    with TrajectoryStore(args.db) as store, open_robot(site) as robot:
        print(f"teleop-record: {STOP_HINT} during a demo")
        for i in range(args.n):
            label = {"success": True, "failure": False}.get(args.label)
            # The operator's stop key (space or s) holds the arms, stops the base, ends the session.
            with StopKey() if sys.stdin.isatty() else nullcontext(threading.Event()) as stop:
                result = record_teleop_demo(store, robot, args.task, instruction=args.instruction,
                                            horizon=args.horizon, success=label, stop=stop,
                                            policy=leader_policy(robot))
            if result.end == "stop":
                print(f"demo {i + 1}/{args.n}: operator stop: arms held, base stopped; episode {result.episode_id} "
                      f"stored unlabelled (end 'stop'); no more demos this session")
                return 1
            if args.label == "ask" and result.episode_id is not None:
                verdict = prompt_label(result.episode_id)
                if verdict is not None:
                    store.set_label(result.episode_id, verdict, "operator")
            print(f"demo {i + 1}/{args.n}: episode {result.episode_id}, {result.steps} steps, end {result.end}, "
                  f"safety {result.safety}")
        robot.go_to_sleep()  # the followers, slowly, to their sleep pose (torque stays on)
    return 0
