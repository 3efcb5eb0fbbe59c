"""Groups of trajectories imagined by the world model from one real initial frame.

The policy and the world model alternate: the policy samples a chunk from the frame at the
chunk's start (at the GRPO temperature, keeping each chunk's log-probability: the old
policy's, precomputed), the world model imagines the chunk's K frames, the last of them is
the next chunk's observation. The whole trajectory is then judged (the reward model).
"""

from __future__ import annotations

from typing import Callable, Protocol

import numpy as np
import torch

from learning.policy_optimization.trajectories import Trajectory, judged
from learning.vla.policy import VLAPolicy

# frames uint8 (N, H, W, 3) -> (success, first success frame or None)
Judge = Callable[[np.ndarray], tuple[bool, int | None]]


class Environment(Protocol):
    """Imagination's shape, a robot's: reset from real frames, step with action chunks, and
    get back the frames every ``frame_stride`` control steps through the chunk."""

    frame_stride: int

    def reset(self, frames: torch.Tensor) -> torch.Tensor: ...

    def step(self, actions: torch.Tensor) -> torch.Tensor: ...


@torch.no_grad()
def imagine_group(policy: VLAPolicy, env: Environment, judge: Judge, initial_frame: torch.Tensor,
                  instruction: str, group_size: int, horizon: int, temperature: float,
                  generator: torch.Generator | None = None, keep_frames: bool = False,
                  initial_joints: torch.Tensor | None = None) -> list[Trajectory]:
    """G trajectories from one initial frame (H, W, 3). Their frames (one every frame_stride
    steps) are judged, then dropped unless ``keep_frames`` (they add up over a batch).
    ``initial_joints`` (D,): the measured joints with that frame, the command in force at the
    first chunk for a policy that reads commands; later chunks read the previous chunk's last
    action, as on the robot."""
    if policy.config.action_mode != "absolute":
        raise ValueError(f"a {policy.config.action_mode!r}-action policy needs joint positions, which imagination "
                         f"cannot give: only absolute-action policies train in the world model")
    reads_commands = policy.config.command_input
    if reads_commands and initial_joints is None:
        raise ValueError("this policy reads the command in force at each chunk's start: give imagine_group the "
                         "measured joints of the initial frame (initial_joints)")
    policy.eval()
    k = policy.config.chunk_size
    observation = env.reset(initial_frame[None].expand(group_size, *initial_frame.shape).contiguous())
    command = (initial_joints.float()[None].expand(group_size, -1).contiguous() if reads_commands else None)
    frames, images, steps, bins, log_probs, commands = [observation[:, None]], [], [], [], [], []
    for t in range(0, horizon, k):
        step = torch.full((group_size,), t, dtype=torch.long)
        chunk, log_prob = policy.sample(observation, [instruction] * group_size, step, temperature=temperature,
                                        generator=generator, commands=command)
        actions = policy.actions(chunk)
        imagined = env.step(actions)  # (G, K / stride, H, W, 3): frames t+stride .. t+K
        images.append(observation)
        steps.append(step)
        bins.append(chunk)
        log_probs.append(log_prob)
        frames.append(imagined)
        if reads_commands:
            commands.append(command.cpu())
            command = actions[:, -1]
        observation = imagined[:, -1]
    # per trajectory: (G, chunks, ...) and every frame (G, horizon, H, W, 3)
    # trajectories wait on the CPU for the update, which moves its minibatch to the device
    images, steps, bins, log_probs = (torch.stack(x, dim=1).cpu() for x in (images, steps, bins, log_probs))
    commands = torch.stack(commands, dim=1) if reads_commands else None
    stride = env.frame_stride
    frames = torch.cat([f.cpu() for f in frames], dim=1)[:, :(horizon - 1) // stride + 1].numpy()
    group = []
    for i in range(group_size):
        trajectory = Trajectory(instruction, images=images[i], steps=steps[i], bins=bins[i],
                                old_log_prob=log_probs[i], frames=frames[i] if keep_frames else None,
                                commands=None if commands is None else commands[i])
        success, frame = judge(frames[i])
        group.append(judged(trajectory, success, None if frame is None else frame * stride))
    return group
