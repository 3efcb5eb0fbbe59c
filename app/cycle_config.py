"""The lifelong cycle's settings and their profiles (tiny for tests, cpu overnight, gpu)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from learning.profiles import pick_profile

JOB_KIND = "cycle-iteration"  # the store job of one iteration
STAGES = ("collect", "align", "reward", "fidelity", "grpo", "evaluate", "deploy")


@dataclass(frozen=True)
class CycleConfig:
    task: str = "transfer_cube"
    budget: int = 128  # P: real rollouts collected per iteration
    profile: str = "cpu"  # world-model, reward-model and GRPO profiles
    world_model: str = "world-model"  # the pretrained world model the first alignment starts from
    world_model_steps: int = 20_000  # pretraining, only if that world model does not exist yet
    align_steps: int = 1000
    world_model_batch: int = 16
    reward_steps: int = 1500
    reward_batch: int = 32
    fidelity_episodes: int = 8  # held-out rollouts replayed in the world model
    grpo_updates: int | None = None  # None: the GRPO profile's
    eval_episodes: int = 128
    collect_temperature: float = 1.0
    deploy_margin: float = 0.0  # deploy if new success >= deployed success - margin

    def __post_init__(self):
        if self.budget < 1 or self.eval_episodes < 1:
            raise ValueError(f"budget {self.budget} and eval_episodes {self.eval_episodes}: expected >= 1")
        if not 0.0 <= self.deploy_margin < 1.0:
            raise ValueError(f"deploy_margin {self.deploy_margin}: expected a success-rate difference in [0, 1)")

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "CycleConfig":
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


PROFILES = {
    "tiny": CycleConfig(budget=4, profile="tiny", world_model_steps=4, align_steps=2,
                        world_model_batch=2, reward_steps=4, reward_batch=4, fidelity_episodes=1, eval_episodes=4),
    "cpu": CycleConfig(),
    "gpu": CycleConfig(profile="gpu", world_model_steps=100_000, align_steps=20_000,
                       world_model_batch=32, reward_steps=5000, reward_batch=64),
}


def profile(name: str, **overrides) -> CycleConfig:
    return pick_profile(PROFILES, name, **overrides)
