"""Training under torchrun with 2 CPU processes (gloo): weights stay identical across ranks."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file

from app.demos import record_expert_demos
from learning.checkpoints import existing_checkpoint
from learning.world_model.training import load_world_model

ROOT = Path(__file__).resolve().parents[1]


def test_two_gloo_processes_train_the_same_weights(store, tmp_path):
    record_expert_demos(store, "transfer_cube", 2, cameras={"cam_high": (32, 48)})
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               str(ROOT / "tests" / "distributed_worker.py"), str(store.path), str(tmp_path)]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True)
    try:
        _, stderr = process.communicate(timeout=300)
    finally:  # a hung rank must not outlive the test
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode == 0, stderr[-3000:]
    for name in ("world-model", "policy"):
        rank0 = load_file(tmp_path / f"{name}-rank0.safetensors")
        rank1 = load_file(tmp_path / f"{name}-rank1.safetensors")
        assert rank0.keys() == rank1.keys()
        for key in rank0:
            assert torch.equal(rank0[key], rank1[key]), f"{name}: {key} differs between ranks"
        assert existing_checkpoint(tmp_path / name) is not None  # rank 0 wrote the checkpoint
    saved = load_world_model(tmp_path / "world-model")
    trained = load_file(tmp_path / "world-model-rank0.safetensors")
    assert all(torch.equal(v, trained[k]) for k, v in saved.state_dict().items())
