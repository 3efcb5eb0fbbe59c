"""LeRobotDataset v3.0 export and import: the layout on disk, round trips through a fresh store,
incremental export, and malformed folders."""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
import pytest

from storage import EpisodeFilter, EpisodeInfo, EpisodeSpec, ImportFormatError, StoreError, TrajectoryStore
from storage.lerobot_export import export_lerobot
from storage.lerobot_import import import_lerobot
from storage.video import H264_LOSSLESS, h264, psnr

# 96x128, not smaller: at 48x64 yuv420p's half-resolution colour alone caps the soft red blob at
# ~41 dB before any compression, which would leave the lossy test no margin to H.264's own loss.
HEIGHT, WIDTH, STEPS = 96, 128, 12
SPEC = EpisodeSpec(cameras={"cam_high": (HEIGHT, WIDTH, 3), "cam_left_wrist": (HEIGHT, WIDTH, 3)})


def moving_frames(seed: int, camera: int) -> np.ndarray:
    """uint8 (STEPS, H, W, 3): smooth gradients and a soft red blob that moves, like a camera's
    view of the cube (a lossy codec's chroma subsampling smears razor-sharp colour edges)."""
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH]
    frames = []
    for t in range(STEPS):
        background = np.stack([x + seed * 20 + camera * 40, y * 2 + t * 3, (x + y) / 2 + seed * 7 + 60], -1)
        blob = np.exp(-((x - 12 - 3 * t) ** 2 + (y - 14 - t) ** 2) / 120.0)[..., None]
        frames.append(np.clip(background * (1 - blob) + np.array([230, 40 * camera, 60]) * blob, 0, 255))
    return np.stack(frames).astype(np.uint8)


def write_episode(store, seed: int, *, success: bool | None = True, source: str = "policy",
                  scene: str = "stock") -> int:
    rng = np.random.default_rng(seed)
    actions, qpos = rng.normal(size=(2, STEPS, 14)).astype(np.float32)
    frames = {cam: moving_frames(seed, i) for i, cam in enumerate(SPEC.cameras)}
    info = EpisodeInfo(task="transfer_cube", instruction="pick up the cube", source=source, robot_kind="sim",
                       control_period_s=0.02, seed=seed, scene=scene)
    with store.episode_writer(info, SPEC) as writer:
        for t in range(STEPS):
            writer.add_step(actions[t], qpos[t], {cam: f[t] for cam, f in frames.items()}, timestamp=0.02 * t)
        return writer.commit(success=success, label_source=None if success is None else "env")


@pytest.fixture
def source_store(tmp_path):
    with TrajectoryStore(tmp_path / "source.db") as store:
        write_episode(store, 0, success=True, source="expert")
        write_episode(store, 1, success=False)
        write_episode(store, 2, success=None)
        yield store


def imported_store(tmp_path, folder, **kwargs) -> tuple[TrajectoryStore, list[int]]:
    store = TrajectoryStore(tmp_path / "imported.db")
    try:
        return store, import_lerobot(store, folder, task="transfer_cube", **kwargs)
    except BaseException:
        store.close()
        raise


