"""A policy that reads the joint command in force at each chunk's start: the same input from the
demos, on the robot (sim), inside the world model and in GRPO's update."""

import numpy as np
import pytest
import torch

from learning.action_bins import ActionBins
from learning.policy_optimization.config import profile as grpo_profile
from learning.policy_optimization.dpo_on_store import stored_trajectory
from learning.policy_optimization.imagine import imagine_group
from learning.policy_optimization.trajectories import previous_commands
from learning.policy_optimization.update import policy_update
from learning.vla.config import profile
from learning.vla.imitation import imitation_batches
from learning.vla.policy import VLAPolicy
from learning.vla.runner import PolicyRunner
from learning.world_model.config import profile as world_model_profile
from learning.world_model.imagination import Imagination
from learning.world_model.world_model import WorldModel
from robot.robot import Observation
from storage import EpisodeFilter, EpisodeInfo, EpisodeSpec, TrajectoryStore
from storage.clips import ClipDataset

CONFIG = profile("tiny", command_input=True)
H, W = CONFIG.image_size


def command_policy(seed=0):
    torch.manual_seed(seed)
    return VLAPolicy(CONFIG, ActionBins(low=(-1.0,) * 14, high=(1.0,) * 14)).eval()


def image(seed=0, n=1):
    return torch.randint(0, 256, (n, H, W, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


def test_the_command_changes_the_chunk_and_a_missing_one_is_refused():
    policy = command_policy()
    x, steps = image(n=2), torch.tensor([0, 0])
    apart = policy.logits(x, ["go"] * 2, steps, commands=torch.tensor([[-0.5] * 14, [0.5] * 14]))
    assert not torch.allclose(apart[0], apart[1])  # same frame and step, other arms: another chunk
    with pytest.raises(ValueError, match=r"commands: got none, expected .* shape \(2, 14\)"):
        policy.logits(x, ["go"] * 2, steps)
    with pytest.raises(ValueError, match=r"got \(2, 7\)"):
        policy.logits(x, ["go"] * 2, steps, commands=torch.zeros(2, 7))
    with pytest.raises(ValueError, match="not finite"):
        policy.logits(x, ["go"] * 2, steps, commands=torch.full((2, 14), float("nan")))
    with pytest.raises(ValueError, match="action_mode 'absolute'"):
        profile("tiny", command_input=True, action_mode="delta")


def test_command_noise_perturbs_imitation_only():
    config = profile("tiny", command_input=True, command_noise=0.5, augment_shift=0)  # the noise alone differs
    noisy = VLAPolicy(config, ActionBins(low=(-1.0,) * 14, high=(1.0,) * 14))
    noisy.load_state_dict(command_policy().state_dict())
    noisy.eval()
    x, steps, commands = image(n=2), torch.tensor([0, 8]), torch.zeros(2, 14)
    assert torch.equal(noisy.logits(x, ["go"] * 2, steps, commands=commands),
                       command_policy().logits(x, ["go"] * 2, steps, commands=commands))  # acting: the command as it is
    torch.manual_seed(0)
    first = noisy.logits(x, ["go"] * 2, steps, commands=commands, augment=True)
    second = noisy.logits(x, ["go"] * 2, steps, commands=commands, augment=True)
    assert not torch.allclose(first, second)  # imitating: another draw each time
    with pytest.raises(ValueError, match="command_noise 0.1: expected >= 0, and only with command_input"):
        profile("tiny", command_noise=0.1)


def test_clips_carry_the_command_sent_before_their_start(tmp_path):
    actions = np.arange(12 * 14, dtype=np.float32).reshape(12, 14) / 100
    qpos = -np.ones((12, 14), dtype=np.float32)
    info = EpisodeInfo(task="transfer_cube", instruction="go", source="expert", seed=0, control_period_s=0.02)
    with TrajectoryStore(tmp_path / "wmpo.db") as store:
        with store.episode_writer(info, EpisodeSpec(cameras={"cam_high": (H, W, 3)})) as writer:
            for t in range(12):
                writer.add_step(actions[t], qpos[t], {"cam_high": np.zeros((H, W, 3), np.uint8)}, timestamp=0.02 * t)
            writer.commit(success=True, label_source="env")
    dataset = ClipDataset(tmp_path / "wmpo.db", "cam_high", 8, shuffle=False, frame_offsets=(0,),
                          previous_action=True)
    clips = {c["start"]: c for c in dataset}
    assert torch.equal(clips[0]["previous_action"], torch.from_numpy(qpos[0]))  # before any command: the joints
    assert torch.equal(clips[3]["previous_action"], torch.from_numpy(actions[2]))
    assert torch.equal(clips[3]["actions"], torch.from_numpy(actions[3:11]))  # the window itself is unchanged
    with TrajectoryStore(tmp_path / "wmpo.db") as store:  # imitation batches carry them to the policy
        batch = next(imitation_batches(store, CONFIG, EpisodeFilter(), 4, seed=0)(0))
    assert batch["commands"].shape == (4, 14)
    assert all(torch.equal(c, torch.from_numpy(qpos[0] if s == 0 else actions[s - 1]))
               for c, s in zip(batch["commands"], batch["steps"].tolist()))
    loss, _ = command_policy().loss(batch)
    assert torch.isfinite(loss)
    with TrajectoryStore(tmp_path / "wmpo.db") as store:  # DPO's stored episodes read the same commands
        trajectory = stored_trajectory(store, store.episodes()[0].id, command_policy())
    assert torch.equal(trajectory.commands[0], torch.from_numpy(qpos[0]))
    assert torch.equal(trajectory.commands[1], torch.from_numpy(actions[7]))


def test_the_runner_feeds_the_joints_first_then_the_last_command_sent():
    policy = command_policy()
    runner = PolicyRunner(policy, greedy=True)
    runner.reset()
    seen = []
    sample = policy.sample
    policy.sample = lambda *a, commands=None, **k: (seen.append(commands.clone()), sample(*a, commands=commands, **k))[1]
    frames = {"cam_high": image()[0].numpy()}
    joints = np.full(14, 0.25)
    first = runner(Observation(t=0, qpos=joints, frames=frames), "go")
    runner(Observation(t=8, qpos=np.zeros(14), frames=frames), "go")
    assert torch.allclose(seen[0][0], torch.full((14,), 0.25))
    assert torch.allclose(seen[1][0], torch.from_numpy(first[-1]).float())  # not the measured zeros
    runner.reset()
    runner(Observation(t=0, qpos=-joints, frames=frames), "go")
    assert torch.allclose(seen[2][0], torch.full((14,), -0.25))  # a new episode starts from its joints


def test_imagined_groups_carry_their_commands_and_the_update_reads_them():
    torch.manual_seed(0)
    world_model = WorldModel(world_model_profile("tiny")).eval()
    policy = command_policy()
    start = torch.full((14,), 0.1)
    with pytest.raises(ValueError, match="initial_joints"):
        imagine_group(policy, Imagination(world_model, seed=0), lambda f: (True, 1), image()[0], "go", 2, 16, 1.0)
    verdicts = iter([(True, 1), (False, None)])
    group = imagine_group(policy, Imagination(world_model, seed=0), lambda f: next(verdicts), image()[0], "go",
                          group_size=2, horizon=16, temperature=1.0, generator=torch.Generator().manual_seed(0),
                          initial_joints=start)
    for trajectory in group:
        chunks = policy.actions(trajectory.bins)
        assert torch.allclose(trajectory.commands, previous_commands(start, chunks))
        with torch.no_grad():
            recomputed = policy.log_prob(trajectory.images, ["go"] * 2, trajectory.steps, trajectory.bins, 1.0,
                                         commands=trajectory.commands)
        assert torch.allclose(recomputed, trajectory.old_log_prob, atol=1e-4)
    optimizer = torch.optim.AdamW(policy.parameters(), lr=1e-3, weight_decay=0.0)
    stats = policy_update(policy, optimizer, [group], grpo_profile("tiny", minibatch_trajectories=2))
    assert stats["ratio_mean"] == pytest.approx(1.0, abs=1e-4) and stats["grad_norm"] > 0
