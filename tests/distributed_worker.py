"""One rank of the multi-process training test (run by torchrun from test_distributed.py).

Trains the tiny world model and the tiny policy with the library's own training functions,
exactly as a single process would, then writes this rank's final weights for the test to
compare across ranks.
"""

import sys
from pathlib import Path

from safetensors.torch import save_file

from learning.distributed import init_from_env
from learning.trainer import TrainConfig
from learning.vla.config import profile as policy_profile
from learning.vla.imitation import train_policy
from learning.world_model.config import profile as world_model_profile
from learning.world_model.training import train_world_model
from storage import TrajectoryStore


def main(store_path: str, out: str) -> None:
    rank, world = init_from_env()
    assert world == 2, f"expected 2 processes, got {world}"
    out = Path(out)
    train = TrainConfig(steps=3, warmup_steps=1, log_every=1, checkpoint_every=2)
    with TrajectoryStore(store_path) as store:
        world_model = train_world_model(store, world_model_profile("tiny"), train, out / "world-model", batch_size=2)
        policy = train_policy(store, policy_profile("tiny"), train, out / "policy", task=None, batch_size=4)
    for name, module in (("world-model", world_model), ("policy", policy)):
        state = {k: v.detach().contiguous() for k, v in module.state_dict().items()}
        save_file(state, out / f"{name}-rank{rank}.safetensors")


if __name__ == "__main__":
    main(*sys.argv[1:])
