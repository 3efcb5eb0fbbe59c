"""The lifelong cycle's settings and their profiles (tiny for tests, cpu overnight, gpu)."""

from __future__ import annotations

from dataclasses import dataclass, replace

from learning.configs import JsonConfig
from learning.profiles import pick_profile

JOB_KIND = "cycle-iteration"  # the store job of one iteration
STAGES = ("collect", "align", "reward", "fidelity", "grpo", "evaluate", "deploy")
# The learners' configs a cycle builds from its profile; ``overrides`` change their fields.
SECTIONS = ("world_model", "reward_model", "grpo")


@dataclass(frozen=True)
class CycleConfig(JsonConfig):
    task: str = "transfer_cube"
    budget: int = 128  # P: real rollouts collected per iteration
    profile: str = "cpu"  # world-model, reward-model and GRPO profiles
    world_model: str = "world-model"  # the pretrained world model the first alignment starts from
    world_model_steps: int = 20_000  # pretraining, only if that world model does not exist yet
    align_steps: int = 1000
    align_demo_share: float = 0.3  # of every alignment batch from the task's expert demos (official code: 0.7/0.3)
    world_model_batch: int = 16
    reward_steps: int = 1500
    reward_batch: int = 32
    fidelity_episodes: int = 8  # held-out rollouts replayed in the world model
    grpo_updates: int | None = None  # None: the GRPO profile's
    eval_episodes: int = 128
    collect_temperature: float = 1.0
    deploy_margin: float = 0.0  # deploy if new success >= deployed success - margin
    # The robot that collects and evaluates: None the MuJoCo sim, else a site file's real robot
    # (kept with the iteration's job, so --resume drives the same robot)
    site: str | None = None
    max_steps: int | None = None  # control steps per collected or evaluated episode; None: the task's duration
    # "section.field=value" over the profile's learner configs (``wmpo-app cycle --set``), e.g.
    # "grpo.temperature=0.5": kept with the iteration's job, so a resumed iteration uses them too
    overrides: tuple[str, ...] = ()

    def __post_init__(self):
        for override in self.overrides:
            section = override.split(".", 1)[0]
            if section not in SECTIONS or "=" not in override:
                raise ValueError(f"override {override!r}: expected SECTION.FIELD=VALUE with SECTION one of {SECTIONS}")
        if self.max_steps is not None and self.max_steps < 1:
            raise ValueError(f"max_steps {self.max_steps}: expected at least 1 control step, or None (the task's)")
        if self.budget < 1 or self.eval_episodes < 1:
            raise ValueError(f"budget {self.budget} and eval_episodes {self.eval_episodes}: expected >= 1")
        if not 0.0 <= self.deploy_margin < 1.0:
            raise ValueError(f"deploy_margin {self.deploy_margin}: expected a success-rate difference in [0, 1)")

    def section_overrides(self, section: str) -> list[str]:
        """This section's overrides as ``with_overrides`` takes them (FIELD=VALUE)."""
        return [o.split(".", 1)[1] for o in self.overrides if o.split(".", 1)[0] == section]


def cycle_config(profile_name: str, assignments: list[str], **fields) -> CycleConfig:
    """A profile's cycle config with ``--set`` assignments: ``cycle.FIELD=VALUE`` sets the cycle's
    own fields, ``SECTION.FIELD=VALUE`` a learner's; every one is checked against its config now,
    not when its stage starts an hour later."""
    from learning.configs import with_overrides

    own = [a.split(".", 1)[1] for a in assignments if a.startswith("cycle.")]
    config = with_overrides(profile(profile_name, **fields), own)
    config = replace(config, overrides=config.overrides + tuple(a for a in assignments if not a.startswith("cycle.")))
    learner_configs(config)  # unknown fields and bad values are refused here
    return config


def cycle_sections(config: CycleConfig) -> dict:
    """The sections a cycle's assignments may name: ``cycle`` (its own fields) and its learners'."""
    return {"cycle": config, **learner_configs(config)}


def learner_configs(config: CycleConfig) -> dict:
    """The world-model, reward-model and GRPO configs a cycle of ``config`` trains with."""
    from learning.configs import with_overrides
    from learning.policy_optimization.config import profile as grpo_profile
    from learning.reward_model.config import profile as reward_profile
    from learning.world_model.config import profile as world_model_profile

    grpo = grpo_profile(config.profile, **({} if config.grpo_updates is None else {"updates": config.grpo_updates}))
    profiles = {"world_model": world_model_profile(config.profile), "reward_model": reward_profile(config.profile),
                "grpo": grpo}
    return {section: with_overrides(profiles[section], config.section_overrides(section)) for section in SECTIONS}


PROFILES = {
    "tiny": CycleConfig(budget=4, profile="tiny", world_model_steps=4, align_steps=2,
                        world_model_batch=2, reward_steps=4, reward_batch=4, fidelity_episodes=1, eval_episodes=4),
    "cpu": CycleConfig(),
    "gpu": CycleConfig(profile="gpu", world_model_steps=100_000, align_steps=20_000,
                       world_model_batch=32, reward_steps=5000, reward_batch=64),
}


def profile(name: str, **overrides) -> CycleConfig:
    return pick_profile(PROFILES, name, **overrides)
