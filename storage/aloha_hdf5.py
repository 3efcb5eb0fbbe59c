"""Import ALOHA-format HDF5 episodes into the trajectory store.

The format is the one written by the ALOHA family of recorders (tonyzhaozh/aloha, ACT's
sim scripts, Interbotix/aloha for ROS 2, MarkFzp/mobile-aloha): one file per episode,
``episode_N.hdf5``, holding

    /observations/qpos          (T, 14) float  joint positions: 2 arms x (6 joints + gripper)
    /action                     (T, 14) float  commanded joint positions
    /observations/images/<cam>  one dataset per camera: cam_high, cam_low, cam_left_wrist,
                                cam_right_wrist on the real robot, ``top`` in ACT's sim data
    /observations/qvel, /observations/effort  (T, 14), optional; not imported
    /base_action                (T, 2), Mobile ALOHA only; not imported, since the store's
                                action is the 14-D arm command
    root attributes             ``sim`` (bool, optional): robot_kind "sim" if true, else
                                "real"; ``compress`` (bool, optional): see below

A named layout (``storage.hdf5_layouts``: ``aloha``, ``cobot_magic``) says the grippers' units and
whether ``/base_action`` belongs to the file; the Cobot Magic's is required and kept in the
episode's ``extra["base_action"]``.

Images come in one of two layouts:

* raw: uint8 (T, H, W, 3), RGB.
* compressed, when ``compress`` is true (the ROS 2 ALOHA and Mobile ALOHA recorders):
  uint8 (T, L), each row one JPEG zero-padded to the longest frame's length L, plus a root
  dataset ``/compress_len`` (num_cams, T) holding each frame's true byte length. Its rows
  follow the order of the recorder's camera list, which the file does not keep. We assume
  it is the order h5py lists ``/observations/images`` in (alphabetical), which holds when
  the recorder's list was alphabetical. A length that does not end on the JPEG end-of-image
  marker means that assumption (or the file) is wrong, and the file is refused.
  Colour order: by default a JPEG is taken to hold true colours, which is how the common
  ALOHA-to-LeRobot converters read these files (``cv2.imdecode`` then BGR->RGB). A recorder
  that handed RGB arrays straight to ``cv2.imencode`` (which takes them for BGR) wrote
  red and blue swapped; import such files with ``jpeg_red_blue_swapped=True``
  (``wmpo-app import-aloha --jpeg-red-blue-swapped``). Check one imported frame.

Every file is validated before anything is written, so a batch with one malformed file
imports nothing. Frames are then streamed step by step through a staged writer (a
600-step, four-camera 480x640 episode is 2.2 GB raw). A file that fails part-way is
discarded by the writer; episodes of the files before it are complete and stay.
"""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import h5py
import numpy as np
from PIL import Image, UnidentifiedImageError

from storage.episode_writer import EpisodeInfo, EpisodeSpec
from storage.errors import ImportFormatError, StepValidationError
from storage.hdf5_layouts import LAYOUTS, Hdf5Layout, get_layout

ALOHA_DOF = 14
IMAGES = "/observations/images"
JPEG_END = b"\xff\xd9"


@dataclass(frozen=True)
class AlohaEpisode:
    """A validated ALOHA episode: joint arrays in memory, frames read from the file on demand."""

    path: Path
    qpos: np.ndarray  # float32 (T, 14)
    action: np.ndarray  # float32 (T, 14)
    cameras: dict[str, tuple[int, int, int]]  # selected camera -> (H, W, 3)
    sim: bool | None  # the file's ``sim`` attribute; None when it has none
    jpeg_lengths: dict[str, np.ndarray] | None  # camera -> bytes per frame; None for raw images
    jpeg_red_blue_swapped: bool = False
    base_action: np.ndarray | None = None  # float32 (T, 2) [v_x, omega_z], where the layout has it

    @property
    def length(self) -> int:
        return len(self.qpos)

    def frames(self) -> Iterator[dict[str, np.ndarray]]:
        """Yield each step's frames as {camera: uint8 (H, W, 3) RGB}, reading one step at a time."""
        with h5py.File(self.path, "r") as f:
            datasets = {cam: f[f"{IMAGES}/{cam}"] for cam in self.cameras}
            for t in range(self.length):
                if self.jpeg_lengths is None:
                    yield {cam: ds[t] for cam, ds in datasets.items()}
                else:
                    yield {cam: self._jpeg_frame(ds, cam, t) for cam, ds in datasets.items()}

    def _jpeg_frame(self, dataset: h5py.Dataset, camera: str, t: int) -> np.ndarray:
        data = dataset[t, : self.jpeg_lengths[camera][t]].tobytes()
        frame = decode_jpeg(data, f"{self.path}: {dataset.name}[{t}]", self.cameras[camera])
        return frame[..., ::-1] if self.jpeg_red_blue_swapped else frame


