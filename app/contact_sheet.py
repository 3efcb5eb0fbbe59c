"""A contact sheet: evenly spaced frames of one recorded episode in a labelled grid (PNG)."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from storage import TrajectoryStore


def contact_sheet(store: TrajectoryStore, episode_id: int, camera: str, tiles: int = 12,
                  columns: int = 4) -> Image.Image:
    episode = store.episode(episode_id)
    steps = np.unique(np.linspace(0, episode.length - 1, tiles).round().astype(int))
    frames = [store.load_frames(episode_id, camera, int(t), int(t) + 1)[0] for t in steps]
    height, width = frames[0].shape[:2]
    label_h = 16
    rows = -(-len(frames) // columns)
    sheet = Image.new("RGB", (columns * width, rows * (height + label_h)), "white")
    draw = ImageDraw.Draw(sheet)
    for i, (t, frame) in enumerate(zip(steps, frames)):
        x, y = (i % columns) * width, (i // columns) * (height + label_h)
        sheet.paste(Image.fromarray(frame[..., :3]), (x, y + label_h))
        outcome = " (success)" if t == episode.length - 1 and episode.success else ""
        draw.text((x + 4, y + 2), f"step {t} / {episode.length}{outcome}", fill="black")
    return sheet
