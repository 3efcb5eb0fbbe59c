"""Checkpoints (safetensors + JSON) and the resumable training loop."""

import numpy as np
import pytest
import torch

from learning.checkpoints import CheckpointError, load_optimizer, load_weights, read_config, save_checkpoint
from learning.trainer import TrainConfig, train
from learning.vla.imitation import load_policy


class Line(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(3))

    def loss(self, batch):
        loss = ((batch["x"] @ self.w - batch["y"]) ** 2).mean()
        return loss, {"w0": self.w[0].item()}


def line_batches(start_step):
    generator = torch.Generator().manual_seed(start_step)
    while True:
        x = torch.randn(16, 3, generator=generator)
        yield {"x": x, "y": x @ torch.tensor([1.0, -2.0, 0.5])}


def test_save_load_round_trip_without_pickle(tmp_path):
    model = Line()
    model.w.data = torch.tensor([1.0, 2.0, 3.0])
    optimizer = torch.optim.AdamW(model.parameters())
    model.loss(next(line_batches(0)))[0].backward()
    optimizer.step()
    save_checkpoint(tmp_path / "ckpt", model, {"kind": "line"}, optimizer)
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == [
        "config.json", "model.safetensors", "optimizer.json", "optimizer.safetensors"]
    fresh, fresh_optimizer = Line(), torch.optim.AdamW(Line().parameters())
    load_weights(tmp_path / "ckpt", fresh)
    assert torch.equal(fresh.w, model.w)
    fresh_optimizer = torch.optim.AdamW(fresh.parameters())
    assert load_optimizer(tmp_path / "ckpt", fresh_optimizer)
    assert torch.equal(fresh_optimizer.state_dict()["state"][0]["exp_avg"], optimizer.state_dict()["state"][0]["exp_avg"])
    saved = read_config(tmp_path / "ckpt")
    assert saved["kind"] == "line" and saved.keys() == {"kind", "provenance"}
    assert saved["provenance"]["command"] and {"git_commit", "dirty", "saved_at"} <= saved["provenance"].keys()


def test_interrupted_swap_falls_back_to_previous(tmp_path):
    save_checkpoint(tmp_path / "ckpt", Line(), {"kind": "line", "n": 1})
    (tmp_path / "ckpt").rename(tmp_path / "ckpt.previous")  # as if killed between the two renames
    assert read_config(tmp_path / "ckpt")["n"] == 1
    load_weights(tmp_path / "ckpt", Line())


def test_damaged_or_foreign_checkpoints_are_refused(tmp_path):
    with pytest.raises(CheckpointError, match="no config.json"):
        read_config(tmp_path / "missing")
    save_checkpoint(tmp_path / "ckpt", Line(), {"kind": "line"})
    with pytest.raises(CheckpointError, match="not a policy checkpoint"):
        load_policy(tmp_path / "ckpt")
    (tmp_path / "ckpt" / "model.safetensors").write_bytes(b"\x00garbage")
    with pytest.raises(CheckpointError, match="cannot be read"):
        load_weights(tmp_path / "ckpt", Line())
    (tmp_path / "ckpt" / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        read_config(tmp_path / "ckpt")


def test_training_resumes_where_it_stopped(tmp_path):
    seen = []
    config = TrainConfig(steps=200, lr=0.1, warmup_steps=1, log_every=50, checkpoint_every=100, cosine_decay=False)
    train(Line(), line_batches, TrainConfig(**{**config.__dict__, "steps": 100}), tmp_path / "ckpt", {"kind": "line"},
          progress=lambda p: seen.append(p.step))
    assert read_config(tmp_path / "ckpt")["train_step"] == 100
    model = train(Line(), line_batches, config, tmp_path / "ckpt", {"kind": "line"},
                  progress=lambda p: seen.append(p.step))
    assert seen == [50, 100, 150, 200]  # the second run started at step 100
    np.testing.assert_allclose(model.w.detach(), [1.0, -2.0, 0.5], atol=0.05)


def test_non_finite_loss_stops_training_loudly(tmp_path):
    def poisoned(start):
        yield {"x": torch.ones(4, 3), "y": torch.full((4,), float("nan"))}

    with pytest.raises(FloatingPointError, match="nan at step 0"):
        train(Line(), poisoned, TrainConfig(steps=5), tmp_path / "ckpt", {"kind": "line"})
