"""Training policies, and running them on a robot (the sim, or the real one a site file names):
the app joins learning and robot."""

from __future__ import annotations

import json
from typing import Callable

from app.demos import record_expert_demos
from learning import distributed
from learning.artifacts import checkpoints_dir
from learning.evaluation import EVAL_SEED_BASE, ROLLOUT_SEED_BASE, EvalSummary, evaluation_seeds, summarize
from learning.trainer import TrainConfig, TrainProgress
from learning.vla.config import PolicyConfig
from learning.vla.imitation import expert_filter, load_policy, train_policy
from learning.vla.runner import PolicyRunner, check_policy_fits
from robot.factory import RobotChoice, horizon_steps, initial_state, robot_kind
from robot.robot import OperatorStopError
from robot.rollout import RolloutConfig, record_rollout
from robot.sim.tasks import TASKS, get_task
from storage import STOCK_SCENE, EpisodeFilter, EpisodeInfo, SeedTakenError, StoreError, TrajectoryStore


def demo_count(store: TrajectoryStore, task: str, config: PolicyConfig) -> int:
    """Successful expert episodes of ``task`` whose policy camera has the policy's image size."""
    return store.count_episodes(expert_filter(task, config))


def ensure_demos(store: TrajectoryStore, task: str, n: int, config: PolicyConfig,
                 progress: Callable | None = None) -> None:
    missing = n - demo_count(store, task, config)
    if missing > 0:
        record_expert_demos(store, task, missing, cameras={config.camera: config.image_size}, progress=progress)


def train_base_policy(store: TrajectoryStore, task: str | None, name: str, config: PolicyConfig,
                      train: TrainConfig, demos: int | None, *, batch_size: int = 64, demo_progress: Callable | None = None,
                      progress: Callable[[TrainProgress], None] | None = None) -> int | None:
    """Demos (if missing) -> imitation (resumable) on the first ``demos`` of each task ->
    registered policy version; returns its id (None on the other ranks of a multi-process run).
    ``demos=None``: every demo the store holds, none recorded.

    ``task=None`` trains one instruction-conditioned policy on every sim task's demos."""
    existing = {v.name: v for v in store.policy_versions()}
    if name in existing:
        return existing[name].id
    if distributed.is_main() and demos is not None:  # under torchrun, rank 0 alone writes to the store
        for each in ([task] if task else sorted(TASKS)):
            ensure_demos(store, each, demos, config, demo_progress)
    distributed.barrier()
    folder = checkpoints_dir(store) / name
    train_policy(store, config, train, folder, task=task, batch_size=batch_size, demos_per_task=demos,
                 progress=progress)
    if not distributed.is_main():
        return None
    version = store.register_policy_version(name, folder, config={"task": task, "policy": config.to_json(),
                                                                  "steps": train.steps, "demos": demos})
    return version.id


