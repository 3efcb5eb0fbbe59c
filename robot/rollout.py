"""The rollout loop: a chunked policy drives a robot at its control period, every step recorded.

Each policy call returns a chunk of K actions. One action may cover several control steps
(a policy slower than the 50 Hz control rate): the target is then held, or interpolated
from the previous one. Every command goes through the robot's safety filter, and the
command actually sent is what is recorded, with the observation it answered.

Watchdog: on a robot whose world moves on its own (``features.realtime``: a real robot, or the
sim paced to the wall clock), a policy call that takes longer than its deadline (by default the
chunk's own duration) has left the arms without a fresh command; the loop holds position for the
control periods it overran, and counts it. The first call has no deadline: until its chunk
arrives the arms rest at the reset pose. A sim that is not paced waits for the policy: its time
is the control steps, so a slow call (a loaded machine, a paused process) costs wall time only.
Holding there would write the machine's load into the episode -- and did: on a busy 2-core
machine, evaluations and GRPO rollouts got up to ~200 held steps of 400, and failed. Operator stop: setting ``stop`` holds position
and ends the episode at the next step. The episode ends on success, horizon or stop, and
is committed to the store -- or discarded, if the caller says so or something fails.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from dataclasses import dataclass, field, replace
from typing import Callable, Protocol

import numpy as np

from robot.camera_frames import episode_camera_summary
from robot.robot import Observation, Robot

from storage import EpisodeInfo, EpisodeSpec, StagedEpisodeWriter, TrajectoryStore


class ChunkPolicy(Protocol):
    def reset(self) -> None: ...

    def __call__(self, observation: Observation, instruction: str) -> np.ndarray:
        """An action chunk, shape (K, 14)."""


@dataclass(frozen=True)
class RolloutConfig:
    horizon: int = 400  # control steps
    steps_per_action: int = 1  # control steps each chunk action covers
    between_actions: str = "hold"  # "hold" the action, or "interpolate" towards it
    deadline_s: float | None = None  # longest policy call; None: the chunk's duration
    stop_on_success: bool = True
    keep_stopped: bool = True  # commit (unlabelled) an episode the operator stopped

    def __post_init__(self):
        if self.horizon < 1 or self.steps_per_action < 1:
            raise ValueError(f"horizon and steps_per_action must be >= 1, got {self.horizon}, {self.steps_per_action}")
        if self.between_actions not in ("hold", "interpolate"):
            raise ValueError(f"between_actions {self.between_actions!r}; expected 'hold' or 'interpolate'")


@dataclass
class RolloutResult:
    steps: int
    end: str  # "success", "horizon" or "stop"
    success: bool | None  # None where the robot cannot tell
    safety: dict[str, int]
    overhead_s: np.ndarray  # per step: loop time outside the robot backend and the policy
    policy_s: list[float] = field(default_factory=list)  # per policy call
    episode_id: int | None = None
    best_stage: int | None = None  # highest task stage the robot reported (sim); None where it cannot tell
    # Per step, the driver timestamps (s) of what the recorded observation was made of, by source,
    # and the sync time they were picked at (Cobot Magic); empty where the robot has none (the sim).
    stamps: dict[str, list[float | None]] = field(default_factory=dict)
    # Per step, the base velocity [v_x, omega_z] in force once the step's command was sent (ALOHA's
    # base_action, (N, 2)); empty for a robot without a base.
    base_action: list[list[float]] = field(default_factory=list)
    # Per camera, per step: the recorded frame's device timestamp (s), frame number and age at the
    # observation (s) -- drops, skew between cameras and lag, afterwards (Interbotix ALOHA).
    camera_frames: dict[str, dict[str, list]] = field(default_factory=dict)


def expand_chunk(chunk: np.ndarray, previous: np.ndarray, config: RolloutConfig) -> list[np.ndarray]:
    """One target per control step for a chunk of actions."""
    n = config.steps_per_action
    targets = []
    for action in chunk:
        if config.between_actions == "hold":
            targets += [action] * n
        else:
            targets += [previous + (action - previous) * (i + 1) / n for i in range(n)]
        previous = action
    return targets


def run_rollout(robot: Robot, policy: ChunkPolicy, *, initial_state=None, instruction: str = "",
                config: RolloutConfig = RolloutConfig(), writer: StagedEpisodeWriter | None = None,
                stop: threading.Event | None = None,
                on_step: Callable[[int, Observation], None] | None = None) -> RolloutResult:
    """Run one episode; stream each step into ``writer`` (not committed here). ``on_step(t,
    observation)`` is called after every control step (live displays; keep it cheap)."""
    period = robot.features.control_period_s
    policy.reset()
    observation = robot.reset(initial_state)
    targets: deque = deque()
    previous = observation.qpos.copy()
    overhead, policy_times = [], []
    start = time.perf_counter()
    end, t = "horizon", 0
    succeeded = False  # the task's final stage was reached at some step
    best_stage = observation.info.get("stage")
    step_stamps: list[dict] = []
    base_action: list[list[float]] = []
    camera_frames: dict[str, dict[str, list]] = {}

    def step(send, argument) -> float:
        """Send one command, record it with the observation it answered; backend seconds."""
        nonlocal observation, t, succeeded, best_stage
        before = robot.device_s
        sent = send(argument)
        if (base := robot.base_command()) is not None:
            base_action.append([round(base[0], 6), round(base[1], 6)])
        answered = observation
        observation = robot.observe()
        succeeded = succeeded or bool(observation.success)
        if observation.info.get("stage") is not None:
            best_stage = max(best_stage or 0, observation.info["stage"])
        device = robot.device_s - before
        if writer is not None:
            frames = answered.frames if writer.spec.cameras else None
            writer.add_step(sent, answered.qpos, frames, timestamp=time.perf_counter() - start)
        for camera, values in answered.info.get("camera_frames", {}).items():
            columns = camera_frames.setdefault(camera, {"stamp": [], "number": [], "age": []})
            for column, value in zip(("stamp", "number", "age"), values):
                columns[column].append(value)
        if "stamps" in answered.info:
            step_stamps.append({**answered.info["stamps"], "sync": answered.info.get("sync_s")})
        t += 1
        if on_step is not None:
            on_step(t, observation)
        return device

    while t < config.horizon:
        tick = time.perf_counter()
        if stop is not None and stop.is_set():
            step(robot.hold, "operator_stop")
            end = "stop"
            break
        policy_s = held_s = 0.0
        if not targets:
            called = time.perf_counter()
            chunk = np.asarray(policy(replace(observation, t=t), instruction), dtype=np.float64)
            policy_s = time.perf_counter() - called
            policy_times.append(policy_s)
            if chunk.ndim != 2 or chunk.shape[1] != robot.features.action_dim or len(chunk) == 0:
                raise ValueError(f"policy returned a chunk of shape {chunk.shape}, expected (K, {robot.features.action_dim})")
            expanded = expand_chunk(chunk, previous, config)
            previous = chunk[-1]
            deadline = config.deadline_s if config.deadline_s is not None else len(expanded) * period
            late = robot.features.realtime and policy_s > deadline and len(policy_times) > 1
            missed = math.ceil((policy_s - deadline) / period) if late else 0
            held = time.perf_counter()
            for _ in range(min(missed, config.horizon - t)):
                step(robot.hold, "watchdog")
            held_s = time.perf_counter() - held
            targets.extend(expanded)
            if t >= config.horizon:
                break
        target = targets.popleft()
        device = step(robot.send_action, target)
        overhead.append(time.perf_counter() - tick - device - policy_s - held_s)
        if config.stop_on_success and observation.success:
            end = "success"
            break
        if robot.features.realtime:
            _sleep_until(start + t * period)
    success = None if observation.success is None else succeeded
    return RolloutResult(steps=t, end=end, success=success, safety=dict(robot.safety.counts),
                         overhead_s=np.asarray(overhead), policy_s=policy_times, best_stage=best_stage,
                         stamps=stamp_columns(step_stamps), base_action=base_action,
                         camera_frames=camera_frames)


def stamp_columns(per_step: list[dict]) -> dict[str, list[float | None]]:
    """Per-step stamp dicts as one list per source (microseconds are plenty: frames are 33 ms apart)."""
    sources = sorted({source for stamps in per_step for source in stamps})
    return {source: [None if (v := stamps.get(source)) is None else round(v, 6) for stamps in per_step]
            for source in sources}


def _sleep_until(deadline: float) -> None:
    # Sleep most of the wait, then yield in short turns: time.sleep alone overshoots by ~1 ms.
    while (remaining := deadline - time.perf_counter()) > 0:
        time.sleep(remaining - 0.001 if remaining > 0.002 else 0)


def record_rollout(store: TrajectoryStore, robot: Robot, policy: ChunkPolicy, info: EpisodeInfo, *,
                   initial_state=None, config: RolloutConfig = RolloutConfig(), codec: str | None = None,
                   stop: threading.Event | None = None, record_frames: bool = True,
                   on_step: Callable[[int, Observation], None] | None = None) -> RolloutResult:
    """Run one episode into a staged episode of the store and commit it (or discard it).

    ``record_frames=False`` keeps actions, qpos, label and safety counts but no images
    (evaluations: hundreds of episodes whose pictures nobody needs)."""
    features = robot.features
    spec = EpisodeSpec(cameras=dict(features.cameras) if record_frames else {}, action_dim=features.action_dim,
                       qpos_dim=features.qpos_dim, **({"codec": codec} if codec else {}))
    with store.episode_writer(info, spec) as writer:
        result = run_rollout(robot, policy, initial_state=initial_state, instruction=info.instruction,
                             config=config, writer=writer, stop=stop, on_step=on_step)
        if result.end == "stop" and not config.keep_stopped:
            writer.abort()
            return result
        label = None if result.end == "stop" else result.success
        result.episode_id = writer.commit(
            success=label, label_source="env" if label is not None else None,
            safety_interventions=sum(result.safety.values()),
            extra={"end": result.end, "safety": result.safety, "best_stage": result.best_stage,
                   **({"stamps": result.stamps} if result.stamps else {}),
                   **({"base_action": result.base_action} if result.base_action else {}),
                   **({"camera_frames": result.camera_frames,
                       "camera_summary": episode_camera_summary(result.camera_frames, features.camera_fps)}
                      if result.camera_frames else {})})
    return result
