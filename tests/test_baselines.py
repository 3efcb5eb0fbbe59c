"""The baselines: offline DPO on stored trajectories, GRPO on real (sim) rollouts."""

import numpy as np
import pytest
import torch

from app.grpo_on_real import grpo_on_real
from app.policies import collect_rollouts
from conftest import copy_store
from learning.action_bins import ActionBins
from learning.evaluation import GRPO_SEED_BASE
from learning.policy_optimization.config import profile as grpo_profile
from learning.policy_optimization.dpo import DPOConfig, preference_pairs, train_dpo, trajectory_log_prob
from learning.policy_optimization.dpo_on_store import dpo_offline, stored_trajectory
from learning.policy_optimization.trajectories import Trajectory
from learning.vla.config import profile as policy_profile
from learning.vla.imitation import load_policy
from learning.vla.policy import VLAPolicy
from storage import EpisodeFilter, TrajectoryStore

POLICY = policy_profile("tiny")


def tiny_policy(seed=0):
    torch.manual_seed(seed)
    return VLAPolicy(POLICY, ActionBins(low=(-1.0,) * 14, high=(1.0,) * 14)).eval()


def trajectory(policy, reward, seed):
    images = torch.randint(0, 256, (3, *POLICY.image_size, 3), dtype=torch.uint8,
                           generator=torch.Generator().manual_seed(seed))
    steps = torch.tensor([0, 8, 16])
    bins, _ = policy.sample(images, ["go"] * 3, steps, generator=torch.Generator().manual_seed(seed))
    return Trajectory("go", images, steps, bins, torch.zeros(3), reward=float(reward))


def test_every_failure_is_paired_with_a_success():
    policy = tiny_policy()
    trajectories = [trajectory(policy, r, s) for s, r in enumerate([1, 0, 0, 1, 0])]
    pairs = preference_pairs(trajectories)
    assert sorted(lose for _, lose in pairs) == [1, 2, 4]
    assert {win for win, _ in pairs} == {0, 3}
    with pytest.raises(ValueError, match="successful and failed"):
        preference_pairs(trajectories[1:3])


def test_dpo_raises_the_preferred_trajectory_against_the_reference():
    reference = tiny_policy()
    policy = tiny_policy()
    trajectories = [trajectory(reference, 1, 1), trajectory(reference, 0, 2)]

    def margin():
        with torch.no_grad():
            return (trajectory_log_prob(policy, trajectories[0]) - trajectory_log_prob(reference, trajectories[0])
                    - trajectory_log_prob(policy, trajectories[1]) + trajectory_log_prob(reference, trajectories[1]))

    assert margin().item() == pytest.approx(0.0, abs=1e-3)
    stats = train_dpo(policy, reference, trajectories, DPOConfig(lr=1e-3, steps=5, pairs_per_step=1,
                                                                        scale="trajectory", beta=0.05, nll_weight=0.0))
    assert stats["pairs"] == 1 and margin().item() > 1.0


def test_dpo_per_token_scale_reports_the_margin_per_action_token():
    reference, policy = tiny_policy(), tiny_policy()
    trajectories = [trajectory(reference, 1, 1), trajectory(reference, 0, 2)]
    plain = dict(lr=1e-3, steps=3, pairs_per_step=1, beta=0.05, nll_weight=0.0)
    whole = train_dpo(tiny_policy(), reference, trajectories, DPOConfig(**plain, scale="trajectory"))
    token = train_dpo(policy, reference, trajectories, DPOConfig(**plain, scale="token"))
    tokens = trajectories[0].bins.numel()
    assert token["final"]["margin"] > 0 and abs(token["final"]["margin"]) < abs(whole["final"]["margin"]) / tokens * 10
    with pytest.raises(ValueError, match="DPO scale"):
        DPOConfig(scale="episode")


