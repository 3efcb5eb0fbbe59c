"""Configuration from the command line: `cycle --set SECTION.FIELD=VALUE` over every learner the
cycle trains, checked before any work, kept with the iteration; `config show` prints every knob."""

import re

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


def write(folder, text: str):
    path = folder / "knobs.toml"
    path.write_text(text)
    return path


def test_a_config_file_applies_over_the_profile_and_set_wins(tmp_path, capsys):
    knobs = write(tmp_path, "[cycle]\nalign_steps = 7\n[grpo]\ntemperature = 0.5\nlr = 1\ngroup_size = 4\n"
                            "[world_model.diffusion]\nsampling_steps = 3\n[world_model]\npose_maps = true\n"
                            "[policy]\nwidth = 8\n")
    assert main(["config", "show", "--profile", "cpu", "--config", str(knobs), "--set", "grpo.temperature=0.9"]) == 0
    lines = capsys.readouterr().out.splitlines()
    for line in ("cycle.align_steps = 7", "grpo.temperature = 0.9", "grpo.lr = 1.0", "grpo.group_size = 4",
                 "world_model.diffusion.sampling_steps = 3", "world_model.pose_maps = true", "policy.width = 8",
                 "cycle.budget = 128"):  # the profile's where the file says nothing
        assert line in lines, line


def test_a_world_model_file_has_top_level_fields_and_tables_for_its_sections(tmp_path):
    from learning.configs import file_assignments, with_overrides
    from learning.world_model.config import profile

    knobs = write(tmp_path, "pose_maps = true\n[diffusion]\nsampling_steps = 4\n[denoiser]\nchannels = [8, 16]\n")
    assignments = file_assignments(knobs, profile("tiny"))
    assert assignments == ["pose_maps=true", "diffusion.sampling_steps=4", "denoiser.channels=8,16"]
    config = with_overrides(profile("tiny"), assignments)
    assert (config.pose_maps, config.diffusion.sampling_steps, config.denoiser.channels) == (True, 4, (8, 16))


@pytest.mark.parametrize("text, message", [
    ("[grpo]\ntemprature = 0.5\n", "GRPOConfig has no field 'temprature' (in 'grpo.temprature')"),
    ("[grpo]\ntemperature = \"hot\"\n", "grpo.temperature = 'hot': expected float"),
    ("[grpo]\ngroup_size = 2.5\n", "grpo.group_size = 2.5: expected int"),
    ("temperature = 0.5\n", "'temperature': expected a field of a section, one of [cycle]"),
    ("[grpo]\ntemperature = 0.5\n[grpo\n", "not TOML: .*line 3"),
])
def test_a_bad_config_file_is_refused_in_one_line_naming_file_and_key(tmp_path, capsys, text, message):
    knobs = write(tmp_path, text)
    assert main(["config", "show", "--config", str(knobs)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"config file {knobs}: " in err
    assert re.search(message if "line" in message else re.escape(message), err), err


@pytest.mark.parametrize("command, text", [  # each file in its command's shape: sections, or top-level fields
    (["cycle", "--budget", "1"], "[grpo]\nnope = 1\n"),
    (["train-reward", "--steps", "1"], "nope = 1\n"),
    (["train-world-model", "--steps", "1"], "[diffusion]\nnope = 1\n"),
])
def test_every_command_with_set_takes_a_config_file_checked_before_any_work(tmp_path, capsys, command, text):
    knobs = write(tmp_path, text)
    assert main(["--db", str(tmp_path / "wmpo.db"), *command, "--profile", "tiny", "--config", str(knobs)]) == 2
    err = capsys.readouterr().err
    assert f"config file {knobs}: " in err and "has no field 'nope'" in err and err.count("\n") == 1


def test_a_schedule_keeps_a_config_file_as_the_set_assignments_it_amounts_to(tmp_path, capsys):
    from storage import TrajectoryStore

    db = tmp_path / "wmpo.db"
    knobs = write(tmp_path, "[cycle]\nmax_steps = 12\n[grpo]\ntemperature = 0.5\nlr = 2e-6\n")
    assert main(["--db", str(db), "schedule", "add", "night", "--at", "02:00", "--profile", "tiny",
                 "--config", str(knobs), "--set", "grpo.temperature=0.7"]) == 0
    knobs.unlink()  # read once: the schedule does not depend on the file any more
    with TrajectoryStore(db) as store:
        overrides = store.schedules.get("night").spec.overrides
    assert overrides == ("cycle.max_steps=12", "grpo.temperature=0.5", "grpo.lr=2e-06", "grpo.temperature=0.7")
    config = cycle_config("tiny", list(overrides))
    assert config.max_steps == 12 and learner_configs(config)["grpo"].temperature == 0.7  # --set won
    assert learner_configs(config)["grpo"].lr == 2e-6
