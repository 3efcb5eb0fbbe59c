"""Self-correction shown: evaluation seeds where the base policy fails and the improved one
succeeds from the very same start (and the reverse), with strips of such pairs.

    .venv/bin/python benchmarks/self_correction.py --db wmpo-data/bench.db --task transfer_cube \\
        --base base-all --improved transfer_cube-wmpo-1 --strips 4

Reads the stored stock evaluation episodes of both versions (``wmpo-app eval --policy P``, sim,
source "eval", scene "stock"); runs nothing new. Where a version was evaluated on a seed more
than once, its first labelled episode counts. Counts the 2x2 table of outcomes over the seeds
both have, with McNemar's exact test on the discordant seeds, and renders, for up to --strips
seeds where the base failed and the improved policy succeeded, both episodes again from their
seed and stored commands (``robot/sim/replay.py``: every step checked against what was
recorded; a pair whose replay drifts is passed over for the next), a frame every ``--every``
steps: base on top, improved below. Writes
``self-correction-<task>-<base>-vs-<improved>.json``, ``.md`` and ``.png`` to --out.
"""

from __future__ import annotations

import argparse
import math
import re
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

import robot  # noqa: F401  (headless GL before mujoco loads)
from app.policy_commands import image_size
from learning.evaluation import EVAL_SEED_BASE
from robot.sim.aloha_sim import SIM_PICTURES
from robot.sim.replay import ReplayDivergedError, replay_frames
from robot.sim.tasks import TASKS
from storage import STOCK_SCENE, EpisodeFilter, TrajectoryStore
from storage.schema import Episode

# benchmarks/, beside this script
from learning_report import write_report

LABEL_H = 14  # pixels above each row and each pair for their labels


def stock_evaluations(store: TrajectoryStore, version_id: int, task: str) -> dict[int, Episode]:
    """seed -> the first labelled stock-scene sim evaluation episode of this version on that seed."""
    where = EpisodeFilter(task=task, source="eval", scene=STOCK_SCENE, robot_kind="sim",
                          policy_version_id=version_id, labelled=True)
    chosen: dict[int, Episode] = {}
    for episode in store.episodes(where):  # in id order: a seed's first evaluation
        if episode.seed is not None and episode.seed >= EVAL_SEED_BASE:
            chosen.setdefault(episode.seed, episode)
    return chosen


def mcnemar_exact_p(corrected: int, regressed: int) -> float:
    """Two-sided exact McNemar p-value: the discordant seeds as fair coin flips under 'no change'."""
    n = corrected + regressed
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, k) for k in range(min(corrected, regressed) + 1)) / 2 ** n
    return min(1.0, 2 * tail)


def contingency(base: dict[int, Episode], improved: dict[int, Episode]) -> dict:
    """The 2x2 table of outcomes over the seeds both versions were evaluated on (seed lists per cell)."""
    seeds = sorted(set(base) & set(improved))
    cells = {"both_succeed": [], "base_fails_improved_succeeds": [], "base_succeeds_improved_fails": [],
             "both_fail": []}
    for seed in seeds:
        key = {(True, True): "both_succeed", (False, True): "base_fails_improved_succeeds",
               (True, False): "base_succeeds_improved_fails", (False, False): "both_fail"}[
            (bool(base[seed].success), bool(improved[seed].success))]
        cells[key].append(seed)
    corrected, regressed = len(cells["base_fails_improved_succeeds"]), len(cells["base_succeeds_improved_fails"])
    return {"seeds": len(seeds), "counts": {k: len(v) for k, v in cells.items()}, "seeds_per_cell": cells,
            "mcnemar_exact_p": mcnemar_exact_p(corrected, regressed)}


def replayed(store: TrajectoryStore, episode: Episode, camera: str, size: tuple[int, int]) -> np.ndarray:
    """The episode's frames (length, H, W, 3), rendered again from its seed and stored commands."""
    steps = store.load_steps(episode.id)
    frames = replay_frames(episode.task, episode.seed, steps.actions, steps.qpos, {camera: size},
                           success=episode.success if episode.label_source == "env" else None)
    return frames[camera]


def pair_strip(rows: list[tuple[str, np.ndarray]], title: str, every: int) -> Image.Image:
    """Labelled rows of frames (one row per episode) at steps 0, every, 2*every, ... and the last
    step; an episode that ended sooner shows its own last frame once, then grey tiles."""
    longest = max(len(frames) for _, frames in rows)
    steps = sorted({*range(0, longest, every), longest - 1})
    height, width = rows[0][1].shape[1:3]
    sheet = Image.new("RGB", (len(steps) * width, LABEL_H + len(rows) * (LABEL_H + height)), "white")
    draw = ImageDraw.Draw(sheet)
    draw.text((4, 1), title, fill="black")
    for r, (label, frames) in enumerate(rows):
        y = LABEL_H + r * (LABEL_H + height)
        draw.text((4, y + 1), label, fill="black")
        for c, t in enumerate(steps):
            x = c * width
            shown = t if t < len(frames) else len(frames) - 1
            if t < len(frames) or steps[c - 1] < shown:
                sheet.paste(Image.fromarray(frames[shown]), (x, y + LABEL_H))
                draw.text((x + 3, y + LABEL_H + 2), f"t={shown}" + ("" if shown == t else " (end)"), fill="white")
            else:
                draw.rectangle((x, y + LABEL_H, x + width - 1, y + LABEL_H + height - 1), fill=(200, 200, 200))
    return sheet


