"""Typed dataclass configs to and from JSON (checkpoints and store rows keep them as JSON).

``from_json`` is forgiving about what it does not know -- keys from an older or newer
version are dropped -- and strict about what it does: nested configs are rebuilt as their
dataclass and lists become tuples where the field is a tuple, so that a config read back
compares equal to the one written.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import TypeVar

T = TypeVar("T", bound="JsonConfig")


class JsonConfig:
    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls: type[T], data: dict) -> T:
        hints = typing.get_type_hints(cls)
        values = {}
        for f in dataclasses.fields(cls):
            if f.name in data:
                values[f.name] = _value(hints[f.name], data[f.name])
        return cls(**values)


def _value(hint, value):
    if isinstance(hint, type) and issubclass(hint, JsonConfig) and isinstance(value, dict):
        return hint.from_json(value)
    origin = typing.get_origin(hint)
    if origin is tuple and isinstance(value, list):
        return tuple(value)
    if origin in (typing.Union, types.UnionType):
        for option in typing.get_args(hint):
            if option is not type(None) and value is not None:
                return _value(option, value)
    return value


def with_overrides(config: T, assignments: list[str] | tuple[str, ...]) -> T:
    """``config`` with fields set from "name=value" strings ("diffusion.sampling_steps=4",
    "denoiser.channels=32,64,128", "anchor_first_frame=false"), each value parsed as its
    field's type. An unknown name or a value of the wrong type is refused with what was expected."""
    for assignment in assignments:
        name, sep, text = assignment.partition("=")
        if not sep:
            raise ValueError(f"{assignment!r}: expected name=value")
        config = _set(config, name.strip().split("."), text.strip(), name)
    return config


def _set(config, path: list[str], text: str, full_name: str):
    fields = {f.name: f for f in dataclasses.fields(config)}
    if path[0] not in fields:
        raise ValueError(f"{type(config).__name__} has no field {path[0]!r} (in {full_name!r}); "
                         f"expected one of {sorted(fields)}")
    current = getattr(config, path[0])
    if len(path) > 1:
        if not dataclasses.is_dataclass(current):
            raise ValueError(f"{full_name!r}: {path[0]} is not a section")
        return dataclasses.replace(config, **{path[0]: _set(current, path[1:], text, full_name)})
    hint = typing.get_type_hints(type(config))[path[0]]
    return dataclasses.replace(config, **{path[0]: _parse(hint, text, full_name)})


def _parse(hint, text: str, name: str):
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if text.lower() in ("none", "null", ""):
            return None
        return _parse(next(a for a in args if a is not type(None)), text, name)
    try:
        if hint is bool:
            if text.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError
            return text.lower() in ("true", "1", "yes")
        if origin is tuple:
            element = args[0] if args else str
            return tuple(_parse(element, part.strip(), name) for part in text.split(",") if part.strip())
        if hint in (int, float, str):
            return hint(text)
    except ValueError:
        raise ValueError(f"{name}={text!r}: expected {getattr(hint, '__name__', hint)}") from None
    raise ValueError(f"{name}: fields of type {hint} cannot be set from the command line")
