"""GRPO: advantages, clipping at both bounds, dynamic sampling, imagination, and an update
that makes the rewarded chunk more likely -- with the real tiny policy and world model."""

import numpy as np
import pytest
import torch

from learning.action_bins import ActionBins
from learning.curves import read_curve
from learning.policy_optimization.config import profile as grpo_profile
from learning.policy_optimization.grpo import GRPOStats, NoLearningSignalError, fill_batch, run_grpo
from learning.policy_optimization.imagine import imagine_group
from learning.policy_optimization.mid_episode import MidEpisodeState, decisive_steps
from learning.policy_optimization.objective import clipped_surrogate, group_advantages, is_mixed
from learning.policy_optimization.trajectories import Trajectory
from learning.policy_optimization.update import chunk_weights, policy_update
from learning.vla.config import profile as policy_profile
from learning.vla.policy import VLAPolicy
from learning.world_model.config import profile as world_model_profile
from learning.world_model.imagination import Imagination
from learning.world_model.world_model import WorldModel

POLICY = policy_profile("tiny")
H, W = POLICY.image_size
CONFIG = grpo_profile("tiny")


def tiny_policy(seed=0):
    torch.manual_seed(seed)
    return VLAPolicy(POLICY, ActionBins(low=(-1.0,) * 14, high=(1.0,) * 14)).eval()


