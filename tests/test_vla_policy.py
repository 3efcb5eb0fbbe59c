"""The VLA policy: parallel discrete head, exact log-probs, temperature, learning, fit checks."""

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from learning.action_bins import ActionBins
from learning.vla.config import profile
from learning.vla.policy import VLAPolicy
from learning.vla.runner import PolicyMismatchError, PolicyRunner, check_policy_fits

TINY = profile("tiny")
INSTRUCTIONS = ["pick up the red cube", "insert the peg"]
STEPS = torch.tensor([0, 120])


def tiny_policy(seed=0):
    torch.manual_seed(seed)
    bins = ActionBins(low=(-1.0,) * 14, high=(1.0,) * 14)
    return VLAPolicy(TINY, bins).eval()


def images(n=2, seed=0):
    return torch.randint(0, 256, (n, *TINY.image_size, 3), dtype=torch.uint8,
                         generator=torch.Generator().manual_seed(seed))


def test_one_forward_pass_gives_every_token():
    logits = tiny_policy().logits(images(), INSTRUCTIONS, STEPS)
    assert logits.shape == (2, 8, 14, 256)


def test_the_control_step_is_an_input():
    policy, x = tiny_policy(), images(1).repeat(2, 1, 1, 1)
    logits = policy.logits(x, INSTRUCTIONS[:1] * 2, torch.tensor([40, 300]))
    assert not torch.allclose(logits[0], logits[1])  # same image, another moment of the episode
    with pytest.raises(ValueError, match=r"steps: got none, expected .* shape \(2,\)"):
        policy.logits(x, INSTRUCTIONS)


@pytest.mark.parametrize("temperature", [1.0, 1.6, 0.5])
def test_log_prob_of_sampled_chunks_equals_recomputation(temperature):
    policy = tiny_policy()
    x = images()
    generator = torch.Generator().manual_seed(1)
    bins, log_prob = policy.sample(x, INSTRUCTIONS, STEPS, temperature=temperature, generator=generator)
    np.testing.assert_allclose(policy.log_prob(x, INSTRUCTIONS, STEPS, bins, temperature=temperature).detach(),
                               log_prob, rtol=1e-5)
    # Temperature enters as logits / T, in both: recompute by hand from raw logits.
    logits = policy.logits(x, INSTRUCTIONS, STEPS).detach()
    by_hand = F.log_softmax(logits / temperature, -1).gather(-1, bins[..., None]).sum(dim=(1, 2, 3))
    np.testing.assert_allclose(by_hand, log_prob, rtol=1e-5)


def test_temperature_spreads_samples_and_greedy_is_argmax():
    policy = tiny_policy()
    with torch.no_grad():
        policy.head[-1].weight.mul_(200)  # an untrained head is nearly flat: give it opinions
    x, steps = images(1).repeat(64, 1, 1, 1), torch.zeros(64, dtype=torch.long)
    cold, _ = policy.sample(x, INSTRUCTIONS[:1] * 64, steps, temperature=0.2, generator=torch.Generator().manual_seed(0))
    hot, _ = policy.sample(x, INSTRUCTIONS[:1] * 64, steps, temperature=3.0, generator=torch.Generator().manual_seed(0))
    assert hot.float().std(0).mean() > cold.float().std(0).mean()
    greedy, _ = policy.sample(x[:1], INSTRUCTIONS[:1], steps[:1], greedy=True)
    assert torch.equal(greedy, policy.logits(x[:1], INSTRUCTIONS[:1], steps[:1]).argmax(-1))
    with pytest.raises(ValueError, match="temperature"):
        policy.sample(x[:1], INSTRUCTIONS[:1], steps[:1], temperature=0.0)


def test_imitation_loss_learns_a_fixed_batch():
    policy = tiny_policy().train()
    torch.manual_seed(0)
    batch = {"images": images(8), "instructions": INSTRUCTIONS * 4, "steps": torch.arange(8) * 40,
             "actions": torch.rand(8, 8, 14) * 1.6 - 0.8}
    optimizer = torch.optim.Adam(policy.parameters(), lr=3e-3)
    first, _ = policy.loss(batch)
    for _ in range(150):
        loss, metrics = policy.loss(batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.5 * first.item()
    assert metrics["token_accuracy"] > 0.15  # chance is 1/256


def test_wrong_images_are_refused():
    with pytest.raises(ValueError, match=r"expected uint8 \(B, 32, 48, 3\)"):
        tiny_policy().logits(torch.zeros(1, 32, 48, 3), INSTRUCTIONS[:1], STEPS[:1])


def test_policy_that_does_not_fit_the_robot_is_refused():
    policy = tiny_policy()
    check_policy_fits(policy, {"cam_high": (32, 48, 3)}, 14)
    with pytest.raises(PolicyMismatchError, match=r"expects cam_high at \(32, 48\), the robot gives \(96, 128\)"):
        check_policy_fits(policy, {"cam_high": (96, 128, 3)}, 14)
    with pytest.raises(PolicyMismatchError, match="14-D actions, the robot takes 16-D"):
        check_policy_fits(policy, {"cam_high": (32, 48, 3)}, 16)
    with pytest.raises(PolicyMismatchError, match="camera 'cam_high'"):
        check_policy_fits(policy, {"cam_low": (32, 48, 3)}, 14)


def test_runner_returns_a_chunk_in_robot_units():
    class Observation:
        frames = {"cam_high": images(1)[0].numpy()}
        qpos = np.linspace(-0.5, 0.5, 14)
        t = 16

    policy = tiny_policy()
    runner = PolicyRunner(policy)
    runner.reset()
    chunk = runner(Observation(), "pick up the red cube")
    assert chunk.shape == (8, 14) and chunk.dtype == np.float64
    np.testing.assert_allclose(chunk, policy.actions(runner.last_bins).numpy(), rtol=1e-6)  # absolute targets
    assert len(runner.inference_s) == 1
    torch.manual_seed(0)
    delta = PolicyRunner(VLAPolicy(profile("tiny", action_mode="delta"), policy.bins).eval())
    delta.reset()
    chunk = delta(Observation(), "pick up the red cube")
    # delta mode: the network's targets are relative to the joints when the chunk starts
    np.testing.assert_allclose(chunk, delta.policy.actions(delta.last_bins).numpy() + Observation.qpos, rtol=1e-6)
