"""The pixel world model at tiny scale: shapes, EDM preconditioning, context noise
augmentation, the action path, the anchor, save/load, EMA, and imagination end to end from
a store of real sim episodes."""

import numpy as np
import pytest
import torch

from app.demos import record_expert_demos
from learning.checkpoints import CheckpointError, save_checkpoint
from learning.configs import with_overrides
from learning.trainer import TrainConfig
from learning.world_model import edm
from learning.world_model.config import WorldModelConfig, profile
from learning.world_model.imagination import Imagination
from learning.world_model.training import (WORLD_MODEL_KIND, clip_dataset, load_world_model, saved_config,
                                           train_world_model)
from learning.world_model.world_model import WorldModel
from storage import EpisodeFilter

TINY = profile("tiny")
C, K, S = TINY.context_frames, TINY.chunk_size, TINY.frame_stride
W = TINY.action_window


def tiny_model(seed=0, opinionated=True, config=TINY):
    torch.manual_seed(seed)
    model = WorldModel(config).eval()
    if opinionated:  # zero-initialised outputs make a fresh U-Net answer zeros: give it weights to disagree with
        for name, parameter in model.net.named_parameters():
            if "conv_out" in name or "conv2" in name or "scale_shift" in name:
                torch.nn.init.normal_(parameter, std=0.2)
        model.ema.load_state_dict(model.net.state_dict())
    return model


def frames(*shape, seed=0):
    return torch.randint(0, 256, (*shape, *TINY.image_size, 3), dtype=torch.uint8,
                         generator=torch.Generator().manual_seed(seed))


def test_config_round_trips_through_json_and_command_line_overrides():
    assert WorldModelConfig.from_json(TINY.to_json()) == TINY
    changed = with_overrides(TINY, ["diffusion.sampling_steps=5", "denoiser.channels=8,16", "anchor_first_frame=no"])
    assert (changed.diffusion.sampling_steps, changed.denoiser.channels, changed.anchor_first_frame) == (5, (8, 16), False)
    with pytest.raises(ValueError, match="has no field 'scheduler'"):
        with_overrides(TINY, ["diffusion.scheduler=ddim"])
    with pytest.raises(ValueError, match="not a multiple of frame_stride"):
        profile("tiny", frame_stride=3)


def test_shapes_of_training_and_prediction():
    model = tiny_model()
    loss, _ = model.loss({"frames": frames(2, C + 1), "first": frames(2), "actions": torch.randn(2, W, 14)})
    assert loss.ndim == 0 and torch.isfinite(loss)
    loss.backward()
    predicted = model.predict(frames(2, C), frames(2), torch.randn(2, W, 14), use_ema=False)
    assert predicted.shape == (2, *TINY.image_size, 3) and predicted.dtype == torch.uint8
    with pytest.raises(ValueError, match=r"context: got \(2, 2, 8, 8, 3\)"):
        model.predict(torch.zeros(2, C, 8, 8, 3, dtype=torch.uint8), frames(2), torch.randn(2, W, 14))


def test_activation_checkpointing_changes_memory_not_the_gradients():
    clip = frames(2, 1).expand(2, C + 1, *TINY.image_size, 3).clone()
    clip[:, -1, 4:12, 8:20] = 255 - clip[:, -1, 4:12, 8:20]  # the target differs from the context in one patch
    batch = {"frames": clip, "first": frames(2), "actions": torch.randn(2, W, 14)}
    gradients = []
    for recompute in (False, True):
        config = with_overrides(TINY, [f"denoiser.checkpoint_activations={'yes' if recompute else 'no'}"])
        model = tiny_model(config=config).train()
        torch.manual_seed(5)  # the same noise draws
        model.loss(batch)[0].backward()
        gradients.append(torch.cat([p.grad.flatten() for p in model.net.parameters() if p.grad is not None]))
    assert torch.allclose(gradients[0], gradients[1], atol=1e-6)


