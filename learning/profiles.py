"""Picking a configuration by profile name (tiny / cpu / gpu), with field overrides."""

from __future__ import annotations

from dataclasses import replace
from typing import TypeVar

Config = TypeVar("Config")


def pick_profile(profiles: dict[str, Config], name: str, **overrides) -> Config:
    try:
        base = profiles[name]
    except KeyError:
        raise ValueError(f"unknown profile {name!r}; expected one of {sorted(profiles)}") from None
    return replace(base, **overrides) if overrides else base
