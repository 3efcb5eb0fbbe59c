"""Pieces the learning benchmarks' reports share: a PNG chart, success cells, and the
per-iteration diagnosis of the WMPO loop read back from the store (app.cycle_report)."""

from __future__ import annotations

import json
import platform
from pathlib import Path

from PIL import Image, ImageDraw

from app.cycle_report import IterationRow

COLOURS = [(70, 110, 180), (220, 140, 50), (90, 160, 90), (170, 80, 160)]


def write_report(stem: Path, payload: dict, text: str) -> None:
    """``stem``.json (the figures) and ``stem``.md (the table a person reads), and the table printed."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    stem.with_suffix(".json").write_text(json.dumps(payload, indent=2))
    stem.with_suffix(".md").write_text(text if text.endswith("\n") else text + "\n")
    print(text)


def machine() -> str:
    return f"{platform.machine()}, {platform.processor() or 'cpu'}, python {platform.python_version()}"


def success_cell(result: dict) -> str:
    low, high = result["interval95"]
    return (f"{result['successes']}/{result['episodes']} = {100 * result['rate']:.1f}% "
            f"[{100 * low:.1f}, {100 * high:.1f}]")


def percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def target_verdict(results: dict, margin: float = 0.10) -> str:
    """The issue's target at one budget: WMPO at least ``margin`` above the base policy and above
    both baselines. Says by how many points it is missed."""
    rule = f"WMPO >= base + {100 * margin:.0f} points and above both baselines"
    wmpo = results.get("wmpo")
    if wmpo is None:
        return f"Target ({rule}): not met -- WMPO made no policy update, so there is no candidate to evaluate."
    over_base = wmpo["rate"] - results["base"]["rate"]
    best = max(results[k]["rate"] for k in ("dpo", "grpo_real") if k in results)
    met = over_base >= margin and wmpo["rate"] > best
    verdict = "met" if met else f"missed by {100 * max(margin - over_base, best - wmpo['rate']):.1f} points"
    return (f"Target ({rule}): WMPO {100 * over_base:+.1f} points over base, "
            f"{100 * (wmpo['rate'] - best):+.1f} over the best baseline -- {verdict}.")


def diagnosis_table(rows: list[IterationRow]) -> str:
    """Where the loop gains or loses, per iteration: is the world model faithful, is the judge
    right, does dynamic sampling find signal, does imagined success track the sim's?"""
    lines = ["| iteration | P | sampled success (sim) | imagined success | groups kept | world-model outcome "
             "agreement | real successes recognised in imagination | PSNR at the end | reward F1 (held-out) | "
             "candidate vs deployed | deployed |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|"]
    for r in rows:
        versus = f"{percent(r.eval_success)} vs {percent(r.deployed_eval)}" if r.eval_success is not None else r.note
        lines.append(f"| {r.number} | {r.budget} | {percent(r.collect_success)} | {percent(r.imagined_success)} | "
                     f"{percent(r.kept_fraction)} | {percent(r.outcome_agreement)} | {r.successes_recognised or '-'} | "
                     f"{'-' if r.psnr_db_last is None else f'{r.psnr_db_last:.1f} dB'} | "
                     f"{'-' if r.reward_f1 is None else f'{r.reward_f1:.3f}'} | {versus} | "
                     f"{'yes' if r.deployed else 'no'} |")
    return "\n".join(lines)


def chart(series: dict[str, list[float | None]], labels: list[str], path: Path, title: str) -> None:
    """Grouped bars: one group per label, one bar per series (success rates in [0, 1])."""
    width, height, left, bottom = 720, 380, 60, 50
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    draw.text((left, 10), title, fill="black")
    plot_h = height - bottom - 50
    for y in range(0, 101, 20):
        yy = height - bottom - plot_h * y / 100
        draw.line([(left, yy), (width - 20, yy)], fill=(220, 220, 220))
        draw.text((10, yy - 6), f"{y}%", fill="black")
    group = (width - left - 20) / len(labels)
    bar = group * 0.7 / len(series)
    for g, label in enumerate(labels):
        x = left + g * group + group * 0.15
        for s, (name, values) in enumerate(series.items()):
            value = values[g]
            if value is not None:
                top = height - bottom - plot_h * value
                draw.rectangle([x + s * bar, top, x + (s + 1) * bar - 2, height - bottom], fill=COLOURS[s % 4])
                draw.text((x + s * bar, top - 14), f"{100 * value:.0f}", fill="black")
        draw.text((x, height - bottom + 6), label, fill="black")
    for s, name in enumerate(series):
        draw.rectangle([left + s * 150, 28, left + s * 150 + 10, 38], fill=COLOURS[s % 4])
        draw.text((left + s * 150 + 14, 27), name, fill="black")
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)