def test_edm_denoiser_returns_its_input_at_low_noise_and_the_network_at_high_noise():
    diffusion = TINY.diffusion
    low, high = edm.preconditioning(diffusion, torch.tensor([1e-4])), edm.preconditioning(diffusion, torch.tensor([80.]))
    assert low.c_skip.item() == pytest.approx(1.0, abs=1e-6) and low.c_out.item() < 1e-3
    assert high.c_skip.item() < 1e-4 and high.c_out.item() == pytest.approx(diffusion.sigma_data, rel=1e-3)
    for name in ("euler", "dpmsolver"):
        scheduler = edm.make_sampler(name, diffusion, 3)
        sigmas = scheduler.sigmas
        assert sigmas[0].item() == pytest.approx(diffusion.sigma_max, rel=1e-5)
        assert sigmas[-2].item() == pytest.approx(diffusion.sigma_min, rel=1e-5)
        assert sigmas[-1] == 0  # the last step lands on the clean estimate
        # training's preconditioning is the sampler's
        sigma = torch.tensor([0.05, 0.7, 4.0])
        p, x = edm.preconditioning(diffusion, sigma), torch.randn(3, 3, 2, 2)
        torch.testing.assert_close(scheduler.precondition_inputs(x, sigma.view(-1, 1, 1, 1)), p.c_in * x)
        torch.testing.assert_close(scheduler.precondition_noise(sigma), p.c_noise)
        torch.testing.assert_close(scheduler.precondition_outputs(x, x + 1, sigma.view(-1, 1, 1, 1)),
                                   p.c_skip * x + p.c_out * (x + 1))
    # A perfect denoiser reaches the clean frame in any number of steps: F = (clean - c_skip x) / c_out.
    clean = torch.rand(2, 3, 4, 4)
    for name in ("euler", "dpmsolver"):
        for steps in (1, 3):
            scheduler = edm.make_sampler(name, diffusion, steps)

            def perfect(scaled, c_noise):
                sigma = (4 * c_noise[0]).exp()
                p = edm.preconditioning(diffusion, sigma.view(1))
                return (clean - p.c_skip * scaled / p.c_in) / p.c_out

            torch.testing.assert_close(edm.sample(perfect, clean.shape, scheduler), clean, atol=1e-4, rtol=1e-4)
    with pytest.raises(ValueError, match="sampler 'ddim'"):
        edm.make_sampler("ddim", diffusion, 3)


def test_context_noise_augmentation_noises_the_context_but_never_the_anchor():
    model = tiny_model()
    seen = {}
    model.net.register_forward_hook(lambda net, inputs, output: seen.update(context=inputs[2], level=inputs[3]))
    batch = {"frames": frames(64, C + 1), "first": frames(64, seed=1), "actions": torch.randn(64, W, 14)}
    model.loss(batch)
    scale = TINY.diffusion.sigma_data
    clean_context = (batch["frames"][:, :C].movedim(-1, -3).float() / 127.5 - 1).flatten(1, 2) / scale
    anchor = (batch["first"].movedim(-1, -3).float() / 127.5 - 1) / scale
    torch.testing.assert_close(seen["context"][:, 3 * C:], anchor)
    noise = (seen["context"][:, :3 * C] - clean_context).flatten(1).std(dim=1) * scale
    assert 0 < noise.min() and noise.max() <= TINY.diffusion.context_noise_max * 1.1
    assert seen["level"].unique().numel() > 32  # a level per sample, and the network is told it