def test_lossless_round_trip_keeps_every_value(source_store, tmp_path):
    folder = tmp_path / "dataset"
    report = export_lerobot(source_store, EpisodeFilter(), folder, codec=H264_LOSSLESS)
    assert len(report.added) == 3 and report.frames == 3 * STEPS
    assert report.psnr_db == {"cam_high": float("inf"), "cam_left_wrist": float("inf")}
    for path in ("meta/info.json", "meta/stats.json", "meta/tasks.parquet",
                 "meta/episodes/chunk-000/file-000.parquet", "data/chunk-000/file-000.parquet",
                 "videos/observation.images.cam_high/chunk-000/file-000.mp4",
                 "videos/observation.images.cam_left_wrist/chunk-000/file-000.mp4"):
        assert (folder / path).is_file(), path
    info = json.loads((folder / "meta/info.json").read_text())
    assert (info["codebase_version"], info["fps"], info["total_episodes"], info["total_frames"]) == ("v3.0", 50, 3, 36)
    assert info["features"]["observation.images.cam_high"]["shape"] == [HEIGHT, WIDTH, 3]
    assert info["features"]["action"]["names"][6] == "left_gripper"
    frames = pq.read_table(folder / "data/chunk-000/file-000.parquet")
    assert frames.column("wmpo.success").to_pylist()[::STEPS] == [1, 0, -1]
    assert frames.column("timestamp").to_pylist()[1] == pytest.approx(0.02)
    stats = json.loads((folder / "meta/stats.json").read_text())
    assert np.asarray(stats["observation.images.cam_high"]["mean"]).shape == (3, 1, 1)

    store, ids = imported_store(tmp_path, folder)
    with store:
        for original, copy in zip(source_store.episodes(), ids):
            episode = store.episode(copy)
            assert (episode.success, episode.source, episode.robot_kind, episode.instruction) == (
                original.success, original.source, original.robot_kind, "pick up the cube")
            ours, theirs = source_store.load_steps(original.id), store.load_steps(copy)
            np.testing.assert_array_equal(theirs.actions, ours.actions)
            np.testing.assert_array_equal(theirs.qpos, ours.qpos)
            for camera in SPEC.cameras:
                np.testing.assert_array_equal(store.load_frames(copy, camera),
                                              source_store.load_frames(original.id, camera))


def test_lossy_round_trip_is_within_40_db(source_store, tmp_path):
    folder = tmp_path / "dataset"
    report = export_lerobot(source_store, EpisodeFilter(), folder, codec=h264(crf=18), keyframe_interval=2)
    assert min(report.psnr_db.values()) >= 40
    store, ids = imported_store(tmp_path, folder)
    with store:
        for original, copy in zip(source_store.episodes(), ids):
            np.testing.assert_array_equal(store.load_steps(copy).actions, source_store.load_steps(original.id).actions)
            for camera in SPEC.cameras:
                assert psnr(source_store.load_frames(original.id, camera), store.load_frames(copy, camera)) >= 40


def test_export_again_adds_only_new_episodes(source_store, tmp_path):
    folder = tmp_path / "dataset"
    first = export_lerobot(source_store, EpisodeFilter(labelled=True), folder, codec=H264_LOSSLESS)
    assert len(first.added) == 2
    newer = write_episode(source_store, 3)
    again = export_lerobot(source_store, EpisodeFilter(), folder, codec=H264_LOSSLESS)
    assert again.added == [3, newer] and sorted(again.skipped) == first.added
    assert (folder / "data/chunk-000/file-001.parquet").is_file()
    assert export_lerobot(source_store, EpisodeFilter(), folder).added == []
    write_episode(source_store, 4)
    with pytest.raises(StoreError, match=r"videos are \['gbrp'\], these would be \['yuv420p'\]"):
        export_lerobot(source_store, EpisodeFilter(), folder, codec=h264())
    info = json.loads((folder / "meta/info.json").read_text())
    assert (info["total_episodes"], info["total_frames"]) == (4, 4 * STEPS)

    store, ids = imported_store(tmp_path, folder, source="eval")
    with store:
        assert len(ids) == 4 and {store.episode(i).source for i in ids} == {"eval"}
        np.testing.assert_array_equal(store.load_frames(ids[-1], "cam_high"),
                                      source_store.load_frames(newer, "cam_high"))


def test_the_scene_travels_and_an_older_folder_takes_no_disrupted_episode(source_store, tmp_path):
    disrupted = write_episode(source_store, 5, scene="object_colour")
    folder = tmp_path / "dataset"
    export_lerobot(source_store, EpisodeFilter(), folder, codec=H264_LOSSLESS)
    store, ids = imported_store(tmp_path, folder)
    with store:
        assert [store.episode(i).scene for i in ids] == ["stock"] * 3 + ["object_colour"]
    # a folder written before the scene column: stock episodes still join it, a disrupted one is refused
    older = tmp_path / "older"
    export_lerobot(source_store, EpisodeFilter(ids=(1,)), older, codec=H264_LOSSLESS)
    info = json.loads((older / "meta/info.json").read_text())
    del info["features"]["wmpo.scene"]
    (older / "meta/info.json").write_text(json.dumps(info))
    data = older / "data/chunk-000/file-000.parquet"
    pq.write_table(pq.read_table(data).drop(["wmpo.scene"]), data)
    with pytest.raises(StoreError, match=rf"without a wmpo.scene column, and episodes \[{disrupted}\] were run in a "
                                         r"disruption scene"):
        export_lerobot(source_store, EpisodeFilter(), older, codec=H264_LOSSLESS)
    assert export_lerobot(source_store, EpisodeFilter(scene="stock"), older, codec=H264_LOSSLESS).added == [2, 3]
    assert "wmpo.scene" not in pq.read_table(older / "data/chunk-000/file-001.parquet").column_names
    again = TrajectoryStore(tmp_path / "again.db")
    with again:
        assert {again.episode(i).scene for i in import_lerobot(again, older, task="transfer_cube")} == {"stock"}


