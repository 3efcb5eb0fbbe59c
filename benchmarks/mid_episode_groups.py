"""Can GRPO learn from groups that start at real mid-episode states? A cheap proxy, in the sim.

    .venv/bin/python benchmarks/mid_episode_groups.py --db DB --task transfer_cube \\
        --policy curve-view-100demos --world-model wmv3 --reward reward-view-t8 --tag wmv3

For each held-out evaluation episode of the policy (balanced: half successes), a real state
``--lead`` steps before its success (for a failure: a success's step, in turn;
``learning/policy_optimization/mid_episode.py``), and a group of G continuations of
``--horizon`` steps sampled by the policy at the GRPO temperature in the world model and judged
by the reward model, as GRPO would. Each imagined continuation's actions are then sent, open
loop, to the sim from the same real state (the episode replayed from its seed to t0): its real
outcome within the horizon. Reported:
- paired agreement: the imagined verdict against the real outcome of the same actions
  (balanced accuracy, AUC of the reward model's top probability);
- groups mixed in imagination and in the sim (a group whose members all agree teaches nothing);
- the signal GRPO would follow: within groups, whether a real success scores above a real
  failure of the same group (AUC over those pairs), and, within groups mixed in imagination,
  the real success rate of the imagined successes minus that of the imagined failures
  (positive: the advantage points where the sim agrees);
- the same with the reward model judging the real frames of each continuation instead of the
  imagined ones: whether the reward model, or the world model, loses the signal.
Writes benchmarks/results/mid-episode-groups-TAG.{json,md} and prints the table row.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

import robot  # noqa: F401  (headless GL before mujoco loads)
from app.imagined_commands import safety_command_filter
from learning.artifacts import reward_model_dir, world_model_dir
from learning.device import generator as device_generator
from learning.device import module_device
from learning.policy_optimization.imagine import imagine_group
from learning.policy_optimization.mid_episode import mid_episode_states
from learning.reward_model.judge import judge
from learning.reward_model.training import load_reward_model
from learning.vla.imitation import load_policy
from learning.world_model.imagination import Imagination
from learning.world_model.training import load_world_model
from robot.sim.aloha_sim import AlohaSim, SimConfig
from storage import EpisodeFilter, TrajectoryStore, wilson_interval

from imagination_ladder import auc  # benchmarks/, beside this script


def agreement_scores(verdicts: list[bool], probabilities: list[float], labels: list[bool]) -> dict:
    v, y = np.array(verdicts), np.array(labels)
    recall = float(v[y].mean()) if y.any() else float("nan")
    specificity = float((~v[~y]).mean()) if (~y).any() else float("nan")
    return {"balanced_accuracy": (recall + specificity) / 2, "recall": recall, "specificity": specificity,
            "auc": auc([p for p, t in zip(probabilities, labels) if t], [p for p, t in zip(probabilities, labels) if not t])}


def real_outcomes(task: str, seed: int, prefix_commands: np.ndarray, continuations: np.ndarray, camera: str,
                  size: tuple[int, int], stride: int) -> tuple[list[bool], np.ndarray, list[int]]:
    """Success within each continuation (G, steps, D) sent open loop after replaying the
    episode's commands to t0 (the sim's safety filter passes them as the robot's would), the
    real frames every ``stride`` steps through it (G, steps / stride, H, W, 3): what the world
    model should have imagined, and how many of them a recorded episode would have had (it
    ends at its success)."""
    outcomes, frames, kept = [], [], []
    with AlohaSim(SimConfig(task=task, cameras={camera: size})) as sim:
        sim.reset(seed)
        for command in prefix_commands:
            sim.send_action(command)
            sim.observe()
        start = sim.save_state()
        for actions in continuations:
            sim.restore_state(start)
            success, seen, until = False, [], None
            for t, action in enumerate(actions, 1):
                sim.send_action(action)
                observation = sim.observe()
                success = success or observation.success
                if t % stride == 0:
                    seen.append(observation.frames[camera])
                if success and until is None:
                    until = -(-t // stride)  # the frames up to the first one at or after the success
            outcomes.append(success)
            frames.append(np.stack(seen))
            kept.append(len(seen) if until is None else until)
    return outcomes, np.stack(frames), kept


HEADER = ("| run | horizon / lead (steps) | real successes | groups mixed in the sim "
          "| imagined, judged: paired bal. acc / AUC | within-group AUC | judged successes | groups mixed "
          "| GRPO signal (groups) | real frames, judged: paired bal. acc / AUC | within-group AUC | judged successes "
          "| groups mixed | GRPO signal (groups) |\n" + "|---" * 14 + "|\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--task", default="transfer_cube")
    parser.add_argument("--policy", required=True, help="its evaluation episodes recorded with frames")
    parser.add_argument("--world-model", required=True)
    parser.add_argument("--reward", required=True)
    parser.add_argument("--episodes", type=int, default=32, help="balanced: half successes")
    parser.add_argument("--group", type=int, default=8)
    parser.add_argument("--horizon", type=int, default=32, help="control steps imagined per continuation")
    parser.add_argument("--lead", type=int, default=32, help="steps from the start state to the real success")
    parser.add_argument("--temperature", type=float, default=0.5, help="the cpu GRPO profile's")
    parser.add_argument("--tag", required=True)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args()
    torch.manual_seed(0)
    with TrajectoryStore(args.db) as store:
        version = next(v for v in store.policy_versions() if v.name == args.policy)
        policy = load_policy(store.verify_policy_checkpoint(version.id))
        model = load_world_model(world_model_dir(store, args.world_model) / "model")
        reward = load_reward_model(reward_model_dir(store, args.reward))
        camera, stride = model.config.camera, model.config.frame_stride
        # evaluation episodes: no learner trained on them (the reward model leaves them out)
        episodes = store.episodes(EpisodeFilter(task=args.task, source="eval", policy_version_id=version.id))
        episodes = [e for e in episodes if camera in store.cameras(e.id)]
        successes = [e.id for e in episodes if e.success][:args.episodes // 2]
        failures = [e.id for e in episodes if not e.success][:args.episodes - len(successes)]
        states = mid_episode_states(store, successes + failures, camera, args.lead, stride)
        instruction = store.episode(states[0].episode_id).instruction
        imagination = Imagination(model, seed=0, command_filter=safety_command_filter())
        rows, start = [], time.perf_counter()
        imagined_s = 0.0
        for i, state in enumerate(states):
            episode = store.episode(state.episode_id)
            verdicts = []

            def verdict(frames, from_frame=0):
                v = judge(reward, frames, from_frame=from_frame)
                verdicts.append(v.max_probability)
                return v.success, v.success_frame

            generator = device_generator(module_device(policy), i)
            imagination.generator.manual_seed(i)
            t = time.perf_counter()
            group = imagine_group(policy, imagination, verdict, torch.from_numpy(state.frame), instruction,
                                  args.group, args.horizon, args.temperature, generator, start=state)
            imagined_s += time.perf_counter() - t
            actions = np.stack([policy.actions(g.bins).reshape(-1, policy.config.action_dim).numpy() for g in group])
            prefix = store.load_steps(episode.id).actions[:state.step]
            real, real_frames, until = real_outcomes(args.task, episode.seed, prefix, actions, camera,
                                                     tuple(model.config.image_size), stride)
            # the controls: the reward model on the real frames of the same continuations, whole
            # and ending at the success (as a recorded episode does)
            on_real = [judge(reward, np.concatenate([state.prefix, f]), from_frame=len(state.prefix))
                       for f in real_frames]
            to_success = [judge(reward, np.concatenate([state.prefix, f[:n]]), from_frame=len(state.prefix))
                          for f, n in zip(real_frames, until)]
            rows.append({"episode_id": episode.id, "episode_success": bool(episode.success), "t0": state.step,
                         "imagined": [bool(g.reward) for g in group], "probability": verdicts, "real": real,
                         "judged_real_frames": [v.success for v in on_real],
                         "probability_real_frames": [v.max_probability for v in on_real],
                         "judged_real_frames_to_success": [v.success for v in to_success],
                         "probability_real_frames_to_success": [v.max_probability for v in to_success]})
            print(f"{i + 1}/{len(states)} episode {episode.id} ({'success' if episode.success else 'failure'}) "
                  f"t0 {state.step}: imagined {sum(g.reward for g in group):.0f}/{args.group}, real {sum(real)}/"
                  f"{args.group}  ({time.perf_counter() - start:.0f} s)", flush=True)

    real = [v for r in rows for v in r["real"]]

    def judged_by(verdict_key: str, probability_key: str) -> dict:
        verdicts = [v for r in rows for v in r[verdict_key]]
        signal = []  # within groups the verdicts split: real success of the judged successes minus the others'
        for r in rows:
            ys, xs = np.array(r["real"]), np.array(r[verdict_key])
            if 0 < xs.sum() < len(xs):
                signal.append(float(ys[xs].mean() - ys[~xs].mean()))
        # within a group, does a real success score above a real failure? (what GRPO's advantages need)
        pairs = [(a, b) for r in rows for a, y in zip(r[probability_key], r["real"]) if y
                 for b, z in zip(r[probability_key], r["real"]) if not z]
        return {"paired": agreement_scores(verdicts, [p for r in rows for p in r[probability_key]], real),
                "within_group_auc": float(np.mean([(a > b) + 0.5 * (a == b) for a, b in pairs])) if pairs else None,
                "within_group_pairs": len(pairs),
                "judged_success": sum(verdicts), "mixed_groups": sum(0 < sum(r[verdict_key]) < args.group for r in rows),
                "grpo_signal_mean": float(np.mean(signal)) if signal else None, "grpo_signal_groups": len(signal)}

    summary = {
        "imagined": judged_by("imagined", "probability"),
        "real_frames": judged_by("judged_real_frames", "probability_real_frames"),
        "real_frames_to_success": judged_by("judged_real_frames_to_success", "probability_real_frames_to_success"),
        "real_success": sum(real), "trajectories": len(real),
        "real_success_interval": wilson_interval(sum(real), len(real)),
        "groups": len(rows), "mixed_real": sum(0 < sum(r["real"]) < args.group for r in rows),
        "imagined_frames_per_s": len(rows) * args.group * (args.horizon // stride) / imagined_s,
    }
    result = {"args": {k: str(v) for k, v in vars(args).items()}, "summary": summary, "rows": rows,
              "wall_s": time.perf_counter() - start}
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"mid-episode-groups-{args.tag}.json"
    path.write_text(json.dumps(result, indent=1))
    def cells(judged: dict) -> str:
        p, signal = judged["paired"], judged["grpo_signal_mean"]
        area = "-" if p["auc"] is None else f"{p['auc']:.2f}"
        within = "-" if judged["within_group_auc"] is None else f"{judged['within_group_auc']:.2f}"
        lean = "-" if signal is None else f"{signal:+.2f}"
        return (f"{p['balanced_accuracy']:.2f} / {area} | {within} | {judged['judged_success']} | {judged['mixed_groups']} | "
                f"{lean} ({judged['grpo_signal_groups']})")

    row = (f"| {args.tag} | {args.horizon} / {args.lead} | {summary['real_success']}/{len(real)} | "
           f"{summary['mixed_real']} of {len(rows)} | {cells(summary['imagined'])} | {cells(summary['real_frames'])} |")
    path.with_suffix(".md").write_text(HEADER + row + "\n")
    print(HEADER + row)
    print(f"real frames ending at the success: {cells(summary['real_frames_to_success'])}")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
