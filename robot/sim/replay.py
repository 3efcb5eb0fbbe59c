"""A stored sim episode, played again: the same seed and the commands it sent give the same
physics, so the episode can be rendered through a camera or view it was not recorded with.

Every step is checked against the joint positions the episode recorded, and the end against its
outcome, so a replay that drifts (another MuJoCo, another scene) is refused instead of stored as
if it were the episode. Most replays agree to float32 rounding (1e-7 rad); a few, where contacts
amplify the commands' rounding to float32, drift by up to a few milliradians and end the same.
"""

from __future__ import annotations

import numpy as np

from robot.robot import RobotError
from robot.sim.aloha_sim import AlohaSim, SimConfig

QPOS_TOLERANCE = 0.02  # rad (or normalised gripper), about 1 degree


def replay_frames(task: str, seed: int, commands: np.ndarray, qpos: np.ndarray,
                  cameras: dict[str, tuple[int, int]], success: bool | None = None) -> dict[str, np.ndarray]:
    """The frames (length, H, W, 3) of each camera at each step of the episode that began at
    ``seed`` and sent ``commands`` (length, 14), whose observed joints were ``qpos`` and whose
    outcome was ``success`` (None: not checked)."""
    frames = {name: np.empty((len(commands), *size, 3), np.uint8) for name, size in cameras.items()}
    with AlohaSim(SimConfig(task=task, cameras=cameras)) as sim:
        observation = sim.reset(seed)
        for t, command in enumerate(commands):
            drift = float(np.abs(observation.qpos - qpos[t]).max())
            if drift > QPOS_TOLERANCE:
                raise ReplayDivergedError(f"the replay of seed {seed} left the recorded episode at step {t} (joints "
                                 f"{drift:.2g} apart, more than {QPOS_TOLERANCE}); it cannot be rendered again")
            for name in cameras:
                frames[name][t] = observation.frames[name]
            sim.send_action(command)  # it passed the filter once, from the same joints: it passes unchanged
            observation = sim.observe()
    if success is not None and observation.success != success:
        raise ReplayDivergedError(f"the replay of seed {seed} ends with success={observation.success}, the recorded episode "
                         f"with success={success}; it cannot be rendered again")
    return frames


class ReplayDivergedError(RobotError):
    """A replay that left its recorded episode: its frames would not show what was recorded."""


def add_view(store, episode_ids: list[int], camera: str, size: tuple[int, int],
             progress=lambda done, total, episode_id: None) -> tuple[int, list[int]]:
    """Render ``camera`` (a sim camera or view) at ``size`` for each stored sim episode that lacks
    it, by replaying the episode; each episode's stream is added whole, so an interrupted run
    resumes where it stopped. An episode whose replay diverges (contacts can amplify the float32
    rounding of its commands until the outcome differs) is left without the view. Returns how
    many episodes were rendered, and the ids of those that diverged."""
    rendered, diverged = 0, []
    for done, episode_id in enumerate(episode_ids, 1):
        episode = store.episode(episode_id)
        if camera not in store.cameras(episode_id):
            if episode.robot_kind != "sim" or episode.seed is None:
                raise RobotError(f"episode {episode_id} is not a seeded sim episode ({episode.robot_kind}); "
                                 f"only the sim can render it again")
            steps = store.load_steps(episode_id)
            try:
                frames = replay_frames(episode.task, episode.seed, steps.actions, steps.qpos, {camera: size},
                                       success=episode.success if episode.label_source == "env" else None)
            except ReplayDivergedError:
                diverged.append(episode_id)
            else:
                store.add_camera(episode_id, camera, frames[camera])
                rendered += 1
        progress(done, len(episode_ids), episode_id)
    return rendered, diverged