def run_policy_episodes(store: TrajectoryStore, version_id: int, task: str | None, seeds: list[int], *,
                        source: str, greedy: bool, temperature: float = 1.0, record_frames: bool = False,
                        iteration_id: int | None = None, reuse_finished: bool = False,
                        robot: RobotChoice = RobotChoice(), horizon: int | None = None,
                        progress: Callable[[int, int, bool], None] | None = None) -> EvalSummary:
    """Run a stored policy version on ``robot`` once per seed, every episode into the store.

    In the sim each seed sets the episode's scene; on a real robot the operator sets it and the
    seed only numbers the episode (``robot.factory``). ``horizon``: control steps per episode
    (None: the task's duration). ``reuse_finished``: seeds this version already ran for the same
    source, iteration and scene (``robot.scene``) are not run again, their stored outcomes count (a
    killed cycle resumes where it stopped) -- if they were decoded the same way (greedy, or sampled
    at the same temperature)."""
    version = store.policy_version(version_id)
    policy = load_policy(store.verify_policy_checkpoint(version_id))
    task = task or store_config_task(version)
    sim_task = get_task(task)
    config = policy.config
    how = decoding(greedy, temperature)
    done = finished_episodes(store, version_id, task, source, iteration_id, robot.scene, how) if reuse_finished else {}
    runner = PolicyRunner(policy, greedy=greedy, temperature=temperature)
    successes, lengths, stages = [], [], []
    with robot.make(task, {config.camera: config.image_size}) as bot:
        check_policy_fits(policy, bot.features.cameras, bot.features.action_dim)
        rollout = RolloutConfig(horizon=horizon or horizon_steps(sim_task.horizon, bot))
        seeds, i = list(seeds), 0
        while i < len(seeds):
            seed = seeds[i]
            if seed in done:
                success, length, stage = done[seed]
            else:
                # training rollouts' seeds are each one's own (evaluations rerun the fixed set): when a
                # second collection into the store took this one first, this run moves past its seeds
                info = EpisodeInfo(task=task, instruction=sim_task.instruction, robot_kind=robot_kind(bot),
                                   source=source, seed=seed, policy_version_id=version_id, iteration_id=iteration_id,
                                   control_period_s=bot.features.control_period_s, unique_seed=source == "policy",
                                   extra={**site_extra(robot), **how}, scene=robot.scene)
                try:
                    with robot.operator.watching_stop() as stop:  # the operator's stop key, on a real robot
                        result = record_rollout(store, bot, runner, info, initial_state=initial_state(bot, seed),
                                                record_frames=record_frames, config=rollout, stop=stop)
                except SeedTakenError:
                    if source != "policy":
                        raise
                    seeds[i:] = fresh_seeds(store, task, len(seeds) - i)
                    continue
                if result.end == "stop":
                    raise OperatorStopError(f"operator stop in episode {i + 1} of {len(seeds)} (episode "
                                            f"{result.episode_id}, stored unlabelled, end 'stop'): arms held, base "
                                            f"stopped, the run ended")
                success = result.success if result.success is not None else operator_label(store, robot, result)
                success, length, stage = bool(success), result.steps, result.best_stage
            successes.append(success)
            lengths.append(length)
            stages.append(stage)
            if progress is not None:
                progress(i + 1, len(seeds), success)
            i += 1
        bot.go_to_sleep()  # a real robot's arms to their rest pose; the sim: nothing
    chunk_ms = config.chunk_size * bot.features.control_period_s * 1e3
    return summarize(task, successes, lengths, runner.inference_s[1:], chunk_ms, stages)  # first call warms up


def operator_label(store: TrajectoryStore, robot: RobotChoice, result) -> bool | None:
    """The operator's verdict on an episode the robot could not judge, stored as its label."""
    if robot.operator.label is None or result.episode_id is None:
        return None
    label = robot.operator.label(result.episode_id)
    if label is not None:
        store.set_label(result.episode_id, label, "operator")
    return label


def site_extra(robot: RobotChoice) -> dict:
    """What an episode records of a real robot's site: its file (the seed is then only an index)."""
    return {} if robot.site is None else {"site": str(robot.site), "initial_state": "operator"}


def decoding(greedy: bool, temperature: float) -> dict:
    """How an episode's actions were chosen, as its ``extra`` records it."""
    return {"decoding": "greedy"} if greedy else {"decoding": "sampled", "temperature": temperature}


def finished_episodes(store: TrajectoryStore, version_id: int, task: str, source: str,
                      iteration_id: int | None, scene: str = STOCK_SCENE,
                      how: dict | None = None) -> dict[int, tuple[bool, int, int | None]]:
    """seed -> (success, length, highest stage) of committed episodes of this run; a seed run in
    another scene, or decoded another way (``how``: ``decoding(...)``), is another episode: a
    greedy success rate must not count sampled episodes. Episodes stored before the decoding was
    recorded match any (a cycle killed across the upgrade still resumes)."""
    where = EpisodeFilter(task=task, source=source, policy_version_id=version_id, iteration_id=iteration_id,
                          scene=scene)
    finished = {}
    for e in store.episodes(where):
        extra = json.loads(e.extra_json or "{}")
        if iteration_id is None and e.iteration_id is not None:
            continue
        if how is not None and "decoding" in extra and {k: extra.get(k) for k in how} != how:
            continue
        finished[e.seed] = (bool(e.success), e.length, extra.get("best_stage"))
    return finished


