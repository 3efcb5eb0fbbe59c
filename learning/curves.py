"""Training curves: every logged window of a run, one JSON line each, beside its checkpoint.

``<checkpoint>.curve.jsonl`` sits next to the checkpoint folder (which is swapped whole at each
save, so it cannot live inside). Lines are appended as training goes: a crash loses at most
the line being written, and a resumed run appends again from its checkpoint's step -- so a
step can appear twice, and the reader keeps its last line. ``plot_curves`` draws any number
of runs into one PNG, one panel per quantity (``wmpo-app curves``). Every number of a line
also goes to a TensorBoard event file of the run (``events_dir``), tagged by its field's name.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

from learning.tensorboard_events import EventFile
from storage.store import CHECKPOINTS

SUFFIX = ".curve.jsonl"
_event_files: dict[Path, EventFile] = {}  # one events file per run and process, as TensorBoard's writers do


def curve_path(checkpoint_dir: Path) -> Path:
    checkpoint_dir = Path(checkpoint_dir)
    return checkpoint_dir.with_name(checkpoint_dir.name + SUFFIX)


def events_dir(checkpoint_dir: Path) -> Path:
    """The run's TensorBoard folder: ``<checkpoints>/tensorboard/<the checkpoint's path below
    it>``, or ``<checkpoint>.tb`` for a checkpoint outside a store. Not a folder beside every
    checkpoint: one beside a reward model would be listed as another reward model
    (``learning/artifacts.py``); not the curve file's folder: TensorBoard makes one run of a
    folder, so the reward models sharing theirs would merge."""
    checkpoint_dir = Path(checkpoint_dir).absolute()
    for parent in checkpoint_dir.parents:
        if parent.name == CHECKPOINTS:
            return parent / "tensorboard" / checkpoint_dir.relative_to(parent)
    return checkpoint_dir.with_name(checkpoint_dir.name + ".tb")


def append_point(checkpoint_dir: Path, point: dict) -> None:
    """One logged window (``step`` and numbers) at the end of the run's curve and of its
    TensorBoard events (every number but the step; other values only in the curve)."""
    if "step" not in point:
        raise ValueError(f"a curve point needs its step; got keys {sorted(point)}")
    path = curve_path(checkpoint_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    now = time.time()
    line = json.dumps({**point, "time": round(now, 3)}, allow_nan=True)
    with open(path, "a") as f:
        f.write(line + "\n")
    folder = events_dir(checkpoint_dir)
    if folder not in _event_files:
        _event_files[folder] = EventFile(folder)
    numbers = {k: v for k, v in point.items()
               if isinstance(v, (int, float)) and not isinstance(v, bool) and k not in ("step", "time")}
    _event_files[folder].add_scalars(int(point["step"]), numbers, wall_time=now)


def read_curve(path: Path) -> list[dict]:
    """The points of a curve file (or of the checkpoint folder it belongs to), by step; a step
    written twice (a resumed run) keeps its last line, a torn last line is skipped."""
    path = Path(path)
    if not path.name.endswith(SUFFIX):
        path = curve_path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no training curve (written by runs since 2026-12-01, beside their checkpoint)")
    points = {}
    for line in path.read_text().splitlines():
        try:
            point = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut short by a crash
        points[point["step"]] = point
    return [points[step] for step in sorted(points)]


def numeric_keys(points: list[dict]) -> list[str]:
    """The quantities a curve holds, loss first (not its step or wall time)."""
    keys = {k for p in points for k, v in p.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    keys -= {"step", "time", "steps"}
    return sorted(keys, key=lambda k: (k != "loss", k))


def sparkline(values: list[float], width: int = 24) -> str:
    """The last ``width`` values as block characters, low to high (finite values only)."""
    values = [v for v in values if math.isfinite(v)][-width:]
    if not values:
        return ""
    low, high = min(values), max(values)
    blocks = "▁▂▃▄▅▆▇█"
    span = (high - low) or 1.0
    return "".join(blocks[min(7, int((v - low) / span * 8))] for v in values)


COLOURS = ((31, 119, 180), (214, 39, 40), (44, 160, 44), (255, 127, 14), (148, 103, 189), (140, 86, 75))


def plot_curves(curves: dict[str, list[dict]], out: Path, keys: list[str] | None = None) -> Path:
    """One panel per quantity, one line per run (Pillow: no plotting library needed); the loss
    on a log scale when it stays positive."""
    from PIL import Image, ImageDraw

    keys = keys or sorted({k for points in curves.values() for k in numeric_keys(points)},
                          key=lambda k: (k != "loss", k))
    if not keys:
        raise ValueError("the curves hold no numbers to plot")
    panel_w, panel_h, margin, columns = 420, 240, 56, min(3, len(keys))
    rows = math.ceil(len(keys) / columns)
    image = Image.new("RGB", (columns * panel_w, rows * panel_h + 24), "white")
    draw = ImageDraw.Draw(image)
    for r, name in enumerate(curves):  # the legend, on top
        draw.rectangle([8 + 160 * r, 8, 18 + 160 * r, 18], fill=COLOURS[r % len(COLOURS)])
        draw.text((22 + 160 * r, 7), name[:24], fill="black")
    for index, key in enumerate(keys):
        x0, y0 = (index % columns) * panel_w + margin, (index // columns) * panel_h + 24 + 20
        w, h = panel_w - margin - 12, panel_h - 56
        series = {name: [(p["step"], float(p[key])) for p in points
                         if isinstance(p.get(key), (int, float)) and math.isfinite(p[key])]
                  for name, points in curves.items()}
        values = [v for xy in series.values() for _, v in xy]
        steps = [s for xy in series.values() for s, _ in xy]
        log = key == "loss" and bool(values) and min(values) > 0
        scale = (lambda v: math.log10(v)) if log else (lambda v: v)
        draw.text((x0, y0 - 16), key + (" (log)" if log else ""), fill="black")
        draw.rectangle([x0, y0, x0 + w, y0 + h], outline=(160, 160, 160))
        if not values:
            continue
        low, high = scale(min(values)), scale(max(values))
        first, last = min(steps), max(steps)
        draw.text((x0 - margin + 2, y0 - 5), f"{max(values):.3g}", fill="black")
        draw.text((x0 - margin + 2, y0 + h - 5), f"{min(values):.3g}", fill="black")
        draw.text((x0, y0 + h + 4), str(first), fill="black")
        draw.text((x0 + w - 40, y0 + h + 4), f"step {last}", fill="black")
        for r, xy in enumerate(series.values()):
            line = [(x0 + w * (s - first) / ((last - first) or 1), y0 + h - h * (scale(v) - low) / ((high - low) or 1))
                    for s, v in xy]
            if len(line) > 1:
                draw.line(line, fill=COLOURS[r % len(COLOURS)], width=2)
            elif line:
                draw.ellipse([line[0][0] - 2, line[0][1] - 2, line[0][0] + 2, line[0][1] + 2], fill=COLOURS[r % len(COLOURS)])
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    image.save(out)
    return out
