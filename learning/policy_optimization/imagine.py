"""Groups of trajectories imagined by the world model from one real initial frame.

The policy and the world model alternate: the policy samples a chunk from the frame at the
chunk's start (at the GRPO temperature, keeping each chunk's log-probability: the old
policy's, precomputed), the world model imagines the chunk's K frames, the last of them is
the next chunk's observation. The whole trajectory is then judged (the reward model).
A group may also continue a stored episode from a real mid-episode state
(``mid_episode.MidEpisodeState``) for a short horizon: the judge then sees the real frames
before the imagined ones, and judges only the imagined ones.
"""

from __future__ import annotations

from typing import Callable, Protocol

import numpy as np
import torch

from learning.policy_optimization.mid_episode import MidEpisodeState
from learning.policy_optimization.trajectories import Trajectory, judged
from learning.vla.policy import VLAPolicy

# frames uint8 (N, H, W, 3)[, the first frame to judge] -> (success, first success frame or None)
Judge = Callable[..., tuple[bool, int | None]]


class Environment(Protocol):
    """Imagination's shape, a robot's: reset from real frames, step with action chunks, and
    get back the frames every ``frame_stride`` control steps through the chunk."""

    frame_stride: int
    context_frames: int

    def reset(self, frames: torch.Tensor) -> torch.Tensor: ...

    def start_from(self, history: torch.Tensor, anchor: torch.Tensor, previous_actions: torch.Tensor) -> None: ...

    def step(self, actions: torch.Tensor) -> torch.Tensor: ...


@torch.no_grad()
def imagine_group(policy: VLAPolicy, env: Environment, judge: Judge, initial_frame: torch.Tensor,
                  instruction: str, group_size: int, horizon: int, temperature: float,
                  generator: torch.Generator | None = None, keep_frames: bool = False,
                  initial_joints: torch.Tensor | None = None,
                  start: MidEpisodeState | None = None) -> list[Trajectory]:
    """G trajectories from one initial frame (H, W, 3). Their frames (one every frame_stride
    steps) are judged, then dropped unless ``keep_frames`` (they add up over a batch).
    ``initial_joints`` (D,): the measured joints with that frame, the command in force at the
    first chunk for a policy that reads commands; later chunks read the previous chunk's last
    action, as on the robot. With ``start``, the group continues that real mid-episode state
    for ``horizon`` steps from its step instead (its frame and command stand in for
    ``initial_frame`` and ``initial_joints``)."""
    if policy.config.action_mode != "absolute":
        raise ValueError(f"a {policy.config.action_mode!r}-action policy needs joint positions, which imagination "
                         f"cannot give: only absolute-action policies train in the world model")
    reads_commands = policy.config.command_input
    if start is not None:
        initial_frame, initial_joints = torch.from_numpy(start.frame), torch.from_numpy(start.command)
    if reads_commands and initial_joints is None:
        raise ValueError("this policy reads the command in force at each chunk's start: give imagine_group the "
                         "measured joints of the initial frame (initial_joints)")
    policy.eval()
    k = policy.config.chunk_size

    def repeat(x: torch.Tensor) -> torch.Tensor:
        return x[None].expand(group_size, *x.shape).contiguous()

    if start is None:
        t0, prefix = 0, 1
        observation = env.reset(repeat(initial_frame))
        frames = [observation[:, None]]
    else:  # the real frames before t0 are the judge's context, as the robot's were
        t0, prefix = start.step, len(start.prefix)
        env.start_from(repeat(torch.from_numpy(start.history(env.context_frames))),
                       repeat(torch.from_numpy(start.prefix[0])), repeat(torch.from_numpy(start.previous_actions)))
        observation = repeat(initial_frame)
        frames = [repeat(torch.from_numpy(start.prefix))]
    command = repeat(initial_joints.float()) if reads_commands else None
    images, steps, bins, log_probs, commands = [], [], [], [], []
    for t in range(t0, t0 + horizon, k):
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
    # an episode from step 0 has frames to step horizon - 1 (as a recorded one); a continuation
    # keeps the frame its last chunk ends on, the outcome of every action it judges
    kept = (horizon - 1) // stride + 1 if start is None else prefix + horizon // stride
    frames = torch.cat([f.cpu() for f in frames], dim=1)[:, :kept].numpy()
    group = []
    for i in range(group_size):
        trajectory = Trajectory(instruction, images=images[i], steps=steps[i], bins=bins[i],
                                old_log_prob=log_probs[i], frames=frames[i] if keep_frames else None,
                                commands=None if commands is None else commands[i])
        success, frame = judge(frames[i]) if start is None else judge(frames[i], prefix)
        group.append(judged(trajectory, success, None if frame is None else frame * stride))
    return group
