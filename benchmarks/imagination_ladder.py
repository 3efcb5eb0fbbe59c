"""The imagination ladder: is a world model (plus reward model) faithful enough for WMPO?

    .venv/bin/python benchmarks/imagination_ladder.py --db DB --task transfer_cube \\
        --world-model NAME [--reward NAME] [--policy NAME] --tag SHORT-NAME
    .venv/bin/python benchmarks/imagination_ladder.py --table     # the results table of every run

Rungs, cheapest first, all on held-out episodes (evaluation episodes recorded with
``eval --record-frames`` come first: no learner ever sees them):
1. one chunk predicted from a real context, PSNR against copying the last context frame;
2. open-loop replays from the first frame with the recorded actions: PSNR at 1, 2, 4, 8, 16, 32
   and 49 chunks (step 392, the episode's end) against a frozen first frame, and the red object (the cube, the peg): present
   (red pixels within +-50% of the real frame's) and its centroid error, to step 128 and after it
   (where the cube is carried or dropped, and the outcome decided);
3. with a reward model: outcome agreement of the imagined replays of a balanced set (successes
   and failures alike), as balanced accuracy at the model's threshold and AUC; and again from
   real mid-episode states 1-16 chunks before each episode's end, beside holding the start frame
   (how far ahead imagination carries an outcome: the horizon for GRPO from real states);
4. with a reward model and a policy: the policy's sampled success imagined from real first
   frames, against its real sampled success in the store;
and imagination's speed. Writes benchmarks/results/imagination-ladder-TAG.{json,md,png}.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from app.imagined_commands import safety_command_filter
from learning.artifacts import reward_model_dir, world_model_dir
from learning.device import generator as device_generator
from learning.device import module_device
from learning.policy_optimization.imagine import imagine_group
from learning.reward_model.clips import at_stride
from learning.reward_model.judge import judge
from learning.reward_model.training import load_reward_model
from learning.splits import split_episodes
from learning.vla.imitation import load_policy
from learning.wmpo import initial_states
from learning.world_model.config import SAMPLERS
from learning.world_model.fidelity import Replay, psnr, replay_episodes, strip
from learning.world_model.imagination import Imagination
from learning.world_model.training import load_world_model
from storage import EpisodeFilter, TrajectoryStore, wilson_interval

from learning_report import machine  # benchmarks/, beside this script

# 49 chunks = step 392: the last chunk start a 400-step episode (frames 0..399) has a frame for
CHUNK_HORIZONS = (1, 2, 4, 8, 16, 32, 49)
OBJECT_HORIZON = 128  # steps: the cube-presence target's range
# A pixel "moves" in a chunk when some channel of the real frame differs from the last context
# frame by more than this (of 255): the arms, the cube, and nothing of the still background.
MOVING_THRESHOLD = 24
# chunks imagined from a real mid-episode state before the episode's end (outcome agreement)
LATE_START_CHUNKS = (1, 2, 4, 8, 16)


def red_mask(frames: np.ndarray) -> np.ndarray:
    """(N, H, W, 3) uint8 -> bool (N, H, W): the task's red object (cube, peg) as rendered."""
    f = frames.astype(np.int16)
    return (f[..., 0] > 120) & (f[..., 1] < 70) & (f[..., 2] < 70)


def centroids(mask: np.ndarray) -> np.ndarray:
    ys, xs = np.mgrid[:mask.shape[1], :mask.shape[2]]
    weight = np.maximum(mask.sum((1, 2)), 1)
    return np.stack([(mask * ys).sum((1, 2)) / weight, (mask * xs).sum((1, 2)) / weight], 1)


def moving_psnr(real: torch.Tensor, last: torch.Tensor, frames: torch.Tensor) -> float | None:
    """PSNR (dB) over the pixels that move between ``last`` and ``real`` (uint8 (N, H, W, 3)),
    pooled over all frames: whole-frame PSNR is dominated by the still background, which a model
    gets right whatever actions it is given."""
    moving = ((real.int() - last.int()).abs() > MOVING_THRESHOLD).any(-1)
    if not moving.any():
        return None
    mse = ((real.float() - frames.float()) ** 2).mean(-1)[moving].mean()
    return float(10 * torch.log10(255.0 ** 2 / mse.clamp_min(1e-10)))


