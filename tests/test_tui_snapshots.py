"""Snapshot tests of each pane (pytest-textual-snapshot), on a store with one finished iteration.

The store is rebuilt at a fixed path so the screens are byte-for-byte repeatable (the Schedule
pane shows the path); so under pytest-xdist these tests form one group that a single worker runs
(`--dist loadgroup`, as `./run.sh test` passes). After an intended change of a screen, review
it and run `WMPO_TEST_WORKERS=1 ./run.sh test tests/test_tui_snapshots.py --snapshot-update`."""

import shutil
from pathlib import Path

import pytest

from app.cycle import JOB_KIND, STAGES
from app.tui.app import WmpoApp
from episode_data import write_episode

from storage import TrajectoryStore

SNAPSHOT_DB = Path("/tmp/wmpo-snapshots/wmpo.db")
SIZE = (170, 48)
pytestmark = pytest.mark.xdist_group("snapshot-store")  # one fixed path: never two at once

STAGE_RESULTS = {
    "collect": {"policy_version_id": 1, "episodes": 4, "successes": 1},
    "align": {"world_model": "wm-transfer_cube-1", "from": "world-model", "final_loss": 0.0123},
    "reward": {"reward_model": "reward-transfer_cube-1",
               "validation": {"f1": 1.0}, "held_out": {"f1": 0.909}, "evaluation": {"f1": 0.889}, "final_loss": 0.0301},
    "fidelity": {"psnr_db_last": 19.5, "ssim_last": 0.68, "outcome_agreement": 0.25, "episodes": 4},
    "grpo": {"updated": True, "policy_version_id": 2, "updates": 2, "success_rate": 0.4, "kept_fraction": 0.5},
    "evaluate": {"deployed": {"rate": 0.25, "interval95": [0.046, 0.7], "policy_version_id": 1},
                 "candidate": {"rate": 0.5, "interval95": [0.15, 0.85], "policy_version_id": 2}},
    "deploy": {"deployed": True, "note": "evaluation 50.0% vs deployed 25.0% (margin 0.0)"},
}


def build_snapshot_store() -> Path:
    shutil.rmtree(SNAPSHOT_DB.parent, ignore_errors=True)
    SNAPSHOT_DB.parent.mkdir(parents=True)
    checkpoint = SNAPSHOT_DB.parent / "weights.safetensors"
    checkpoint.write_bytes(b"not real weights: the screens only show names")
    with TrajectoryStore(SNAPSHOT_DB) as store:
        for seed in range(2):
            write_episode(store, seed, 6, success=True, source="expert")
        base = store.register_policy_version("base", checkpoint)
        store.deploy("transfer_cube", base.id, "initial")
        iteration = store.start_iteration("transfer_cube", 4)
        for seed, success in ((500_000, True), (500_001, False)):
            write_episode(store, seed, 6, success=success, source="policy", iteration_id=iteration.id)
        candidate = store.register_policy_version("transfer_cube-wmpo-1", checkpoint, parent_id=base.id)
        job = store.jobs.claim(store.jobs.create(JOB_KIND, list(STAGES), {"cycle": {"task": "transfer_cube"}},
                                                 iteration_id=iteration.id).id)
        for step in job.steps:
            store.jobs.start_step(step.id)
            store.jobs.finish_step(step.id, STAGE_RESULTS[step.name])
        store.jobs.finish(job.id)
        store.finish_iteration(iteration.id)
        store.deploy("transfer_cube", candidate.id, "gate", iteration_id=iteration.id)
    return SNAPSHOT_DB


@pytest.mark.parametrize("pane", ["1", "2", "3", "4", "5", "6"])
def test_pane_snapshot(pane, snap_compare):
    app = WmpoApp(build_snapshot_store(), refresh_s=3600)  # no refresh while the picture is taken
    assert snap_compare(app, press=[pane], terminal_size=SIZE)
