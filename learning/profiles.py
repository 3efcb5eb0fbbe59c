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


# The cpu profile's camera for the policy, the world model and the reward model, which must read
# the same picture: the task region of the top camera (robot/camera_views.py), where the cube
# covers ~4x the pixels of cam_high. The world model keeps the cube only there (97% of imagined
# frames to step 128 on store 3, against 0-59% on cam_high); the joint policy on it reaches 34.4%
# on transfer cube at 100 demos (README: issues 17 and 20).
CPU_CAMERA = "cam_high_task"
