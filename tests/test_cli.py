"""The headless CLI, run as operators run it: the installed `wmpo-app` in a subprocess."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np

from episode_data import write_episode

from storage import EpisodeFilter, TrajectoryStore
from storage.migrations import SCHEMA_VERSION

WMPO_APP = shutil.which("wmpo-app") or str(Path(sys.executable).with_name("wmpo-app"))


def wmpo_app(*args, db):
    return subprocess.run([WMPO_APP, "--db", str(db), *args], capture_output=True, text=True, timeout=120)


def test_demos_records_expert_episodes_in_the_sim(tmp_path):
    db = tmp_path / "data" / "wmpo.db"
    result = wmpo_app("demos", "--n", "3", db=db)
    assert result.returncode == 0, result.stderr
    assert "recorded 3 expert episodes of transfer_cube: 3 succeeded" in result.stdout
    assert "3 expert" in wmpo_app("status", db=db).stdout


def test_the_cli_starts_without_torch():
    """Listing, status and refusals answer in a second or two: torch (seconds to import) loads
    only inside the commands that train or run a model. The test suite calls the CLI often."""
    imported = subprocess.run([sys.executable, "-c", "import sys, app.cli; print('torch' in sys.modules)"],
                              capture_output=True, text=True, timeout=120)
    assert imported.returncode == 0, imported.stderr
    assert imported.stdout.strip() == "False"


def test_status_reports_and_never_creates_a_store(tmp_path):
    db = tmp_path / "data" / "wmpo.db"
    missing = wmpo_app("status", db=db)
    assert missing.returncode == 2 and missing.stderr.startswith("wmpo-app: error: no store at")
    assert not db.parent.exists()  # a mistyped --db creates nothing
    TrajectoryStore(db).close()
    result = wmpo_app("status", db=db)
    assert result.returncode == 0, result.stderr
    assert f"schema       v{SCHEMA_VERSION}" in result.stdout and "none yet" in result.stdout
    with TrajectoryStore(db) as store:
        write_episode(store, 1, 3, success=True, source="expert")
        write_episode(store, 2, 3, success=False, source="expert")
    result = wmpo_app("status", db=db)
    assert "2 expert" in result.stdout
    assert "expert: 50.0% [9.5, 90.5] (1/2, 0 unlabelled)" in result.stdout


def test_import_list_relabel_check(tmp_path):
    db = tmp_path / "wmpo.db"
    path = tmp_path / "episode_0.hdf5"
    rng = np.random.default_rng(0)
    with h5py.File(path, "w") as f:
        f.attrs["sim"] = True
        f["/observations/qpos"] = rng.normal(size=(6, 14))
        f["/action"] = rng.normal(size=(6, 14))
        f["/observations/images/top"] = rng.integers(0, 256, (6, 16, 24, 3), dtype=np.uint8)
    result = wmpo_app("import-aloha", str(tmp_path), "--task", "insertion", db=db)  # a folder: its episode files
    assert result.returncode == 0, result.stderr
    assert "imported 1 episodes" in result.stdout
    listing = wmpo_app("episodes", "--source", "expert", db=db).stdout
    assert "insertion" in listing and "operator" in listing and "sim" in listing
    assert wmpo_app("relabel", "1", "failure", db=db).returncode == 0
    assert "no" in wmpo_app("episodes", "--label", "failure", db=db).stdout
    assert wmpo_app("check", db=db).stdout.strip() == "integrity: ok"


def test_errors_are_one_clear_line(tmp_path):
    not_a_store = tmp_path / "notes.db"
    not_a_store.write_text("hello")
    result = wmpo_app("status", db=not_a_store)
    assert result.returncode == 2
    assert result.stderr.startswith("wmpo-app: error:") and "not a SQLite database" in result.stderr
    ui = wmpo_app(db=not_a_store)  # the UI refuses the same way, before any screen opens
    assert ui.returncode == 2 and "not a SQLite database" in ui.stderr and ui.stdout == ""
    assert not_a_store.read_text() == "hello"  # untouched
    bad = tmp_path / "episode_9.hdf5"
    bad.write_text("not hdf5")
    result = wmpo_app("import-aloha", str(bad), "--task", "transfer_cube", db=tmp_path / "wmpo.db")
    assert result.returncode == 2 and "not an HDF5 file" in result.stderr
    unknown_task = wmpo_app("import-aloha", str(bad), "--task", "t", db=tmp_path / "wmpo.db")
    assert unknown_task.returncode == 2 and "invalid choice: 't'" in unknown_task.stderr
    (tmp_path / "empty").mkdir()
    folder = wmpo_app("import-aloha", str(tmp_path / "empty"), "--task", "transfer_cube", db=tmp_path / "wmpo.db")
    assert folder.returncode == 2 and "folder without episode_N.hdf5 files" in folder.stderr
    assert "Traceback" not in result.stderr
    newcomer = wmpo_app("cycle", "--profile", "tiny", db=tmp_path / "wmpo.db")  # a fresh store: no policy yet
    assert newcomer.returncode == 2 and ("no policy yet; train the base policy first" in newcomer.stderr
                                         and "wmpo-app train-policy --profile tiny" in newcomer.stderr)
    with TrajectoryStore(tmp_path / "wmpo.db") as store:
        assert store.jobs.unfinished() == [] and store.jobs.finished() == []  # refused before any work
    missing = wmpo_app("relabel", "99999", "success", db=tmp_path / "wmpo.db")
    assert missing.stderr == "wmpo-app: error: no committed episode with id 99999\n"  # no Python quotes
    # a reader that has gone before the report is written (`| head`, here `| true`) is no error
    piped = subprocess.run(["bash", "-o", "pipefail", "-c", f"'{WMPO_APP}' --db '{tmp_path / 'wmpo.db'}' status | true"],
                           capture_output=True, text=True, timeout=120)
    assert piped.returncode == 0 and piped.stderr == ""


def test_demos_fill_the_store_with_successful_expert_episodes(tmp_path):
    db = tmp_path / "wmpo.db"
    result = wmpo_app("demos", "--task", "transfer_cube", "--n", "2", "--size", "32x48", db=db)
    assert result.returncode == 0, result.stderr
    assert "[2/2]" in result.stdout and "2 succeeded" in result.stdout
    again = wmpo_app("demos", "--task", "transfer_cube", "--n", "1", "--size", "32x48", db=db)
    assert again.returncode == 0, again.stderr
    with TrajectoryStore(db) as store:
        episodes = store.episodes()
        assert [e.seed for e in episodes] == [0, 1, 2]  # a second run continues the seeds
        assert all(e.source == "expert" and e.success and e.label_source == "env" for e in episodes)
        assert store.cameras(episodes[0].id)["cam_high"].height == 32
    sheet = tmp_path / "sheet.png"
    assert wmpo_app("contact-sheet", "1", "--out", str(sheet), db=db).returncode == 0
    assert sheet.stat().st_size > 1000


def test_empty_store_to_evaluated_policy_in_two_calls(tmp_path):
    db = tmp_path / "wmpo.db"
    trained = wmpo_app("train-policy", "--task", "transfer_cube", "--profile", "tiny", "--demos", "2",
                       "--steps", "20", "--batch", "16", "--set", "width=4", db=db)
    assert trained.returncode == 0, trained.stderr
    assert "[demos 2/2]" in trained.stdout and "[train 20/20]" in trained.stdout
    assert "policy version 1 'base-transfer_cube-tiny'" in trained.stdout
    with TrajectoryStore(db) as store:  # trained with the profile's field changed by --set
        saved = json.loads((Path(store.policy_version(1).checkpoint_path) / "config.json").read_text())
    assert saved["policy"]["width"] == 4
    evaluated = wmpo_app("eval", "--policy", "base-transfer_cube-tiny", "--n", "2", db=db)
    assert evaluated.returncode == 0, evaluated.stderr
    assert "transfer_cube: success" in evaluated.stdout and "ms/chunk" in evaluated.stdout
    with TrajectoryStore(db) as store:
        runs = store.episodes(EpisodeFilter(source="eval"))
        assert [e.seed for e in runs] == [1_000_000, 1_000_001]  # the fixed evaluation seeds
        assert all(e.policy_version_id == 1 and e.success is not None for e in runs)
        assert store.cameras(runs[0].id) == {}  # evaluations keep no frames unless asked
        assert store.metrics("eval/success_rate")[0].payload_json
    again = wmpo_app("train-policy", "--task", "transfer_cube", "--profile", "tiny", db=db)
    assert "policy version 1" in again.stdout  # already trained: nothing redone
    odd = wmpo_app("train-policy", "--profile", "tiny", "--set", "width=6", "--name", "odd", db=db)
    assert odd.returncode == 2 and "width 6; expected 1, 2, 4 or a multiple of 8" in odd.stderr  # before any work


def test_world_model_trains_and_reports_fidelity_with_strips(tmp_path):
    db = tmp_path / "wmpo.db"
    assert wmpo_app("demos", "--n", "3", "--size", "32x48", db=db).returncode == 0
    knobs = tmp_path / "wm.toml"
    knobs.write_text("[diffusion]\nsampling_steps = 1\ncontext_noise_max = 0.1\n")
    trained = wmpo_app("train-world-model", "--profile", "tiny", "--steps", "4", "--batch", "2", "--config", str(knobs),
                       "--set", "diffusion.context_noise_max=0.2", "--name", "wm", db=db)
    assert trained.returncode == 0, trained.stderr
    saved = json.loads((tmp_path / "checkpoints" / "world-models" / "wm" / "model" / "config.json").read_text())
    assert saved["world_model"]["diffusion"]["context_noise_max"] == 0.2  # trained with it (--set over the file)
    assert saved["world_model"]["diffusion"]["sampling_steps"] == 1  # and with the file's
    assert "[world model 4/4]" in trained.stdout
    # more steps later: the run goes on in the configuration it started with, whatever the profile says now
    longer = wmpo_app("train-world-model", "--steps", "6", "--batch", "2", "--name", "wm", db=db)
    assert longer.returncode == 0, longer.stderr
    assert "[world model 6/6]" in longer.stdout and "[world model 2/6]" not in longer.stdout
    models = wmpo_app("models", "--verify", db=db)  # trained twice under one name: one entry, up to date
    assert models.returncode == 0, models.stdout + models.stderr
    assert [line.split()[:2] for line in models.stdout.splitlines()[1:]] == [["world_model", "wm"], ["verified", "1"]]
    changed = wmpo_app("train-world-model", "--steps", "8", "--set", "diffusion.context_noise_max=0.3", "--name", "wm",
                       db=db)
    assert changed.returncode == 2 and "started with another configuration" in changed.stderr
    bad = wmpo_app("train-world-model", "--profile", "tiny", "--set", "diffusion.scheduler=ddim", "--name", "x", db=db)
    assert bad.returncode == 2 and "has no field 'scheduler'" in bad.stderr
    strips = tmp_path / "strips"
    report = wmpo_app("fidelity", "--name", "wm", "--horizon", "17", "--strips", str(strips), db=db)
    assert report.returncode == 0, report.stderr
    assert "1 episodes to step 16: PSNR" in report.stdout and "frozen first frame" in report.stdout
    assert [p.name for p in strips.iterdir()] == ["fidelity-wm-episode3.png"]  # the held-out episode
    with TrajectoryStore(db) as store:
        payload = store.metrics("world_model/psnr_db_last")[0].payload_json
        assert '"episode_ids": [3]' in payload
    missing = wmpo_app("fidelity", "--name", "nothing", db=db)
    assert missing.returncode == 2 and "nothing" in missing.stderr