def decode_jpeg(data: bytes, where: str, shape: tuple[int, int, int] | None = None) -> np.ndarray:
    """Decode one recorder JPEG into an RGB uint8 array (H, W, 3)."""
    if not data.endswith(JPEG_END):
        raise ImportFormatError(
            f"{where}: the {len(data)} bytes given by /compress_len do not end with the JPEG "
            f"end-of-image marker; expected /compress_len rows in the order {IMAGES} lists its cameras")
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            mode, array = image.mode, np.asarray(image)
    except UnidentifiedImageError as exc:
        raise ImportFormatError(f"{where}: bytes are not a JPEG image (no JPEG header)") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImportFormatError(f"{where}: JPEG does not decode ({exc})") from exc
    if mode != "RGB" or (shape is not None and array.shape != shape):
        raise ImportFormatError(
            f"{where}: JPEG decodes to {mode} {array.shape}, expected a 3-channel image"
            + (f" of shape {shape} like frame 0" if shape is not None else ""))
    return array


def read_aloha_episode(path: Path, cameras: list[str] | None = None,
                       jpeg_red_blue_swapped: bool = False, layout: str | Hdf5Layout = "aloha") -> AlohaEpisode:
    """Check one file against the ALOHA format (in ``layout``) and load its joint arrays, grippers
    normalised; frames stay on disk.

    ``cameras=None`` selects every camera in the file. Raises ImportFormatError naming the
    file, the dataset, what was found and what was expected.
    """
    layout = get_layout(layout) if isinstance(layout, str) else layout
    path = Path(path)
    if not path.is_file():
        raise ImportFormatError(f"{path}: no such file; expected an ALOHA episode_N.hdf5")
    if not h5py.is_hdf5(path):
        raise ImportFormatError(f"{path}: not an HDF5 file; expected an ALOHA episode_N.hdf5")
    try:
        with h5py.File(path, "r") as f:
            episode = _read_open_file(path, f, cameras, layout)
    except OSError as exc:  # h5py's way of reporting a truncated or damaged file
        raise ImportFormatError(f"{path}: HDF5 file cannot be read ({exc})") from exc
    return replace(episode, jpeg_red_blue_swapped=jpeg_red_blue_swapped)


def _read_open_file(path: Path, f: h5py.File, cameras: list[str] | None, layout: Hdf5Layout) -> AlohaEpisode:
    qpos = layout.normalised(_joint_array(path, f, "/observations/qpos", None))
    action = layout.normalised(_joint_array(path, f, "/action", len(qpos)))
    base_action = _base_action(path, f, len(qpos), layout) if layout.base_action else None
    group = f.get(IMAGES)
    if not isinstance(group, h5py.Group) or len(group) == 0:
        raise ImportFormatError(f"{path}: {IMAGES} is missing or empty; expected one dataset per camera")
    in_file = list(group.keys())
    selected = in_file if cameras is None else list(cameras)
    unknown = [cam for cam in selected if cam not in in_file]
    if unknown:
        raise ImportFormatError(f"{path}: cameras {unknown} are not in {IMAGES}; the file has {in_file}")
    lengths = None
    if f.attrs.get("compress", False):
        rows = _jpeg_lengths(path, f, in_file, len(qpos))
        lengths = {cam: rows[in_file.index(cam)] for cam in selected}
    shapes = {cam: _camera_shape(path, f, cam, len(qpos), lengths) for cam in selected}
    sim = bool(f.attrs["sim"]) if "sim" in f.attrs else None
    return AlohaEpisode(path, qpos, action, shapes, sim, lengths, base_action=base_action)


