"""Episodes stored as H.264 segments: quality, random access, corruption, a killed writer, clips."""

import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from storage import EpisodeInfo, EpisodeSpec, StoreError, TrajectoryStore
from storage.clips import ClipDataset
from storage.video import psnr
from storage.video_segments import KEYFRAME_INTERVAL, CorruptSegmentError

HERE = Path(__file__).parent


def camera_like(count: int, height: int, width: int, seed: int = 0) -> np.ndarray:
    """Smooth shading, a moving disc and Gaussian sensor noise (sigma 2), like a colour camera."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.stack([120 + 60 * np.sin(x / width * 3), 100 + 50 * np.cos(y / height * 2),
                     90 + 40 * np.sin((x + y) / (width + height) * 5)], -1)
    frames = np.empty((count, height, width, 3), np.uint8)
    for i in range(count):
        image = base.copy()
        image[(y - height / 2) ** 2 + (x - width / 4 - i) ** 2 < (height / 5) ** 2] = (200, 60, 40)
        frames[i] = np.clip(image + rng.normal(0, 2, image.shape), 0, 255)
    return frames


def write_video_episode(store, frames: dict[str, np.ndarray]) -> int:
    spec = EpisodeSpec(cameras={cam: f.shape[1:] for cam, f in frames.items()}, codec="h264")
    length = len(next(iter(frames.values())))
    with store.episode_writer(EpisodeInfo(task="transfer_cube"), spec) as writer:
        for t in range(length):
            writer.add_step(np.full(14, t, np.float32), np.zeros(14, np.float32),
                            {cam: f[t] for cam, f in frames.items()})
        return writer.commit(success=True, label_source="env")


@pytest.fixture
def video_episode(store):
    frames = {"cam_high": camera_like(25, 48, 64), "cam_low": camera_like(25, 48, 64, seed=1)}
    return write_video_episode(store, frames), frames


def test_round_trip_keeps_40_db_in_one_segment_per_keyframe_interval(store, video_episode):
    episode_id, frames = video_episode
    for cam, expected in frames.items():
        decoded = store.load_frames(episode_id, cam)
        assert decoded.shape == expected.shape and decoded.dtype == np.uint8
        assert psnr(expected, decoded) >= 40
    with store.engine.connect() as conn:
        keys = [t for (t,) in conn.exec_driver_sql(
            "SELECT t FROM frames WHERE episode_id=? AND camera='cam_high' ORDER BY t", (episode_id,))]
    assert keys == list(range(0, 25, KEYFRAME_INTERVAL))
    assert store.cameras(episode_id)["cam_high"].codec == "h264"


def test_camera_frames_at_480x640_are_small_and_close():
    from storage.video_segments import decode_segment, encode_segments

    frames = camera_like(KEYFRAME_INTERVAL, 480, 640)
    (first, blob), = encode_segments(frames)
    decoded = np.stack(decode_segment(blob, (480, 640, 3), KEYFRAME_INTERVAL - 1, "test segment"))
    assert first == 0
    assert psnr(frames, decoded) >= 40
    assert len(blob) / len(frames) <= 60 * 1024


@pytest.mark.parametrize("start,stop", [(0, 25), (0, 1), (3, 11), (9, 10), (10, 20), (19, 21), (24, 25), (7, 99)])
def test_random_access_equals_the_full_decode(store, video_episode, start, stop):
    episode_id, _ = video_episode
    full = store.load_frames(episode_id, "cam_low")
    np.testing.assert_array_equal(store.load_frames(episode_id, "cam_low", start, stop), full[start:stop])


def test_corrupt_segment_names_itself_and_spares_the_others(store, video_episode):
    episode_id, frames = video_episode
    where = (episode_id, "cam_high", 10)
    with store.engine.begin() as conn:
        blob = bytearray(conn.exec_driver_sql("SELECT data FROM frames WHERE episode_id=? AND camera=? AND t=?",
                                              where).scalar())
        blob[40:43] = b"\0\0\0"  # a few flipped bytes in the middle of a packet
        conn.exec_driver_sql("UPDATE frames SET data=? WHERE episode_id=? AND camera=? AND t=?", (bytes(blob), *where))
    assert store.load_frames(episode_id, "cam_high", 0, 10).shape == (10, 48, 64, 3)  # only segment 0 decoded
    assert store.load_frames(episode_id, "cam_high", 20, 25).shape == (5, 48, 64, 3)
    with pytest.raises(CorruptSegmentError, match=rf"episode {episode_id} camera 'cam_high' video segment "
                                                  r"starting at step 10: corrupt .*expected [0-9a-f]{8}"):
        store.load_frames(episode_id, "cam_high", 8, 12)


def test_video_needs_rgb_frames():
    with pytest.raises(ValueError, match="codec 'h264' holds \\(3,\\) channels, not 4"):
        EpisodeSpec(cameras={"depth": (48, 64, 4)}, codec="h264")


def test_added_camera_can_be_video(store, video_episode):
    episode_id, frames = video_episode
    store.add_camera(episode_id, "cam_side", frames["cam_high"][::-1].copy(), codec="h264")
    assert psnr(frames["cam_high"][::-1], store.load_frames(episode_id, "cam_side")) >= 40


def test_clips_from_a_video_episode_match_the_full_decode(store, store_path, video_episode):
    episode_id, _ = video_episode
    full = store.load_frames(episode_id, "cam_high")
    dataset = ClipDataset(store_path, "cam_high", clip_len=8, stride=3, shuffle=False)
    clips = list(dataset)
    assert [c["start"] for c in clips] == list(range(0, 18, 3))
    for clip in clips:
        np.testing.assert_array_equal(clip["frames"].numpy(), full[clip["start"]:clip["start"] + 8])
        np.testing.assert_array_equal(clip["actions"][:, 0].numpy(), np.arange(clip["start"], clip["start"] + 8))
    history = ClipDataset(store_path, "cam_high", clip_len=4, frame_offsets=(-12, 0), first_frame=True,
                          shuffle=False)
    for clip in history:
        start = clip["start"]
        np.testing.assert_array_equal(clip["frames"].numpy(), full[[max(0, start - 12), start]])
        np.testing.assert_array_equal(clip["first"].numpy(), full[0])


def test_sigkill_mid_video_episode_leaves_nothing(tmp_path):
    db = tmp_path / "wmpo.db"
    proc = subprocess.Popen([sys.executable, str(HERE / "kill_writer.py"), str(db), "2", "30", "h264"],
                            stdout=subprocess.PIPE, text=True, cwd=HERE)
    try:
        committed, staged_id = [], None
        for line in proc.stdout:
            words = line.split()
            if words[0] == "committed":
                committed.append(int(words[1]))
            elif words[0] == "streaming":
                staged_id = int(words[1])
                break
        assert staged_id is not None, f"writer exited early with code {proc.wait()}"
        time.sleep(0.1)
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=10) == -signal.SIGKILL
    finally:
        proc.kill()

    raw = sqlite3.connect(db)
    staged_segments = raw.execute("SELECT count(*) FROM frames WHERE episode_id=?", (staged_id,)).fetchone()[0]
    raw.close()
    assert staged_segments > 0, "the kill should have hit an episode with segments on disk"
    with TrajectoryStore(db, readonly=True) as reader:
        assert [e.id for e in reader.episodes()] == committed
    with TrajectoryStore(db) as store:
        assert store.integrity_check() == ["ok"]
        assert store.summary()["staged"] == 0
        with store.engine.connect() as conn:
            left = conn.exec_driver_sql("SELECT count(*) FROM frames WHERE episode_id=?", (staged_id,)).scalar()
        assert left == 0
        for episode_id in committed:
            assert store.load_frames(episode_id, "cam_high").shape == (30, 24, 32, 3)


def test_reading_past_a_missing_segment_is_an_error(store, video_episode):
    episode_id, _ = video_episode
    with store.engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM frames WHERE episode_id=? AND camera='cam_low' AND t=20", (episode_id,))
    with pytest.raises(StoreError, match="segment starting at step 10: its frame 12 is wanted, it holds 10 frames"):
        store.load_frames(episode_id, "cam_low", 21, 23)
