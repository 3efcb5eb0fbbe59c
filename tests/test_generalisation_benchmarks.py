"""The generalisation and self-correction benchmarks at tiny sizes: each runs from the product's
code paths on a real store with a tiny trained policy, resumes without redoing work, and writes
its report."""

import json
import subprocess
import sys
from pathlib import Path

from PIL import Image

from conftest import copy_store

from app.policies import evaluate_policy
from learning.evaluation import EVAL_SEED_BASE
from robot.experts.scripted import ScriptedExpert
from robot.factory import RobotChoice, make_robot
from robot.rollout import RolloutConfig, record_rollout
from storage import EpisodeFilter, EpisodeInfo, TrajectoryStore

BENCHMARKS = Path(__file__).parent.parent / "benchmarks"


def run(script: str, *args: str) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, str(BENCHMARKS / script), *args], capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def test_generalisation_evaluates_every_scene_resumably_and_reports_intervals(tiny_base_store, tmp_path):
    db = copy_store(tiny_base_store, tmp_path)
    args = ["--db", str(db), "--task", "transfer_cube", "--policies", "base", "--scenes", "object_colour",
            "--episodes", "2", "--out", str(tmp_path / "out")]
    run("generalisation.py", *args)
    report = json.loads((tmp_path / "out" / "generalisation-transfer_cube.json").read_text())
    assert report["scenes"] == ["stock", "object_colour"] and report["episodes"] == 2
    cells = report["results"]["base"]
    assert all(cells[s]["episodes"] == 2 and len(cells[s]["interval95"]) == 2 for s in ("stock", "object_colour"))
    assert "wmpo-app eval --policy base --task transfer_cube --n 2 --scene object_colour --reuse" in report["commands"]
    with TrajectoryStore(db) as store:
        evaluations = store.episodes(EpisodeFilter(source="eval"))
        assert sorted((e.scene, e.seed) for e in evaluations) == [
            ("object_colour", EVAL_SEED_BASE), ("object_colour", EVAL_SEED_BASE + 1),
            ("stock", EVAL_SEED_BASE), ("stock", EVAL_SEED_BASE + 1)]
        successes = {s: sum(bool(e.success) for e in evaluations if e.scene == s) for s in ("stock", "object_colour")}
    assert {s: cells[s]["successes"] for s in successes} == successes
    run("generalisation.py", *args)  # again: every seed is read back, none is run twice
    with TrajectoryStore(db) as store:
        assert store.count_episodes(EpisodeFilter(source="eval")) == 4
    again = json.loads((tmp_path / "out" / "generalisation-transfer_cube.json").read_text())
    assert all(again["results"]["base"][s]["inference_ms_median"] is None for s in ("stock", "object_colour"))
    markdown = (tmp_path / "out" / "generalisation-transfer_cube.md").read_text()
    assert "| policy | stock | object_colour |" in markdown and "| base | " in markdown
    assert f"{successes['stock']}/2 = " in markdown and "--scenes object_colour --episodes 2" in markdown


def record_expert_evaluation(store: TrajectoryStore, version_id: int, seed: int) -> None:
    """A stored stock evaluation episode of ``version_id`` that succeeds: the scripted expert drives
    it (a tiny policy trained for seconds never succeeds, and the report needs a success to show)."""
    with make_robot(None, task="transfer_cube", cameras={"cam_high": (24, 32)}) as sim:
        info = EpisodeInfo(task="transfer_cube", robot_kind="sim", source="eval", seed=seed,
                           policy_version_id=version_id, control_period_s=sim.features.control_period_s)
        result = record_rollout(store, sim, ScriptedExpert("transfer_cube"), info, initial_state=seed,
                                config=RolloutConfig(horizon=400))
    assert result.success


def test_self_correction_counts_both_directions_and_draws_the_corrected_pairs(tiny_base_store, tmp_path):
    db = copy_store(tiny_base_store, tmp_path)
    with TrajectoryStore(db) as store:
        base = store.find_policy_version("base")
        improved = store.register_policy_version("improved", store.policy_version(base).checkpoint_path,
                                                 config={"task": "transfer_cube"}).id
        base_run = evaluate_policy(store, base, "transfer_cube", 2, horizon=40)
        assert base_run.successes == 0  # the premise: ten training steps do not make a policy that succeeds
        record_expert_evaluation(store, improved, EVAL_SEED_BASE)
        # seed 1_000_000 is reused (the expert's success), 1_000_001 is run by the policy and fails
        improved_run = evaluate_policy(store, improved, "transfer_cube", 2, horizon=40, reuse_finished=True)
        assert (improved_run.episodes, improved_run.successes) == (2, 1)
        evaluate_policy(store, improved, "transfer_cube", 2, horizon=40,
                        robot=RobotChoice(scene="object_colour"))  # a disruption: never counted here
    out = tmp_path / "out"
    printed = run("self_correction.py", "--db", str(db), "--task", "transfer_cube", "--base", "base", "--improved",
                  "improved", "--strips", "3", "--out", str(out)).stdout
    stem = out / "self-correction-transfer_cube-base-vs-improved"
    report = json.loads(stem.with_suffix(".json").read_text())
    assert report["table"]["seeds"] == 2
    assert report["table"]["counts"] == {"both_succeed": 0, "base_fails_improved_succeeds": 1,
                                         "base_succeeds_improved_fails": 0, "both_fail": 1}
    assert report["table"]["seeds_per_cell"]["base_fails_improved_succeeds"] == [EVAL_SEED_BASE]
    assert report["strips"]["shown"] == [EVAL_SEED_BASE] and report["strips"]["diverged"] == []
    strip = Image.open(stem.with_suffix(".png"))
    assert strip.height > 2 * 96 and strip.width >= 2 * 128  # two rows (base, improved) of 96x128 frames
    assert "Self-corrections (base fails, improved succeeds from the same seed): 1; the reverse: 0" in printed
    reverse = run("self_correction.py", "--db", str(db), "--task", "transfer_cube", "--base", "improved",
                  "--improved", "base", "--strips", "0", "--out", str(out))
    assert "Self-corrections (base fails, improved succeeds from the same seed): 0; the reverse: 1" in reverse.stdout
    assert not (out / "self-correction-transfer_cube-improved-vs-base.png").exists()