def strips(store: TrajectoryStore, names: tuple[str, str], pairs: list[tuple[Episode, Episode]], limit: int,
           camera: str, size: tuple[int, int], every: int) -> tuple[Image.Image | None, list[int], list[int]]:
    """One image of up to ``limit`` pairs stacked, in order (None if none); the seeds shown, and
    those passed over because a replay left its recorded episode."""
    images, shown, diverged = [], [], []
    for base, improved in pairs:
        if len(shown) == limit:
            break
        try:
            rows = [(f"{names[0]} (base): {'success' if base.success else 'failure'} in {base.length} steps",
                     replayed(store, base, camera, size)),
                    (f"{names[1]} (improved): {'success' if improved.success else 'failure'} in "
                     f"{improved.length} steps", replayed(store, improved, camera, size))]
        except ReplayDivergedError:
            diverged.append(base.seed)
            continue
        images.append(pair_strip(rows, f"seed {base.seed}", every))
        shown.append(base.seed)
    if not images:
        return None, shown, diverged
    sheet = Image.new("RGB", (max(i.width for i in images), sum(i.height + LABEL_H for i in images)), "white")
    y = 0
    for image in images:
        sheet.paste(image, (0, y))
        y += image.height + LABEL_H
    return sheet, shown, diverged


def markdown(payload: dict) -> str:
    counts, base, improved = payload["table"]["counts"], payload["base"], payload["improved"]
    corrected = payload["table"]["seeds_per_cell"]["base_fails_improved_succeeds"]
    lines = [f"{payload['task']}: stock evaluation outcomes of {base} and {improved} on the "
             f"{payload['table']['seeds']} evaluation seeds both were run on (sim, greedy as stored):", "",
             f"| | {improved} succeeds | {improved} fails |", "|---|---:|---:|",
             f"| {base} succeeds | {counts['both_succeed']} | {counts['base_succeeds_improved_fails']} |",
             f"| {base} fails | {counts['base_fails_improved_succeeds']} | {counts['both_fail']} |", "",
             f"Self-corrections (base fails, improved succeeds from the same seed): "
             f"{counts['base_fails_improved_succeeds']}; the reverse: {counts['base_succeeds_improved_fails']}; "
             f"McNemar exact p = {payload['table']['mcnemar_exact_p']:.3g}.",
             f"Seeds corrected: {', '.join(map(str, corrected[:32])) or 'none'}"
             + (" ..." if len(corrected) > 32 else "") + "."]
    if payload["strips"]["shown"]:
        lines += ["", f"Strips ({payload['strips']['file']}): seeds {', '.join(map(str, payload['strips']['shown']))}, "
                      f"{payload['strips']['camera']}, a frame every {payload['strips']['every']} steps, base on top."]
    if payload["strips"]["diverged"]:
        lines.append(f"Not shown (replay left the recorded episode): seeds "
                     f"{', '.join(map(str, payload['strips']['diverged']))}.")
    lines += ["", f"Command: `{payload['command']}`."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", type=Path, default=Path("wmpo-data/bench.db"))
    parser.add_argument("--task", choices=sorted(TASKS), default="transfer_cube")
    parser.add_argument("--base", required=True, help="the policy version before (name or id)")
    parser.add_argument("--improved", required=True, help="the policy version after (name or id)")
    parser.add_argument("--strips", type=int, default=4, help="pairs to render at most (0: none)")
    parser.add_argument("--every", type=int, default=32, help="steps between the frames of a strip")
    parser.add_argument("--camera", choices=SIM_PICTURES, default="cam_high")
    parser.add_argument("--size", type=image_size, default=(96, 128), help="HxW of each frame (default 96x128)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args()
    if args.strips < 0 or args.every < 1:
        parser.error(f"--strips {args.strips} / --every {args.every}: expected --strips >= 0 and --every >= 1")

    with TrajectoryStore(args.db) as store:
        ids = store.find_policy_version(args.base), store.find_policy_version(args.improved)
        base, improved = (stock_evaluations(store, version_id, args.task) for version_id in ids)
        if not set(base) & set(improved):
            parser.error(f"no evaluation seed has a stored stock {args.task} evaluation episode of both {args.base} "
                         f"({len(base)} seeds) and {args.improved} ({len(improved)} seeds); expected both evaluated "
                         f"first: wmpo-app eval --policy NAME --task {args.task}")
        table = contingency(base, improved)
        corrected = table["seeds_per_cell"]["base_fails_improved_succeeds"]
        sheet, shown, diverged = strips(store, (args.base, args.improved), [(base[s], improved[s]) for s in corrected],
                                        args.strips, args.camera, args.size, args.every)

    stem = args.out / re.sub(r"[^A-Za-z0-9._-]", "_", f"self-correction-{args.task}-{args.base}-vs-{args.improved}")
    command = (f"benchmarks/self_correction.py --task {args.task} --base {args.base} --improved {args.improved} "
               f"--strips {args.strips} --every {args.every} --camera {args.camera} "
               f"--size {args.size[0]}x{args.size[1]}")
    payload = {"task": args.task, "base": args.base, "improved": args.improved,
               "policy_version_ids": {"base": ids[0], "improved": ids[1]}, "table": table, "command": command,
               "strips": {"shown": shown, "diverged": diverged, "camera": args.camera, "every": args.every,
                          "file": stem.with_suffix(".png").name if sheet is not None else None}}
    write_report(stem, payload, markdown(payload))
    if sheet is not None:
        sheet.save(stem.with_suffix(".png"))


if __name__ == "__main__":
    main()
