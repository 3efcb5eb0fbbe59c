"""The video world model at tiny scale: shapes, conditioning noise, the action path,
save/load, EMA, and imagination end to end from a store of real sim episodes."""

import numpy as np
import pytest
import torch

from app.demos import record_expert_demos
from learning.checkpoints import CheckpointError, save_checkpoint
from learning.trainer import TrainConfig
from learning.world_model.config import profile
from learning.world_model.imagination import Imagination
from learning.world_model.training import clip_dataset, load_world_model, train_vae, train_world_model
from learning.world_model.world_model import WorldModel
from storage import EpisodeFilter

TINY = profile("tiny")
C, K = TINY.context_frames, TINY.chunk_size


def tiny_model(seed=0, opinionated=True):
    torch.manual_seed(seed)
    model = WorldModel(TINY).eval()
    if opinionated:  # adaLN-zero makes a fresh DiT output zeros: give it weights to disagree with
        for name, parameter in model.dit.named_parameters():
            if "ada" in name or name.startswith("out"):
                torch.nn.init.normal_(parameter, std=0.2)
        model.ema.load_state_dict(model.dit.state_dict())
    return model


def frames(n, f, seed=0):
    return torch.randint(0, 256, (n, f, *TINY.image_size, 3), dtype=torch.uint8,
                         generator=torch.Generator().manual_seed(seed))


def test_shapes_of_training_and_prediction():
    model = tiny_model()
    loss, _ = model.loss({"frames": frames(2, C + K), "actions": torch.randn(2, K, 14)})
    assert loss.ndim == 0 and torch.isfinite(loss)
    context = model.encode(frames(2, C))
    latents = model.predict(context, torch.randn(2, K, 14))
    assert latents.shape == (2, K, 4, *TINY.latent_size)
    decoded = model.decode(latents)
    assert decoded.shape == (2, K, *TINY.image_size, 3) and decoded.dtype == torch.uint8


def test_context_frames_are_noised_at_their_own_small_level():
    model = tiny_model()
    latents, noise = torch.randn(3, C + K, 4, *TINY.latent_size), torch.randn(3, C + K, 4, *TINY.latent_size)
    t = torch.tensor([999, 500, 10])
    noisy = model.noised(latents, noise, t)
    alphas = model.noise.alphas_cumprod
    a = alphas[TINY.context_noise_steps]
    torch.testing.assert_close(noisy[:, :C], a.sqrt() * latents[:, :C] + (1 - a).sqrt() * noise[:, :C])
    for i, step in enumerate(t):
        a = alphas[step]
        torch.testing.assert_close(noisy[i, C:], a.sqrt() * latents[i, C:] + (1 - a).sqrt() * noise[i, C:])
    timesteps, _, has_action = model._inputs(torch.zeros(3, K, 14), TINY.context_noise_steps, t)
    assert (timesteps[:, :C] == TINY.context_noise_steps).all() and torch.equal(timesteps[:, C:], t[:, None].expand(3, K))
    assert not has_action[:, :C].any() and has_action[:, C:].all()  # null action on the context


def test_changing_the_actions_changes_the_prediction():
    model = tiny_model()
    context = model.encode(frames(1, C))
    actions = torch.randn(1, K, 14)
    same = [model.predict(context, actions, generator=torch.Generator().manual_seed(3)) for _ in range(2)]
    torch.testing.assert_close(same[0], same[1])  # seeded sampling is repeatable
    other = actions.clone()
    other[:, 5:] += 2.0  # only the last frames' actions differ
    changed = model.predict(context, other, generator=torch.Generator().manual_seed(3))
    assert not torch.allclose(changed, same[0])
    with pytest.raises(ValueError, match="NaN"):
        model.predict(context, actions * float("nan"))
    with pytest.raises(ValueError, match=r"expected \(B, 8, 14\)"):
        model.predict(context, torch.zeros(1, 4, 14))


def test_sampler_and_steps_are_chosen_at_sampling_time():
    model = tiny_model()
    context, actions = model.encode(frames(1, C)), torch.randn(1, K, 14)
    outputs = [model.predict(context, actions, sampler=sampler, steps=steps, generator=torch.Generator().manual_seed(0))
               for sampler, steps in (("ddim", 2), ("ddim", 5), ("ddpm", 3))]
    assert all(torch.isfinite(o).all() and o.abs().max() < 10 for o in outputs)  # clean-latent estimates clipped
    assert not torch.allclose(outputs[0], outputs[1])
    with pytest.raises(ValueError, match="sampler 'euler'"):
        model.predict(context, actions, sampler="euler")


def test_ema_follows_the_trained_weights():
    model = tiny_model(opinionated=False)
    before = [p.clone() for p in model.ema.parameters()]
    with torch.no_grad():
        for p in model.dit.parameters():
            p.add_(1.0)
    model.after_step()
    moved = [(a - b).abs().max().item() for a, b in zip(model.ema.parameters(), before)]
    assert max(moved) == pytest.approx(1 - TINY.ema_decay, rel=1e-4)


