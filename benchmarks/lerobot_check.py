"""Does LeRobot itself read what `wmpo-app export-lerobot` writes, frame for frame?

    .venv/bin/python benchmarks/lerobot_check.py                 # 10 sim demos, lossy and lossless
    .venv/bin/python benchmarks/lerobot_check.py --venv /tmp/lr  # where LeRobot is installed

1. Records 10 scripted expert demos in the sim (96x128, two cameras) into a fresh store, with our
   code and our venv, and exports them twice: H.264 yuv420p at the default crf and lossless.
2. Makes a separate venv with `pip install lerobot` (LeRobot pins an older torch than ours, so it
   cannot live in our venv); an existing venv that imports lerobot is reused.
3. In that venv, loads each folder with `LeRobotDataset(repo_id, root=folder)` offline and dumps
   every item's action, state, indices and frames.
4. Compares them with the store: actions and states must be equal; frames equal (lossless) or
   their PSNR reported (lossy), and LeRobot's decoded frames against our decoder's.

Writes benchmarks/results/lerobot_check.json and .md; a failed install or load is recorded there
with its exit code and the end of its output.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from storage import TrajectoryStore  # noqa: E402
from storage.episode_filter import EpisodeFilter  # noqa: E402
from storage.lerobot_export import export_lerobot  # noqa: E402
from storage.video import DEFAULT_CRF, H264_LOSSLESS, h264, psnr, read_frames  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
CAMERAS = {"cam_high": (96, 128), "cam_left_wrist": (96, 128)}
# LeRobot's two decoders: torchcodec (its default; needs the system's FFmpeg 4-7 shared libraries,
# e.g. Debian's libavutil57 ... libswresample4) and PyAV (bundles its own FFmpeg).
BACKENDS = ("pyav", "torchcodec")

# Runs in LeRobot's venv: every item of the dataset, as numpy, into one npz.
LOAD_WITH_LEROBOT = r"""
import sys, json, numpy as np, lerobot
from lerobot.datasets.lerobot_dataset import LeRobotDataset
folder, out, backend = sys.argv[1], sys.argv[2], sys.argv[3]
dataset = LeRobotDataset("wmpo/lerobot-check", root=folder, video_backend=backend)
keys = dataset.meta.camera_keys
names = ["action", "observation.state", "episode_index", "frame_index", "index", "wmpo.episode_id"]
arrays = {k: [] for k in [*names, *keys]}
for i in range(len(dataset)):
    item = dataset[i]
    for k in arrays:
        value = item[k].numpy()
        if k in keys:  # float (C, H, W) in [0, 1] -> uint8 (H, W, C), as LeRobot's decoders produced it
            value = np.round(value.transpose(1, 2, 0) * 255).astype(np.uint8)
        arrays[k].append(value)
np.savez(out, **{k: np.stack(v) for k, v in arrays.items()})
print(json.dumps({"lerobot": lerobot.__version__, "episodes": dataset.num_episodes, "frames": dataset.num_frames,
                  "fps": dataset.fps, "camera_keys": keys, "video_backend": dataset.video_backend,
                  "task_of_item_0": dataset[0]["task"]}))
"""


def record_store(path: Path, episodes: int) -> None:
    from app.demos import record_expert_demos

    with TrajectoryStore(path) as store:
        record_expert_demos(store, "transfer_cube", episodes, cameras=CAMERAS)


def export_both(db: Path, work: Path) -> dict:
    exports = {}
    with TrajectoryStore(db, readonly=True) as store:
        for name, codec in ((f"h264-crf{DEFAULT_CRF}", h264()), ("lossless", H264_LOSSLESS)):
            started = time.perf_counter()
            report = export_lerobot(store, EpisodeFilter(), work / name, codec=codec, keyframe_interval=5)
            exports[name] = {
                "folder": str(work / name), "episodes": len(report.added), "frames": report.frames,
                "seconds": round(time.perf_counter() - started, 1),
                "bytes_per_frame": {c: round(b / report.frames) for c, b in report.video_bytes.items()},
                "raw_bytes_per_frame": {c: h * w * 3 for c, (h, w) in CAMERAS.items()},
                "psnr_db": report.psnr_db, "worst_frame_psnr_db": report.worst_frame_psnr_db,
            }
    return exports


def lerobot_venv(venv: Path) -> dict:
    """Make (or reuse) the venv and install lerobot into it; what happened, for the results."""
    python = venv / "bin" / "python"
    if python.exists() and subprocess.run([python, "-c", "import lerobot"], capture_output=True).returncode == 0:
        return {"venv": str(venv), "installed": "reused (an earlier run's `pip install lerobot`)"}
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    done = subprocess.run(["nice", "-n", "19", python, "-m", "pip", "install", "--progress-bar", "off", "lerobot"],
                          capture_output=True, text=True)
    return {"venv": str(venv), "installed": "now", "pip_exit": done.returncode,
            "seconds": round(time.perf_counter() - started), "pip_tail": (done.stdout + done.stderr)[-2000:]}


def load_with_lerobot(venv: Path, folder: Path, out: Path, backend: str) -> dict:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "OMP_NUM_THREADS": "1",
           "HF_LEROBOT_HOME": str(out.parent / "hf-lerobot-home")}
    done = subprocess.run(["nice", "-n", "19", venv / "bin" / "python", "-c", LOAD_WITH_LEROBOT, folder, out, backend],
                          capture_output=True, text=True, env=env)
    if done.returncode != 0:
        return {"loaded": False, "exit": done.returncode, "output_tail": (done.stdout + done.stderr)[-3000:]}
    return {"loaded": True, **json.loads(done.stdout.strip().splitlines()[-1])}


def compare(db: Path, folder: Path, dumped: Path, fps: int) -> dict:
    """LeRobot's items against the store (vectors, frames) and against our own decoding of the mp4."""
    theirs = np.load(dumped)
    vectors_equal, frame_psnr, decoder_diff = True, {c: [] for c in CAMERAS}, {c: 0 for c in CAMERAS}
    with TrajectoryStore(db, readonly=True) as store:
        for episode_id in np.unique(theirs["wmpo.episode_id"]):
            rows = np.flatnonzero(theirs["wmpo.episode_id"] == episode_id)
            rows = rows[np.argsort(theirs["frame_index"][rows])]
            steps = store.load_steps(int(episode_id))
            vectors_equal &= np.array_equal(theirs["action"][rows], steps.actions)
            vectors_equal &= np.array_equal(theirs["observation.state"][rows], steps.qpos)
            for camera in CAMERAS:
                key = f"observation.images.{camera}"
                frames = theirs[key][rows]
                frame_psnr[camera].append(psnr(store.load_frames(int(episode_id), camera), frames))
                episode_index = int(theirs["episode_index"][rows[0]])
                ours = _our_decoding(folder, key, episode_index, len(rows), fps)
                decoder_diff[camera] = max(decoder_diff[camera], int(np.abs(ours.astype(int) - frames).max()))
    return {"items": int(len(theirs["index"])), "actions_and_states_equal": bool(vectors_equal),
            "psnr_db_vs_store": {c: round(min(v), 2) for c, v in frame_psnr.items()},
            "max_abs_diff_lerobot_vs_our_decoder": decoder_diff}


