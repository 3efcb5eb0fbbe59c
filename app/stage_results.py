"""What each stage of a cycle iteration returns, as the job ledger stores it, and the one line
of it the Cycle screen shows.

A stage builds its result here and hands on ``to_json()``: the ledger keeps JSON, a resumed
iteration reads its finished stages back from it, and every reader (the screens, `cycle`'s
summary line, the benchmarks) knows these keys. Stores written before these classes hold the
same keys, some of them missing -- ``from_json`` takes what is there. What other modules write
stays their JSON: a reward model's scores (``Scores.to_json``), an evaluation's summary
(``EvalSummary.to_json`` plus the version's id), GRPO's counters (``GRPOStats.to_json``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field


@dataclass(frozen=True, kw_only=True)
class StageResult(ABC):
    final_loss: float | None = None  # a trainer's last logged loss (added by run_iteration)

    @classmethod
    @abstractmethod
    def from_json(cls, stored: dict) -> "StageResult":
        """The result from what the ledger stored, whichever keys an older store lacks."""

    @abstractmethod
    def fields_json(self) -> dict:
        """The stage's own keys, as the ledger stores them."""

    @abstractmethod
    def numbers(self) -> str:
        """The line the Cycle screen shows, without the final loss."""

    def to_json(self) -> dict:
        stored = self.fields_json()
        return stored if self.final_loss is None else {**stored, "final_loss": self.final_loss}

    def summary(self) -> str:
        """One line of the numbers that matter."""
        line = self.numbers()
        return line if self.final_loss is None else f"{line}; final loss {self.final_loss:.4f}"


def _present(values: dict) -> dict:
    """The keys whose value is there: an optional one is left out, as the stages always did."""
    return {key: value for key, value in values.items() if value is not None}


@dataclass(frozen=True)
class CollectResult(StageResult):
    policy_version_id: int | None  # the deployed version that collected
    episodes: int
    successes: int

    @classmethod
    def from_json(cls, stored: dict) -> "CollectResult":
        return cls(stored.get("policy_version_id"), stored.get("episodes", 0), stored.get("successes", 0),
                   final_loss=stored.get("final_loss"))

    def fields_json(self) -> dict:
        return {"policy_version_id": self.policy_version_id, "episodes": self.episodes, "successes": self.successes}

    def numbers(self) -> str:
        return f"{self.successes}/{self.episodes} sampled rollouts succeeded"


@dataclass(frozen=True)
class AlignResult(StageResult):
    world_model: str  # the aligned world model's name
    base: str  # the world model it started from (stored as "from")

    @classmethod
    def from_json(cls, stored: dict) -> "AlignResult":
        return cls(stored.get("world_model", ""), stored.get("from", ""), final_loss=stored.get("final_loss"))

    def fields_json(self) -> dict:
        return {"world_model": self.world_model, "from": self.base}

    def numbers(self) -> str:
        return f"{self.world_model} from {self.base}"


REWARD_SPLITS = ("validation", "held_out", "evaluation")


@dataclass(frozen=True)
class RewardResult(StageResult):
    reward_model: str
    validation: dict | None = None  # Scores.to_json() of each split; None: no episodes in it
    held_out: dict | None = None
    evaluation: dict | None = None

    @classmethod
    def from_json(cls, stored: dict) -> "RewardResult":
        return cls(stored.get("reward_model", ""), *(stored.get(split) for split in REWARD_SPLITS),
                   final_loss=stored.get("final_loss"))

    def fields_json(self) -> dict:
        return {"reward_model": self.reward_model, **{split: getattr(self, split) for split in REWARD_SPLITS}}

    def f1(self) -> dict[str, float]:
        """F1 per split that has scores."""
        return {split: getattr(self, split)["f1"] for split in REWARD_SPLITS if getattr(self, split)}

    def numbers(self) -> str:
        return "F1 " + ", ".join(f"{split} {value:.3f}" for split, value in self.f1().items())