def test_checkpoint_round_trip(tmp_path):
    model = tiny_model()
    model.set_statistics(1.7, torch.ones(14), 2 * torch.ones(14))
    save_checkpoint(tmp_path / "wm", model, {"kind": "wmpo-world-model", "world_model": TINY.to_json()})
    restored = load_world_model(tmp_path / "wm")
    context, actions = model.encode(frames(1, C)), torch.randn(1, K, 14)
    torch.testing.assert_close(restored.encode(frames(1, C)), context)
    torch.testing.assert_close(restored.predict(context, actions, generator=torch.Generator().manual_seed(1)),
                               model.predict(context, actions, generator=torch.Generator().manual_seed(1)))


def test_tiny_world_model_trains_from_the_store_and_imagines(store, tmp_path):
    record_expert_demos(store, "transfer_cube", 2, cameras={"cam_high": TINY.image_size})
    dataset = clip_dataset(store, TINY, EpisodeFilter(), seed=0)
    clip = next(iter(dataset))
    assert clip["frames"].shape == (C + K, *TINY.image_size, 3) and clip["actions"].shape == (K + 1, 14)
    train = TrainConfig(steps=6, warmup_steps=1, log_every=3, checkpoint_every=3)
    train_vae(store, TINY, train, tmp_path / "vae", batch_size=8)
    model = train_world_model(store, TINY, train, tmp_path / "wm", vae_folder=tmp_path / "vae", batch_size=4)
    assert model.latent_scale.item() > 0 and model.action_std.min() > 0
    first = torch.from_numpy(store.load_frames(store.episodes()[0].id, "cam_high", 0, 3))
    imagination = Imagination(load_world_model(tmp_path / "wm"), seed=0)
    assert torch.equal(imagination.reset(first), first)
    for _ in range(2):  # clip-level autoregression
        imagined = imagination.step(torch.from_numpy(np.zeros((3, K, 14), np.float32)))
        assert imagined.shape == (3, K, *TINY.image_size, 3) and imagined.dtype == torch.uint8
    assert imagination.t == 2 * K
    with pytest.raises(ValueError, match="actions for 2 trajectories, imagining 3"):
        imagination.step(torch.zeros(2, K, 14))
    # Policy behaviour alignment: fine-tuning starts from the pretrained weights and statistics.
    pretrained = load_world_model(tmp_path / "wm")
    aligned = train_world_model(store, TINY, TrainConfig(steps=1, warmup_steps=1), tmp_path / "aligned",
                                init_from=tmp_path / "wm", batch_size=2)
    assert torch.equal(aligned.latent_scale, pretrained.latent_scale)
    assert torch.equal(aligned.vae.decoder.conv_out.weight, pretrained.vae.decoder.conv_out.weight)  # VAE frozen
    with pytest.raises(CheckpointError, match="another configuration"):
        train_world_model(store, profile("tiny", depth=2), train, tmp_path / "aligned")
    # Fidelity replays: successes up to half of them, so that agreement can speak of successes.
    from app.world_models import balanced

    first, second = (e.id for e in store.episodes())
    store.set_label(first, False, "operator")
    assert balanced(store, [first, second], 2) == [first, second]
    assert balanced(store, [first, second], 1) == [first]  # one slot: no room for half of it
    assert balanced(store, [second, first], 2) == [first, second]


def test_salience_singles_out_what_differs_between_frames_and_weights_its_reconstruction():
    from dataclasses import replace

    from learning.world_model.vae import VAELearner, make_vae, salience

    pixels = torch.full((8, 3, 8, 8), -0.5)
    pixels[3, 0, 2, 5] = 1.0  # one red pixel in one frame: the "object"
    weights = salience(pixels)
    assert weights.shape == (8, 1, 8, 8) and torch.isclose(weights.mean(), torch.tensor(1.0))
    assert weights[3, 0, 2, 5] == weights.max() and weights[0].max() == 0
    # The weighted loss: the same reconstruction error costs more on the object than elsewhere.
    weighted = replace(TINY, vae=replace(TINY.vae, salience_weight=10.0))
    torch.manual_seed(0)
    learner = VAELearner(weighted, make_vae(weighted))
    batch = {"frames": torch.randint(0, 256, (4, *TINY.image_size, 3), dtype=torch.uint8)}
    loss, metrics = learner.loss(batch)
    assert torch.isfinite(loss) and metrics["psnr_db"] > 0
    loss.backward()
    assert all(p.grad is not None for p in learner.vae.decoder.parameters() if p.requires_grad)


def test_fidelity_counts_the_real_successes_recognised_in_imagination():
    from learning.world_model.fidelity import Replay, fidelity_report

    model = tiny_model()
    model.set_statistics(1.0, torch.zeros(14), torch.ones(14))
    replays = [Replay(real=frames(1, 2 * K + 1, seed=s)[0].numpy(), actions=np.zeros((2 * K + 1, 14), np.float32),
                      success=s < 2) for s in range(4)]
    for judge, recognised in ((lambda imagined: True, 2), (lambda imagined: False, 0)):
        report, imagined = fidelity_report(Imagination(model, seed=0), replays, judge=judge)
        assert (report.successes_replayed, report.successes_recognised) == (2, recognised)
        assert report.outcome_agreement == 0.5 and len(imagined) == 4
        assert f"in imagination {recognised}/2" in report.summary()
