"""The lifelong benchmark's command at tiny scale: it runs, resumes, and writes its report
(JSON, markdown with the diagnosis, PNG). The learning figures come from the cpu profile."""

import json
import subprocess
import sys
from pathlib import Path

from conftest import copy_store
from storage import EpisodeFilter, TrajectoryStore

LIFELONG = Path(__file__).parent.parent / "benchmarks" / "lifelong.py"


def test_lifelong_tiny_writes_the_report_and_reuses_finished_work(tiny_base_store, tmp_path):
    db = copy_store(tiny_base_store, tmp_path)
    command = [sys.executable, str(LIFELONG), "--db", str(db), "--base", "base", "--iterations", "1", "--budget", "4",
               "--profile", "tiny", "--eval-episodes", "4", "--imitation-steps", "10", "--max-steps", "40",
               "--out", str(tmp_path / "out")]
    first = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr[-3000:]
    stem = tmp_path / "out" / "lifelong-transfer_cube-P4-tiny"
    report = json.loads(stem.with_suffix(".json").read_text())
    assert len(report["wmpo"]) == 1 and report["wmpo"][0]["budget"] == 4
    assert [r["demos"] for r in report["imitation"]] == [3 + 4]  # the base's 3 demos + P
    markdown = stem.with_suffix(".md").read_text()
    assert "| 4 |" in markdown and "world-model outcome agreement" in markdown and "Command: `" in markdown
    assert "real successes recognised in imagination" in markdown
    assert stem.with_suffix(".png").stat().st_size > 1000
    again = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "step " not in again.stdout  # nothing trained twice: the iteration and the imitation policy are reused
    # DPO iterated: iteration 1 learns from the rollouts WMPO collected (at this size usually none
    # succeeds: then there is no pair and the base stays); iteration 2 from 4 fresh rollouts of
    # the policy iteration 1 left, collected outside any iteration
    [first_dpo] = report["dpo"]
    assert first_dpo["policy"] == ("transfer_cube-dpo-P4" if first_dpo["note"] == "updated" else "base")
    dpo = subprocess.run(command[:-2] + ["--arms", "dpo", "--iterations", "2", "--out", str(tmp_path / "dpo")],
                         capture_output=True, text=True, timeout=600)
    assert dpo.returncode == 0, dpo.stderr[-3000:]
    report = json.loads((tmp_path / "dpo" / stem.name).with_suffix(".json").read_text())
    assert len(report["dpo"]) == 2
    same = ("policy", "note", "successes")
    assert [report["dpo"][0][k] for k in same] == [first_dpo[k] for k in same]
    assert len(report["wmpo"]) == 1 and report["imitation"] == []  # the finished iteration read back, not rerun
    with TrajectoryStore(db) as store:
        version = store.find_policy_version(first_dpo["policy"])
        fresh = [e for e in store.episodes(EpisodeFilter(source="policy", policy_version_id=version))
                 if e.iteration_id is None]
        assert len(fresh) == 4
    # Where the loop loses: each iteration's imagination replays held-out real episodes. (The held-out
    # set of so small a store is its last episode, since the imitation arm: an expert demo.)
    outcomes = subprocess.run([sys.executable, str(LIFELONG.parent / "imagined_outcomes.py"), "--db", str(db),
                               "--episodes", "2", "--source", "expert", "--out", str(tmp_path / "out")],
                              capture_output=True, text=True, timeout=600)
    assert outcomes.returncode == 0, outcomes.stderr[-3000:]
    table = json.loads((tmp_path / "out" / "imagined-outcomes-transfer_cube.json").read_text())
    assert [row["iteration"] for row in table["rows"]] == [1]
    assert table["rows"][0]["successes_replayed"] == 1  # an expert demo: a success
    assert table["rows"][0]["successes_recognised"] in (0, 1)
    outcomes_table = (tmp_path / "out" / "imagined-outcomes-transfer_cube.md").read_text()
    assert "real successes judged successful in imagination" in outcomes_table


def test_grpo_ceiling_tiny_draws_a_resumable_learning_curve(tiny_base_store, tmp_path):
    db = copy_store(tiny_base_store, tmp_path)
    command = [sys.executable, str(LIFELONG.parent / "grpo_ceiling.py"), "--db", str(db), "--base", "base",
               "--episodes", "4", "--every", "2", "--eval-episodes", "2", "--profile", "tiny",
               "--set", "temperature=0.8", "--run", "t08", "--max-steps", "40", "--out", str(tmp_path / "out")]
    first = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr[-3000:]
    stem = tmp_path / "out" / "grpo-ceiling-transfer_cube-t08"
    report = json.loads(stem.with_suffix(".json").read_text())
    assert [p["real_episodes"] for p in report["points"]] == [0, 2, 4] and report["grpo"]["temperature"] == 0.8
    assert [p["sampled"][1] for p in report["points"][1:]] == [2, 4]  # one group of G=2 per point
    assert all(p["episodes"] == 2 for p in report["points"])  # greedy evaluation on 2 seeds each
    markdown = stem.with_suffix(".md").read_text()
    assert "| 4 |" in markdown and "--set temperature=0.8" in markdown and stem.with_suffix(".png").exists()
    assert "--max-steps 40" in markdown  # the command that redraws this curve
    again = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0 and "grpo-real:" not in again.stdout  # every point is reused


def test_gpu_check_runs_at_test_sizes_on_the_cpu(tmp_path):
    """The GPU script is ready for the first GPU at hand: here it runs every measurement at
    tiny sizes, through the product's trainer, and writes its JSON."""
    script = Path(__file__).parent.parent / "benchmarks" / "gpu_check.py"
    done = subprocess.run([sys.executable, str(script), "--tiny", "--device", "cpu", "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((tmp_path / "gpu_check-tiny.json").read_text())
    assert report["device"] == "cpu" and report["installed_from_wheels"] == []
    for name in ("policy", "world_model", "reward_model", "world_model_gpu_profile_batch32"):
        learner = report["learners"][name]
        assert learner["steps_per_s"] > 0 and len(learner["losses"]) >= 2, learner
    assert all(r["frames_per_s"] > 0 for r in report["imagination"].values())


def test_the_shuffled_rewards_control_permutes_a_groups_rewards_and_nothing_else():
    sys.path.insert(0, str(LIFELONG.parent))  # the benchmarks import their neighbours
    import torch
    from grpo_ceiling import shuffled_rewards
    from learning.policy_optimization.trajectories import Trajectory

    def group(i):
        return [Trajectory("go", torch.zeros(1, 4, 4, 3, dtype=torch.uint8), torch.tensor([k]),
                           torch.zeros(1, 2, 14, dtype=torch.long), torch.tensor([-1.0]), reward=float(k < 3))
                for k in range(8)]

    control = shuffled_rewards(group)
    first, again = control(5), control(5)
    rewards = [t.reward for t in first]
    assert sorted(rewards) == sorted(t.reward for t in group(5)) and rewards == [t.reward for t in again]
    assert rewards != [t.reward for t in group(5)]  # seed 5 moves them
    assert [int(t.steps[0]) for t in first] == list(range(8))  # the trajectories themselves stay in place
