"""Configuration from the command line: `cycle --set SECTION.FIELD=VALUE` over every learner the
cycle trains, checked before any work, kept with the iteration; `config show` prints every knob."""

import pytest

from app.cli import main
from app.cycle_config import CycleConfig, cycle_config, learner_configs


def test_set_reaches_the_cycle_and_its_learners_and_survives_a_resume():
    config = cycle_config("cpu", ["cycle.align_steps=500", "grpo.temperature=0.7", "grpo.lr=3e-6",
                                  "world_model.diffusion.sampling_steps=2", "reward_model.layers=2"], budget=64)
    assert (config.align_steps, config.budget) == (500, 64)
    learners = learner_configs(config)
    assert (learners["grpo"].temperature, learners["grpo"].lr) == (0.7, 3e-6)
    assert learners["world_model"].diffusion.sampling_steps == 2 and learners["reward_model"].layers == 2
    resumed = CycleConfig.from_json(config.to_json())  # as the iteration's job keeps it
    assert resumed == config and learner_configs(resumed)["grpo"].temperature == 0.7


@pytest.mark.parametrize("assignment, message", [
    ("grpo.temprature=0.5", "GRPOConfig has no field 'temprature'"),
    ("grpo.lr=fast", "lr"),
    ("policy.width=8", "expected SECTION.FIELD=VALUE with SECTION one of"),
    ("cycle.budgett=3", "CycleConfig has no field 'budgett'"),
])
def test_a_bad_assignment_is_refused_before_any_work(assignment, message):
    with pytest.raises(ValueError, match=message):
        cycle_config("tiny", [assignment])


def test_config_show_prints_every_knob_as_set_would_change_it(capsys):
    assert main(["config", "show", "--profile", "cpu", "--set", "grpo.temperature=0.7", "--set", "policy.width=8"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "grpo.temperature = 0.7" in lines and "policy.width = 8" in lines and "grpo.loss_aggregation = trajectory" in lines
    assert "world_model.diffusion.sampling_steps = 1" in lines and "cycle.budget = 128" in lines
    assert main(["config", "show", "--set", "grpo.temprature=1"]) == 2
    assert "has no field 'temprature'" in capsys.readouterr().err
