"""Evaluating in a disruption scene (`wmpo-app eval --scene`): its episodes carry the scene, keep
their own metric, and a stock evaluation that reuses finished seeds never reuses them (nor they it)."""

import subprocess

from conftest import copy_store
from test_cli import WMPO_APP

from app.policies import evaluate_policy
from robot.factory import RobotChoice
from storage import EpisodeFilter, TrajectoryStore


def test_disrupted_and_stock_evaluations_never_stand_in_for_each_other(tiny_base_store, tmp_path):
    db = copy_store(tiny_base_store, tmp_path)
    with TrajectoryStore(db) as store:
        base = store.find_policy_version("base")
        colour = evaluate_policy(store, base, "transfer_cube", 2, reuse_finished=True,
                                 robot=RobotChoice(scene="object_colour"), horizon=8)
        evaluations = store.episodes(EpisodeFilter(source="eval"))
        assert [(e.seed, e.scene) for e in evaluations] == [(1_000_000, "object_colour"), (1_000_001, "object_colour")]
        stock = evaluate_policy(store, base, "transfer_cube", 2, reuse_finished=True, horizon=8)
        assert stock.inference_ms_median is not None  # it ran: nothing of the other scene was reused
        assert store.count_episodes(EpisodeFilter(source="eval", scene="stock")) == 2
        assert store.count_episodes(EpisodeFilter(source="eval")) == 4
        wider = evaluate_policy(store, base, "transfer_cube", 2, reuse_finished=True,
                                robot=RobotChoice(scene="wider_start"), horizon=8)
        assert wider.inference_ms_median is not None and store.count_episodes(EpisodeFilter(source="eval")) == 6
        again = [evaluate_policy(store, base, "transfer_cube", 2, reuse_finished=True, robot=RobotChoice(scene=s),
                                 horizon=8) for s in ("stock", "object_colour")]
        assert store.count_episodes(EpisodeFilter(source="eval")) == 6  # each scene's seeds reused, in its scene
        assert all(summary.inference_ms_median is None for summary in again)
        assert [s.successes for s in again] == [stock.successes, colour.successes]
        metrics = {name: len(store.metrics(name)) for name in ("eval/success_rate", "eval/object_colour/success_rate",
                                                               "eval/wider_start/success_rate")}
        assert metrics == {"eval/success_rate": 2, "eval/object_colour/success_rate": 2,
                           "eval/wider_start/success_rate": 1}


def test_eval_scene_on_the_cli_and_refused_on_a_real_robot(tiny_base_store, tmp_path):
    db = copy_store(tiny_base_store, tmp_path)
    refused = subprocess.run([WMPO_APP, "--db", str(db), "eval", "--policy", "base", "--scene", "table_texture",
                              "--site", "/lab/cobot.json"], capture_output=True, text=True, timeout=120)
    assert refused.returncode == 2
    assert ("scene 'table_texture' on the real robot of site /lab/cobot.json: disruption scenes exist only in the "
            "sim; expected no --scene with --site") in refused.stderr
    unknown = subprocess.run([WMPO_APP, "--db", str(db), "eval", "--policy", "base", "--scene", "fog"],
                             capture_output=True, text=True, timeout=120)
    assert unknown.returncode == 2 and "invalid choice: 'fog'" in unknown.stderr
    done = subprocess.run([WMPO_APP, "--db", str(db), "eval", "--policy", "base", "--n", "1", "--scene",
                           "table_texture", "--reuse"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1].startswith("scene table_texture: transfer_cube: success ")
    with TrajectoryStore(db) as store:
        assert [(e.seed, e.scene) for e in store.episodes(EpisodeFilter(source="eval"))] == [(1_000_000,
                                                                                               "table_texture")]


def test_a_sampled_evaluation_never_reuses_greedy_episodes(tiny_base_store, tmp_path):
    db = copy_store(tiny_base_store, tmp_path)
    with TrajectoryStore(db) as store:
        base = store.find_policy_version("base")
        evaluate_policy(store, base, "transfer_cube", 2, reuse_finished=True, horizon=8)
        sampled = evaluate_policy(store, base, "transfer_cube", 2, reuse_finished=True, horizon=8, greedy=False,
                                  temperature=0.7)
        assert sampled.inference_ms_median is not None  # it ran: the greedy episodes did not stand in
        hotter = evaluate_policy(store, base, "transfer_cube", 2, reuse_finished=True, horizon=8, greedy=False,
                                 temperature=1.0)
        assert hotter.inference_ms_median is not None  # nor do episodes sampled at another temperature
        again = evaluate_policy(store, base, "transfer_cube", 2, reuse_finished=True, horizon=8, greedy=False,
                                temperature=0.7)
        assert again.inference_ms_median is None and again.successes == sampled.successes
        decodings = sorted(e.extra_json for e in store.episodes(EpisodeFilter(source="eval")))
        assert len(decodings) == 6 and sum('"decoding": "greedy"' in d for d in decodings) == 2
