"""Terminal renderings: success-rate bars per iteration, and camera frames in half-block cells."""

from __future__ import annotations

import numpy as np
from rich.style import Style
from rich.text import Text

from app.cycle_report import IterationRow

BAR_WIDTH = 40


def success_bars(rows: list[IterationRow], width: int = BAR_WIDTH) -> Text:
    """One bar per iteration: the candidate's evaluation (|: the deployed policy's in the same run)."""
    text = Text()
    evaluated = [r for r in rows if r.eval_success is not None]
    if not evaluated:
        return Text("no evaluated iteration yet: run one from the Cycle pane", style="dim")
    for row in evaluated:
        filled = round(row.eval_success * width)
        bar = ["█"] * filled + ["░"] * (width - filled)
        if row.deployed_eval is not None:
            mark = min(width - 1, round(row.deployed_eval * width))
            bar[mark] = "│"
        low, high = row.eval_interval
        text.append(f"it {row.number:>3} ", style="bold")
        text.append("".join(bar), style="green" if row.deployed else "yellow")
        text.append(f" {100 * row.eval_success:5.1f}% [{100 * low:.0f}-{100 * high:.0f}]")
        if row.deployed_eval is not None:
            text.append(f" vs deployed {100 * row.deployed_eval:.1f}%", style="dim")
        text.append("  -> deployed\n" if row.deployed else "  -> not deployed\n",
                    style="green" if row.deployed else "yellow")
    text.append("█ candidate (green: deployed)  │ deployed policy, same evaluation", style="dim")
    return text


def frame_cells(frame: np.ndarray, width: int) -> Text:
    """An RGB frame (H, W, 3) as text ``width`` cells wide: each cell shows two pixels
    (upper half-block, foreground = top pixel, background = bottom pixel)."""
    if frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"frame of shape {frame.shape}; expected (H, W, 3)")
    height = max(2, round(frame.shape[0] * width / frame.shape[1] / 2) * 2)
    rows = np.linspace(0, frame.shape[0] - 1, height).astype(int)
    cols = np.linspace(0, frame.shape[1] - 1, width).astype(int)
    small = frame[rows][:, cols]
    text = Text()
    for top, bottom in zip(small[0::2], small[1::2]):
        for (r1, g1, b1), (r2, g2, b2) in zip(top, bottom):
            text.append("▀", Style(color=f"rgb({r1},{g1},{b1})", bgcolor=f"rgb({r2},{g2},{b2})"))
        text.append("\n")
    return text
