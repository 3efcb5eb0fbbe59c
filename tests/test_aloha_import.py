"""Importing ALOHA-format HDF5 episodes: round trips, camera selection, malformed files."""

from __future__ import annotations

import io
import json

import h5py
import numpy as np
import pytest
from PIL import Image

from storage import ImportFormatError, TrajectoryStore
from storage.aloha_hdf5 import import_aloha_episodes, read_aloha_episode

STEPS, HEIGHT, WIDTH = 12, 24, 32
CAMERAS = ("cam_high", "cam_left_wrist")


@pytest.fixture
def store(tmp_path):
    with TrajectoryStore(tmp_path / "wmpo.db") as store:
        yield store


def smooth_frames(seed: int) -> np.ndarray:
    """uint8 (STEPS, HEIGHT, WIDTH, 3) gradients that drift over time (JPEG-friendly)."""
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH]
    t = np.arange(STEPS)[:, None, None]
    channels = np.broadcast_arrays(x * 5 + t * 2 + seed * 10, y * 8 + t * 2, x * 3 + y * 4 + seed * 20)
    return np.clip(np.stack(channels, axis=-1), 0, 255).astype(np.uint8)


def red_left_blue_right() -> np.ndarray:
    frames = np.zeros((STEPS, HEIGHT, WIDTH, 3), np.uint8)
    frames[:, :, : WIDTH // 2, 0] = 230
    frames[:, :, WIDTH // 2 :, 2] = 230
    return frames


def episode_datasets(seed: int = 0, steps: int = STEPS) -> dict[str, np.ndarray]:
    """The datasets of a well-formed raw-image ALOHA episode, by HDF5 path."""
    rng = np.random.default_rng(seed)
    datasets = {
        "/observations/qpos": rng.normal(size=(steps, 14)),
        "/observations/qvel": rng.normal(size=(steps, 14)),
        "/action": rng.normal(size=(steps, 14)),
    }
    for i, cam in enumerate(CAMERAS):
        datasets[f"/observations/images/{cam}"] = smooth_frames(seed + i)[:steps]
    return datasets


def write_hdf5(path, datasets: dict[str, np.ndarray], **attrs):
    with h5py.File(path, "w") as f:
        f.attrs.update(attrs)
        for name, values in datasets.items():
            f.create_dataset(name, data=values)
    return path


def true_colour_jpeg(frame: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(frame)).save(buffer, "JPEG", quality=95)
    return buffer.getvalue()


def cv2_style_jpeg(frame: np.ndarray) -> bytes:
    """What cv2.imencode makes of an RGB array: it takes it for BGR, so the JPEG is swapped."""
    return true_colour_jpeg(frame[..., ::-1])


def compressed_datasets(images: dict[str, np.ndarray], encode=true_colour_jpeg) -> dict[str, np.ndarray]:
    """Turn raw image datasets into the recorders' padded-JPEG layout plus /compress_len."""
    datasets, lengths = {}, []
    for name in sorted(images):  # the recorders' camera order, as the importer assumes
        encoded = [encode(frame) for frame in images[name]]
        padded = np.zeros((len(encoded), max(map(len, encoded))), np.uint8)
        for t, data in enumerate(encoded):
            padded[t, : len(data)] = np.frombuffer(data, np.uint8)
        datasets[name] = padded
        lengths.append([len(data) for data in encoded])
    datasets["/compress_len"] = np.array(lengths, np.float32)  # float32, as the recorders write it
    return datasets


def write_compressed_episode(path, seed: int = 0, images: dict | None = None, encode=true_colour_jpeg):
    datasets = episode_datasets(seed)
    raw = {name: datasets.pop(name) for name in list(datasets) if name.startswith("/observations/images/")}
    datasets.update(compressed_datasets(images or raw, encode))
    return write_hdf5(path, datasets, sim=False, compress=True)


def assert_nothing_imported(store):
    assert store.count_episodes() == 0
    assert store.summary()["staged"] == 0


# -- round trips ---------------------------------------------------------------------------


def test_raw_episode_round_trip(tmp_path, store):
    datasets = episode_datasets(seed=1)
    path = write_hdf5(tmp_path / "episode_0.hdf5", datasets, sim=True)
    progress = []

    ids = import_aloha_episodes(store, [path], task="transfer_cube", instruction="pass the cube",
                                progress=lambda done, total, p: progress.append((done, total, p)))

    assert len(ids) == 1 and progress == [(1, 1, path)]
    steps = store.load_steps(ids[0])
    np.testing.assert_array_equal(steps.actions, datasets["/action"].astype(np.float32))
    np.testing.assert_array_equal(steps.qpos, datasets["/observations/qpos"].astype(np.float32))
    np.testing.assert_allclose(steps.timestamps, np.arange(STEPS) * 0.02)
    for cam in CAMERAS:
        np.testing.assert_array_equal(store.load_frames(ids[0], cam), datasets[f"/observations/images/{cam}"])
    episode = store.episode(ids[0])
    assert (episode.task, episode.instruction, episode.source) == ("transfer_cube", "pass the cube", "expert")
    assert (episode.robot_kind, episode.length, episode.control_period_s) == ("sim", STEPS, 0.02)
    assert (episode.success, episode.label_source) == (True, "operator")
    assert json.loads(episode.extra_json) == {"imported_from": str(path), "format": "aloha-hdf5"}


def test_unlabelled_import_and_robot_kind_override(tmp_path, store):
    path = write_hdf5(tmp_path / "episode_0.hdf5", episode_datasets(), sim=True)

    [episode_id] = import_aloha_episodes(store, [path], task="t", success=None, robot_kind="real")

    episode = store.episode(episode_id)
    assert (episode.success, episode.label_source, episode.robot_kind) == (None, None, "real")


def test_compressed_episode_keeps_colours(tmp_path, store):
    smooth = smooth_frames(seed=2)
    images = {"/observations/images/cam_high": red_left_blue_right(),
              "/observations/images/cam_left_wrist": smooth}
    path = write_compressed_episode(tmp_path / "episode_0.hdf5", images=images)

    [episode_id] = import_aloha_episodes(store, [path], task="t")

    assert store.episode(episode_id).robot_kind == "real"
    decoded = store.load_frames(episode_id, "cam_left_wrist").astype(int)
    assert np.abs(decoded - smooth).mean() < 8
    red_blue = store.load_frames(episode_id, "cam_high").astype(int)
    left, right = red_blue[:, :, 4], red_blue[:, :, -4]
    assert (left[..., 0] > 200).all() and (left[..., 2] < 40).all()
    assert (right[..., 2] > 200).all() and (right[..., 0] < 40).all()


def test_red_blue_swapped_jpegs_are_put_right_when_asked(tmp_path, store):
    images = {"/observations/images/cam_high": red_left_blue_right()}
    path = write_compressed_episode(tmp_path / "episode_0.hdf5", images=images, encode=cv2_style_jpeg)

    [as_is] = import_aloha_episodes(store, [path], task="t")
    [swapped] = import_aloha_episodes(store, [path], task="t", jpeg_red_blue_swapped=True)

    assert store.load_frames(as_is, "cam_high")[0, 0, 4, 2] > 200  # red shows as blue...
    fixed = store.load_frames(swapped, "cam_high")[0].astype(int)
    assert fixed[0, 4, 0] > 200 and fixed[0, 4, 2] < 40  # ...unless the swap is undone


# -- camera selection ----------------------------------------------------------------------


def test_camera_subset(tmp_path, store):
    path = write_hdf5(tmp_path / "episode_0.hdf5", episode_datasets())

    [episode_id] = import_aloha_episodes(store, [path], task="t", cameras=["cam_left_wrist"])

    assert list(store.cameras(episode_id)) == ["cam_left_wrist"]
    assert read_aloha_episode(path).cameras == {cam: (HEIGHT, WIDTH, 3) for cam in CAMERAS}


def test_unknown_camera_is_refused(tmp_path, store):
    path = write_hdf5(tmp_path / "episode_0.hdf5", episode_datasets())

    with pytest.raises(ImportFormatError, match=r"cam_low.*not in /observations/images"):
        import_aloha_episodes(store, [path], task="t", cameras=["cam_high", "cam_low"])
    assert_nothing_imported(store)


# -- malformed files -----------------------------------------------------------------------


def without(name):
    def change(datasets):
        del datasets[name]
    return change


def replaced(name, make):
    def change(datasets):
        datasets[name] = make(datasets[name])
    return change


def with_nan(values):
    values = values.copy()
    values[5, 3] = np.nan
    return values


MALFORMED = {
    "missing action": (without("/action"), r"/action is missing"),
    "7-column action": (replaced("/action", lambda a: a[:, :7]),
                        r"/action has shape \(12, 7\).*expected \(T, 14\).*\(T=12\)"),
    "images shorter than qpos": (replaced("/observations/images/cam_high", lambda a: a[:-1]),
                                 r"cam_high has shape \(11, 24, 32, 3\).*T=12"),
    "NaN in qpos": (replaced("/observations/qpos", with_nan), r"/observations/qpos .*NaN.*step 5, joint 3"),
    "float images": (replaced("/observations/images/cam_high", lambda a: a.astype(np.float32)),
                     r"cam_high has .*dtype float32, expected uint8"),
    "empty episode": (lambda datasets: datasets.update(episode_datasets(steps=0)),
                      r"/observations/qpos has shape \(0, 14\).*at least one step"),
}


@pytest.mark.parametrize("case", MALFORMED)
def test_malformed_file_imports_nothing(tmp_path, store, case):
    change, message = MALFORMED[case]
    datasets = episode_datasets()
    change(datasets)
    path = write_hdf5(tmp_path / "episode_3.hdf5", datasets)

    with pytest.raises(ImportFormatError, match=message) as raised:
        import_aloha_episodes(store, [path], task="t")
    assert "episode_3.hdf5" in str(raised.value)
    assert_nothing_imported(store)


def test_text_file_is_not_hdf5(tmp_path, store):
    path = tmp_path / "episode_0.hdf5"
    path.write_text("qpos,action\n0,0\n")

    with pytest.raises(ImportFormatError, match=r"episode_0.hdf5: not an HDF5 file"):
        import_aloha_episodes(store, [path], task="t")
    assert_nothing_imported(store)


def test_one_bad_file_in_a_batch_imports_nothing(tmp_path, store):
    good = write_hdf5(tmp_path / "episode_0.hdf5", episode_datasets())
    bad_datasets = episode_datasets(seed=1)
    del bad_datasets["/observations/qpos"]
    bad = write_hdf5(tmp_path / "episode_1.hdf5", bad_datasets)

    with pytest.raises(ImportFormatError, match=r"episode_1.hdf5: /observations/qpos is missing"):
        import_aloha_episodes(store, [good, bad], task="t")
    assert_nothing_imported(store)


def test_corrupt_late_jpeg_discards_only_that_episode(tmp_path, store):
    good = write_compressed_episode(tmp_path / "episode_0.hdf5", seed=0)
    corrupt = write_compressed_episode(tmp_path / "episode_1.hdf5", seed=1)
    with h5py.File(corrupt, "r+") as f:
        f["/observations/images/cam_left_wrist"][STEPS - 2, :4] = np.zeros(4, np.uint8)
    read_aloha_episode(corrupt)  # shapes are fine: validation passes

    with pytest.raises(ImportFormatError) as raised:
        import_aloha_episodes(store, [good, corrupt], task="t")

    message = str(raised.value)
    assert f"episode_1.hdf5: /observations/images/cam_left_wrist[{STEPS - 2}]" in message
    [kept] = [episode.id for episode in store.episodes()]
    assert f"episodes [{kept}] from earlier files were imported" in message
    assert store.episode(kept).length == STEPS and store.summary()["staged"] == 0
