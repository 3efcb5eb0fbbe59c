"""An operator's collection session: N episodes of the scripted expert (demos, sim only) or of a
stored policy (in the sim, or on the real robot a site file names), one at a time, with live
counters and the operator's keys.

The session runs in a worker thread and owns its store connection; the UI calls
``stop`` / ``discard`` / ``label_last`` from its own thread (they only set flags or write
one label). Stop holds position and ends the episode (kept, unlabelled: the operator can
label it), then ends the session. Discard throws the current episode away -- or, between
episodes, the last one -- and records the same seed again.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from app.demos import next_demo_seed
from robot.experts.scripted import ScriptedExpert
from robot.factory import RobotChoice, horizon_steps, initial_state, robot_kind
from robot.robot import Robot
from robot.rollout import RolloutConfig, record_rollout
from robot.sim.tasks import get_task
from storage import EpisodeInfo, TrajectoryStore

DEMO_IMAGE_SIZE = (96, 128)


@dataclass(frozen=True)
class CollectRequest:
    task: str
    episodes: int
    policy_version_id: int | None = None  # None: the scripted expert records demonstrations
    temperature: float = 1.0
    site: str | None = None  # a site file: the real robot it names; None: the sim

    def __post_init__(self):
        if self.site is not None and self.policy_version_id is None:
            raise ValueError(f"site {self.site}: the scripted expert needs the sim's object poses; expected a policy "
                             f"(record real demos with `wmpo-app teleop-record --site {self.site}`)")
        if self.episodes < 1:
            raise ValueError(f"episodes {self.episodes}: expected at least 1")
        if self.temperature <= 0:
            raise ValueError(f"temperature {self.temperature}: expected > 0")


@dataclass
class LiveStatus:
    episode: int = 0  # 1-based, of ``episodes``
    episodes: int = 0
    seed: int | None = None
    step: int = 0
    horizon: int = 0
    loop_hz: float = 0.0  # control steps per second over the last second
    safety: dict[str, int] = field(default_factory=dict)
    recorded: list[int] = field(default_factory=list)  # committed episode ids, in order
    successes: int = 0
    message: str = ""
    finished: bool = False


class CollectSession:
    def __init__(self, store_path: Path, request: CollectRequest):
        self.store_path, self.request = Path(store_path), request
        self.status = LiveStatus(episodes=request.episodes)
        self._stop, self._end_session, self._discard = threading.Event(), threading.Event(), threading.Event()
        self._ticks: deque[float] = deque(maxlen=200)

    # -- the operator's keys (any thread) ------------------------------------------------

    def stop(self) -> None:
        """Hold position, end this episode (kept, unlabelled), and end the session."""
        self._end_session.set()
        self._stop.set()

    def discard(self) -> None:
        """Throw away the running episode and record its seed again."""
        self._discard.set()
        self._stop.set()

    def label_last(self, success: bool) -> int | None:
        """The operator's label on the last recorded episode; its id (None if there is none)."""
        if not self.status.recorded:
            return None
        episode_id = self.status.recorded[-1]
        with TrajectoryStore(self.store_path) as store:
            store.set_label(episode_id, success, "operator")
        return episode_id

    # -- the worker ------------------------------------------------------------------------

    def run(self, on_update: Callable[[LiveStatus], None]) -> LiveStatus:
        from app.policies import decoding, next_rollout_seed  # the learning stack loads in the worker, not at UI start
        from learning.vla.runner import check_policy_fits

        request, status = self.request, self.status
        sim_task = get_task(request.task)
        with TrajectoryStore(self.store_path) as store:
            policy, cameras, version_id = self._policy(store)
            seed = (next_demo_seed(store, request.task) if version_id is None
                    else next_rollout_seed(store, request.task))
            with RobotChoice(request.site).make(request.task, cameras) as sim:
                if version_id is not None:
                    check_policy_fits(policy.policy, sim.features.cameras, sim.features.action_dim)
                horizon = horizon_steps(sim_task.horizon, sim)
                while len(status.recorded) < request.episodes and not self._end_session.is_set():
                    status.episode, status.seed, status.horizon = len(status.recorded) + 1, seed, horizon
                    info = EpisodeInfo(task=request.task, instruction=sim_task.instruction, robot_kind=robot_kind(sim),
                                       source="expert" if version_id is None else "policy", seed=seed,
                                       policy_version_id=version_id,
                                       control_period_s=sim.features.control_period_s,
                                       extra={} if version_id is None else decoding(False, request.temperature))
                    result = record_rollout(store, sim, policy, info, initial_state=initial_state(sim, seed),
                                            config=RolloutConfig(horizon=horizon),
                                            stop=self._stop, on_step=lambda t, obs: self._step(t, sim, on_update))
                    if self._discard.is_set():
                        store.delete_episode(result.episode_id)
                        status.message = f"discarded episode {result.episode_id}; recording seed {seed} again"
                    else:
                        status.recorded.append(result.episode_id)
                        status.successes += bool(result.success)
                        status.message = (f"episode {result.episode_id} (seed {seed}): "
                                          f"{'success' if result.success else result.end}, {result.steps} steps")
                        seed += 1
                    self._stop.clear()
                    self._discard.clear()
                    on_update(status)
        status.finished = True
        on_update(status)
        return status

    def _policy(self, store: TrajectoryStore):
        request = self.request
        if request.policy_version_id is None:
            return ScriptedExpert(request.task), {"cam_high": DEMO_IMAGE_SIZE}, None
        from learning.vla.imitation import load_policy
        from learning.vla.runner import PolicyRunner

        version = store.policy_version(request.policy_version_id)
        policy = load_policy(store.verify_policy_checkpoint(version.id))
        config = policy.config
        trained_on = json.loads(version.config_json).get("task")  # None: every task
        if trained_on not in (None, request.task):
            raise ValueError(f"policy {version.name!r} was trained on {trained_on}, not {request.task}")
        return (PolicyRunner(policy, greedy=False, temperature=request.temperature),
                {config.camera: config.image_size}, version.id)

    def _step(self, t: int, sim: Robot, on_update: Callable[[LiveStatus], None]) -> None:
        now = time.perf_counter()
        self._ticks.append(now)
        recent = [tick for tick in self._ticks if now - tick <= 1.0]
        status = self.status
        status.step = t
        status.loop_hz = (len(recent) - 1) / (recent[-1] - recent[0]) if len(recent) > 1 else 0.0
        status.safety = dict(sim.safety.counts)
        if t % 10 == 0:  # the UI needs ~5 updates a second, not 200
            on_update(status)
