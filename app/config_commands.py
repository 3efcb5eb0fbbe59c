"""`wmpo-app config show`: every knob of a profile, as the `--set` assignments that change it.

    wmpo-app config show --profile cpu
    wmpo-app config show --profile cpu --set grpo.temperature=0.5 --set cycle.align_steps=500

Each line is ``section.field = value`` (nested sections dotted: ``world_model.diffusion.
sampling_steps``), so what it prints can be pasted after ``wmpo-app cycle --set``. The sections
are the cycle's own settings, the world model, the reward model and GRPO (which the cycle
trains with), and the policy's imitation config (``train-policy --profile``).
"""

from __future__ import annotations

import dataclasses

from app.cycle_config import PROFILES as CYCLE_PROFILES
from app.cycle_config import cycle_config, learner_configs

COMMANDS = {"config"}


def add_commands(commands) -> None:
    config = commands.add_parser("config", help="every knob of a profile (config show)")
    actions = config.add_subparsers(dest="action", required=True)
    show = actions.add_parser("show", help="print every field of every section, as --set would change it")
    show.add_argument("--profile", choices=sorted(CYCLE_PROFILES), default="cpu")
    show.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.FIELD=VALUE")


def flat(prefix: str, config) -> list[tuple[str, object]]:
    rows = []
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        if dataclasses.is_dataclass(value):
            rows += flat(f"{prefix}.{field.name}", value)
        else:
            rows.append((f"{prefix}.{field.name}", value))
    return rows


def text(value) -> str:
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value)
    return str(value).lower() if isinstance(value, bool) or value is None else str(value)


def show(profile: str, overrides: list[str]) -> str:
    from learning.configs import with_overrides
    from learning.vla.config import profile as policy_profile

    policy_sets = [o.split(".", 1)[1] for o in overrides if o.startswith("policy.")]
    cycle = cycle_config(profile, [o for o in overrides if not o.startswith("policy.")])
    sections = {"cycle": cycle, **learner_configs(cycle),
                "policy": with_overrides(policy_profile(profile), policy_sets)}
    lines = []
    for name, config in sections.items():
        lines += [f"{key} = {text(value)}" for key, value in flat(name, config)
                  if key != "cycle.overrides"]  # shown where they apply, in their sections
    return "\n".join(lines)


def run(args) -> int:
    print(show(args.profile, args.overrides))
    return 0
