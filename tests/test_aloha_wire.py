"""The Mobile ALOHA backend on the wire: the simulated node publishes the MuJoCo sim on the
robot's ROS 2 topics over Cyclone DDS (loopback), the real backend drives it."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import replace

import numpy as np
import pytest

from aloha_wire import sim_site, write_site  # sets CYCLONEDDS_URI first

from app.cli import main as cli_main
from robot.aloha.backend import MobileAloha, StaleDataError
from robot.aloha.doctor import diagnose
from robot.aloha.realsense_recording import record_color_frames
from robot.aloha.site import CameraConfig
from robot.aloha.sim_node import SimNode
from robot.aloha.teleop import LeaderPolicy, record_teleop_demo
from robot.rollout import RolloutConfig, record_rollout
from storage import EpisodeInfo, TrajectoryStore

WRIST_SERIAL = "827312070001"


def start_node_process(site_file: str) -> subprocess.Popen:
    """``python -m robot.aloha.sim_node`` as its own process; returns once it says it is up."""
    process = subprocess.Popen([sys.executable, "-m", "robot.aloha.sim_node", "--site", site_file, "--loopback"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    line = process.stdout.readline()
    if "sim node up" not in line:
        process.kill()
        raise AssertionError(f"sim node did not start: {line}{process.stdout.read()}")
    return process


def stop_node_process(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()


@pytest.fixture
def wrist_recording(tmp_path):
    """A librealsense recording of a 'wrist camera' (software device, serial WRIST_SERIAL)."""
    frames = np.zeros((30, 96, 128, 3), np.uint8)
    frames[..., 1] = np.arange(30, dtype=np.uint8)[:, None, None] * 8
    return record_color_frames(tmp_path / "wrist.db3", WRIST_SERIAL, frames), frames


def test_teleop_episode_over_the_wire_is_recorded(tmp_path, wrist_recording):
    """A separate node process, the real backend (arms over DDS, top camera over its Image topic,
    a wrist camera through librealsense), a teleop episode recorded into a real store."""
    recording, wrist_frames = wrist_recording
    wrist = CameraConfig(name="cam_left_wrist", serial=WRIST_SERIAL, playback=str(recording), height=96, width=128,
                         fps=30)
    site = sim_site()
    node = start_node_process(write_site(site, tmp_path / "node.json"))
    try:
        # a 2 s frozen-camera bound: what this test checks is the recording; the frozen check has its
        # own test (test_aloha_camera_frames), and the wrist playback stalls past 400 ms under a loaded suite
        robot_site = replace(site, cameras=(*site.cameras, wrist),
                             bounds=replace(site.bounds, camera_frozen_frames=60))
        with TrajectoryStore(tmp_path / "wmpo.db") as store, MobileAloha(robot_site, reset_duration_s=0.1) as robot:
            started = time.perf_counter()
            result = record_teleop_demo(store, robot, "transfer_cube", instruction="pass the cube", horizon=60)
            elapsed = time.perf_counter() - started
            rate = robot.followers["left"].joint_states.rate_hz()
            episode = store.episode(result.episode_id)
            steps = store.load_steps(result.episode_id)
            top = store.load_frames(result.episode_id, "cam_high")
            wrist_seen = store.load_frames(result.episode_id, "cam_left_wrist")
    finally:
        stop_node_process(node)
    print(f"\n60 teleop steps in {elapsed:.2f}s; joint states at {rate:.0f} Hz; loop {episode.loop_hz_mean:.1f} Hz")
    assert (episode.status, episode.source, episode.robot_kind, episode.length) == ("committed", "expert", "real", 60)
    assert (episode.success, episode.label_source) == (True, "operator")
    assert json.loads(episode.extra_json)["end"] == "horizon"
    assert episode.loop_hz_mean > 30  # ALOHA's re-collect threshold
    assert top.shape == (60, 96, 128, 3) and top.std() > 5  # real rendered pictures
    assert wrist_seen.shape == (60, 96, 128, 3)
    assert set(np.unique(wrist_seen[:, 0, 0, 1])) <= set(np.unique(wrist_frames[:, 0, 0, 1]))
    # The followers tracked the leaders: the recorded qpos moves with the recorded commands, some
    # steps behind them (more under a loaded suite: 0.207 rad ten steps back was seen there).
    assert np.abs(steps.actions[-1] - steps.actions[0]).max() > 0.05
    assert min(np.abs(steps.qpos[-1] - steps.actions[-lag]).max() for lag in range(1, 31)) < 0.2
    assert rate > 50


def test_setup_sequence_and_gripper_commands_in_motor_radians():
    site = sim_site(cameras=())
    with SimNode(site) as node:
        motors = node.motors["left"]
        assert motors.modes["gripper"] == "linear_position"  # the stock driver's pitfall
        with MobileAloha(site, reset_duration_s=0.1) as robot:
            observation = robot.reset()
            assert [c for c in motors.calls] == [
                ("reboot_motors", "gripper", "True"), ("set_operating_modes", "arm", "position"),
                ("set_operating_modes", "gripper", "current_based_position"),
                ("set_motor_registers", "gripper.current_limit", "300"),
                ("torque_enable", "arm", "True"), ("torque_enable", "gripper", "True"),
                ("reboot_motors", "gripper", "True")]  # and again at the reset, as ALOHA does
            assert motors.modes == {"arm": "position", "gripper": "current_based_position"}
            assert all(motors.torque.values()) and motors.reboots == 2
            target = observation.qpos.copy()
            target[6] = 0.9  # open the left gripper
            for _ in range(40):
                robot.send_action(target)
                robot.observe()
                time.sleep(0.02)
            assert node.goal[6] == pytest.approx(0.9, abs=1e-3)  # command arrived as motor radians
            assert robot.observe().qpos[6] > 0.6  # and the finger opened (normalised from metres)
        # Disconnecting never turns torque off.
        assert all(motors.torque.values())
        assert all(call[0] != "torque_enable" or call[2] == "True" for call in motors.calls)


def test_stale_joint_state_holds_and_names_the_topic(tmp_path):
    site = sim_site(cameras=())
    with SimNode(site) as node, TrajectoryStore(tmp_path / "wmpo.db") as store, \
            MobileAloha(site, reset_duration_s=0.1) as robot:
        class Mute:
            calls = 0

            def reset(self):
                pass

            def __call__(self, observation, instruction=""):
                Mute.calls += 1
                if Mute.calls == 5:
                    node.muted.add("/follower_right/joint_states")
                    time.sleep(site.bounds.joint_state_age_s + 0.1)
                return observation.qpos[None, :]

        info = EpisodeInfo(task="transfer_cube", robot_kind="real", source="policy")
        with pytest.raises(StaleDataError, match=r"stale joint state on /follower_right/joint_states: \d+ ms old"):
            record_rollout(store, robot, Mute(), info, config=RolloutConfig(horizon=50))
        assert robot.safety.counts["watchdog"] >= 1  # it held position (never torque off)
        assert all(node.motors["right"].torque.values())
        assert store.count_episodes() == 0  # the episode was not committed


def test_stale_camera_frame_names_the_camera():
    site = sim_site()
    with SimNode(site) as node, MobileAloha(site, reset_duration_s=0.1) as robot:
        robot.reset()
        node.muted.add(site.cameras[0].topic)
        time.sleep(site.bounds.camera_age_s + 0.1)
        with pytest.raises(StaleDataError, match=r"stale frame from camera cam_high \(/cam_high/.*\): \d+ ms old"):
            robot.observe()


def test_leader_far_from_follower_is_refused():
    site = sim_site(cameras=())
    with SimNode(site), MobileAloha(site, reset_duration_s=0.1) as robot:
        observation = robot.reset()
        policy = LeaderPolicy(robot)
        policy.wait_ready(5)
        observation.qpos[1] += 1.0
        with pytest.raises(Exception, match=r"leader and follower differ by 0\.9\d rad at left_shoulder"):
            policy(observation)


def test_doctor_green_with_node_and_names_what_is_missing_without(tmp_path, capsys):
    site = sim_site()
    site_file = write_site(site, tmp_path / "site.json")
    node = start_node_process(site_file)
    try:
        code = cli_main(["--db", str(tmp_path / "wmpo.db"), "doctor", "--site", site_file, "--listen", "1.0"])
        green = capsys.readouterr().out
    finally:
        stop_node_process(node)
    print(green)
    assert code == 0 and green.strip().endswith("all green"), green
    assert "/follower_left/joint_states" in green and "/follower_left/commands/joint_group" in green

    code = cli_main(["--db", str(tmp_path / "wmpo.db"), "doctor", "--site", site_file, "--listen", "0.5"])
    missing = capsys.readouterr().out
    print(missing)
    assert code == 1
    for topic in ("/follower_left/joint_states", "/leader_right/joint_states", "camera cam_high"):
        assert any(topic in line and "missing" in line for line in missing.splitlines()), missing
    assert "no subscriber" in missing


def test_doctor_flags_a_slow_topic_and_a_missing_realsense(wrist_recording):
    recording, _ = wrist_recording
    site = sim_site()
    cameras = (*site.cameras, CameraConfig(name="cam_left_wrist", serial=WRIST_SERIAL, playback=str(recording),
                                           height=96, width=128, fps=30),
               CameraConfig(name="cam_right_wrist", serial="000000000000", height=96, width=128))
    with SimNode(site):
        slow = replace(site, cameras=cameras, bounds=replace(site.bounds, joint_state_min_hz=500.0))
        checks = {check.name: check for check in diagnose(slow, listen_s=0.8)}
    assert not checks["/follower_left/joint_states"].ok
    assert "too slow" in checks["/follower_left/joint_states"].detail
    assert checks["camera cam_left_wrist (serial 827312070001)"].ok
    right = checks["camera cam_right_wrist (serial 000000000000)"]
    assert not right.ok and "missing: connected RealSense serials are none" in right.detail


def test_collection_and_evaluation_through_the_factory_drive_the_interbotix_backend(tiny_base_store, tmp_path):
    """The commands' robot from a site file: the stored policy drives the Interbotix backend over DDS;
    the operator is asked to reset the scene at every reset and judges each episode."""
    from app.policies import collect_rollouts, evaluate_policy
    from conftest import copy_store
    from robot.factory import Operator, RobotChoice

    site = sim_site()
    site = replace(site, cameras=(replace(site.cameras[0], height=32, width=48),))  # the tiny policy's size
    site_file = write_site(site, tmp_path / "aloha.json")
    resets, verdicts = [], iter([True, False, None])
    operator = Operator(scene_ready=lambda: resets.append(time.monotonic()), label=lambda episode: next(verdicts))
    robot = RobotChoice(site_file, operator)
    with SimNode(site), TrajectoryStore(copy_store(tiny_base_store, tmp_path)) as store:
        version = store.policy_versions()[0].id
        collected = collect_rollouts(store, version, "transfer_cube", 2, robot=robot, horizon=10)
        evaluated = evaluate_policy(store, version, "transfer_cube", 1, robot=robot, horizon=10)
        episodes = sorted(store.episodes(), key=lambda e: e.id)[-3:]
    assert (collected.successes, evaluated.successes, len(resets)) == (1, 0, 3)
    assert [(e.source, e.robot_kind, e.length, e.success) for e in episodes] == [
        ("policy", "real", 10, True), ("policy", "real", 10, False), ("eval", "real", 10, None)]
    assert [e.label_source for e in episodes] == ["operator", "operator", None]
    assert all(json.loads(e.extra_json)["initial_state"] == "operator" for e in episodes)
