"""WMPO's policy optimisation, top to bottom: GRPO inside the world model, judged by the reward model.

One run, as the paper's section 3 has it:
1. Initial states are real: the first frames of stored training episodes of the task (the
   held-out ones are left for the reports).
2. Group i starts from one of them, chosen by a generator seeded with i, so a resumed run
   draws the groups an uninterrupted one would have. The policy and the world model
   alternate for the horizon (``learning/policy_optimization/imagine.py``); the commands
   pass the robot's safety filter first, as they would on the robot.
3. The reward model judges each imagined trajectory: success, and the frame it happened at.
4. GRPO updates the policy on batches of mixed groups
   (``learning/policy_optimization/grpo.run_grpo``), saving each update, so a killed run
   resumes at the next one.
5. The result is registered as a new policy version whose parent is the starting one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from learning.artifacts import checkpoints_dir, reward_model_dir, world_model_dir
from learning.device import generator as device_generator
from learning.device import module_device
from learning.policy_optimization.config import GRPOConfig
from learning.policy_optimization.grpo import GRPOStats, run_grpo
from learning.policy_optimization.imagine import imagine_group
from learning.reward_model.judge import judge
from learning.reward_model.training import load_reward_model
from learning.splits import split_episodes
from learning.vla.imitation import CHECKPOINT_KIND, load_policy
from learning.world_model.imagination import CommandFilter, Imagination
from learning.world_model.on_store import check_strides
from learning.world_model.training import load_world_model
from storage import EpisodeFilter, TrajectoryStore


@dataclass(frozen=True)
class GRPOResult:
    version_id: int
    stats: GRPOStats


@dataclass(frozen=True)
class InitialState:
    """A real start for imagination: a stored episode's first frame and the joints measured with it."""
    frame: np.ndarray  # uint8 (H, W, 3)
    joints: np.ndarray  # float (D,)


def initial_states(store: TrajectoryStore, task: str, camera: str, image_size: tuple[int, int],
                   limit: int = 256) -> list[InitialState]:
    """First frames (and joints) of stored training episodes, of the size the world model imagines."""
    where = EpisodeFilter(task=task, camera=camera, image_size=tuple(image_size))
    training, _ = split_episodes(store, camera, where)
    if not training:
        raise ValueError(f"no stored {task} episodes with {camera!r} frames at {image_size[0]}x{image_size[1]} "
                         f"to start imagination from")
    return [InitialState(store.load_frames(e, camera, 0, 1)[0], store.load_steps(e).qpos[0].copy())
            for e in training[-limit:]]


def improve_in_imagination(store: TrajectoryStore, policy_version_id: int, world_model: str, reward_model: str,
                           task: str, config: GRPOConfig, name: str, *, iteration_id: int | None = None, seed: int = 0,
                           command_filter: CommandFilter | None = None,
                           progress: Callable[[GRPOStats], None] | None = None) -> GRPOResult:
    """GRPO on policy ``policy_version_id`` in world model ``world_model``, judged by reward model
    ``reward_model``, from real first frames of ``task``; registered as policy ``name``. The same
    call after a crash resumes from the last saved update. ``command_filter``: what becomes of the
    policy's actions before the world model sees them -- the robot's safety filter
    (``app.imagined_commands``), as on the robot whose filtered commands it learned from."""
    # The three learners, which must agree on what they see.
    parent = store.policy_version(policy_version_id)
    policy = load_policy(store.verify_policy_checkpoint(policy_version_id))
    model = load_world_model(world_model_dir(store, world_model) / "model")
    reward = load_reward_model(reward_model_dir(store, reward_model))
    if tuple(model.config.image_size) != tuple(policy.config.image_size):  # the reward model resizes; these cannot
        raise ValueError(f"the world model imagines {tuple(model.config.image_size)} frames, the policy sees "
                         f"{tuple(policy.config.image_size)}")
    if model.config.camera != policy.config.camera or reward.config.camera != policy.config.camera:
        raise ValueError(f"cameras differ: policy {policy.config.camera}, world model {model.config.camera}, "
                         f"reward model {reward.config.camera}")
    check_strides(model.config, reward.config)

    # 1. Real initial states.
    starts = initial_states(store, task, policy.config.camera, tuple(policy.config.image_size))
    instruction = store.episodes(EpisodeFilter(task=task), limit=1)[0].instruction
    imagination = Imagination(model, seed=seed, command_filter=command_filter)

    # 3. The reward model's verdict on a whole imagined trajectory.
    def verdict(frames: np.ndarray) -> tuple[bool, int | None]:
        result = judge(reward, frames)
        return result.success, result.success_frame

    # 2. Group i: G imagined trajectories from one start, every random draw seeded by i.
    def sample_group(i: int):
        generator = device_generator(module_device(policy), seed * 1_000_003 + i)  # where the policy samples
        start = starts[int(torch.randint(len(starts), (1,), generator=generator, device=generator.device))]
        imagination.generator.manual_seed(seed * 1_000_003 + i)
        return imagine_group(policy, imagination, verdict, torch.from_numpy(start.frame), instruction,
                             config.group_size, config.horizon, config.temperature, generator,
                             initial_joints=torch.from_numpy(start.joints))

    # 4. GRPO's updates, saved (and resumed) in the policy's own folder.
    folder = checkpoints_dir(store) / name
    meta = {"kind": CHECKPOINT_KIND, "policy": policy.config.to_json(), "bins": policy.bins.to_json(),
            "task": task, "parent": parent.name}
    stats = run_grpo(policy, sample_group, config, folder, meta, progress)

    # 5. The new version, once: a resumed run that had already registered it finds it by name.
    existing = {v.name: v.id for v in store.policy_versions()}
    version_id = existing.get(name) or store.register_policy_version(
        name, folder, parent_id=policy_version_id, iteration_id=iteration_id,
        config={"task": task, "policy": policy.config.to_json(), "grpo": config.to_json(), "method": "wmpo",
                "world_model": world_model, "reward_model": reward_model}).id
    store.log_metric("grpo/imagined_success_rate", stats.success_rate, iteration_id=iteration_id,
                     payload={"policy": name, **stats.to_json()})
    store.log_metric("grpo/kept_fraction", stats.kept_fraction, iteration_id=iteration_id, payload={"policy": name})
    return GRPOResult(version_id, stats)
