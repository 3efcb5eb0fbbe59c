"""Real mid-episode states for imagination to continue from: GRPO groups with short horizons.

A world model carries an outcome a few chunks ahead, not a whole episode (README, the
imagination ladder's late starts: 4 chunks from a real state agree with the real outcome,
imagining from the first frame does not). So a group may start inside a stored rollout --
its real frames up to control step t0, the commands that led there -- and imagine only a
short horizon. t0 is where outcomes are decided: ``lead`` steps before a stored success,
and, for the failures, the steps the successes got (in turn), so both kinds of state are
drawn at the same phase of the task.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from storage import TrajectoryStore


@dataclass(frozen=True)
class MidEpisodeState:
    """Where a stored episode stood at control step ``step``."""

    episode_id: int
    step: int  # t0, a multiple of the frame stride
    prefix: np.ndarray  # uint8 (t0 / stride + 1, H, W, 3): the real frames at steps 0, stride, ..., t0
    previous_actions: np.ndarray  # float32 (stride, D): the commands sent over the stride before t0

    @property
    def frame(self) -> np.ndarray:
        """What the policy sees at t0."""
        return self.prefix[-1]

    @property
    def command(self) -> np.ndarray:
        """The command in force at t0 (for a policy that reads it)."""
        return self.previous_actions[-1]

    def history(self, context_frames: int) -> np.ndarray:
        """The world model's context: the last ``context_frames`` real frames at the stride, the
        first frame standing in before the episode's start."""
        index = np.maximum(0, len(self.prefix) - context_frames + np.arange(context_frames))
        return self.prefix[index]


def decisive_steps(episodes: list[tuple[int, bool]], lead: int, stride: int) -> list[int | None]:
    """t0 for each (length, success) episode: ``lead`` steps before a success's last step, on
    the stride; a failure takes the successes' t0s in turn (None where it is too short for its
    own). Nothing before the first stride: the world model needs the commands that led there."""
    if lead < 1:
        raise ValueError(f"lead {lead}: expected at least one control step between the start and the success")
    own = [((length - 1 - lead) // stride) * stride if success else None for length, success in episodes]
    decided = sorted(t for t in own if t is not None and t >= stride)
    if not decided:
        raise ValueError(f"none of the {len(episodes)} episodes succeeds more than {lead + stride} steps in: "
                         f"mid-episode starts are placed before real successes")
    steps, turn = [], 0
    for (length, success), t in zip(episodes, own):
        if success:
            steps.append(t if t is not None and t >= stride else None)
        else:
            t, turn = decided[turn % len(decided)], turn + 1
            steps.append(t if t < length - 1 else None)
    return steps


def mid_episode_states(store: TrajectoryStore, episode_ids: list[int], camera: str, lead: int,
                       stride: int) -> list[MidEpisodeState]:
    """A state in each labelled episode of ``episode_ids`` (see ``decisive_steps``)."""
    episodes = [store.episode(e) for e in episode_ids]
    labelled = [e for e in episodes if e.success is not None]
    steps = decisive_steps([(e.length, bool(e.success)) for e in labelled], lead, stride)
    states = []
    for episode, t0 in zip(labelled, steps):
        if t0 is None:
            continue
        frames = store.load_frames(episode.id, camera, 0, t0 + 1)[::stride]
        actions = store.load_steps(episode.id, t0 - stride, t0).actions.astype(np.float32)  # the stride before t0
        states.append(MidEpisodeState(episode.id, t0, frames, actions))
    return states
