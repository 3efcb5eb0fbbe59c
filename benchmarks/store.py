"""Store throughput: frames/s written and read, bytes per frame, at 96x128 and 480x640.

    .venv/bin/python benchmarks/store.py            # full table (about 2 minutes on 2 cores)
    .venv/bin/python benchmarks/store.py --quick    # fewer steps
    .venv/bin/python benchmarks/store.py --codecs qoi h264   # video: see benchmarks/video_store.py

Frames are synthetic scenes (smooth shading, moving objects) in two flavours: "sim" (noise
free, like MuJoCo renders) and "camera" (Gaussian sensor noise sigma=2, like a RealSense
colour stream; the hard case for lossless codecs). Three cameras per step, as on ALOHA.
- write: steps pushed through the staged writer as fast as it accepts them, until commit.
- paced: steps offered at 50 Hz in real time; the add_step latency the control loop sees.
- read: whole episodes decoded through TrajectoryStore.load_frames, and 8-frame clips
  through the ClipDataset.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from storage import EpisodeInfo, EpisodeSpec, TrajectoryStore
from storage.clips import ClipDataset

CAMERAS = ("cam_high", "cam_left_wrist", "cam_right_wrist")


def scene_frames(height: int, width: int, count: int, noise: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.stack([120 + 60 * np.sin(x / width * 3), 100 + 50 * np.cos(y / height * 2),
                     90 + 40 * np.sin((x + y) / (width + height) * 5)], -1)
    objects = [(rng.uniform(0, height), rng.uniform(0, width), rng.uniform(0.05, 0.2) * height,
                rng.integers(0, 255, 3), rng.normal(0, 0.01 * width, 2)) for _ in range(6)]
    frames = np.empty((count, height, width, 3), np.uint8)
    for i in range(count):
        image = base.copy()
        for cy, cx, r, colour, (vy, vx) in objects:
            image[(y - cy - vy * i) ** 2 + (x - cx - vx * i) ** 2 < r * r] = colour
        image += rng.normal(0, noise, image.shape) if noise else 0
        frames[i] = np.clip(image, 0, 255)
    return frames


def write_episode(store, spec, pools, steps, period_s=None):
    latencies = []
    info = EpisodeInfo(task="benchmark", source="policy")
    action = np.zeros(14, np.float32)
    start = time.perf_counter()
    with store.episode_writer(info, spec) as writer:
        for t in range(steps):
            frames = {cam: pool[t % len(pool)] for cam, pool in pools.items()}
            if period_s:
                while time.perf_counter() < start + t * period_s:
                    pass
            t0 = time.perf_counter()
            writer.add_step(action, action, frames)
            latencies.append(time.perf_counter() - t0)
        episode_id = writer.commit()
    return episode_id, time.perf_counter() - start, np.array(latencies)


def stored_bytes(store, episode_id):
    """Bytes of the episode's frame BLOBs and how many frames they hold (a video row holds a segment)."""
    with store.engine.connect() as conn:
        total = conn.exec_driver_sql("SELECT sum(length(data)) FROM frames WHERE episode_id=?", (episode_id,)).scalar()
    return total, store.episode(episode_id).length * len(store.cameras(episode_id))


def run_case(root: Path, size: tuple[int, int], content: str, codec: str, steps: int) -> dict:
    h, w = size
    noise = 2.0 if content == "camera" else 0.0
    pools = {cam: scene_frames(h, w, 16, noise, seed=i) for i, cam in enumerate(CAMERAS)}
    spec = EpisodeSpec(cameras={cam: (h, w, 3) for cam in CAMERAS}, codec=codec)
    path = root / f"{h}x{w}-{content}-{codec}.db"
    with TrajectoryStore(path) as store:
        episode_id, write_s, _ = write_episode(store, spec, pools, steps)
        total, count = stored_bytes(store, episode_id)
        paced_steps = min(steps, 250)  # 5 s of real time
        _, paced_s, latency = write_episode(store, spec, pools, paced_steps, period_s=0.02)
        t0 = time.perf_counter()
        for cam in CAMERAS:
            store.load_frames(episode_id, cam)
        read_s = time.perf_counter() - t0
    clips = ClipDataset(path, "cam_high", clip_len=8, stride=8)
    t0 = time.perf_counter()
    clip_frames = sum(clip["frames"].shape[0] for clip in clips)
    clip_s = time.perf_counter() - t0
    return {
        "size": f"{h}x{w}", "content": content, "codec": codec, "steps": steps,
        "write_fps": count / write_s, "needed_fps": 3 * 50,
        "paced_add_step_ms_median": 1e3 * float(np.median(latency)),
        "paced_add_step_ms_p99": 1e3 * float(np.percentile(latency, 99)),
        "paced_realtime_factor": paced_s / (paced_steps * 0.02),
        "read_fps": count / read_s, "clip_read_fps": clip_frames / clip_s,
        "bytes_per_frame": total / count, "raw_bytes_per_frame": h * w * 3,
        "ratio": h * w * 3 / (total / count),
    }


def markdown(rows: list[dict]) -> str:
    lines = ["| frame | content | codec | write frames/s | paced add_step median / p99 ms | read frames/s | clip read frames/s | KiB/frame (raw) | ratio |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(
            f"| {r['size']} | {r['content']} | {r['codec']} | {r['write_fps']:.0f} | "
            f"{r['paced_add_step_ms_median']:.2f} / {r['paced_add_step_ms_p99']:.2f} | {r['read_fps']:.0f} | "
            f"{r['clip_read_fps']:.0f} | {r['bytes_per_frame'] / 1024:.1f} ({r['raw_bytes_per_frame'] / 1024:.0f}) | "
            f"{r['ratio']:.1f}x |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="100 steps per case instead of 500")
    parser.add_argument("--codecs", nargs="+", default=["qoi", "png"])
    parser.add_argument("--json", type=Path, help="also write the rows as JSON here")
    args = parser.parse_args()
    torch.set_num_threads(1)
    steps = 100 if args.quick else 500
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in ((96, 128), (480, 640)):
            for content in ("sim", "camera"):
                for codec in args.codecs:
                    rows.append(run_case(Path(tmp), size, content, codec, steps))
                    print(f"done {rows[-1]['size']} {content} {codec}", flush=True)
    print_rows(rows, markdown, args.json, "3 cameras per step; need >= 150 frames/s at 480x640")


def print_rows(rows: list[dict], as_markdown, json_path: Path | None, what: str) -> None:
    """The machine, the table, and the rows as JSON where asked for."""
    print(f"\n{platform.node()}: {platform.processor() or platform.machine()}, "
          f"{len(__import__('os').sched_getaffinity(0))} cores; {what}\n")
    print(as_markdown(rows))
    if json_path:
        json_path.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
