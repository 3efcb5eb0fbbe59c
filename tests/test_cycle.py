"""The lifelong cycle at tiny scale: two iterations end to end through the CLI, a SIGKILL
mid-collection resumed without redoing or losing anything, the evaluate/deploy gate, and
operator rollback."""

import contextlib
import signal
import subprocess
import time

from app.cycle import IterationContext, deploy, evaluate
from app.cycle_config import profile
from conftest import copy_store
from test_cli import WMPO_APP, wmpo_app

from storage import EpisodeFilter, TrajectoryStore


# Episodes of a tenth of the task's 400 steps: every stage still runs on real rollouts.
SHORT_EPISODES = ["--set", "cycle.max_steps=40"]


@contextlib.contextmanager
def cycle_running(db, rollouts: int, *options: str):
    """A tiny cycle in the background, handed over once it has committed ``rollouts`` rollouts
    (killed on the way out, whatever happened)."""
    process = subprocess.Popen([WMPO_APP, "--db", str(db), "cycle", "--profile", "tiny", "--policy", "base", *options],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 300
        with TrajectoryStore(db, readonly=True) as store:
            while store.count_episodes(EpisodeFilter(source="policy")) < rollouts:
                assert process.poll() is None and time.monotonic() < deadline, "the cycle stopped early"
                time.sleep(0.05)
        yield process
    finally:
        process.kill()


def test_two_tiny_iterations_end_to_end(tiny_base_store, tmp_path):
    db = copy_store(tiny_base_store, tmp_path)
    done = subprocess.run([WMPO_APP, "--db", str(db), "cycle", "--profile", "tiny", "--iterations", "2",
                           "--policy", "base", *SHORT_EPISODES], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("iteration done") == 2
    with TrajectoryStore(db) as store:
        iterations = store.iterations()
        assert [(i.number, i.status, i.budget) for i in iterations] == [(1, "done", 4), (2, "done", 4)]
        for iteration in iterations:
            collected = store.episodes(EpisodeFilter(source="policy", iteration_id=iteration.id))
            assert len(collected) == 4 and all(store.cameras(e.id) for e in collected)
            assert {e.length for e in collected} == {40}
            assert {m.name for m in store.metrics(iteration_id=iteration.id)} >= {
                "collect/success_rate", "reward/f1_validation", "world_model/psnr_db_last",
                "world_model/outcome_agreement"}
        jobs = store.jobs.finished("cycle-iteration")
        assert [[s.status for s in job.steps] for job in jobs] == [["done"] * 7] * 2
        # the second iteration aligned the first one's world model
        align = jobs[1].steps[1].result
        assert (align["world_model"], align["from"]) == ("wm-transfer_cube-2", "wm-transfer_cube-1")
        assert align["final_loss"] > 0  # the trainer's last loss, shown per stage in the UI
        assert store.deployed("transfer_cube").policy_version_id == 1


def test_sigkill_mid_collection_resumes_without_redoing_or_losing(tiny_base_store, tmp_path):
    db = copy_store(tiny_base_store, tmp_path)
    # 100-step episodes: short, and still long enough that the kill lands within the collection
    with cycle_running(db, 2, "--set", "cycle.max_steps=100") as process:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    with TrajectoryStore(db, readonly=True) as store:
        before = {e.seed for e in store.episodes(EpisodeFilter(source="policy"))}
        assert store.jobs.unfinished("cycle-iteration")[0].next_step().name == "collect"
    refused = wmpo_app("cycle", "--profile", "tiny", db=db)
    assert refused.returncode == 2 and "cycle --resume" in refused.stderr
    resumed = subprocess.run([WMPO_APP, "--db", str(db), "cycle", "--resume"], capture_output=True, text=True,
                             timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resuming iteration job 1 at its collect step" in resumed.stdout
    with TrajectoryStore(db) as store:
        collected = store.episodes(EpisodeFilter(source="policy"))
        seeds = sorted(e.seed for e in collected)
        assert len(seeds) == 4 and seeds == list(range(seeds[0], seeds[0] + 4))  # none twice, none lost
        assert before <= set(seeds)  # what was committed before the kill was kept
        job = store.jobs.finished("cycle-iteration")[0]
        assert [s.attempts for s in job.steps] == [2, 1, 1, 1, 1, 1, 1]  # only the killed step ran again
        assert store.iterations()[0].status == "done"


def test_gate_deploys_a_candidate_that_is_not_worse_and_rollback_restores(tiny_base_store, tmp_path):
    db = copy_store(tiny_base_store, tmp_path)
    with TrajectoryStore(db) as store:
        base = store.policy_versions()[0]
        candidate = store.register_policy_version("candidate", base.checkpoint_path, parent_id=base.id)
        store.deploy("transfer_cube", base.id, "initial")
        iteration = store.start_iteration("transfer_cube", 4)
        config = profile("tiny", eval_episodes=2)
        results = {"collect": {"policy_version_id": base.id},
                   "grpo": {"updated": True, "policy_version_id": candidate.id}}
        ctx = IterationContext(store, config, iteration.id, iteration.number, results, lambda message: None)
        results["evaluate"] = evaluate(ctx)
        assert results["evaluate"]["deployed"]["episodes"] == results["evaluate"]["candidate"]["episodes"] == 2
        assert len(store.episodes(EpisodeFilter(source="eval", iteration_id=iteration.id))) == 4
        again = evaluate(ctx)  # a resumed evaluate step counts the stored episodes, runs nothing new
        assert again["candidate"]["successes"] == results["evaluate"]["candidate"]["successes"]
        assert len(store.episodes(EpisodeFilter(source="eval", iteration_id=iteration.id))) == 4
        outcome = deploy(ctx)  # same weights, same seeds: equal rates, so not worse
        assert outcome["deployed"] and store.deployed("transfer_cube").policy_version_id == candidate.id
        results["evaluate"]["candidate"]["rate"] = results["evaluate"]["deployed"]["rate"] - 0.5
        assert not deploy(ctx)["deployed"]
    rolled = wmpo_app("rollback", "--task", "transfer_cube", db=db)
    assert rolled.returncode == 0, rolled.stderr
    with TrajectoryStore(db) as store:
        assert store.deployed("transfer_cube").policy_version_id == base.id
        assert [d.reason for d in store.deployments("transfer_cube")] == ["initial", "gate", "rollback"]


def test_eta_uses_the_running_stage_pace_and_clean_earlier_stages(store):
    from app.cycle_report import StageProgress, estimate_eta, typical_stage_seconds

    iteration = store.start_iteration("transfer_cube", 4)
    job = store.jobs.claim(store.jobs.create("cycle-iteration", ["collect", "align"], iteration_id=iteration.id).id)
    for step in job.steps:
        store.jobs.start_step(step.id)
        store.jobs.finish_step(step.id, {})
    store.jobs.start_step(job.steps[1].id)  # a second attempt: its span covers only that attempt
    store.jobs.finish_step(job.steps[1].id, {})
    store.jobs.finish(job.id)
    assert set(typical_stage_seconds(store)) == {"collect"}  # the retried align is not a duration sample
    stages = [StageProgress("collect", "running", 0.5, "", 60.0), StageProgress("align", "pending", 0.0, "", None)]
    assert estimate_eta(stages, {"align": 100.0}) == (160.0, True)  # 60 s more at its own pace + align's median
    assert estimate_eta(stages, {}) == (60.0, False)  # align has no clean sample yet: said, not guessed


def test_a_stranded_cycle_can_be_cancelled_keeping_what_it_recorded(tiny_base_store, tmp_path):
    db = copy_store(tiny_base_store, tmp_path)
    with cycle_running(db, rollouts=1) as process:
        busy = wmpo_app("cycle", "--cancel", db=db)  # a live cycle is not cancelled under its feet
        assert busy.returncode == 2 and "being run by pid" in busy.stderr
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    with TrajectoryStore(db, readonly=True) as store:
        recorded = {e.id for e in store.episodes(EpisodeFilter(source="policy"))}
        # the step the kill stranded: collect, or align when the busy check outlasted the tiny collection (under load)
        stranded = store.jobs.unfinished("cycle-iteration")[0].next_step().name
    assert stranded in ("collect", "align")
    cancelled = wmpo_app("cycle", "--cancel", db=db)
    assert cancelled.returncode == 0, cancelled.stderr
    assert f"cancelled iteration job 1 at its {stranded} step" in cancelled.stdout
    with TrajectoryStore(db) as store:
        assert store.iterations()[0].status == "cancelled" and not store.jobs.unfinished("cycle-iteration")
        assert {e.id for e in store.episodes(EpisodeFilter(source="policy"))} == recorded  # nothing lost
    assert "nothing to cancel" in wmpo_app("cycle", "--cancel", db=db).stdout


def test_too_few_episodes_for_a_held_out_one_is_a_clear_error(tmp_path):
    """The cycle's fidelity stage skips on it (a small budget) instead of stranding the iteration."""
    import pytest

    from learning.splits import NoHeldOutEpisodesError
    from learning.world_model.on_store import held_out_replays
    from episode_data import write_episode

    with TrajectoryStore(tmp_path / "wmpo.db") as store:
        for seed in range(9):
            write_episode(store, seed, 3, source="expert")
        write_episode(store, 9, 3, source="policy")  # the 10th episode: held out
        write_episode(store, 10, 3, source="policy")  # trained on
        assert held_out_replays(store, "cam_high", 8, EpisodeFilter(source="policy"))[0] == [10]
        with pytest.raises(NoHeldOutEpisodesError, match="at least 10 matching episodes"):
            held_out_replays(store, "cam_high", 8, EpisodeFilter(source="policy", ids=(11,)))
