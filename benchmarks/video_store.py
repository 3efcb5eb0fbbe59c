"""Episodes as H.264 video against lossless QOI: bytes, quality, encode cost, clip reads, 50 Hz loop.

    .venv/bin/python benchmarks/video_store.py --json benchmarks/results/video_store.json
    .venv/bin/python benchmarks/video_store.py --steps 30 --sizes 48x64   # a smoke run

Every case is benchmarks/store.py's ``run_case`` on "camera" content (smooth scenes, moving
objects, sensor noise sigma 2; three cameras per step), so write, paced and read figures are
measured the same way as the store benchmark's. Added here:
- PSNR of the stored frames against the frames given (inf for QOI).
- encode ms per frame on one core: the codec alone, thread CPU time (the writer runs one video
  encoder per camera, each on its own thread).
Targets (issue 22): <= 60 KB per 480x640 frame; the paced 50 Hz loop of three 480x640 cameras
within 2% of real time (realtime factor <= 1.02) on 2 cores; >= 1000 clip frames/s at the world
model's 96x128.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from storage import TrajectoryStore
from storage.frame_codecs import get_codec
from storage.video import psnr
from storage.video_segments import SegmentEncoder

from store import CAMERAS, print_rows, run_case, scene_frames  # benchmarks/, beside this script


def encode_ms_per_frame(frames: np.ndarray, codec: str) -> float:
    """CPU ms per frame of this thread for encoding ``frames`` (n, H, W, 3) in order."""
    start = time.thread_time()
    if get_codec(codec).segmented:
        encoder = SegmentEncoder(frames.shape[1:])
        for t, frame in enumerate(frames):
            encoder.add(t, frame)
        encoder.finish()
    else:
        for frame in frames:
            get_codec(codec).encode(frame)
    return 1e3 * (time.thread_time() - start) / len(frames)


def stored_psnr(path: Path, pools: dict[str, np.ndarray]) -> float:
    """PSNR over the first episode of a run_case store, whose step t holds pool[t % len(pool)]."""
    with TrajectoryStore(path, readonly=True) as store:
        episode = store.episodes(limit=1)[0]
        values = []
        for cam, pool in pools.items():
            given = pool[np.arange(episode.length) % len(pool)]
            values.append(psnr(given, store.load_frames(episode.id, cam)))
    return float(min(values))


def video_case(root: Path, size: tuple[int, int], codec: str, steps: int) -> dict:
    h, w = size
    row = run_case(root, size, "camera", codec, steps)
    pools = {cam: scene_frames(h, w, 16, 2.0, seed=i) for i, cam in enumerate(CAMERAS)}  # as run_case's
    row["psnr_db"] = stored_psnr(root / f"{h}x{w}-camera-{codec}.db", pools)
    row["encode_ms_per_frame_one_core"] = encode_ms_per_frame(np.concatenate([pools[CAMERAS[0]]] * 2), codec)
    return row


def markdown(rows: list[dict]) -> str:
    lines = ["| frame | codec | KiB/frame | PSNR dB | encode ms/frame (1 core) | write frames/s | "
             "paced realtime factor | paced add_step median / p99 ms | clip read frames/s | read frames/s |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(
            f"| {r['size']} | {r['codec']} | {r['bytes_per_frame'] / 1024:.1f} | {r['psnr_db']:.1f} | "
            f"{r['encode_ms_per_frame_one_core']:.2f} | {r['write_fps']:.0f} | {r['paced_realtime_factor']:.3f} | "
            f"{r['paced_add_step_ms_median']:.2f} / {r['paced_add_step_ms_p99']:.2f} | "
            f"{r['clip_read_fps']:.0f} | {r['read_fps']:.0f} |")
    return "\n".join(lines)


def parse_size(text: str) -> tuple[int, int]:
    height, width = (int(n) for n in text.split("x"))
    return height, width


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=500, help="steps per episode (three cameras each)")
    parser.add_argument("--sizes", nargs="+", type=parse_size, default=[(96, 128), (480, 640)],
                        help="frame sizes HxW")
    parser.add_argument("--codecs", nargs="+", default=["qoi", "h264"])
    parser.add_argument("--json", type=Path, help="also write the rows as JSON here")
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            for codec in args.codecs:
                rows.append(video_case(Path(tmp), size, codec, args.steps))
                print(f"done {rows[-1]['size']} {codec}", flush=True)
    print_rows(rows, markdown, args.json, f"camera-like frames, 3 cameras per step, {args.steps} steps")


if __name__ == "__main__":
    main()
