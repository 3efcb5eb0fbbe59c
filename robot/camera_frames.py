"""Dropped frames and the skew between cameras, from the frame stamps a robot reports.

A camera's frames carry a device timestamp (s) and a count of frames received so far. Between two
samples the camera produced ``round(dstamp / period)`` frames and we received ``dcount``: the
difference was dropped (on USB or on the wire). A control loop slower than the camera skips frames
without dropping any, so this holds for per-step samples as for every message. Skew: the spread of
the cameras' stamps at one step; up to one frame period of it is only their phase. Stamps of
different RealSenses compare only on global time (the D400 default), as Image header stamps do.
"""

from __future__ import annotations

import numpy as np


def dropped_frames(stamps, counts, period_s: float) -> int:
    """Frames produced but never received between successive samples (stamps in s, counts of frames
    received); samples without a frame (None) are skipped."""
    pairs = np.array([(s, c) for s, c in zip(stamps, counts) if s is not None and c is not None], dtype=np.float64)
    if len(pairs) < 2:
        return 0
    produced = np.rint(np.diff(pairs[:, 0]) / period_s)
    return int(np.maximum(produced - np.diff(pairs[:, 1]), 0).sum())


def episode_camera_summary(camera_frames: dict[str, dict[str, list]], fps: dict[str, float]) -> dict:
    """Per camera: frames used, steps that reused the previous step's frame, and frames dropped at the
    camera's nominal ``fps`` (None where it is not given); with two cameras or more, the skew between
    them (ms, median and max over the steps). ``camera_frames``: {camera: {"stamp", "number", "age"}}
    per step, "number" counting the frames received."""
    cameras = {}
    for name, columns in camera_frames.items():
        stamps, counts = columns["stamp"], columns["number"]
        cameras[name] = {"frames": len({s for s in stamps if s is not None}),
                         "reused": sum(1 for a, b in zip(stamps, stamps[1:]) if b is not None and a == b),
                         "dropped": dropped_frames(stamps, counts, 1 / fps[name]) if fps.get(name) else None,
                         "fps": fps.get(name)}
    summary = {"cameras": cameras}
    if len(camera_frames) > 1:
        per_step = np.array([columns["stamp"] for columns in camera_frames.values()], dtype=np.float64)
        spread = (np.nanmax(per_step, axis=0) - np.nanmin(per_step, axis=0)) * 1000
        spread = spread[np.isfinite(spread)]
        if len(spread):
            summary["skew_ms"] = {"median": round(float(np.median(spread)), 3), "max": round(float(spread.max()), 3)}
    return summary
