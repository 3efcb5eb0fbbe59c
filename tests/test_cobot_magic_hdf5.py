"""The Cobot Magic hdf5 layout: grippers in metres and base_action in, the same file back out."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from test_aloha_import import CAMERAS, STEPS, episode_datasets, write_hdf5

from app.cli import main as cli_main
from storage import ImportFormatError, TrajectoryStore
from storage.aloha_export import export_aloha_episode
from storage.aloha_hdf5 import import_aloha_episodes


def cobot_datasets(seed: int = 0) -> dict[str, np.ndarray]:
    """An AgileX recorder's episode: followers and leaders with Piper grippers in metres, the base."""
    rng = np.random.default_rng(seed)
    datasets = episode_datasets(seed)
    for name in ("/observations/qpos", "/action"):
        datasets[name][:, [6, 13]] = rng.uniform(0.0, 0.08, size=(STEPS, 2))
    datasets["/observations/effort"] = rng.normal(size=(STEPS, 14))
    datasets["/base_action"] = np.stack([rng.uniform(-0.3, 0.3, STEPS), rng.uniform(-0.5, 0.5, STEPS)], axis=1)
    return datasets


def test_cobot_magic_layout_imports_normalised_grippers_and_base(tmp_path):
    datasets = cobot_datasets()
    path = write_hdf5(tmp_path / "episode_0.hdf5", datasets, sim=False, compress=False)
    with TrajectoryStore(tmp_path / "wmpo.db") as store:
        (episode_id,) = import_aloha_episodes(store, [path], task="transfer_cube", layout="cobot_magic")
        episode = store.episode(episode_id)
        steps = store.load_steps(episode_id)
    qpos = datasets["/observations/qpos"]
    np.testing.assert_allclose(steps.qpos[:, [6, 13]], qpos[:, [6, 13]] / 0.08, rtol=1e-5)
    np.testing.assert_allclose(steps.qpos[:, :6], qpos[:, :6], rtol=1e-5)
    np.testing.assert_allclose(steps.actions[:, 13], datasets["/action"][:, 13] / 0.08, rtol=1e-5)
    extra = json.loads(episode.extra_json)
    assert extra["format"] == "cobot_magic-hdf5"
    np.testing.assert_allclose(extra["base_action"], datasets["/base_action"], atol=1e-6)
    assert episode.control_period_s == pytest.approx(1 / 30) and episode.robot_kind == "real"


def test_cobot_magic_layout_needs_base_action(tmp_path):
    datasets = cobot_datasets()
    del datasets["/base_action"]
    path = write_hdf5(tmp_path / "episode_0.hdf5", datasets)
    with TrajectoryStore(tmp_path / "wmpo.db") as store:
        with pytest.raises(ImportFormatError, match=r"/base_action is missing; expected a dataset \(T=12, 2\) float "
                                                     r"\[v_x, omega_z\], as the cobot_magic layout has"):
            import_aloha_episodes(store, [path], task="transfer_cube", layout="cobot_magic")
        bad = {**cobot_datasets(), "/base_action": np.zeros((STEPS, 3))}
        with pytest.raises(ImportFormatError, match=r"/base_action has shape \(12, 3\)"):
            import_aloha_episodes(store, [write_hdf5(tmp_path / "episode_1.hdf5", bad)], task="transfer_cube",
                                  layout="cobot_magic")
        assert store.count_episodes() == 0


def test_cli_round_trip_in_the_cobot_magic_layout(tmp_path, capsys):
    datasets = cobot_datasets(3)
    source = tmp_path / "in"
    source.mkdir()
    write_hdf5(source / "episode_0.hdf5", datasets, sim=False, compress=False)
    db = str(tmp_path / "wmpo.db")
    assert cli_main(["--db", db, "import-aloha", str(source), "--task", "transfer_cube", "--layout", "cobot_magic"]) == 0
    assert cli_main(["--db", db, "export-aloha", "1", "--out", str(tmp_path / "out"), "--layout", "cobot_magic"]) == 0
    assert "wrote 1 episodes (cobot_magic layout)" in capsys.readouterr().out
    with h5py.File(tmp_path / "out" / "episode_0.hdf5", "r") as f:
        for name in ("/observations/qpos", "/action", "/base_action"):
            np.testing.assert_allclose(f[name][()], datasets[name], rtol=1e-5, atol=1e-6, err_msg=name)
        for camera in CAMERAS:
            name = f"/observations/images/{camera}"
            assert f[name].dtype == np.uint8 and np.array_equal(f[name][()], datasets[name])
        assert f["/observations/qvel"].shape == (STEPS, 14) and f["/observations/qvel"].attrs["recorded"] == False  # noqa: E712
        assert f.attrs["sim"] == False and f.attrs["compress"] == False  # noqa: E712


def test_aloha_layout_export_reimports_the_same_episode(tmp_path):
    datasets = episode_datasets(5)
    path = write_hdf5(tmp_path / "episode_0.hdf5", datasets, sim=True)
    with TrajectoryStore(tmp_path / "wmpo.db") as store:
        (first,) = import_aloha_episodes(store, [path], task="transfer_cube")
        exported = export_aloha_episode(store, first, tmp_path / "again.hdf5")
        (second,) = import_aloha_episodes(store, [exported], task="transfer_cube")
        a, b = store.load_steps(first), store.load_steps(second)
        assert np.array_equal(a.qpos, b.qpos) and np.array_equal(a.actions, b.actions)
        assert np.array_equal(store.load_frames(first, "cam_high"), store.load_frames(second, "cam_high"))
        assert store.episode(second).robot_kind == "sim"
    assert not (tmp_path / "again.hdf5.partial").exists()
