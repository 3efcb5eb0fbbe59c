"""The robot factory: the sim for no site, a site file's backend otherwise, cameras fitted to what
the policy asks for, horizons in the robot's own control steps, and the cycle keeping its site."""

from __future__ import annotations

import json
from dataclasses import asdict

import pytest

from app.cli import main as cli_main
from app.cycle_config import CycleConfig, cycle_config
from robot.aloha.backend import MobileAloha
from robot.aloha.site import SITES_DIR as ALOHA_SITES, SiteConfigError, load_site
from robot.cobot_magic.backend import CobotMagic
from robot.cobot_magic.site import SITES_DIR as COBOT_SITES
from robot.factory import RobotChoice, horizon_steps, initial_state, make_robot, robot_kind
from robot.sim.aloha_sim import AlohaSim


def test_no_site_is_the_sim_seeded_at_the_task_horizon():
    with make_robot(None, task="insertion", cameras={"cam_high": (32, 48)}) as robot:
        assert isinstance(robot, AlohaSim) and robot.task.name == "insertion"
        assert robot.features.cameras == {"cam_high": (32, 48, 3)}
        assert (robot_kind(robot), initial_state(robot, 7), horizon_steps(400, robot)) == ("sim", 7, 400)
        assert robot.reset(initial_state(robot, 7)).info["seed"] == 7


def test_a_cobot_magic_site_gets_only_the_cameras_asked_for_at_the_policy_size():
    scene = []
    robot = make_robot(COBOT_SITES / "piper_ros2.json", task="transfer_cube", cameras={"cam_high": (32, 48)},
                       scene_ready=lambda: scene.append(1))
    assert isinstance(robot, CobotMagic) and not robot.is_connected  # nothing on the wire yet
    assert robot.features.cameras == {"cam_high": (32, 48, 3)}
    assert robot.scene_ready is not None
    # 400 sim steps at 50 Hz last 8 s: 200 steps at the Cobot Magic's 25 Hz
    assert (robot_kind(robot), initial_state(robot, 7), horizon_steps(400, robot)) == ("real", None, 200)


def test_cameras_a_site_cannot_give_are_refused_with_what_was_expected(tmp_path):
    with pytest.raises(ValueError, match=r"has no camera \['cam_low'\]; expected one of \['cam_high', "):
        make_robot(COBOT_SITES / "piper_ros2.json", task="transfer_cube", cameras={"cam_low": (32, 48)})
    # The Interbotix cameras stream at the site's size (no resizing): it must be the policy's.
    with pytest.raises(ValueError, match=r"camera cam_high streams 96x128, the policy expects 32x48"):
        make_robot(ALOHA_SITES / "sim.json", task="transfer_cube", cameras={"cam_high": (32, 48)})
    robot = make_robot(ALOHA_SITES / "sim.json", task="transfer_cube", cameras={"cam_high": (96, 128)})
    assert type(robot) is MobileAloha and robot.features.control_period_s == pytest.approx(0.02)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**asdict(load_site(ALOHA_SITES / "sim.json")), "robot": "ur5"}))
    with pytest.raises(SiteConfigError, match=r"robot 'ur5'; expected one of \['interbotix_aloha', 'cobot_magic'\]"):
        RobotChoice(str(bad)).make("transfer_cube", {"cam_high": (96, 128)})


def test_the_cycle_keeps_its_site_and_a_bad_one_is_refused_before_any_work(tmp_path, capsys):
    config = cycle_config("tiny", ["cycle.max_steps=16"], site="/lab/cobot.json")
    assert CycleConfig.from_json(json.loads(json.dumps(config.to_json()))) == config  # what --resume reads
    assert (config.site, config.max_steps) == ("/lab/cobot.json", 16)
    with pytest.raises(ValueError, match="max_steps 0: expected at least 1"):
        cycle_config("tiny", ["cycle.max_steps=0"])
    db = str(tmp_path / "wmpo.db")
    code = cli_main(["--db", db, "cycle", "--profile", "tiny", "--site", str(tmp_path / "missing.json")])
    assert code == 2 and "missing.json" in capsys.readouterr().err
    code = cli_main(["--db", db, "cycle", "--resume", "--site", str(COBOT_SITES / "piper_ros2.json")])
    assert code == 2 and "expected no --site" in capsys.readouterr().err
