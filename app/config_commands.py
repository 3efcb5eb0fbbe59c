"""`wmpo-app config show`: every knob of a profile, as the `--set` assignments that change it.

    wmpo-app config show --profile cpu
    wmpo-app config show --profile cpu --set grpo.temperature=0.5 --set cycle.align_steps=500
    wmpo-app config show --profile cpu --config night.toml   # [grpo] temperature = 0.5 ...

Each line is ``section.field = value`` (nested sections dotted: ``world_model.diffusion.
sampling_steps``), so what it prints can be pasted after ``wmpo-app cycle --set``. The sections
are the cycle's own settings, the world model, the reward model and GRPO (which the cycle
trains with), and the policy's imitation config (``train-policy --profile``).

Every command with ``--set`` also takes ``--config FILE.toml`` (``add_config_option``): the file's
settings apply first, its ``--set``s on top, so the command line wins.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from app.cycle_config import PROFILES as CYCLE_PROFILES
from app.cycle_config import cycle_config, cycle_sections
from app.cycle_config import profile as cycle_profile
from learning.configs import assignment_text, file_assignments, with_overrides

COMMANDS = {"config"}


def add_commands(commands) -> None:
    config = commands.add_parser("config", help="every knob of a profile (config show)")
    actions = config.add_subparsers(dest="action", required=True)
    show = actions.add_parser("show", help="print every field of every section, as --set would change it")
    show.add_argument("--profile", choices=sorted(CYCLE_PROFILES), default="cpu")
    show.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.FIELD=VALUE")
    add_config_option(show, "[grpo]\ntemperature = 0.5")


def add_config_option(parser, example: str) -> None:
    parser.add_argument("--config", type=Path, metavar="FILE.toml",
                        help=f"settings from a TOML file whose tables mirror the sections, e.g. {example!r}; "
                             "applied before --set, so --set wins")


def assignments(args, config) -> list[str]:
    """The command's --config file's assignments (checked against ``config``: the config, or a dict
    of its sections), then its --set ones: applied in this order, the command line wins."""
    return (file_assignments(args.config, config) if args.config else []) + list(args.overrides)


def flat(prefix: str, config) -> list[tuple[str, object]]:
    rows = []
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        if dataclasses.is_dataclass(value):
            rows += flat(f"{prefix}.{field.name}", value)
        else:
            rows.append((f"{prefix}.{field.name}", value))
    return rows


def sections(profile: str, overrides: list[str]) -> dict:
    """Every section a profile's assignments may name: the cycle's, its learners' and the policy's."""
    from learning.vla.config import profile as policy_profile

    policy_sets = [o.split(".", 1)[1] for o in overrides if o.startswith("policy.")]
    cycle = cycle_config(profile, [o for o in overrides if not o.startswith("policy.")])
    return {**cycle_sections(cycle), "policy": with_overrides(policy_profile(profile), policy_sets)}


def show(profile: str, overrides: list[str]) -> str:
    lines = []
    for name, config in sections(profile, overrides).items():
        lines += [f"{key} = {assignment_text(value)}" for key, value in flat(name, config)
                  if key != "cycle.overrides"]  # shown where they apply, in their sections
    return "\n".join(lines)


def run(args) -> int:
    print(show(args.profile, assignments(args, sections(args.profile, []))))
    return 0
