"""Stage results: stored JSON (today's and older stores') round-trips through the classes, and each
summary is the line the Cycle screen has always shown for it."""

import json

import pytest

from app.stage_results import EvaluateResult, GrpoResult, stage_result
from app.tui.cycle import stage_summary

# (stage, stored result, the Cycle screen's line for it before the classes existed)
STORED = [
    ("collect", {"policy_version_id": 1, "episodes": 4, "successes": 1}, "1/4 sampled rollouts succeeded"),
    ("align", {"world_model": "wm-transfer_cube-1", "from": "world-model", "final_loss": 0.0123},
     "wm-transfer_cube-1 from world-model; final loss 0.0123"),
    ("reward", {"reward_model": "reward-transfer_cube-1", "validation": {"f1": 1.0, "threshold": 0.4},
                "held_out": {"f1": 0.909}, "evaluation": None, "final_loss": 0.0301},
     "F1 validation 1.000, held_out 0.909; final loss 0.0301"),
    ("fidelity", {"psnr_db_last": 19.5, "ssim_last": 0.68, "outcome_agreement": 0.25, "episodes": 4},  # older: no
     "PSNR 19.5 dB, SSIM 0.68 at the end; outcome agreement 25%"),                                  # successes_*
    ("fidelity", {"psnr_db_last": 21.25, "ssim_last": 0.7, "outcome_agreement": None, "episodes": 6,
                  "successes_replayed": 3, "successes_recognised": 2},
     "PSNR 21.2 dB, SSIM 0.70 at the end; outcome agreement -; real successes recognised in imagination 2/3"),
    ("grpo", {"updated": False, "reason": "no group had both outcomes", "updates": 0, "groups_sampled": 4,
              "groups_kept": 0, "successes": 0, "trajectories": 16, "kept_fraction": 0.0, "success_rate": 0.0,
              "final_loss": 0.5},
     "no update: no group had both outcomes; final loss 0.5000"),
    ("grpo", {"updated": True, "policy_version_id": 5, "updates": 3, "groups_sampled": 6, "groups_kept": 3,
              "successes": 7, "trajectories": 24, "history": [{"loss": 0.1}], "kept_fraction": 0.5,
              "success_rate": 0.29},
     "3 updates, imagined success 29%, groups kept 50%"),
    ("evaluate", {"skipped": "no new policy"}, "no new policy"),
    ("evaluate", {"deployed": {"rate": 0.25, "interval95": [0.046, 0.7], "policy_version_id": 1},
                  "candidate": {"rate": 0.5, "interval95": [0.15, 0.85], "policy_version_id": 2}},
     "deployed 25.0%, candidate 50.0%"),
    ("deploy", {"deployed": True, "note": "evaluation 50.0% vs deployed 25.0% (margin 0.0)"},
     "deployed: evaluation 50.0% vs deployed 25.0% (margin 0.0)"),
    ("deploy", {"deployed": False, "reason": "evaluation 10.0% is below the deployed 20.0%"},
     "kept the deployed policy: evaluation 10.0% is below the deployed 20.0%"),
]


@pytest.mark.parametrize("stage, stored, line", STORED)
def test_stored_results_round_trip_and_keep_their_summary(stage, stored, line):
    result = stage_result(stage, stored)
    assert json.dumps(result.to_json()) == json.dumps(stored)  # same keys, same order
    assert result.summary() == stage_summary(stage, stored) == line


def test_missing_keys_and_unfinished_stages_still_load():
    assert stage_summary("collect", None) == stage_summary("nothing", {"a": 1}) == ""
    grpo = stage_result("grpo", {})
    assert isinstance(grpo, GrpoResult) and not grpo.updated and grpo.success_rate is None
    assert EvaluateResult.from_json({}).roles() == []
    assert stage_summary("fidelity", {"skipped": "no held-out episodes"}) == "skipped: no held-out episodes"