def _dataset(path: Path, f: h5py.File, name: str, expected: str) -> h5py.Dataset:
    node = f.get(name)
    if not isinstance(node, h5py.Dataset):
        found = "missing" if node is None else "a group"
        raise ImportFormatError(f"{path}: {name} is {found}; expected a dataset {expected}")
    return node


def _wrong_dataset(path: Path, ds: h5py.Dataset, expected: str) -> ImportFormatError:
    return ImportFormatError(f"{path}: {ds.name} has shape {ds.shape} dtype {ds.dtype}, expected {expected}")


def _joint_array(path: Path, f: h5py.File, name: str, steps: int | None) -> np.ndarray:
    expected = f"(T, {ALOHA_DOF}) float"
    if steps is not None:
        expected += f" with T matching /observations/qpos (T={steps})"
    ds = _dataset(path, f, name, expected)
    if (ds.ndim != 2 or ds.shape[1] != ALOHA_DOF or ds.dtype.kind not in "fiu"
            or (steps is not None and ds.shape[0] != steps)):
        raise _wrong_dataset(path, ds, expected)
    if ds.shape[0] == 0:
        raise ImportFormatError(f"{path}: {name} has shape {ds.shape}, expected at least one step")
    values = ds[()]
    bad = np.argwhere(~np.isfinite(values))
    if len(bad):
        raise ImportFormatError(
            f"{path}: {name} has {len(bad)} non-finite value(s) (NaN or inf), the first at "
            f"[step {bad[0][0]}, joint {bad[0][1]}]; expected finite values")
    return values.astype(np.float32)


def _base_action(path: Path, f: h5py.File, steps: int, layout: Hdf5Layout) -> np.ndarray:
    expected = f"(T={steps}, 2) float [v_x, omega_z], as the {layout.name} layout has"
    ds = _dataset(path, f, "/base_action", expected)
    if ds.shape != (steps, 2) or ds.dtype.kind not in "fiu":
        raise _wrong_dataset(path, ds, expected)
    values = ds[()]
    if not np.isfinite(values).all():
        raise ImportFormatError(f"{path}: /base_action has non-finite values; expected finite velocities")
    return values.astype(np.float32)


def _jpeg_lengths(path: Path, f: h5py.File, cameras: list[str], steps: int) -> np.ndarray:
    expected = f"(num_cams={len(cameras)}, T={steps}) byte counts, rows in the order {cameras}"
    ds = _dataset(path, f, "/compress_len", f"{expected}, since the file's 'compress' attribute is true")
    if ds.shape != (len(cameras), steps) or ds.dtype.kind not in "fiu":
        raise _wrong_dataset(path, ds, expected)
    values = ds[()]
    # The recorders allocate this dataset as float32, so whole numbers are checked, not dtypes.
    if not np.all(np.isfinite(values) & (values >= 1) & (values == np.round(values))):
        raise ImportFormatError(f"{path}: /compress_len holds values that are not positive whole byte counts")
    return values.astype(np.int64)


def _camera_shape(path: Path, f: h5py.File, camera: str, steps: int,
                  jpeg_lengths: dict[str, np.ndarray] | None) -> tuple[int, int, int]:
    name = f"{IMAGES}/{camera}"
    if jpeg_lengths is None:
        expected = f"uint8 (T, H, W, 3) with T={steps} like /observations/qpos"
        ds = _dataset(path, f, name, expected)
        if ds.dtype != np.uint8 or ds.ndim != 4 or ds.shape[0] != steps or ds.shape[3] != 3 or 0 in ds.shape:
            raise _wrong_dataset(path, ds, expected)
        return tuple(ds.shape[1:])
    expected = f"uint8 (T, L) padded JPEG bytes with T={steps} like /observations/qpos, as compress=True"
    ds = _dataset(path, f, name, expected)
    if ds.dtype != np.uint8 or ds.ndim != 2 or ds.shape[0] != steps or ds.shape[1] == 0:
        raise _wrong_dataset(path, ds, expected)
    lengths = jpeg_lengths[camera]
    if lengths.max() > ds.shape[1]:
        raise ImportFormatError(
            f"{path}: /compress_len gives {camera} a frame of {lengths.max()} bytes, "
            f"expected at most the {ds.shape[1]} bytes per row of {name}")
    # Only frame 0 is decoded here, for the frame size; the rest are checked as they import.
    return decode_jpeg(ds[0, : lengths[0]].tobytes(), f"{path}: {name}[0]").shape


