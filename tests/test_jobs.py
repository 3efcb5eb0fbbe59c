"""Resumable jobs: steps done once, resumption after a dead owner, no two owners at once."""

import subprocess
import sys

import pytest

from storage import StoreError
from storage.jobs import JobBusyError


def test_steps_run_in_order_and_finished_steps_are_not_redone(store):
    job = store.jobs.create("cycle", ["collect", "align", "reward", "grpo"], config={"budget": 8})
    job = store.jobs.claim(job.id)
    for name in ("collect", "align"):
        step = job.next_step()
        assert step.name == name
        store.jobs.start_step(step.id)
        store.jobs.finish_step(step.id, {"episodes": 8})
        job = store.jobs.get(job.id)
    assert job.progress == (2, 4)
    assert job.next_step().name == "reward"
    assert job.steps[0].result == {"episodes": 8}


def test_job_of_dead_owner_is_resumed_from_interrupted_step(store, store_path):
    job = store.jobs.create("cycle", ["collect", "align"])
    script = (
        "import sys; from storage import TrajectoryStore\n"
        "s = TrajectoryStore(sys.argv[1]); job = s.jobs.claim(int(sys.argv[2]))\n"
        "step = job.next_step(); s.jobs.start_step(step.id); s.jobs.finish_step(step.id, {'n': 1})\n"
        "s.jobs.start_step(job.steps[1].id)\n"  # then the process ends mid-step
    )
    subprocess.run([sys.executable, "-c", script, str(store_path), str(job.id)], check=True)
    interrupted = store.jobs.get(job.id)
    assert interrupted.status == "running" and not interrupted.owner_alive()
    assert [j.id for j in store.jobs.unfinished("cycle")] == [job.id]
    resumed = store.jobs.claim(job.id)
    assert resumed.next_step().name == "align" and resumed.next_step().attempts == 1
    store.jobs.start_step(resumed.next_step().id)
    assert store.jobs.get(job.id).next_step().attempts == 2


def test_job_owned_by_live_process_cannot_be_claimed(store, store_path):
    job = store.jobs.create("cycle", ["collect"])
    script = (
        "import sys, time; from storage import TrajectoryStore\n"
        "s = TrajectoryStore(sys.argv[1]); s.jobs.claim(int(sys.argv[2])); print('claimed', flush=True)\n"
        "time.sleep(60)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script, str(store_path), str(job.id)],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "claimed"
        with pytest.raises(JobBusyError, match="being run by pid"):
            store.jobs.claim(job.id)
    finally:
        proc.kill()
        proc.wait()
    assert store.jobs.claim(job.id).owner_alive()


def test_failed_and_finished_jobs(store):
    job = store.jobs.claim(store.jobs.create("cycle", ["collect", "align"]).id)
    store.jobs.start_step(job.steps[0].id)
    store.jobs.fail_step(job.steps[0].id, "camera cam_high stale")
    failed = store.jobs.get(job.id)
    assert failed.status == "failed" and failed.error == "camera cam_high stale"
    store.jobs.claim(job.id)  # a failed job may be retried
    store.jobs.finish(job.id)
    with pytest.raises(StoreError, match="done; nothing to resume"):
        store.jobs.claim(job.id)
    with pytest.raises(ValueError, match="distinct step names"):
        store.jobs.create("cycle", ["a", "a"])
