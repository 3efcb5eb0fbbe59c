"""--device: choosing it, refusing a GPU that is not there, and checkpoints that load on any
device (on this CPU-only machine: the CPU side of each rule)."""

import os

import pytest
import torch

from app.cli import main
from app.scheduler_install import cron_line, systemd_unit
from learning.action_bins import ActionBins
from learning.checkpoints import save_checkpoint
from learning.device import autocast, chosen_device, generator, module_device, resolve_device, to_device
from learning.vla.config import profile as policy_profile
from learning.vla.imitation import CHECKPOINT_KIND, load_policy
from learning.vla.policy import VLAPolicy

NO_GPU = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without a GPU")


def test_device_names_resolve_and_bad_ones_say_what_is_expected():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto") == torch.device("cuda" if torch.cuda.is_available() else "cpu")
    for bad in ("gpu", "cuda:x", "tpu:0"):
        with pytest.raises(ValueError, match="expected auto, cpu, cuda or cuda:N"):
            resolve_device(bad)


@NO_GPU
def test_a_gpu_that_is_not_there_is_refused_before_any_work(tmp_path, capsys, monkeypatch):
    with pytest.raises(ValueError, match="sees no CUDA GPU"):
        resolve_device("cuda:0")
    monkeypatch.setenv("WMPO_DEVICE", "auto")
    assert main(["--db", str(tmp_path / "wmpo.db"), "--device", "cuda", "demos", "--n", "1"]) == 2
    assert "sees no CUDA GPU here" in capsys.readouterr().err
    assert not (tmp_path / "wmpo.db").exists()  # refused before the store was created


def test_the_chosen_device_reaches_child_processes_and_the_installed_scheduler(store, tmp_path, monkeypatch):
    monkeypatch.setenv("WMPO_DEVICE", "auto")
    assert "--device" not in systemd_unit(store.path, tmp_path)
    assert main(["--db", str(store.path), "--device", "cpu", "status"]) == 0
    assert os.environ["WMPO_DEVICE"] == "cpu"  # background jobs and scheduled cycles inherit it
    assert chosen_device() == torch.device("cpu")
    exec_start = next(x for x in systemd_unit(store.path, tmp_path).splitlines() if x.startswith("ExecStart="))
    assert exec_start.endswith('--device "cpu" scheduler')
    assert "--device cpu scheduler --once" in cron_line(store.path, tmp_path)


def test_batches_move_their_tensors_and_keep_the_rest():
    batch = {"images": torch.zeros(2, 3), "instructions": ["a", "b"]}
    moved = to_device(batch, torch.device("cpu"))
    assert moved["instructions"] == ["a", "b"] and moved["images"].device.type == "cpu"
    with autocast(torch.device("cpu")):  # bf16 is for CUDA only: the CPU stays in fp32
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.float32
    assert generator(torch.device("cpu"), 3).initial_seed() == 3


def test_a_checkpoint_is_saved_from_cpu_copies_and_loads_onto_the_chosen_device(tmp_path, monkeypatch):
    monkeypatch.setenv("WMPO_DEVICE", "cpu")
    config = policy_profile("tiny")
    policy = VLAPolicy(config, ActionBins(low=(-1.0,) * 14, high=(1.0,) * 14))
    save_checkpoint(tmp_path / "p", policy, {"kind": CHECKPOINT_KIND, "policy": config.to_json(),
                                             "bins": policy.bins.to_json()})
    from safetensors import safe_open

    with safe_open(tmp_path / "p" / "model.safetensors", "pt") as saved:  # no device recorded in the file
        assert all(saved.get_tensor(k).device.type == "cpu" for k in saved.keys())
    loaded = load_policy(tmp_path / "p")
    assert module_device(loaded) == chosen_device()
    assert all(torch.equal(a, b) for a, b in zip(policy.state_dict().values(), loaded.state_dict().values()))
    # inputs from the store or the robot (CPU tensors) are moved by the policy itself
    images = torch.zeros(1, *config.image_size, 3, dtype=torch.uint8)
    bins, log_prob = loaded.sample(images, ["go"], torch.tensor([0]), generator=generator(module_device(loaded), 0))
    assert bins.shape == (1, config.chunk_size, config.action_dim) and log_prob.dtype == torch.float32