def evaluate_policy(store: TrajectoryStore, version_id: int, task: str | None = None, n: int = 128, *,
                    greedy: bool = True, temperature: float = 1.0, record_frames: bool = False,
                    iteration_id: int | None = None, reuse_finished: bool = False,
                    robot: RobotChoice = RobotChoice(), horizon: int | None = None,
                    progress: Callable[[int, int, bool], None] | None = None) -> EvalSummary:
    """The evaluation protocol: the fixed evaluation seeds (on a real robot: episode numbers),
    greedy by default, logged as a metric. In a disruption scene (``robot.scene``, the sim only) the
    same seeds are run and logged as ``eval/<scene>/success_rate``: never the stock evaluation's."""
    summary = run_policy_episodes(store, version_id, task, evaluation_seeds(n), source="eval", greedy=greedy,
                                  temperature=temperature, record_frames=record_frames, iteration_id=iteration_id,
                                  reuse_finished=reuse_finished, robot=robot, horizon=horizon, progress=progress)
    store.log_metric(eval_metric(robot.scene), summary.rate, iteration_id=iteration_id,
                     payload={**summary.to_json(), "policy_version_id": version_id, "greedy": greedy,
                              "scene": robot.scene})
    return summary


def eval_metric(scene: str) -> str:
    return "eval/success_rate" if scene == STOCK_SCENE else f"eval/{scene}/success_rate"


def collect_rollouts(store: TrajectoryStore, version_id: int, task: str | None, n: int, *,
                     temperature: float = 1.0, iteration_id: int | None = None,
                     robot: RobotChoice = RobotChoice(), horizon: int | None = None,
                     progress: Callable[[int, int, bool], None] | None = None) -> EvalSummary:
    """The real budget P: ``n`` sampled episodes of the policy, with frames, from fresh training seeds.

    These are what the world model aligns to and the reward model learns from; their seeds
    follow the task's earlier rollouts, never the evaluation set's. Within an iteration,
    episodes already collected count towards ``n`` (a killed collection resumes)."""
    task = task or store_config_task(store.policy_version(version_id))
    done = (finished_episodes(store, version_id, task, "policy", iteration_id, robot.scene)
            if iteration_id is not None else {})
    seeds = sorted(done)[:n]
    seeds += fresh_seeds(store, task, n - len(seeds))
    summary = run_policy_episodes(store, version_id, task, seeds, source="policy",
                                  greedy=False, temperature=temperature, record_frames=True,
                                  iteration_id=iteration_id, reuse_finished=iteration_id is not None,
                                  robot=robot, horizon=horizon, progress=progress)
    store.log_metric("collect/success_rate", summary.rate, iteration_id=iteration_id,
                     payload={**summary.to_json(), "policy_version_id": version_id, "temperature": temperature})
    return summary


def next_rollout_seed(store: TrajectoryStore, task: str) -> int:
    return store.next_seed(task, "policy", base=ROLLOUT_SEED_BASE)


def fresh_seeds(store: TrajectoryStore, task: str, n: int) -> list[int]:
    """The next ``n`` rollout seeds after every one the task's rollouts hold or are recording."""
    first = next_rollout_seed(store, task)
    if first + n > EVAL_SEED_BASE:
        raise ValueError(f"rollout seeds {first}..{first + n - 1} would reach the evaluation seeds ({EVAL_SEED_BASE})")
    return list(range(first, first + n))


def store_config_task(version) -> str:
    task = json.loads(version.config_json).get("task")
    if not task:
        raise StoreError(f"policy version {version.name!r} was trained on several tasks; pass --task")
    return task
