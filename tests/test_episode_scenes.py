"""Episodes remember the sim scene they ran in (schema v6), so an evaluation in a disruption scene
is never taken for the stock evaluation: not by filters, success rates, learning splits, nor by
an evaluation that reuses the seeds it already ran."""

import sqlite3

import pytest

from episode_data import write_episode

from app.store_report import episode_table, status_report
from learning.splits import split_episodes
from storage import STOCK_SCENE, EpisodeFilter, EpisodeInfo, TrajectoryStore
from storage.migrations import SCHEMA_VERSION


def make_v5(path) -> None:
    """Turn a store into what a v5 file was: episodes without the scene column."""
    raw = sqlite3.connect(path)
    raw.execute("ALTER TABLE episodes DROP COLUMN scene")
    raw.execute("PRAGMA user_version = 5")
    raw.commit()
    raw.close()


def insert_like_v5_code(path, seed: int) -> None:
    """An episode row as a process still running v5 code writes it: no scene named."""
    raw = sqlite3.connect(path)
    raw.execute("INSERT INTO episodes (status, task, instruction, robot_kind, source, seed, length, action_dim, "
                "qpos_dim, safety_interventions, started_at, extra_json) VALUES ('committed', 'transfer_cube', '', "
                "'sim', 'eval', ?, 0, 14, 14, 0, '2026-01-01 00:00:00', '{}')", (seed,))
    raw.commit()
    raw.close()


def test_a_version_5_store_keeps_its_episodes_as_stock_and_v5_writers_still_insert(store_path):
    with TrajectoryStore(store_path) as store:
        ids = [write_episode(store, seed, 3, source=source) for seed, source in ((1, "expert"), (2, "eval"))]
    make_v5(store_path)
    with TrajectoryStore(store_path) as store:
        assert store.schema_version() == SCHEMA_VERSION == 6
        assert [store.episode(i).scene for i in ids] == ["stock", "stock"]
        assert store.count_episodes(EpisodeFilter(scene=STOCK_SCENE)) == 2
        insert_like_v5_code(store_path, 7)  # the column's default is in the table, not only in our models
        assert [e.scene for e in store.episodes(EpisodeFilter(source="eval"))] == ["stock", "stock"]
        write_episode(store, 3, 3, source="eval", scene="wider_start")
        assert store.count_episodes(EpisodeFilter(scene="wider_start")) == 1


def test_a_new_store_gives_unnamed_rows_the_stock_scene_too(store_path):
    TrajectoryStore(store_path).close()
    insert_like_v5_code(store_path, 7)
    with TrajectoryStore(store_path) as store:
        assert [e.scene for e in store.episodes()] == ["stock"]


def test_disruption_episodes_are_counted_apart_and_never_learned_from(store):
    for seed, success in ((1, True), (2, False)):
        write_episode(store, 1_000_000 + seed, 3, source="eval", success=success)
    for seed in (1, 2):
        write_episode(store, 1_000_000 + seed, 3, source="eval", success=False, scene="object_colour")
    for seed in range(20):
        write_episode(store, seed, 3, source="expert")
    per_source = {r.group: (r.successes, r.labelled) for r in store.success_rates("source")}
    assert per_source == {"eval": (1, 2), "eval/object_colour": (0, 2), "expert": (20, 20)}
    stock_eval = EpisodeFilter(source="eval", scene=STOCK_SCENE)
    assert [e.scene for e in store.episodes(stock_eval)] == ["stock", "stock"]
    training, held_out = split_episodes(store, "cam_high")
    disrupted = {e.id for e in store.episodes(EpisodeFilter(scene="object_colour"))}
    assert len(disrupted) == 2 and not disrupted & set(training + held_out)
    assert {store.episode(i).source for i in held_out} >= {"eval"}  # the stock evaluation: held out, as before
    status = status_report(store)
    assert "  eval: 50.0%" in status and "  eval/object_colour: 0.0%" in status
    assert "  outside iterations: 95.5% [78.2, 99.2] (21/22, 0 unlabelled)" in status  # stock episodes only
    listing = episode_table(store, EpisodeFilter(scene="object_colour"), 10).splitlines()
    assert listing[0].endswith(" scene") and len(listing) == 3
    assert all(row.endswith(" object_colour") for row in listing[1:])


def test_a_scene_name_is_checked():
    with pytest.raises(ValueError, match="scene ''; expected a scene name of 1 to 32 characters"):
        EpisodeInfo(task="transfer_cube", scene="")
