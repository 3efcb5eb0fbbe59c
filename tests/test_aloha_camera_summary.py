"""Per-episode camera summary and the socket receive-buffer check: dropped frames and the skew
between cameras counted from the stamps a real episode recorded (the simulated node over DDS on
loopback, one camera muted for a while), and the doctor's check of net.core.rmem_max."""

from __future__ import annotations

import json
import threading
from dataclasses import replace

import numpy as np
import pytest

from aloha_wire import sim_site  # sets CYCLONEDDS_URI first

from robot.aloha.backend import MobileAloha
from robot.aloha.doctor import receive_buffer_check
from robot.aloha.sim_node import SimNode
from robot.aloha.site import CameraConfig
from robot.camera_frames import dropped_frames, episode_camera_summary
from robot.rollout import RolloutConfig, record_rollout
from storage import EpisodeInfo, TrajectoryStore


class Still:
    def reset(self):
        pass

    def __call__(self, observation, instruction=""):
        return observation.qpos[None, :]


def test_an_episode_stores_its_dropped_frames_and_camera_skew(tmp_path):
    wrist = CameraConfig(name="cam_left_wrist", source="topic", topic="/cam_left_wrist/camera/color/image_rect_raw",
                         height=96, width=128, fps=30)
    site = sim_site()
    site = replace(site, cameras=(*site.cameras, wrist), bounds=replace(site.bounds, camera_age_s=1.0,
                                                                         camera_frozen_frames=60))
    topic = site.cameras[0].topic
    with SimNode(site) as node, TrajectoryStore(tmp_path / "wmpo.db") as store, \
            MobileAloha(site, reset_duration_s=0.1) as robot:
        info = EpisodeInfo(task="transfer_cube", robot_kind="real", source="policy")
        threading.Timer(0.6, node.muted.add, (topic,)).start()  # cam_high loses ~9 frames
        threading.Timer(0.9, node.muted.discard, (topic,)).start()
        result = record_rollout(store, robot, Still(), info, config=RolloutConfig(horizon=75))
        extra = json.loads(store.episode(result.episode_id).extra_json)
    summary = extra["camera_summary"]
    assert summary == episode_camera_summary(extra["camera_frames"], {"cam_high": 30, "cam_left_wrist": 30})
    high, low = summary["cameras"]["cam_high"], summary["cameras"]["cam_left_wrist"]
    # both cameras come from one node loop, whose stalls on a loaded machine look like drops on both
    assert 5 <= high["dropped"] - low["dropped"] <= 14, (high, low)
    assert high["reused"] >= 10  # 30 fps under a 50 Hz loop, and the muted stretch
    assert high["frames"] + high["reused"] <= 75
    assert 0 <= summary["skew_ms"]["median"] <= summary["skew_ms"]["max"]
    assert summary["skew_ms"]["max"] >= 200  # while cam_high was muted its newest frame fell behind


def test_a_camera_faster_than_the_loop_drops_nothing_and_a_gap_counts():
    period = 1 / 60
    received = np.arange(0, 600)  # every frame of 10 s at 60 fps arrives...
    steps = np.arange(0, 10, 0.02)  # ...and a 50 Hz loop samples the newest one
    index = np.searchsorted(received * period, steps, side="right") - 1
    stamps, counts = list(received[index] * period), list(index + 1)
    assert dropped_frames(stamps, counts, period) == 0
    lost = np.delete(received, np.arange(100, 107))  # frames 100..106 never arrive
    index = np.searchsorted(lost * period, steps, side="right") - 1
    assert dropped_frames(list(lost[index] * period), list(index + 1), period) == 7


@pytest.mark.parametrize("rmem_max, ok", [(212992, False), (4194304, True)])
def test_the_doctor_checks_the_receive_buffer_against_a_full_size_image(rmem_max, ok):
    cameras = [CameraConfig(name="cam_high", source="topic", topic="/cam_high/camera/color/image_rect_raw"),
               CameraConfig(name="cam_left_wrist", serial="1")]
    check = receive_buffer_check(cameras, rmem_max)
    assert check.ok is ok
    if not ok:
        assert check.detail == ("net.core.rmem_max 212992 bytes is below one 640x480 image message from cam_high "
                                "(922624 bytes): full-size frames over DDS will be lost; fix: sudo sysctl -w "
                                "net.core.rmem_max=4194304 (and add net.core.rmem_max=4194304 to "
                                "/etc/sysctl.d/10-dds.conf to keep it)")
    assert receive_buffer_check(cameras[1:], rmem_max) is None  # RealSense by USB: no images over DDS
    assert receive_buffer_check(cameras).name == "socket receive buffer"  # this machine's own value