def import_aloha_episodes(store, paths: list[Path], *, task: str, instruction: str = "",
                          robot_kind: str | None = None, source: str = "expert",
                          success: bool | None = True, cameras: list[str] | None = None,
                          codec: str = "qoi", control_period_s: float | None = None,
                          jpeg_red_blue_swapped: bool = False, layout: str = "aloha",
                          progress: Callable[[int, int, Path], None] | None = None) -> list[int]:
    """Validate every file, then import them in order; returns the new episode ids.

    ``success`` is the importing operator's label (None leaves the episodes unlabelled);
    ``robot_kind=None`` takes it from each file's ``sim`` attribute; ``control_period_s=None`` the
    layout's recorder step (ALOHA 0.02 s, Cobot Magic 1/30 s). Raises ImportFormatError
    with nothing imported when any file is malformed, or naming the failed file and the ids
    already imported when a file fails part-way.
    """
    if layout not in LAYOUTS:
        raise ImportFormatError(f"layout {layout!r}; expected one of {sorted(LAYOUTS)}")
    control_period_s = LAYOUTS[layout].control_period_s if control_period_s is None else control_period_s
    if not control_period_s > 0:
        raise ValueError(f"control_period_s {control_period_s}; expected seconds > 0")
    episodes = _validate_all([Path(p) for p in paths], cameras, jpeg_red_blue_swapped, layout)
    plans = [(episode, EpisodeInfo(
        task=task, instruction=instruction, source=source, control_period_s=control_period_s,
        robot_kind=robot_kind or ("sim" if episode.sim else "real"),
        extra=_import_extra(episode, layout),
    ), EpisodeSpec(cameras=episode.cameras, action_dim=ALOHA_DOF, qpos_dim=ALOHA_DOF, codec=codec))
        for episode in episodes]
    imported: list[int] = []
    for episode, info, spec in plans:
        imported.append(_import_one(store, episode, info, spec, success, control_period_s, imported))
        if progress is not None:
            progress(len(imported), len(plans), episode.path)
    return imported


def _import_extra(episode: AlohaEpisode, layout: str) -> dict:
    extra = {"imported_from": str(episode.path), "format": "aloha-hdf5" if layout == "aloha" else f"{layout}-hdf5"}
    if episode.base_action is not None:
        extra["base_action"] = episode.base_action.astype(np.float64).round(6).tolist()
    return extra


def _validate_all(paths: list[Path], cameras: list[str] | None, swapped: bool, layout: str) -> list[AlohaEpisode]:
    problems = [f"{path}: given {n} times; expected each file once"
                for path, n in Counter(p.resolve() for p in paths).items() if n > 1]
    episodes = []
    for path in paths:
        try:
            episodes.append(read_aloha_episode(path, cameras, swapped, layout))
        except ImportFormatError as exc:
            problems.append(str(exc))
    if problems:
        raise ImportFormatError(
            f"{len(problems)} problem(s) in {len(paths)} file(s); nothing was imported:\n  "
            + "\n  ".join(problems))
    return episodes


def _import_one(store, episode: AlohaEpisode, info: EpisodeInfo, spec: EpisodeSpec,
                success: bool | None, control_period_s: float, earlier_ids: list[int]) -> int:
    already = (f"episodes {earlier_ids} from earlier files were imported and are kept" if earlier_ids
               else "no earlier file was imported")
    t = 0
    try:
        with store.episode_writer(info, spec) as writer:
            for frames in episode.frames():
                writer.add_step(action=episode.action[t], qpos=episode.qpos[t], frames=frames,
                                timestamp=t * control_period_s)
                t += 1
            return writer.commit(success=success, label_source=None if success is None else "operator",
                                 record_loop_stats=False)
    except (ImportFormatError, StepValidationError, OSError) as exc:
        reason = str(exc) if isinstance(exc, ImportFormatError) else f"{episode.path}: step {t}: {exc}"
        raise ImportFormatError(
            f"import failed: {reason}. The episode from this file was discarded; {already}") from exc
    except BaseException as exc:
        exc.add_note(f"while importing {episode.path}; {already}")
        raise