def test_actions_and_the_anchor_change_the_prediction():
    model = tiny_model()
    context, first, actions = frames(1, C), frames(1, seed=2), torch.randn(1, W, 14)
    sample = lambda **kw: model.predict(**{"context": context, "first": first, "actions": actions, **kw},
                                        generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(sample(), sample())  # seeded sampling is repeatable
    other = actions.clone()
    other[:, S:] += 2.0  # only the actions ahead differ
    assert not torch.equal(sample(actions=other), sample())
    assert not torch.equal(sample(first=frames(1, seed=5)), sample())
    with pytest.raises(ValueError, match="NaN"):
        model.predict(context, first, actions * float("nan"))
    with pytest.raises(ValueError, match=rf"expected \(B, {W}, 14\)"):
        model.predict(context, first, torch.zeros(1, 3, 14))


def test_a_change_target_model_copies_the_last_frame_until_it_learns_what_moves():
    change = profile("tiny", target="change", diffusion=TINY.diffusion.__class__(sigma_data=0.1, sigma_max=1.0,
                                                                                 sampling_steps=2))
    context, first, actions = frames(2, C), frames(2, seed=2), torch.randn(2, W, 14)
    fresh = tiny_model(opinionated=False, config=change).predict(context, first, actions)
    # a fresh network predicts no change: what is left is the sampler's last, tiny noise level
    assert (fresh.float() - context[:, -1].float()).abs().mean() < 2
    opinionated = tiny_model(config=change).predict(context, first, actions)
    assert not torch.equal(opinionated, context[:, -1])
    loss, _ = tiny_model(config=change).loss({"frames": frames(2, C + 1), "first": first, "actions": actions})
    assert torch.isfinite(loss)
    with pytest.raises(ValueError, match="target 'delta'"):
        profile("tiny", target="delta")


def test_motion_action_input_reads_each_action_relative_to_the_last_command():
    motion = profile("tiny", action_input="motion")
    model = tiny_model(config=motion)
    model.set_action_statistics(torch.zeros(14), 2 * torch.ones(14), 0.5 * torch.ones(14))
    actions = torch.zeros(1, W, 14)
    actions[:, S - 1] = 1.0  # the last command before the context's last frame
    actions[:, S:] = 1.5  # the arms then move on by 0.5, one stride's typical motion
    features = model.action_features(actions)
    assert features.shape == (1, motion.action_features) == (1, (W + 1) * 14)
    assert torch.allclose(features[0, :14], torch.full((14,), 0.5))  # where the arms are, standardised
    assert torch.allclose(features[0, 14:].view(W, 14)[S:], torch.ones(S, 14))  # the motion, in units of a stride's
    loss, _ = model.loss({"frames": frames(2, C + 1), "first": frames(2), "actions": torch.randn(2, W, 14)})
    assert torch.isfinite(loss)
    with pytest.raises(ValueError, match="action_input 'joint'"):
        profile("tiny", action_input="joint")


def test_ema_follows_the_trained_weights():
    model = tiny_model(opinionated=False)
    model.ema_updates.fill_(10_000)  # past the warm-up: the configured decay
    before = [p.clone() for p in model.ema.parameters()]
    with torch.no_grad():
        for p in model.net.parameters():
            p.add_(1.0)
    model.after_step()
    moved = [(a - b).abs().max().item() for a, b in zip(model.ema.parameters(), before)]
    assert max(moved) == pytest.approx(1 - TINY.ema_decay, rel=1e-4)
    fresh = tiny_model(opinionated=False)  # the first update moves the average most of the way: decay 1/10
    with torch.no_grad():
        for p in fresh.net.parameters():
            p.add_(1.0)
    fresh.after_step()
    assert int(fresh.ema_updates) == 1
    assert max((a - b).abs().max().item() for a, b in zip(fresh.ema.parameters(), before)) == pytest.approx(0.9)


def test_checkpoint_round_trip_and_earlier_checkpoints_are_refused(tmp_path):
    model = tiny_model()
    model.set_action_statistics(torch.ones(14), 2 * torch.ones(14), torch.ones(14))
    save_checkpoint(tmp_path / "wm", model, {"kind": WORLD_MODEL_KIND, "world_model": TINY.to_json()})
    restored = load_world_model(tmp_path / "wm")
    args = (frames(1, C), frames(1), torch.randn(1, W, 14))
    torch.testing.assert_close(restored.predict(*args, generator=torch.Generator().manual_seed(1)),
                               model.predict(*args, generator=torch.Generator().manual_seed(1)))
    written_before = {k: v for k, v in profile("cpu").to_json().items() if k not in ("target", "action_input")}
    assert saved_config({"world_model": written_before}).target == "frame"  # as it was trained, whatever the default
    save_checkpoint(tmp_path / "old", model, {"kind": "wmpo-world-model", "world_model": {}})
    with pytest.raises(CheckpointError, match="latent-DiT world model of an earlier wmpo"):
        load_world_model(tmp_path / "old")


def test_imagination_steps_a_chunk_at_the_frame_stride_and_filters_commands():
    model = tiny_model()
    seen = []

    def hold_still(actions, previous):
        seen.append(previous)
        return torch.zeros_like(actions)

    imagination = Imagination(model, seed=0, command_filter=hold_still)
    first = frames(3)
    assert torch.equal(imagination.reset(first), first)
    for _ in range(2):  # autoregression over chunks
        imagined = imagination.step(torch.randn(3, K, 14))
        assert imagined.shape == (3, K // S, *TINY.image_size, 3) and imagined.dtype == torch.uint8
    assert imagination.t == 2 * K and seen[0] is None and torch.equal(seen[1], torch.zeros(3, 14))
    assert torch.equal(imagination.history[:, -1], imagined[:, -1])  # the last frame is the next context
    with pytest.raises(ValueError, match=r"expected \(3, 8, 14\): one chunk per imagined trajectory"):
        imagination.step(torch.zeros(2, K, 14))


def weighted_and_plain_loss(model, plain_config, batch):
    """The model's loss as configured, then with ``plain_config``, on the same noise draws."""
    torch.manual_seed(0)
    weighted, _ = model.loss(batch)
    model.config = plain_config
    torch.manual_seed(0)
    plain, _ = model.loss(batch)
    return weighted, plain


def test_the_motion_weight_falls_on_pixels_that_move_and_next_to_them():
    from learning.world_model.world_model import motion_mask, to_pixels

    still = torch.full((1, 8, 8, 3), 100, dtype=torch.uint8)
    moved = still.clone()
    moved[0, 4, 4] = 200  # one pixel changes; a 1-step change (noise) does not count
    moved[0, 0, 7] = 105
    mask = motion_mask(to_pixels(still), to_pixels(moved))
    assert mask.shape == (1, 1, 8, 8) and mask.sum() == 9 and mask[0, 0, 3:6, 3:6].min() == 1
    model = tiny_model(config=with_overrides(TINY, ["diffusion.motion_weight=10"]))
    clip = frames(2, 1).expand(2, C + 1, *TINY.image_size, 3).clone()
    clip[:, -1, 4:12, 8:20] = 255 - clip[:, -1, 4:12, 8:20]  # the target differs from the context in one patch
    batch = {"frames": clip, "first": frames(2), "actions": torch.randn(2, W, 14)}
    weighted, plain = weighted_and_plain_loss(model, TINY, batch)
    assert torch.isfinite(weighted) and weighted != plain
    with pytest.raises(ValueError, match="loss weights -1"):
        with_overrides(TINY, ["diffusion.motion_weight=-1"])


@pytest.mark.parametrize("target", ["frame", "change"])
def test_the_salience_weight_shifts_the_loss_whatever_the_target(target):
    config = profile("tiny", target=target)
    model = tiny_model(config=with_overrides(config, ["diffusion.salience_weight=3"]))
    clip = frames(2, C + 1, seed=3)
    clip[0, -1, 4:8, 8:12] = torch.tensor([200, 30, 30], dtype=torch.uint8)  # one frame's object, unlike the other
    batch = {"frames": clip, "first": frames(2), "actions": torch.randn(2, W, 14)}
    weighted, plain = weighted_and_plain_loss(model, config, batch)
    assert torch.isfinite(weighted) and weighted != plain  # a weight that is read, on either target


def test_imagination_started_from_a_real_mid_episode_state_predicts_from_it():
    model = tiny_model()
    history, anchor, previous, chunk = frames(2, C, seed=1), frames(2, seed=2), torch.randn(2, S, 14), torch.randn(2, K, 14)
    imagination = Imagination(model, seed=0)
    imagination.start_from(history, anchor, previous)
    imagined = imagination.step(chunk)
    expected = model.predict(history, anchor, torch.cat([previous, chunk[:, :S]], dim=1),
                             generator=torch.Generator().manual_seed(0))
    assert torch.equal(imagined[:, 0], expected)  # the real context, anchor and commands, not a first frame's
    with pytest.raises(ValueError, match=rf"history \(2, 3, 32, 48, 3\); expected \(B, {C}, H, W, 3\)"):
        imagination.start_from(frames(2, 3), anchor, previous)
    with pytest.raises(ValueError, match=rf"expected \(2, {S}, 14\)"):
        imagination.start_from(history, anchor, torch.randn(2, S + 1, 14))


def test_tiny_world_model_trains_from_the_store_and_imagines(store, tmp_path):
    record_expert_demos(store, "transfer_cube", 2, cameras={"cam_high": TINY.image_size})
    dataset = clip_dataset(store, TINY, EpisodeFilter(), seed=0)
    assert dataset.starts.min() == -S  # samples start at t = 0: the first frame and first action stand in
    clip = next(iter(dataset))
    assert clip["frames"].shape == (C + 1, *TINY.image_size, 3) and clip["first"].shape == (*TINY.image_size, 3)
    episode = store.episodes()[0].id
    earliest = dataset.read_clip(dataset._connection_engine().connect(), episode, -S)
    real = store.load_frames(episode, "cam_high", 0, S + 1)
    assert torch.equal(earliest["frames"][-1], torch.from_numpy(real[S]))  # the target: frame s
    assert torch.equal(earliest["frames"][0], torch.from_numpy(real[0]))  # the context before the start: frame 0
    assert torch.equal(earliest["actions"][0], earliest["actions"][S])  # the first action stands in before t = 0
    train = TrainConfig(steps=6, warmup_steps=1, log_every=3, checkpoint_every=3)
    model = train_world_model(store, TINY, train, tmp_path / "wm", batch_size=4)
    assert model.action_std.min() > 0
    imagination = Imagination(load_world_model(tmp_path / "wm"), seed=0)
    imagination.reset(torch.from_numpy(real[:1]).expand(2, -1, -1, -1))
    assert imagination.step(torch.zeros(2, K, 14)).shape == (2, K // S, *TINY.image_size, 3)
    # Policy behaviour alignment: fine-tuning starts from the pretrained weights and statistics.
    pretrained = load_world_model(tmp_path / "wm")
    aligned = train_world_model(store, TINY, TrainConfig(steps=1, warmup_steps=1), tmp_path / "aligned",
                                init_from=tmp_path / "wm", batch_size=2)
    assert torch.equal(aligned.action_mean, pretrained.action_mean)
    with pytest.raises(CheckpointError, match="another configuration"):
        train_world_model(store, profile("tiny", context_frames=1), train, tmp_path / "aligned")
    # Trained on from the same weights with another loss weight; another architecture is refused.
    weighted = with_overrides(TINY, ["diffusion.motion_weight=10"])
    tuned = train_world_model(store, weighted, TrainConfig(steps=1, warmup_steps=1), tmp_path / "weighted",
                              init_from=tmp_path / "wm", batch_size=2)
    assert tuned.config.diffusion.motion_weight == 10 and torch.equal(tuned.action_std, pretrained.action_std)
    with pytest.raises(CheckpointError, match="another architecture than asked for"):
        train_world_model(store, profile("tiny", context_frames=1), train, tmp_path / "other", init_from=tmp_path / "wm")
    # Fidelity replays: successes up to half of them, so that agreement can speak of successes.
    from learning.splits import balanced

    first, second = (e.id for e in store.episodes())
    store.set_label(first, False, "operator")
    assert balanced(store, [first, second], 2) == [first, second]
    assert balanced(store, [first, second], 1) == [first]  # one slot: no room for half of it
    assert balanced(store, [second, first], 2) == [first, second]


def test_fidelity_scores_imagined_frames_at_the_stride_and_counts_recognised_successes():
    from learning.world_model.fidelity import Replay, fidelity_report

    model = tiny_model()
    replays = [Replay(real=frames(2 * K + 1, seed=s).numpy(), actions=np.zeros((2 * K + 1, 14), np.float32),
                      success=s < 2) for s in range(4)]
    for judge, recognised in ((lambda imagined: True, 2), (lambda imagined: False, 0)):
        report, imagined = fidelity_report(Imagination(model, seed=0), replays, judge=judge)
        assert (report.successes_replayed, report.successes_recognised) == (2, recognised)
        assert report.outcome_agreement == 0.5 and len(imagined) == 4
        assert f"in imagination {recognised}/2" in report.summary()
    assert imagined[0].shape == (2 * K // S + 1, *TINY.image_size, 3)
    assert report.steps == list(range(S, 2 * K + 1, S)) and len(report.frozen_psnr_db) == len(report.psnr_db)


def test_mixed_batches_concatenate_one_batch_of_each_stream_and_resume_both():
    from learning.batches import mixed_batches

    def stream(tag):
        return lambda start: ({"x": torch.full((2 if tag else 1,), float(tag * 100 + step))}
                              for step in range(start, 10**6))

    batches = mixed_batches(stream(0), stream(1))(5)
    first, second = next(batches), next(batches)
    assert first["x"].tolist() == [5.0, 105.0, 105.0] and second["x"].tolist() == [6.0, 106.0, 106.0]


def test_alignment_mixes_the_tasks_expert_demos_into_every_batch(store, tmp_path):
    from learning.artifacts import world_model_dir
    from learning.checkpoints import read_config
    from learning.world_model.on_store import align_world_model, pretrain_world_model
    from storage import EpisodeSpec
    from tests.episode_data import write_episode

    spec = EpisodeSpec(cameras={"cam_high": (*TINY.image_size, 3)})
    for seed in range(8):  # 4 rollouts and 4 demos, alternating; the last demo is the store's held-out one
        write_episode(store, seed, 12, source="expert" if seed % 2 else "policy", spec=spec)
    train = TrainConfig(steps=1, warmup_steps=1)
    pretrain_world_model(store, "base", TINY, train, task="transfer_cube", batch_size=2)
    rollouts = EpisodeFilter(task="transfer_cube", source="policy")
    align_world_model(store, "mixed", "base", rollouts, train, batch_size=4, demo_share=0.5)
    align_world_model(store, "alone", "base", rollouts, train, batch_size=4, demo_share=0.0)
    mixed = read_config(world_model_dir(store, "mixed") / "model")
    assert mixed["replay"] == {"episodes": 3, "share": 0.5} and mixed["episodes"] == 4
    assert store.models.get("world_model", "mixed").config["demos"] == 3
    assert read_config(world_model_dir(store, "alone") / "model")["replay"] is None
    with pytest.raises(ValueError, match=r"replay_share 1.0; expected a fraction in \[0, 1\)"):
        align_world_model(store, "all-demos", "base", rollouts, train, batch_size=4, demo_share=1.0)