def auc(positive: list[float], negative: list[float]) -> float | None:
    """Probability that a random success scores above a random failure (ties count half)."""
    if not positive or not negative:
        return None
    p, n = np.asarray(positive)[:, None], np.asarray(negative)[None, :]
    return float(((p > n) + 0.5 * (p == n)).mean())


def choose_replays(store: TrajectoryStore, task: str, camera: str, n: int,
                   policy_id: int | None) -> list[int]:
    """Up to n/2 successes and n/2 failures of held-out policy episodes, evaluation ones first."""
    _, held_out = split_episodes(store, camera, EpisodeFilter(task=task, policy_version_id=policy_id))
    episodes = [store.episode(i) for i in held_out]
    episodes = [e for e in episodes if e.source in ("eval", "policy") and e.success is not None]
    episodes.sort(key=lambda e: (e.source != "eval", e.id))
    successes = [e.id for e in episodes if e.success][:n // 2]
    failures = [e.id for e in episodes if not e.success][:n - len(successes)]
    return successes + failures


def one_chunk(imagination: Imagination, replays: list[Replay], starts: int = 16) -> dict:
    """Each replay's chunk starting at ``starts`` chunk boundaries, predicted from its real context;
    and again with actions that were not sent: the next replay's at the same steps, and the last
    command before the chunk held throughout (the arms should stay still). If a prediction is as
    good with them, the model is not reading the actions (the arms would not follow a policy).
    Each is scored on whole frames and on the moving pixels alone."""
    model, config = imagination.model, imagination.model.config
    k, s, c = config.chunk_size, config.frame_stride, config.context_frames
    scores = {name: [] for name in ("psnr_db", "copy_last_psnr_db", "other_actions_psnr_db",
                                        "held_actions_psnr_db")}
    moving = {name: [] for name in scores}

    def chunk_actions(r: Replay, ts: np.ndarray) -> torch.Tensor:
        index = np.clip(np.arange(-s, k)[None, :] + ts[:, None], 0, len(r.actions) - 1)
        return torch.from_numpy(r.actions[index]).float()

    def predict(r: Replay, ts: np.ndarray, actions: torch.Tensor) -> torch.Tensor:
        context = torch.from_numpy(np.stack([r.real[np.maximum(0, t - s * np.arange(c - 1, -1, -1))] for t in ts]))
        imagination.reset(torch.from_numpy(r.real[:1]).expand(len(ts), *r.real.shape[1:]).contiguous())
        imagination.generator.manual_seed(0)
        # a real history; before the first command, the first one stands in (the clipped index), as in training
        imagination.history, imagination.previous_actions = context, actions[:, :s]
        return imagination.step(actions[:, s:])

    for i, r in enumerate(replays):
        n = len(r.real)
        ts = np.unique(np.linspace(0, (n - 1 - k) // k, starts).astype(int) * k)
        real = torch.from_numpy(np.stack([r.real[t + s:t + k + 1:s] for t in ts]))
        last = torch.from_numpy(r.real[ts])[:, None].expand_as(real)
        actions, other = chunk_actions(r, ts), replays[(i + 1) % len(replays)]
        held = torch.cat([actions[:, :s], actions[:, s - 1:s].expand(-1, k, -1)], 1)
        for name, frames in (("psnr_db", predict(r, ts, actions)), ("copy_last_psnr_db", last),
                             ("other_actions_psnr_db", predict(r, ts, chunk_actions(other, ts))),
                             ("held_actions_psnr_db", predict(r, ts, held))):
            scores[name].append(psnr(real.flatten(0, 1), frames.flatten(0, 1)).mean().item())
            moving[name].append(moving_psnr(real, last, frames))
    result = {name: float(np.mean(v)) for name, v in scores.items()}
    return result | {"moving_pixels": {name: float(np.mean([x for x in v if x is not None])) for name, v in moving.items()}}


def with_other_actions(replays: list[Replay]) -> list[Replay]:
    """Each replay driven by the next one's actions (its last one held where it is shorter)."""
    def actions(r: Replay, other: Replay) -> np.ndarray:
        index = np.minimum(np.arange(len(r.actions)), len(other.actions) - 1)
        return other.actions[index]
    return [Replay(r.real, actions(r, replays[(i + 1) % len(replays)]), r.success) for i, r in enumerate(replays)]


def open_loop(replays: list[Replay], imagined: list[np.ndarray], stride: int, k: int,
              imagined_other: list[np.ndarray] | None = None) -> dict:
    """PSNR against the frozen first frame, on whole frames and on the pixels where the real frame
    has moved away from the first one (the arms, the cube); with ``imagined_other`` (the same
    first frames driven by another episode's actions) also theirs: imagination that follows the
    actions scores clearly higher with its own."""
    by_chunks = {}
    objects = {part: {"present": [], "error_px": [], "real_px": [], "imagined_px": []} for part in ("early", "late")}
    for j, (r, frames) in enumerate(zip(replays, imagined)):
        real = r.real[::stride][:len(frames)]
        first = np.broadcast_to(real[:1], real.shape)
        variants = {"psnr": frames, "frozen": first}
        if imagined_other is not None:
            variants["other"] = imagined_other[j][:len(frames)]
        for chunks in CHUNK_HORIZONS:
            i = chunks * k // stride
            if i < len(frames):
                scores = by_chunks.setdefault(chunks, {})
                at = lambda frames: torch.from_numpy(np.array(frames[i:i + 1]))  # noqa: E731 (a copy: first is a view)
                here, start = at(real), at(first)
                for name, v in variants.items():
                    mine = at(v)
                    scores.setdefault(name, []).append(float(psnr(here, mine)[0]))
                    moved = moving_psnr(here, start, mine)
                    if moved is not None:
                        scores.setdefault("moving_" + name, []).append(moved)
        # early: to step 128, before the grasp; late: after it, where the cube is carried (or
        # dropped) and the episode's outcome is decided
        for part, window in (("early", slice(1, OBJECT_HORIZON // stride + 1)),
                             ("late", slice(OBJECT_HORIZON // stride + 1, None))):
            score_object(real[window], frames[window], objects[part])
    beats = all(np.mean(v["psnr"]) > np.mean(v["frozen"]) for v in by_chunks.values())
    return {
        "psnr_by_chunks": {str(h): {"imagined_db": float(np.mean(v["psnr"])), "frozen_db": float(np.mean(v["frozen"])),
                                    "episodes": len(v["psnr"])}
                           | ({"other_actions_db": float(np.mean(v["other"]))} if "other" in v else {})
                           | {"moving_pixels": {name[len("moving_"):]: float(np.mean(x)) for name, x in v.items()
                                                if name.startswith("moving_")}}
                           for h, v in sorted(by_chunks.items())},
        "beats_frozen_everywhere": bool(beats),
        **object_summary(objects["early"], ""), **object_summary(objects["late"], "_late"),
    }


def score_object(real: np.ndarray, imagined: np.ndarray, scores: dict) -> None:
    """Per frame where the real red object shows: is it imagined (+-50% of its pixels), and where."""
    real_mask, fake_mask = red_mask(real), red_mask(imagined)
    real_px, fake_px = real_mask.sum((1, 2)), fake_mask.sum((1, 2))
    seen = real_px > 0
    scores["present"] += ((fake_px >= 0.5 * real_px) & (fake_px <= 1.5 * real_px))[seen].tolist()
    both = seen & (fake_px > 0)
    scores["error_px"] += np.linalg.norm(centroids(real_mask) - centroids(fake_mask), axis=1)[both].tolist()
    scores["real_px"] += real_px.tolist()
    scores["imagined_px"] += fake_px.tolist()


def object_summary(scores: dict, suffix: str) -> dict:
    mean = lambda values: float(np.mean(values)) if values else None  # noqa: E731
    return {f"object_present_fraction{suffix}": mean(scores["present"]),
            f"object_centroid_error_px_median{suffix}": float(np.median(scores["error_px"])) if scores["error_px"]
            else None,
            f"object_pixels_real_imagined{suffix}": [mean(scores["real_px"]), mean(scores["imagined_px"])]}


def outcome_agreement(reward, replays: list[Replay], imagined: list[np.ndarray], stride: int) -> dict:
    def verdicts(sequences):
        labels = [bool(r.success) for r in replays]
        return agreement([judge(reward, frames) for frames in sequences], labels) | {
            "successes": sum(labels), "failures": len(labels) - sum(labels)}

    # recorded frames twice: ending with the success frame (as the reward model's clips), and on
    # imagination's grid (steps 0, s, 2s, ...: its last frame up to s - 1 steps before the success)
    return {"imagined": verdicts(imagined), "recorded": verdicts([at_stride(r.real, stride) for r in replays]),
            "recorded_on_imagination_grid": verdicts([r.real[::stride] for r in replays]),
            "threshold": reward.config.threshold}


def late_start_outcomes(imagination: Imagination, reward, replays: list[Replay],
                        horizons: tuple[int, ...] = LATE_START_CHUNKS) -> dict:
    """Outcome agreement when imagination starts from a real mid-episode state h chunks before
    the episode's end (its real frames up to there, then h imagined chunks with the recorded
    actions): how far ahead imagination carries an outcome, which bounds the horizon of GRPO
    groups started from real states. Every replay gets exactly h chunks, so the judge sees the
    same number of imagined frames for a success and a failure. The control holds the real frame
    at the start instead of imagining: if it agrees as often, the start state decided, not the
    world model."""
    config = imagination.model.config
    k, s, c = config.chunk_size, config.frame_stride, config.context_frames
    labels = [bool(r.success) for r in replays]
    results = {}
    for h in horizons:
        starts = [((len(r.actions) - 1 - h * k) // s) * s for r in replays]
        keep = [i for i, start in enumerate(starts) if start >= s]  # a context and a previous stride exist
        verdicts = {"imagined": [], "held_start": []}
        for b in range(0, len(keep), 8):
            batch = keep[b:b + 8]
            history = torch.from_numpy(np.stack([replays[i].real[[max(0, starts[i] - j * s) for j in range(c - 1, -1, -1)]]
                                                 for i in batch]))
            anchor = torch.from_numpy(np.stack([replays[i].real[0] for i in batch]))
            previous = torch.from_numpy(np.stack([replays[i].actions[starts[i] - s:starts[i]] for i in batch]))
            imagination.start_from(history, anchor, previous)
            imagined = [imagination.step(torch.from_numpy(np.stack([
                replays[i].actions[starts[i] + j * k:starts[i] + (j + 1) * k] for i in batch])).float()).cpu()
                for j in range(h)]
            imagined = torch.cat(imagined, dim=1).numpy()
            for row, i in enumerate(batch):
                prefix = replays[i].real[0:starts[i] + 1:s]
                held = np.broadcast_to(prefix[-1:], imagined[row].shape)
                verdicts["imagined"].append(judge(reward, np.concatenate([prefix, imagined[row]])))
                verdicts["held_start"].append(judge(reward, np.concatenate([prefix, held])))
        ys = [labels[i] for i in keep]
        results[str(h)] = {"episodes": len(keep), "successes": int(sum(ys)),
                           "start_steps": [starts[i] for i in keep]} | {
            name: agreement(v, ys) for name, v in verdicts.items()}
    return results


def agreement(verdicts: list, labels: list[bool]) -> dict:
    pos = [v.max_probability for v, y in zip(verdicts, labels) if y]
    neg = [v.max_probability for v, y in zip(verdicts, labels) if not y]
    tpr = np.mean([v.success for v, y in zip(verdicts, labels) if y]) if pos else float("nan")
    tnr = np.mean([not v.success for v, y in zip(verdicts, labels) if not y]) if neg else float("nan")
    return {"balanced_accuracy": float((tpr + tnr) / 2), "auc": auc(pos, neg), "recall": float(tpr),
            "specificity": float(tnr)}


def sampled_success(store, task, policy_id, model, reward, starts: int, group: int, temperature: float,
                    sampler: str | None, steps: int | None) -> dict:
    policy = load_policy(store.verify_policy_checkpoint(policy_id))
    if policy.config.camera != model.config.camera:  # imagined frames would be a view the policy never saw
        return {"skipped": f"the policy reads {policy.config.camera!r}, the world model imagines {model.config.camera!r}"}
    states = initial_states(store, task, model.config.camera, tuple(model.config.image_size))
    instruction = store.episodes(EpisodeFilter(task=task), limit=1)[0].instruction
    imagination = Imagination(model, sampler=sampler, steps=steps, seed=0,
                              command_filter=safety_command_filter())  # as GRPO imagines
    generator = device_generator(module_device(policy), 0)
    successes = total = 0
    for i in np.linspace(0, len(states) - 1, starts).astype(int):
        group_result = imagine_group(policy, imagination, lambda f: (lambda v: (v.success, v.success_frame))(
            judge(reward, f)), torch.from_numpy(states[i].frame), instruction, group, 400, temperature, generator,
            initial_joints=torch.from_numpy(states[i].joints))
        successes += sum(t.reward for t in group_result)
        total += group
    # the real rate at the same temperature (rollouts stored before the decoding was recorded count)
    real = [e.success for e in store.episodes(EpisodeFilter(task=task, source="policy", policy_version_id=policy_id))
            if e.success is not None and json.loads(e.extra_json or "{}").get("temperature", temperature) == temperature]
    return {"temperature": temperature,
            "imagined": {"successes": int(successes), "n": total, "rate": successes / total,
                         "interval95": wilson_interval(int(successes), total)},
            "real": {"successes": int(sum(real)), "n": len(real), "rate": float(np.mean(real)) if real else None,
                     "interval95": wilson_interval(int(sum(real)), len(real)) if real else None}}


def imagine_replays(imagination: Imagination, replays: list[Replay], batch: int = 8) -> list[np.ndarray]:
    imagined = []
    for i in range(0, len(replays), batch):
        imagined += replay_episodes(imagination, replays[i:i + batch])
    return imagined


def run(args) -> dict:
    store = TrajectoryStore(args.db, readonly=True)
    model = load_world_model(world_model_dir(store, args.world_model) / "model")
    if args.context_noise is not None:  # what imagination adds to its own frames before it reads them
        model.config = replace(model.config, diffusion=replace(model.config.diffusion,
                                                                 sampling_context_noise=args.context_noise))
    config = model.config
    policy_id = sampling_policy_id = None
    if args.policy:
        policy_id = sampling_policy_id = store.find_policy_version(args.policy)
    if args.sampling_policy:
        sampling_policy_id = store.find_policy_version(args.sampling_policy)
    chosen = choose_replays(store, args.task, config.camera, args.episodes, policy_id)
    replays = [Replay(store.load_frames(i, config.camera), store.load_steps(i).actions, store.episode(i).success)
               for i in chosen]
    result = {"tag": args.tag, "world_model": args.world_model, "reward_model": args.reward, "task": args.task,
              "config": config.to_json(), "machine": machine(), "episodes": chosen,
              "sampler": args.sampler or config.diffusion.sampler,
              "sampling_steps": args.sampling_steps or config.diffusion.sampling_steps,
              "sampling_context_noise": config.diffusion.sampling_context_noise}
    imagination = Imagination(model, sampler=args.sampler, steps=args.sampling_steps, seed=0)
    reward = load_reward_model(reward_model_dir(store, args.reward)) if args.reward else None
    if reward is not None and reward.config.frame_stride != config.frame_stride:
        raise SystemExit(f"reward model frame_stride {reward.config.frame_stride} != world model's "
                         f"{config.frame_stride}")
    if args.only:  # a rung added later, for a run already on the ladder
        if args.only != "one_chunk" and reward is None:
            raise SystemExit(f"--only {args.only} needs --reward")
        if args.only == "sampled_success" and sampling_policy_id is None:
            raise SystemExit("--only sampled_success needs --policy or --sampling-policy")
        path = args.out / f"imagination-ladder-{args.tag}.json"
        earlier = json.loads(path.read_text())
        if earlier["episodes"] != chosen or earlier["world_model"] != args.world_model:
            raise SystemExit(f"{path} scored other episodes or another world model; run the whole ladder")
        if args.only == "one_chunk":
            rung = one_chunk(imagination, replays)
        elif args.only == "late_starts":
            rung = late_start_outcomes(imagination, reward, replays)
        elif args.only == "sampled_success":
            rung = sampled_success(store, args.task, sampling_policy_id, model, reward, args.starts, args.group,
                                   args.temperature, args.sampler, args.sampling_steps)
        else:  # outcome agreement needs the open-loop replays
            rung = outcome_agreement(reward, replays, imagine_replays(imagination, replays), config.frame_stride)
        updated = earlier | {args.only: rung}
        path.write_text(json.dumps(updated, indent=1))
        return updated
    result["one_chunk"] = one_chunk(imagination, replays)
    started = time.perf_counter()
    imagination = Imagination(model, sampler=args.sampler, steps=args.sampling_steps, seed=0)
    imagined = imagine_replays(imagination, replays)
    seconds = time.perf_counter() - started
    frames = sum(len(f) - 1 for f in imagined)
    result["speed"] = {"imagined_frames_per_s": frames / seconds,
                       "control_steps_per_s": frames * config.frame_stride / seconds, "batch": 8}
    imagined_other = imagine_replays(imagination, with_other_actions(replays))  # the control: another's actions
    result["open_loop"] = open_loop(replays, imagined, config.frame_stride, config.chunk_size, imagined_other)
    if reward is not None:
        result["outcome"] = outcome_agreement(reward, replays, imagined, config.frame_stride)
        result["late_starts"] = late_start_outcomes(imagination, reward, replays)
        if sampling_policy_id is not None:
            result["sampled_success"] = sampled_success(store, args.task, sampling_policy_id, model, reward, args.starts,
                                                        args.group, args.temperature, args.sampler,
                                                        args.sampling_steps)
    strips = [strip(r.real, f, config.frame_stride, every=32) for r, f in zip(replays, imagined)]
    picks = [i for i, r in enumerate(replays) if r.success][:2] + [i for i, r in enumerate(replays) if not r.success][:2]
    from PIL import Image
    sheet = Image.new("RGB", (max(strips[i].width for i in picks), sum(strips[i].height for i in picks)), "white")
    y = 0
    for i in picks:
        sheet.paste(strips[i], (0, y))
        y += strips[i].height
    args.out.mkdir(parents=True, exist_ok=True)
    sheet.save(args.out / f"imagination-ladder-{args.tag}.png")
    (args.out / f"imagination-ladder-{args.tag}.json").write_text(json.dumps(result, indent=1))
    return result


def row(r: dict) -> str:
    ol, oc = r["open_loop"], r["one_chunk"]
    other, mp = oc.get("other_actions_psnr_db"), oc.get("moving_pixels")
    cells = [r["tag"], f"{oc['psnr_db']:.2f} / {oc['copy_last_psnr_db']:.1f} / "
             + ("-" if other is None else f"{other:.2f}"),
             "-" if mp is None else " / ".join(f"{mp[n]:.1f}" if n in mp else "-" for n in
                                               ("psnr_db", "copy_last_psnr_db", "other_actions_psnr_db", "held_actions_psnr_db"))]
    for h in ("1", "4", "16", "49"):
        v = ol["psnr_by_chunks"].get(h)
        cells.append("-" if v is None else f"{v['imagined_db']:.1f} / {v['frozen_db']:.1f}")
    moved = ol["psnr_by_chunks"].get("16", {}).get("moving_pixels", {})
    cells.append(" / ".join(f"{moved[n]:.1f}" if n in moved else "-" for n in ("psnr", "other", "frozen")))
    present, error = ol["object_present_fraction"], ol["object_centroid_error_px_median"]
    cells += ["-" if present is None else f"{100 * present:.0f}%", "-" if error is None else f"{error:.1f}"]
    late, late_error = ol.get("object_present_fraction_late"), ol.get("object_centroid_error_px_median_late")
    cells.append("-" if late is None else f"{100 * late:.0f}% / " + ("-" if late_error is None else f"{late_error:.1f}"))
    outcome = r.get("outcome", {}).get("imagined")
    cells.append("-" if outcome is None else f"{outcome['balanced_accuracy']:.2f} / "
                 + ("-" if outcome["auc"] is None else f"{outcome['auc']:.2f}"))
    late = r.get("late_starts", {})
    cells.append(" / ".join("-" if h not in late else
                            f"{late[h]['imagined']['balanced_accuracy']:.2f} ({late[h]['held_start']['balanced_accuracy']:.2f})"
                            for h in ("2", "4", "8", "16")))
    sampled = r.get("sampled_success")
    cells.append("-" if sampled is None or "skipped" in sampled else f"{100 * sampled['imagined']['rate']:.0f}% / "
                 + ("-" if sampled["real"]["rate"] is None else f"{100 * sampled['real']['rate']:.0f}%"))
    cells.append(f"{r['speed']['imagined_frames_per_s']:.0f} ({r['speed']['control_steps_per_s']:.0f})")
    return "| " + " | ".join(cells) + " |"


HEADER = ("| run | one chunk: PSNR / copy last / another episode's actions | moving pixels only: PSNR / copy last / another's actions / last command held | open loop @1 chunk: PSNR / frozen | @4 | @16 | @49 (step 392) "
          "| @16, moving pixels: own actions / another's / frozen "
          "| cube present to step 128 | cube centroid error (px, median) | cube after step 128: present / error (px) "
          "| outcome: balanced acc / AUC | from a real state 2 / 4 / 8 / 16 chunks before the end: balanced acc (start frame held) | sampled success: imagined / real | frames/s (control steps/s) |\n"
          "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")


def table(folder: Path) -> str:
    runs = [json.loads(p.read_text()) for p in sorted(folder.glob("imagination-ladder-*.json"))]
    return "\n".join([HEADER] + [row(r) for r in runs])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", type=Path)
    parser.add_argument("--task", default="transfer_cube")
    parser.add_argument("--world-model")
    parser.add_argument("--reward", help="reward model name: adds outcome agreement")
    parser.add_argument("--policy", help="policy version: held-out replays of its episodes, and its sampled success")
    parser.add_argument("--tag", help="short name of this run in the results table")
    parser.add_argument("--episodes", type=int, default=32, help="balanced held-out replays (half successes)")
    parser.add_argument("--sampler", choices=SAMPLERS, help="default: the world model's")
    parser.add_argument("--sampling-steps", type=int, help="default: the world model's")
    parser.add_argument("--context-noise", type=float, help="default: the world model's sampling_context_noise")
    parser.add_argument("--sampling-policy", help="policy version for the sampled-success rung (default: --policy); "
                                                  "it must read the world model's camera")
    parser.add_argument("--starts", type=int, default=8, help="real first frames for the sampled-success rung")
    parser.add_argument("--group", type=int, default=8, help="imagined trajectories per first frame")
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    parser.add_argument("--only", choices=("one_chunk", "late_starts", "outcome", "sampled_success"),
                        help="score only this rung, into the tag's existing results")
    parser.add_argument("--table", action="store_true", help="print the table of every run in --out, and write it")
    args = parser.parse_args()
    if args.table:
        text = table(args.out)
        (args.out / "imagination-ladder.md").write_text(text + "\n")
        print(text)
        return
    if not (args.db and args.world_model and args.tag):
        parser.error("--db, --world-model and --tag are required (or --table)")
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", 2)))  # 1 beside a training run
    result = run(args)
    print(row(result))
    print(json.dumps({k: result[k] for k in ("one_chunk", "open_loop", "speed")} |
                     {k: result[k] for k in ("outcome", "sampled_success") if k in result}, indent=1))


if __name__ == "__main__":
    main()