def image(seed=0):
    return torch.randint(0, 256, (H, W, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


def sampled_trajectory(policy, reward, seed, chunks=2):
    x = image(0)[None].expand(chunks, H, W, 3).contiguous()
    steps = torch.arange(chunks) * 8
    bins, log_prob = policy.sample(x, ["go"] * chunks, steps, temperature=CONFIG.temperature,
                                   generator=torch.Generator().manual_seed(seed))
    return Trajectory("go", images=x, steps=steps, bins=bins, old_log_prob=log_prob, reward=float(reward))


def test_group_advantages_are_normalised_within_each_group():
    rewards = torch.tensor([[1.0, 0.0, 0.0, 0.0], [1.0, 1.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0]])
    advantages = group_advantages(rewards)
    # group 1: mean 0.25, population std sqrt(0.1875) = 0.4330
    assert advantages[0].tolist() == pytest.approx([0.75 / 0.4330127, -0.25 / 0.4330127] + [-0.25 / 0.4330127] * 2,
                                                   rel=1e-4)
    assert advantages[1].tolist() == pytest.approx([1.0, 1.0, -1.0, -1.0], rel=1e-4)
    assert advantages[2].tolist() == [0.0] * 4  # one outcome: no signal
    assert is_mixed(rewards).tolist() == [True, True, False]


def test_ratio_is_clipped_at_both_bounds():
    old = torch.zeros(4)
    log_prob = torch.log(torch.tensor([1.5, 1.5, 0.5, 0.5])).requires_grad_()
    advantage = torch.tensor([1.0, -1.0, -1.0, 1.0])
    loss, stats = clipped_surrogate(log_prob, old, advantage, torch.ones(4, dtype=torch.bool), 0.2, 0.28)
    loss.backward()
    # r=1.5 > 1.28 with A>0: clipped to 1.28, no gradient. r=1.5 with A<0: min picks 1.5*(-1), gradient.
    # r=0.5 < 0.8 with A<0: clipped to 0.8, no gradient. r=0.5 with A>0: 0.5*1 is the min, gradient.
    assert loss.item() == pytest.approx(-(1.28 - 1.5 - 0.8 + 0.5) / 4)
    assert log_prob.grad.tolist() == pytest.approx([0.0, 1.5 / 4, 0.0, -0.5 / 4])
    assert stats["clip_fraction"] == pytest.approx(0.5)
    masked, _ = clipped_surrogate(log_prob, old, advantage, torch.tensor([True, False, False, False]), 0.2, 0.28)
    assert masked.item() == pytest.approx(-1.28)  # masked chunks (after a success) do not count


def test_dynamic_sampling_keeps_only_mixed_groups():
    policy = tiny_policy()
    outcomes = iter([[0, 0], [1, 1], [1, 0], [0, 0], [0, 1]])

    def sample_group(i):
        return [sampled_trajectory(policy, r, seed=10 * i + j) for j, r in enumerate(next(outcomes))]

    stats = GRPOStats()
    batch = fill_batch(sample_group, CONFIG, stats)  # tiny: 2 groups per batch
    assert [[t.reward for t in g] for g in batch] == [[1, 0], [0, 1]]
    assert (stats.groups_sampled, stats.groups_kept, stats.successes, stats.trajectories) == (5, 2, 4, 10)
    with pytest.raises(NoLearningSignalError, match="all 6 groups .* all-success or all-failure") as failed:
        fill_batch(lambda i: [sampled_trajectory(policy, 0, seed=i), sampled_trajectory(policy, 0, seed=i + 1)],
                   CONFIG, GRPOStats())
    assert (failed.value.stats.groups_sampled, failed.value.stats.trajectories, failed.value.stats.success_rate) == \
        (6, 12, 0.0)  # what it sampled stays known: the cycle stores it as the iteration's diagnosis


def test_an_update_makes_the_rewarded_chunk_more_likely():
    policy = tiny_policy()
    good, bad = sampled_trajectory(policy, 1, seed=1), sampled_trajectory(policy, 0, seed=2)
    other_good, other_bad = sampled_trajectory(policy, 1, seed=3), sampled_trajectory(policy, 0, seed=4)

    def log_prob(t):
        with torch.no_grad():
            return policy.log_prob(t.images, ["go"] * 2, t.steps, t.bins, CONFIG.temperature).sum().item()

    before = [log_prob(t) for t in (good, bad)]
    assert before == pytest.approx([good.old_log_prob.sum().item(), bad.old_log_prob.sum().item()], abs=1e-4)
    optimizer = torch.optim.AdamW(policy.parameters(), lr=1e-3, weight_decay=0.0)
    one_step = grpo_profile("tiny", minibatch_trajectories=4)
    stats = policy_update(policy, optimizer, [[good, bad], [other_good, other_bad]], one_step)
    assert stats["optimizer_steps"] == 1
    assert stats["ratio_mean"] == pytest.approx(1.0, abs=1e-4)  # the old policy is the policy being updated
    assert stats["grad_norm"] > 0 and 0 < stats["token_entropy"] <= np.log(policy.bins.n_bins) + 1e-4
    after = [log_prob(t) for t in (good, bad)]
    assert after[0] > before[0] and after[1] < before[1]


def test_trajectory_aggregation_counts_a_long_failure_as_much_as_a_short_success():
    policy = tiny_policy()
    short_success = sampled_trajectory(policy, 1, seed=1, chunks=2)
    long_failure = sampled_trajectory(policy, 0, seed=2, chunks=6)
    by_chunk = chunk_weights([short_success, long_failure], "chunk")
    by_trajectory = chunk_weights([short_success, long_failure], "trajectory")
    assert by_chunk.tolist() == pytest.approx([1 / 8] * 8)  # the failure carries 6/8 of the loss
    assert by_trajectory[:2].sum() == pytest.approx(0.5) and by_trajectory[2:].sum() == pytest.approx(0.5)
    short_success.success_frame = 0  # chunks after a success do not count, in either
    assert chunk_weights([short_success, long_failure], "trajectory")[:2].tolist() == pytest.approx([0.5, 0.0])
    with pytest.raises(ValueError, match="loss_aggregation 'episode'"):
        grpo_profile("tiny", loss_aggregation="episode")
    optimizer = torch.optim.AdamW(policy.parameters(), lr=1e-3, weight_decay=0.0)
    stats = policy_update(policy, optimizer, [[short_success, long_failure]],
                          grpo_profile("tiny", minibatch_trajectories=2, loss_aggregation="trajectory"))
    assert stats["ratio_mean"] == pytest.approx(1.0, abs=1e-4) and stats["grad_norm"] > 0


def test_groups_are_imagined_judged_and_carry_the_old_log_probs():
    torch.manual_seed(0)
    world_model = WorldModel(world_model_profile("tiny")).eval()
    policy = tiny_policy()
    judge_calls = []

    def judge(frames):  # the reward model's verdict shape: (success, first success frame of the sequence)
        judge_calls.append(frames.shape)
        return len(judge_calls) == 1, 1 if len(judge_calls) == 1 else None

    stride = world_model.config.frame_stride  # the tiny world model imagines every 4th step
    group = imagine_group(policy, Imagination(world_model, seed=0), judge, image(3), "go", group_size=2,
                          horizon=16, temperature=1.0, generator=torch.Generator().manual_seed(0), keep_frames=True)
    assert judge_calls == [(16 // stride, H, W, 3)] * 2  # steps 0, 4, 8, 12
    first, second = group
    assert first.reward == 1.0 and second.reward == 0.0
    assert first.success_frame == stride  # frame 1 of the sequence is control step 4
    assert first.valid.tolist() == [True, False]  # the chunk starting at step 8 follows the success at step 4
    assert second.valid.tolist() == [True, True]
    assert first.bins.shape == (2, 8, 14) and first.steps.tolist() == [0, 8]
    assert torch.equal(first.images[0], image(3)) and np.array_equal(first.frames[0], image(3).numpy())
    assert torch.equal(first.images[1], torch.from_numpy(first.frames[8 // stride]))  # the 2nd chunk sees step 8
    with torch.no_grad():
        recomputed = policy.log_prob(first.images, ["go"] * 2, first.steps, first.bins, 1.0)
    assert torch.allclose(recomputed, first.old_log_prob, atol=1e-4)


def test_a_group_continues_a_real_mid_episode_state_and_judges_only_what_it_imagined():
    torch.manual_seed(0)
    world_model = WorldModel(world_model_profile("tiny")).eval()
    stride, context = world_model.config.frame_stride, world_model.config.context_frames
    policy = tiny_policy()
    prefix = np.stack([image(i).numpy() for i in range(4)])  # real frames at steps 0, 4, 8, 12
    state = MidEpisodeState(episode_id=7, step=12, prefix=prefix,
                            previous_actions=np.full((stride, 14), 0.1, np.float32))
    assert np.array_equal(state.history(context), prefix[-context:]) and np.array_equal(state.frame, prefix[-1])
    assert np.array_equal(MidEpisodeState(7, 0, prefix[:1], state.previous_actions).history(3), prefix[[0, 0, 0]])
    calls = []

    def judge(frames, from_frame=0):
        calls.append((frames.shape[0], from_frame))
        return True, len(frames) - 1  # success on the last imagined frame

    group = imagine_group(policy, Imagination(world_model, seed=0), judge, image(9), "go", group_size=2, horizon=16,
                          temperature=1.0, generator=torch.Generator().manual_seed(0), keep_frames=True, start=state)
    assert calls == [(4 + 16 // stride, 4)] * 2  # the real prefix, then steps 16, 20, 24, 28; judged from frame 4
    first = group[0]
    assert first.steps.tolist() == [12, 20] and first.success_frame == 28  # absolute control steps
    assert torch.equal(first.images[0], torch.from_numpy(prefix[-1]))  # the policy starts from the real frame
    assert np.array_equal(first.frames[:4], prefix)
    assert torch.equal(first.images[1], torch.from_numpy(first.frames[4 + 1]))  # step 20 was imagined


def test_mid_episode_starts_are_placed_before_successes_and_at_the_same_steps_in_failures():
    # (length, success): successes end on their last step; t0 = lead steps before it, on the stride
    steps = decisive_steps([(300, True), (400, False), (250, True), (400, False), (400, False), (30, False)],
                           lead=32, stride=8)
    assert steps == [264, 216, 216, 264, 216, None]  # failures take 216, 264, 216, ...; too short: none
    with pytest.raises(ValueError, match="mid-episode starts are placed before real successes"):
        decisive_steps([(400, False)], lead=32, stride=8)


def test_a_run_saves_each_update_and_resumes(tmp_path):
    policy = tiny_policy()
    calls = []

    def sample_group(i):
        calls.append(i)
        return [sampled_trajectory(policy, 1, seed=2 * i), sampled_trajectory(policy, 0, seed=2 * i + 1)]

    first = run_grpo(policy, sample_group, CONFIG, tmp_path / "grpo", {"kind": "test"})
    assert first.updates == 1 and calls == [0, 1]
    resumed_policy = tiny_policy(seed=5)  # another start: the checkpoint's weights replace it
    second = run_grpo(resumed_policy, sample_group, grpo_profile("tiny", updates=2), tmp_path / "grpo", {})
    assert second.updates == 2 and calls == [0, 1, 2, 3]  # continues at group 2, redoes nothing
    assert len(second.history) == 2
    curve = read_curve(tmp_path / "grpo")  # one point per update, beside the run's checkpoint
    assert [p["step"] for p in curve] == [1, 2] and {"grad_norm", "clip_fraction", "kept_fraction"} <= set(curve[0])


def test_a_real_episode_budget_ends_the_run_instead_of_a_count(tmp_path):
    """Real rollouts (the GRPO baseline) run the same loop, bounded by episodes spent."""
    policy = tiny_policy()
    outcomes = iter([[0, 0], [1, 0], [0, 0], [0, 1], [1, 1], [0, 1], [0, 0]])
    calls = []

    def sample_group(i):
        calls.append(i)
        return [sampled_trajectory(policy, r, seed=10 * i + j) for j, r in enumerate(next(outcomes))]

    # tiny: G=2, 2 groups per batch. 13 episodes allow 6 groups: [1,0] and [0,1] make update 1;
    # [1,1] is dropped, [0,1] starts a batch that the spent budget ends as a partial one.
    stats = run_grpo(policy, sample_group, grpo_profile("tiny", updates=10), tmp_path / "real", {},
                     episode_budget=13)
    assert calls == [0, 1, 2, 3, 4, 5] and stats.trajectories == 12
    assert stats.updates == 2 and [h["groups"] for h in stats.history] == [2, 1]
    never_mixed = run_grpo(tiny_policy(), lambda i: [sampled_trajectory(policy, 0, seed=i)] * 2,
                           grpo_profile("tiny", updates=10), tmp_path / "failing", {}, episode_budget=20)
    assert (never_mixed.updates, never_mixed.trajectories) == (0, 20)  # no error: the budget is the bound


def test_imagination_commands_pass_the_robots_safety_filter():
    import math

    from app.imagined_commands import safety_command_filter
    from robot.features import start_pose
    from robot.safety import SafetyLimits

    apply = safety_command_filter()
    start = torch.from_numpy(start_pose()).float()
    limits = SafetyLimits()
    middle = (torch.tensor(limits.lower) + torch.tensor(limits.upper)) / 2
    direction = torch.sign(middle - start)
    far = start + 0.8 * direction  # every joint asked to move 46 degrees at once, away from its limits
    far[6] = far[13] = 0.5  # grippers in range
    sent = apply(far.expand(2, 8, 14).clone(), None)
    step = math.radians(5.0)
    arm = [0, 1, 2, 3, 4, 5, 7, 8, 9, 10, 11, 12]
    # from the start pose, each arm joint walks 5 degrees per command towards its target
    walked = step * torch.arange(1, 9).float()[None, :, None] * direction[arm]
    torch.testing.assert_close(sent[:, :, arm] - start[arm], walked.expand(2, 8, 12))
    assert torch.equal(sent[:, :, 6], torch.full((2, 8), 0.5))  # grippers are exempt from the cap
    resumed = apply(far.expand(2, 8, 14).clone(), sent[:, -1])  # the previous command stands in for the joints
    torch.testing.assert_close(resumed[:, 0, arm] - sent[:, -1, arm], (step * direction[arm]).expand(2, 12))


def test_a_per_token_chunk_log_prob_keeps_the_ratio_near_one():
    """After one update, a second pass over the same chunks: with "mean" the ratio is the
    geometric mean of the 112 tokens' ratios, far closer to 1 than the chunk's."""
    ratios = {}
    for chunk_log_prob in ("sum", "mean"):
        policy = tiny_policy()
        groups = [[sampled_trajectory(policy, 1, seed=1), sampled_trajectory(policy, 0, seed=2)]]
        optimizer = torch.optim.SGD(policy.parameters(), lr=1.0)
        config = grpo_profile("tiny", minibatch_trajectories=2, batch_trajectories=2, epochs=2,
                              chunk_log_prob=chunk_log_prob, grad_clip=1.0)
        stats = policy_update(policy, optimizer, groups, config)
        ratios[chunk_log_prob] = stats["ratio_mean"]  # mean over both epochs: the first is exactly 1
    assert abs(ratios["mean"] - 1) < abs(ratios["sum"] - 1)
    with pytest.raises(ValueError, match="chunk_log_prob"):
        grpo_profile("tiny", chunk_log_prob="max")


def test_the_gradient_does_not_depend_on_how_a_block_is_split_into_micro_batches(monkeypatch):
    # A block's chunks go through the policy in micro-batches; each micro-batch must count by its
    # share of the weights. (The mean once divided by max(1, share), weighting micro-batches by
    # share squared: a group's last trajectories counted half as much.)
    import learning.policy_optimization.update as update
    policy = tiny_policy()
    trajectories = [sampled_trajectory(policy, 1, seed=1, chunks=2), sampled_trajectory(policy, 0, seed=2, chunks=5)]
    advantages = torch.tensor([1.0, -1.0])
    config = grpo_profile("tiny", minibatch_trajectories=2)

    def gradient(micro_batch):
        monkeypatch.setattr(update, "MICRO_BATCH", micro_batch)
        optimizer = torch.optim.SGD(policy.parameters(), lr=0.0)
        policy.eval()  # no dropout, so both passes see the same network
        stats = update.minibatch_step(policy, optimizer, trajectories, advantages, config)
        return torch.cat([p.grad.flatten() for p in policy.parameters() if p.grad is not None]), stats

    whole, whole_stats = gradient(128)
    split, split_stats = gradient(3)
    assert torch.allclose(whole, split, rtol=1e-4, atol=1e-7)
    assert split_stats["ratio_mean"] == pytest.approx(1.0, abs=1e-4)
    assert split_stats["loss"] == pytest.approx(whole_stats["loss"], abs=1e-6)