def test_the_nll_anchor_keeps_the_chosen_trajectory_likely():
    reference = tiny_policy()
    trajectories = [trajectory(reference, 1, 1), trajectory(reference, 0, 2)]
    with torch.no_grad():
        before = trajectory_log_prob(reference, trajectories[0]).item()
    after = {}
    for weight in (0.0, 1.0):
        policy = tiny_policy()
        train_dpo(policy, reference, trajectories, DPOConfig(lr=1e-3, steps=5, pairs_per_step=1, scale="token",
                                                             beta=2.0, nll_weight=weight))
        with torch.no_grad():
            after[weight] = trajectory_log_prob(policy, trajectories[0]).item()
    assert after[1.0] > before and after[1.0] > after[0.0]
    with pytest.raises(ValueError, match="nll_weight"):
        DPOConfig(nll_weight=-1)


def test_stored_episodes_become_chunked_trajectories(tiny_base_store):
    with TrajectoryStore(tiny_base_store, readonly=True) as store:
        policy = load_policy(store.verify_policy_checkpoint(1))
        episode = store.episodes(EpisodeFilter(source="expert"))[0]
        t = stored_trajectory(store, episode.id, policy)
        k = POLICY.chunk_size
        assert t.steps.tolist() == list(range(0, episode.length, k)) and t.reward == 1.0
        assert torch.equal(t.images[1], torch.from_numpy(store.load_frames(episode.id, "cam_high", k, k + 1)[0]))
        actions = store.load_steps(episode.id).actions
        decoded = policy.actions(t.bins[0]).numpy()
        width = (np.array(policy.bins.high) - np.array(policy.bins.low)) / policy.bins.n_bins
        assert np.all(np.abs(decoded - actions[:k]) <= width / 2 + 1e-5)  # within half a bin


def test_grpo_on_real_spends_exactly_the_budget(tiny_base_store, tmp_path):
    db = copy_store(tiny_base_store, tmp_path)
    with TrajectoryStore(db) as store:
        config = grpo_profile("tiny")  # G=2
        # 40-step episodes: the budget counts episodes, whatever their length
        version, stats = grpo_on_real(store, 1, "transfer_cube", 5, config, "grpo-real", horizon=40,
                                      report=lambda m: None)
        assert stats["rollouts"] == 4 and stats["groups"] == 2  # a third group would exceed P=5
        assert not store.episodes(EpisodeFilter(source="policy"))  # a changing policy's: not the base's rollouts
        rollouts = store.episodes(EpisodeFilter(source="training"))
        assert len(rollouts) == 4 and [e.seed for e in rollouts][::2] == [e.seed for e in rollouts][1::2]
        assert rollouts[0].seed == GRPO_SEED_BASE and all(e.policy_version_id == 1 for e in rollouts)
        assert {e.length for e in rollouts} == {40}
        assert store.policy_version(version).parent_id == 1
        # the same run with a larger budget continues it: its counters, its next seeds, a new version
        longer, stats = grpo_on_real(store, 1, "transfer_cube", 8, config, "grpo-real-8", run="grpo-real",
                                     horizon=40, report=lambda m: None)
        assert stats["rollouts"] == 8 and stats["groups"] == 4
        seeds = [e.seed for e in store.episodes(EpisodeFilter(source="training"))]
        assert len(seeds) == 8 and seeds[4:] == [seeds[0] + 2] * 2 + [seeds[0] + 3] * 2
        assert longer != version and store.policy_version(longer).parent_id == 1


def test_dpo_offline_learns_from_stored_rollouts_and_registers(tiny_base_store, tmp_path):
    db = copy_store(tiny_base_store, tmp_path)
    with TrajectoryStore(db) as store:
        collect_rollouts(store, 1, "transfer_cube", 2)  # the tiny base policy fails: the losing side
        episodes = [e.id for e in store.episodes(EpisodeFilter(task="transfer_cube"))]
        version, stats = dpo_offline(store, 1, "transfer_cube", episodes, DPOConfig(steps=2, pairs_per_step=2),
                                     "dpo", report=lambda m: None)
        assert stats["pairs"] == 2
        saved = store.policy_version(version)
        assert saved.parent_id == 1 and '"method": "dpo"' in saved.config_json
        load_policy(store.verify_policy_checkpoint(version))
