"""PolicyRunner: the policy as the rollout loop sees it -- observation in, action chunk out."""

from __future__ import annotations

import time

import numpy as np
import torch

from learning.device import generator, module_device
from learning.vla.policy import VLAPolicy


class PolicyMismatchError(ValueError):
    """A policy checkpoint does not fit the robot it is asked to drive."""


def check_policy_fits(policy: VLAPolicy, cameras: dict[str, tuple[int, int, int]], action_dim: int) -> None:
    """Refuse a policy whose action size, bins or image size disagree with the robot."""
    config, bins = policy.config, policy.bins
    problems = []
    if config.action_dim != action_dim:
        problems.append(f"the policy outputs {config.action_dim}-D actions, the robot takes {action_dim}-D")
    if bins.dim != action_dim:
        problems.append(f"the policy's action bins cover {bins.dim} dimensions, the robot has {action_dim}")
    if config.camera not in cameras:
        problems.append(f"the policy sees camera {config.camera!r}, the robot has {sorted(cameras)}")
    elif tuple(cameras[config.camera][:2]) != tuple(config.image_size):
        problems.append(f"the policy expects {config.camera} at {config.image_size}, the robot gives "
                        f"{tuple(cameras[config.camera][:2])}")
    if problems:
        raise PolicyMismatchError("policy does not fit the robot: " + "; ".join(problems))


class CommandInForce:
    """The joint command the robot holds when a chunk starts, as a policy with
    ``command_input`` reads it: the measured joints before an episode's first chunk, then the
    last action of the chunk before (what the rollout loop interpolates from, too)."""

    def __init__(self):  # one per episode: the runners make a new one at reset
        self.last: np.ndarray | None = None

    def at(self, observation) -> torch.Tensor:
        """(1, D) float32 for the chunk about to start at ``observation``."""
        held = observation.qpos if observation.t == 0 or self.last is None else self.last
        return torch.as_tensor(np.asarray(held, dtype=np.float32))[None]

    def sent(self, chunk: np.ndarray) -> None:
        self.last = np.asarray(chunk[-1], dtype=np.float32)


class PolicyRunner:
    """Chunked-policy adapter: ``__call__(observation, instruction) -> (K, D)`` actions."""

    def __init__(self, policy: VLAPolicy, *, greedy: bool = True, temperature: float = 1.0, seed: int = 0):
        self.policy, self.greedy, self.temperature = policy.eval(), greedy, temperature
        self.generator = generator(module_device(policy), seed)
        self.inference_s: list[float] = []

    def reset(self) -> None:
        self.last_bins = None  # the chunk the robot is executing, as bin indices
        self.command = CommandInForce()

    def __call__(self, observation, instruction: str) -> np.ndarray:
        image = torch.from_numpy(np.ascontiguousarray(observation.frames[self.policy.config.camera]))[None]
        commands = self.command.at(observation) if self.policy.config.command_input else None
        started = time.perf_counter()
        with torch.no_grad():
            bins, _ = self.policy.sample(image, [instruction], torch.tensor([observation.t]),
                                         temperature=self.temperature, greedy=self.greedy, generator=self.generator,
                                         commands=commands)
        self.inference_s.append(time.perf_counter() - started)
        self.last_bins = bins[0].cpu()
        chunk = self.policy.actions(self.last_bins).numpy().astype(np.float64)
        if self.policy.config.action_mode == "delta":
            chunk = chunk + np.asarray(observation.qpos, dtype=np.float64)[None, :]
        self.command.sent(chunk)
        return chunk