def test_malformed_folders_are_refused_with_what_was_expected(source_store, tmp_path):
    with pytest.raises(ImportFormatError, match="no meta/info.json"):
        imported_store(tmp_path, tmp_path)
    folder = tmp_path / "dataset"
    export_lerobot(source_store, EpisodeFilter(ids=(1,)), folder, codec=H264_LOSSLESS)
    info_path = folder / "meta/info.json"
    info = json.loads(info_path.read_text())

    info_path.write_text(json.dumps({**info, "codebase_version": "v2.1"}))
    with pytest.raises(ImportFormatError, match="codebase_version 'v2.1', expected 'v3.0'"):
        imported_store(tmp_path, folder)

    wrong = json.loads(json.dumps(info))
    wrong["features"]["action"]["shape"] = [7]
    info_path.write_text(json.dumps(wrong))
    with pytest.raises(ImportFormatError, match=r"shape mismatch: 'action' has 14 values .* say \[7\]"):
        imported_store(tmp_path, folder)

    wrong = json.loads(json.dumps(info))
    wrong["features"]["observation.images.cam_high"]["shape"] = [48, 64, 3]
    info_path.write_text(json.dumps(wrong))
    with pytest.raises(ImportFormatError, match="shape mismatch: frames are 96x128.* says 48x64"):
        imported_store(tmp_path, folder)
    with TrajectoryStore(tmp_path / "imported.db") as store:
        assert store.count_episodes() == 0


def test_the_commands_export_and_import(source_store, tmp_path, capsys):
    from app.cli import main as cli_main

    folder = tmp_path / "dataset"
    source_store.close()
    assert cli_main(["--db", str(source_store.path), "export-lerobot", "--out", str(folder), "--label", "success",
                    "--lossless"]) == 0
    assert "added 1 episodes (12 frames)" in capsys.readouterr().out
    assert cli_main(["--db", str(source_store.path), "export-lerobot", "--out", str(folder), "--lossless"]) == 0
    out = capsys.readouterr().out
    assert "added 2 episodes (24 frames); 1 already there" in out and "PSNR inf dB" in out
    target = tmp_path / "imported.db"
    assert cli_main(["--db", str(target), "import-lerobot", str(folder), "--task", "transfer_cube"]) == 0
    assert "imported 3 episodes" in capsys.readouterr().out
    assert cli_main(["--db", str(target), "import-lerobot", str(tmp_path / "nowhere"), "--task", "transfer_cube"]) == 2
    assert "no meta/info.json" in capsys.readouterr().err


def test_an_import_that_fails_part_way_leaves_nothing(source_store, tmp_path, monkeypatch):
    import storage.lerobot_import as lerobot_import

    folder = tmp_path / "dataset"
    export_lerobot(source_store, EpisodeFilter(), folder, codec=H264_LOSSLESS)
    real_iter_frames, opened = lerobot_import.iter_frames, []

    def the_second_episode_cannot_be_read(path, fps, start=0):
        opened.append(path)
        if len(opened) > 2:  # past the first episode's two cameras: a disk error after the checks
            raise OSError(f"{path}: read error")
        return real_iter_frames(path, fps, start)

    monkeypatch.setattr(lerobot_import, "iter_frames", the_second_episode_cannot_be_read)
    with pytest.raises(ImportFormatError, match="read error.*nothing was imported"):
        imported_store(tmp_path, folder)
    with TrajectoryStore(tmp_path / "imported.db") as store:
        assert store.count_episodes() == 0 and store.summary()["staged"] == 0
