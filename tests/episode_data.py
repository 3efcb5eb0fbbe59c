"""Deterministic episode content for tests: the same seed always gives the same arrays."""

from __future__ import annotations

import numpy as np

from storage import EpisodeInfo, EpisodeSpec, TrajectoryStore

CAMERA_SHAPE = (24, 32, 3)
SPEC = EpisodeSpec(cameras={"cam_high": CAMERA_SHAPE, "cam_left_wrist": CAMERA_SHAPE})


def episode_arrays(seed: int, length: int, spec: EpisodeSpec = SPEC):
    rng = np.random.default_rng(seed)
    actions = rng.normal(size=(length, spec.action_dim)).astype(np.float32)
    qpos = rng.normal(size=(length, spec.qpos_dim)).astype(np.float32)
    frames = {cam: rng.integers(0, 256, size=(length, *shape), dtype=np.uint8)
              for cam, shape in spec.cameras.items()}
    return actions, qpos, frames


def write_episode(store: TrajectoryStore, seed: int, length: int = 10, *, success: bool | None = True,
                  source: str = "policy", task: str = "transfer_cube", iteration_id: int | None = None,
                  spec: EpisodeSpec = SPEC, scene: str = "stock", policy_version_id: int | None = None) -> int:
    actions, qpos, frames = episode_arrays(seed, length, spec)
    info = EpisodeInfo(task=task, instruction="pick up the cube", source=source, seed=seed,
                       iteration_id=iteration_id, control_period_s=0.02, scene=scene,
                       policy_version_id=policy_version_id)
    with store.episode_writer(info, spec) as writer:
        for t in range(length):
            writer.add_step(actions[t], qpos[t], {c: f[t] for c, f in frames.items()}, timestamp=0.02 * t)
        return writer.commit(success=success, label_source="env" if success is not None else None)


def assert_episode_intact(store: TrajectoryStore, episode_id: int, seed: int, length: int,
                          spec: EpisodeSpec = SPEC) -> None:
    actions, qpos, frames = episode_arrays(seed, length, spec)
    episode = store.episode(episode_id)
    assert episode.length == length
    steps = store.load_steps(episode_id)
    np.testing.assert_array_equal(steps.actions, actions)
    np.testing.assert_array_equal(steps.qpos, qpos)
    for camera, expected in frames.items():
        np.testing.assert_array_equal(store.load_frames(episode_id, camera), expected)