@dataclass(frozen=True)
class FidelityResult(StageResult):
    psnr_db_last: float | None = None
    ssim_last: float | None = None
    outcome_agreement: float | None = None  # None: no reward model judged
    episodes: int | None = None
    successes_replayed: int | None = None  # None: measured before it was recorded
    successes_recognised: int | None = None
    skipped: str | None = None  # why there is no report (no held-out episodes)

    @classmethod
    def from_json(cls, stored: dict) -> "FidelityResult":
        keys = ("psnr_db_last", "ssim_last", "outcome_agreement", "episodes", "successes_replayed",
                "successes_recognised", "skipped")
        return cls(**{key: stored.get(key) for key in keys}, final_loss=stored.get("final_loss"))

    def fields_json(self) -> dict:
        if self.skipped is not None:
            return {"skipped": self.skipped}
        return {"psnr_db_last": self.psnr_db_last, "ssim_last": self.ssim_last,
                "outcome_agreement": self.outcome_agreement, "episodes": self.episodes,
                **_present({"successes_replayed": self.successes_replayed,
                            "successes_recognised": self.successes_recognised})}

    def recognised(self) -> str | None:
        """"k/n": real successes judged successful when replayed in imagination."""
        return None if self.successes_replayed is None else f"{self.successes_recognised}/{self.successes_replayed}"

    def numbers(self) -> str:
        if self.skipped is not None:
            return f"skipped: {self.skipped}"
        agreement = "-" if self.outcome_agreement is None else f"{100 * self.outcome_agreement:.0f}%"
        recognised = f"; real successes recognised in imagination {self.recognised()}" if self.recognised() else ""
        return (f"PSNR {self.psnr_db_last:.1f} dB, SSIM {self.ssim_last:.2f} at the end; outcome agreement "
                f"{agreement}{recognised}")


@dataclass(frozen=True)
class GrpoResult(StageResult):
    updated: bool
    policy_version_id: int | None = None  # the new version, when updated
    reason: str | None = None  # why not, when not
    stats: dict = field(default_factory=dict)  # GRPOStats.to_json(), stored beside the keys above

    @classmethod
    def from_json(cls, stored: dict) -> "GrpoResult":
        own = ("updated", "policy_version_id", "reason", "final_loss")
        return cls(bool(stored.get("updated")), stored.get("policy_version_id"), stored.get("reason"),
                   {k: v for k, v in stored.items() if k not in own}, final_loss=stored.get("final_loss"))

    def fields_json(self) -> dict:
        own = _present({"reason": self.reason, "policy_version_id": self.policy_version_id})
        return {"updated": self.updated, **own, **self.stats}

    @property
    def success_rate(self) -> float | None:  # in imagination
        return self.stats.get("success_rate")

    @property
    def kept_fraction(self) -> float | None:  # groups with both outcomes, of those sampled
        return self.stats.get("kept_fraction")

    def numbers(self) -> str:
        if not self.updated:
            return f"no update: {self.reason or ''}"
        return (f"{self.stats['updates']} updates, imagined success {100 * self.success_rate:.0f}%, "
                f"groups kept {100 * self.kept_fraction:.0f}%")


@dataclass(frozen=True)
class EvaluateResult(StageResult):
    deployed: dict | None = None  # EvalSummary.to_json() | {"policy_version_id": ...}
    candidate: dict | None = None
    skipped: str | None = None  # why nothing was evaluated

    @classmethod
    def from_json(cls, stored: dict) -> "EvaluateResult":
        return cls(stored.get("deployed"), stored.get("candidate"), stored.get("skipped"),
                   final_loss=stored.get("final_loss"))

    def fields_json(self) -> dict:
        if self.skipped is not None:
            return {"skipped": self.skipped}
        return {"deployed": self.deployed, "candidate": self.candidate}

    def roles(self) -> list[tuple[str, dict]]:
        """(role, evaluation) of the policies evaluated: the deployed one, then the candidate."""
        return [(role, e) for role, e in (("deployed", self.deployed), ("candidate", self.candidate)) if e]

    def numbers(self) -> str:
        if self.skipped is not None:
            return self.skipped
        return ", ".join(f"{role} {100 * e['rate']:.1f}%" for role, e in self.roles())


@dataclass(frozen=True)
class DeployResult(StageResult):
    deployed: bool
    note: str | None = None  # what the gate compared, when it deployed
    reason: str | None = None  # why not, when not

    @classmethod
    def from_json(cls, stored: dict) -> "DeployResult":
        return cls(bool(stored.get("deployed")), stored.get("note"), stored.get("reason"),
                   final_loss=stored.get("final_loss"))

    def fields_json(self) -> dict:
        return {"deployed": self.deployed, **_present({"note": self.note, "reason": self.reason})}

    def numbers(self) -> str:
        return ("deployed: " if self.deployed else "kept the deployed policy: ") + (self.note or self.reason or "")


STAGE_RESULTS: dict[str, type[StageResult]] = {
    "collect": CollectResult, "align": AlignResult, "reward": RewardResult, "fidelity": FidelityResult,
    "grpo": GrpoResult, "evaluate": EvaluateResult, "deploy": DeployResult}


def stage_result(stage: str, stored: dict | None) -> StageResult:
    """A stored result of ``stage`` (None or {}: a stage not finished) as its class."""
    return STAGE_RESULTS[stage].from_json(stored or {})
