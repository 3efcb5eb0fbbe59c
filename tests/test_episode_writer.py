"""Staged episode writing: visibility, abort, round trips per codec, and refusal of bad steps."""

import time

import numpy as np
import pytest

from episode_data import SPEC, assert_episode_intact, episode_arrays, write_episode

from storage import (
    EpisodeInfo,
    EpisodeSpec,
    StepValidationError,
    StoreError,
    StoreFullError,
    TrajectoryStore,
)

INFO = EpisodeInfo(task="insertion", instruction="insert the peg", source="policy")


def good_step(t=0):
    actions, qpos, frames = episode_arrays(7, t + 1)
    return actions[t], qpos[t], {c: f[t] for c, f in frames.items()}


def test_episode_invisible_until_commit(store, store_path):
    with store.episode_writer(INFO, SPEC) as writer:
        for _ in range(60):
            writer.add_step(*good_step())
        time.sleep(3 * writer.flush_interval_s)
        assert store.summary()["staged"] == 1 and store.summary()["frames"] == 120  # on disk...
        with TrajectoryStore(store_path, readonly=True) as other_process_view:
            assert other_process_view.count_episodes() == 0
        assert store.count_episodes() == 0
        episode_id = writer.commit(success=False, label_source="env", safety_interventions=2)
    episode = store.episode(episode_id)
    assert (episode.length, episode.success, episode.label_source, episode.safety_interventions) == (60, False, "env", 2)


def test_abort_and_exception_discard_everything(store):
    with store.episode_writer(INFO, SPEC) as writer:
        for _ in range(30):
            writer.add_step(*good_step())
        writer.abort()
    with pytest.raises(RuntimeError):
        with store.episode_writer(INFO, SPEC) as writer:
            writer.add_step(*good_step())
            raise RuntimeError("robot fault")
    with store.episode_writer(INFO, SPEC) as writer:
        writer.add_step(*good_step())  # leaving the block without commit
    summary = store.summary()
    assert (store.count_episodes(), summary["staged"], summary["frames"]) == (0, 0, 0)


@pytest.mark.parametrize("codec", ["qoi", "png"])
def test_lossless_codecs_round_trip_exactly(store, codec):
    spec = EpisodeSpec(cameras=SPEC.cameras, codec=codec)
    episode_id = write_episode(store, seed=3, length=30, spec=spec)
    assert_episode_intact(store, episode_id, seed=3, length=30, spec=spec)
    assert {c.codec for c in store.cameras(episode_id).values()} == {codec}


def test_jpeg_is_lossy_but_close(store):
    spec = EpisodeSpec(cameras={"cam_high": (48, 64, 3)}, codec="jpeg")
    smooth = np.broadcast_to(np.linspace(0, 255, 64, dtype=np.uint8)[None, :, None], (48, 64, 3))
    with store.episode_writer(INFO, spec) as writer:
        writer.add_step(np.zeros(14), np.zeros(14), {"cam_high": smooth})
        episode_id = writer.commit()
    decoded = store.load_frames(episode_id, "cam_high")[0]
    assert np.abs(decoded.astype(int) - smooth).mean() < 3


def test_loop_statistics_from_timestamps(store):
    with store.episode_writer(INFO, SPEC) as writer:
        for t in range(11):
            writer.add_step(*good_step(), timestamp=0.02 * t + (0.02 if t == 10 else 0.0))
        episode_id = writer.commit()
    episode = store.episode(episode_id)
    assert episode.loop_hz_mean == pytest.approx(10 / 0.22)
    assert episode.loop_hz_min == pytest.approx(25.0)
    assert episode.loop_jitter_ms > 0


@pytest.mark.parametrize("field, change, message", [
    ("action", lambda a, q, f: (a[:7], q, f), r"action: got shape \(7,\), expected \(14,\)"),
    ("action", lambda a, q, f: (a.astype(np.int64), q, f), r"action: got dtype int64, expected a floating dtype"),
    ("action", lambda a, q, f: (np.where(np.arange(14) == 3, np.nan, a), q, f), r"action: non-finite values .* indices \[3\].*\(14,\)"),
    ("qpos", lambda a, q, f: (a, np.full(14, np.inf), f), r"qpos: non-finite values"),
    ("qpos", lambda a, q, f: (a, q.reshape(2, 7), f), r"qpos: got shape \(2, 7\), expected \(14,\)"),
    ("frame", lambda a, q, f: (a, q, {**f, "cam_high": f["cam_high"][:, :16]}),
     r"frames\['cam_high'\]: got shape \(24, 16, 3\), expected \(24, 32, 3\)"),
    ("frame", lambda a, q, f: (a, q, {**f, "cam_high": f["cam_high"].astype(np.float32)}),
     r"frames\['cam_high'\]: got dtype float32, expected uint8"),
    ("frame", lambda a, q, f: (a, q, {"cam_high": f["cam_high"]}), r"missing \['cam_left_wrist'\]"),
    ("frame", lambda a, q, f: (a, q, {**f, "cam_low": f["cam_high"]}), r"unknown \['cam_low'\]"),
])
def test_bad_steps_refused_with_field_and_expected_shape(store, field, change, message):
    with store.episode_writer(INFO, SPEC) as writer:
        writer.add_step(*good_step())
        with pytest.raises(StepValidationError, match=message):
            writer.add_step(*change(*good_step()))
        writer.add_step(*good_step())  # a refused step does not spoil the episode
        episode_id = writer.commit()
    assert store.episode(episode_id).length == 2


def test_commit_of_empty_episode_refused(store):
    with store.episode_writer(INFO, SPEC) as writer:
        with pytest.raises(StoreError, match="no steps"):
            writer.commit()
    assert store.summary()["staged"] == 0


def test_full_store_discards_episode_and_keeps_earlier_ones(store_path):
    big = EpisodeSpec(cameras={"cam_high": (120, 160, 3)})
    with TrajectoryStore(store_path) as store:
        first = write_episode(store, seed=1, length=5)
    # A size cap makes SQLite itself report "database or disk is full", as a full disk does.
    with TrajectoryStore(store_path, max_size_bytes=3 * 2**20) as capped:
        rng = np.random.default_rng(0)
        with pytest.raises(StoreFullError, match="full .* episode was discarded, earlier episodes are intact"):
            with capped.episode_writer(INFO, big) as writer:
                for _ in range(400):
                    noise = rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)
                    writer.add_step(np.zeros(14), np.zeros(14), {"cam_high": noise})
                writer.commit()
    with TrajectoryStore(store_path) as store:
        assert store.integrity_check() == ["ok"]
        assert [e.id for e in store.episodes()] == [first]
        assert store.summary()["staged"] == 0
        assert_episode_intact(store, first, seed=1, length=5)