def _our_decoding(folder: Path, key: str, episode_index: int, length: int, fps: int) -> np.ndarray:
    import pyarrow.parquet as pq

    meta = pq.read_table(folder / "meta/episodes/chunk-000/file-000.parquet").to_pylist()[episode_index]
    start = round(meta[f"videos/{key}/from_timestamp"] * fps)
    return read_frames(folder / f"videos/{key}/chunk-000/file-000.mp4", fps, start, start + length)


def write_results(results: dict) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "lerobot_check.json").write_text(json.dumps(results, indent=2, default=str))
    lines = ["# LeRobot reads our export", "", f"{results['episodes']} sim demos of transfer_cube, cameras "
             f"{', '.join(f'{c} {h}x{w}' for c, (h, w) in CAMERAS.items())}; `benchmarks/lerobot_check.py`.", "",
             f"Run {results.get('date', '')}; LeRobot venv: {results['venv']}", "",
             "| export | bytes/frame | PSNR vs store (our check) |", "|---|---|---|"]
    for name, export in results["exports"].items():
        lines.append(f"| {name} | {export['bytes_per_frame']} (raw {export['raw_bytes_per_frame']}) | "
                     f"{ {c: round(v, 2) for c, v in export['psnr_db'].items()} } |")
    lines += ["", "| export / LeRobot decoder | loaded | lerobot | items | actions and states equal | "
              "PSNR of LeRobot's frames vs store (worst episode) | LeRobot vs our decoder (max abs) |",
              "|---|---|---|---|---|---|---|"]
    for name, check in results["checks"].items():
        lines.append(f"| {name} | {check.get('loaded')} | {check.get('lerobot', '')} | {check.get('items', '')} | "
                     f"{check.get('actions_and_states_equal', '')} | {check.get('psnr_db_vs_store', '')} | "
                     f"{check.get('max_abs_diff_lerobot_vs_our_decoder', '')} |")
    lines += ["", "- pip resolves `lerobot` to the newest release that supports this Python (0.4.4 on 3.11); "
              "it reads v3.0 datasets.",
              "- torchcodec, LeRobot's default decoder, loads the system's FFmpeg shared libraries (Debian 12: "
              "`apt-get install libavutil57 libavcodec59 libavformat59 libavdevice59 libavfilter8 libswscale6 "
              "libswresample4`); without them that row fails with `libavutil.so.N: cannot open shared object file`.",
              "- yuv420p stores colour at half resolution: on these 96x128 frames that alone costs the wrist camera "
              "~37 dB (its gripper edges), the top camera ~43 dB; `--lossless` keeps every pixel."]
    for name, check in results["checks"].items():
        if not check.get("loaded"):
            lines += ["", f"## {name}: LeRobot did not load it", "", "```", check.get("output_tail", ""), "```"]
    (RESULTS / "lerobot_check.md").write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--venv", type=Path, default=Path("/tmp/lerobot-venv"))
    parser.add_argument("--episodes", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="lerobot-check-") as tmp:
        work = Path(tmp)
        db = work / "wmpo.db"
        record_store(db, args.episodes)
        results = {"date": time.strftime("%Y-%m-%d"), "episodes": args.episodes,
                   "exports": export_both(db, work), "checks": {}}
        venv = lerobot_venv(args.venv)
        results["venv"] = venv
        if venv.get("pip_exit", 0) == 0:
            for name, export in results["exports"].items():
                for backend in BACKENDS:
                    dumped = work / f"{name}-{backend}.npz"
                    check = load_with_lerobot(args.venv, Path(export["folder"]), dumped, backend)
                    if check["loaded"]:
                        check |= compare(db, Path(export["folder"]), dumped, check["fps"])
                    results["checks"][f"{name} / {backend}"] = check
        write_results(results)
    print(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    main()
