"""Queries: success rates with Wilson intervals, filters, labels, deletion, policies, metrics."""

import pytest

from episode_data import write_episode

from storage import EpisodeFilter, EpisodeNotFoundError, StoreError, TrajectoryStore, wilson_interval


def test_wilson_interval_known_values():
    # Textbook values (Wilson score, z = 1.96); 43/128 worked by hand from the formula.
    assert wilson_interval(5, 10) == pytest.approx((0.2366, 0.7634), abs=1e-4)
    assert wilson_interval(0, 10) == pytest.approx((0.0, 0.2775), abs=1e-4)
    assert wilson_interval(43, 128) == pytest.approx((0.2600, 0.4215), abs=1e-4)
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_success_rates_per_iteration_and_source(store):
    first = store.start_iteration("transfer_cube", budget=4)
    second = store.start_iteration("transfer_cube", budget=4)
    assert (first.number, second.number) == (1, 2)
    for seed, success in enumerate([True, False, False, False]):
        write_episode(store, seed, 3, success=success, iteration_id=first.id)
    for seed, success in enumerate([True, True, True, None]):
        write_episode(store, 10 + seed, 3, success=success, iteration_id=second.id, source="eval")
    write_episode(store, 99, 3, success=True, source="expert")

    per_iteration = {r.group: r for r in store.success_rates("iteration")}
    assert (per_iteration[1].successes, per_iteration[1].labelled) == (1, 4)
    assert (per_iteration[2].successes, per_iteration[2].labelled, per_iteration[2].unlabelled) == (3, 3, 1)
    assert per_iteration[2].interval == pytest.approx(wilson_interval(3, 3))
    assert per_iteration[None].labelled == 1
    assert "25.0%" in str(per_iteration[1])

    per_source = {r.group: r.rate for r in store.success_rates("source")}
    assert per_source == {"eval": 1.0, "expert": 1.0, "policy": 0.25}
    only_policy = store.success_rates("iteration", EpisodeFilter(source="policy"))
    assert [r.group for r in only_policy] == [1]
    with pytest.raises(ValueError, match="expected 'iteration' or 'source'"):
        store.success_rates("task")


def test_episode_filters(store):
    ids = [write_episode(store, s, 2, success=s % 2 == 0, task="insertion" if s < 3 else "transfer_cube")
           for s in range(6)]
    write_episode(store, 50, 2, success=None)
    assert store.count_episodes() == 7
    assert [e.id for e in store.episodes(EpisodeFilter(task="insertion"))] == ids[:3]
    assert [e.id for e in store.episodes(EpisodeFilter(success=False))] == [ids[1], ids[3], ids[5]]
    assert store.count_episodes(EpisodeFilter(labelled=False)) == 1
    assert [e.id for e in store.episodes(limit=2, newest_first=True)] == [ids[-1] + 1, ids[-1]]


def test_relabel_and_delete(store):
    episode_id = write_episode(store, 1, 4, success=None)
    store.set_label(episode_id, True, "operator")
    assert (store.episode(episode_id).success, store.episode(episode_id).label_source) == (True, "operator")
    store.set_label(episode_id, False, "reward_model", reward_prob=0.2)
    assert store.episode(episode_id).reward_prob == pytest.approx(0.2)
    with pytest.raises(ValueError, match="label_source"):
        store.set_label(episode_id, True, "someone")
    with pytest.raises(ValueError, match="probability"):
        store.set_label(episode_id, True, "reward_model", reward_prob=1.5)
    store.delete_episode(episode_id)
    assert store.summary()["frames"] == 0
    with pytest.raises(EpisodeNotFoundError):
        store.episode(episode_id)


def test_policy_versions_record_and_verify_checksums(store, tmp_path):
    checkpoint = tmp_path / "policy-v1"
    checkpoint.mkdir()
    (checkpoint / "model.safetensors").write_bytes(b"weights")
    (checkpoint / "config.json").write_text('{"bins": 256}')
    base = store.register_policy_version("base", checkpoint, config={"profile": "cpu"})
    child = store.register_policy_version("iter1", checkpoint, parent_id=base.id)
    assert store.policy_version(child.id).parent_id == base.id
    assert len(base.checkpoint_sha256) == 64
    assert store.verify_policy_checkpoint(base.id) == checkpoint.resolve()
    (checkpoint / "model.safetensors").write_bytes(b"tampered")
    with pytest.raises(StoreError, match="changed"):
        store.verify_policy_checkpoint(base.id)
    with pytest.raises(StoreError, match="already exists"):
        store.register_policy_version("base", checkpoint)
    with pytest.raises(StoreError, match="does not exist"):
        store.register_policy_version("ghost", tmp_path / "missing")


def test_metrics_per_iteration(store):
    iteration = store.start_iteration("insertion")
    store.log_metric("reward/f1", 0.97, iteration_id=iteration.id, payload={"threshold": 0.6})
    store.log_metric("policy/loss", 1.5, step=10)
    assert [(m.name, m.value) for m in store.metrics(iteration_id=iteration.id)] == [("reward/f1", 0.97)]
    assert store.metrics("policy/loss")[0].step == 10
    store.finish_iteration(iteration.id)
    assert store.iterations()[0].status == "done"


def test_deployments_keep_history_and_roll_back(store, tmp_path):
    checkpoint = tmp_path / "policy.safetensors"
    checkpoint.write_bytes(b"weights")
    first = store.register_policy_version("base", checkpoint)
    second = store.register_policy_version("iter-1", checkpoint, parent_id=first.id)
    assert store.deployed("transfer_cube") is None
    store.deploy("transfer_cube", first.id, "initial")
    store.deploy("transfer_cube", second.id, "gate", note="eval 31.2% >= 28.1%")
    assert store.deployed("transfer_cube").policy_version_id == second.id
    store.deploy("transfer_cube", first.id, "rollback")
    assert store.deployed("transfer_cube").policy_version_id == first.id
    assert [d.reason for d in store.deployments("transfer_cube")] == ["initial", "gate", "rollback"]
    assert store.deployed("insertion") is None
    with pytest.raises(ValueError, match="deploy reason"):
        store.deploy("transfer_cube", first.id, "because")


def test_a_version_1_store_gains_deployments_schedules_and_step_progress(store_path):
    import sqlite3

    from storage.migrations import SCHEMA_VERSION

    with TrajectoryStore(store_path) as store:
        job = store.jobs.create("cycle-iteration", ["collect"])
    raw = sqlite3.connect(store_path)  # make it what a v1 file was
    for table in ("deployments", "schedules", "schedule_runs", "scheduler_beats"):
        raw.execute(f"DROP TABLE {table}")
    raw.execute("ALTER TABLE job_steps DROP COLUMN progress")
    raw.execute("ALTER TABLE job_steps DROP COLUMN detail")
    raw.execute("PRAGMA user_version = 1")
    raw.commit()
    raw.close()
    with TrajectoryStore(store_path) as store:
        assert store.schema_version() == SCHEMA_VERSION  # v1 -> ... -> today's, each migration once
        assert store.deployments() == [] and store.schedules.all() == []
        step = store.jobs.get(job.id).steps[0]
        store.jobs.report_progress(step.id, 0.5, "collect 2/4")
        assert store.jobs.get(job.id).steps[0].progress == 0.5
