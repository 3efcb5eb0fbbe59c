"""Typed dataclass configs to and from JSON (checkpoints and store rows keep them as JSON).

``from_json`` is forgiving about what it does not know -- keys from an older or newer
version are dropped -- and strict about what it does: nested configs are rebuilt as their
dataclass and lists become tuples where the field is a tuple, so that a config read back
compares equal to the one written.

``with_overrides`` changes fields from ``--set`` assignments; ``file_assignments`` turns a
``--config`` TOML file into the same assignments, so one mechanism applies both.
"""

from __future__ import annotations

import dataclasses
import tomllib
import types
import typing
from pathlib import Path
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
        config = _set(config, name.strip().split("."), text.strip(), name, _parse)
    return config


def file_assignments(path: Path, config) -> list[str]:
    """A TOML file's settings as the "name=value" strings ``with_overrides`` takes: its tables
    mirror the config's sections (``[diffusion]`` / ``sampling_steps = 4`` gives
    "diffusion.sampling_steps=4"). ``config`` is the config they apply to, or a dict of section
    name -> config (the cycle's ``[grpo]``, ``[cycle]``, ...). Every value is checked now against
    its field with its TOML type (a string is no number); errors are one line naming the file."""
    try:
        with open(path, "rb") as file:
            data = tomllib.load(file)
    except OSError as exc:
        raise ValueError(f"config file {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:  # its message gives the line and column
        raise ValueError(f"config file {path}: not TOML: {exc}") from None
    assignments = []
    for name, value in _flatten(data):
        try:
            _check(config, name, value)
        except ValueError as exc:
            raise ValueError(f"config file {path}: {exc}") from None
        assignments.append(f"{name}={assignment_text(value)}")
    return assignments


def assignment_text(value) -> str:
    """A field's value as a "name=value" assignment writes it (parsed back to the same value)."""
    if isinstance(value, (tuple, list)):
        return ",".join(assignment_text(v) for v in value)
    return str(value).lower() if isinstance(value, bool) or value is None else str(value)


def _flatten(table: dict, prefix: str = ""):
    for key, value in table.items():
        if isinstance(value, dict):
            yield from _flatten(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def _check(config, name: str, value) -> None:
    path = name.split(".")
    if isinstance(config, dict):  # sections: a name's first part picks one
        if path[0] not in config or len(path) < 2:
            raise ValueError(f"{name!r}: expected a field of a section, one of [{'], ['.join(config)}]")
        config, path = config[path[0]], path[1:]
    _set(config, path, value, name, _typed)


def _set(config, path: list[str], value, full_name: str, parse):
    fields = {f.name: f for f in dataclasses.fields(config)}
    if path[0] not in fields:
        raise ValueError(f"{type(config).__name__} has no field {path[0]!r} (in {full_name!r}); "
                         f"expected one of {sorted(fields)}")
    current = getattr(config, path[0])
    if len(path) > 1:
        if not dataclasses.is_dataclass(current):
            raise ValueError(f"{full_name!r}: {path[0]} is not a section")
        return dataclasses.replace(config, **{path[0]: _set(current, path[1:], value, full_name, parse)})
    hint = typing.get_type_hints(type(config))[path[0]]
    return dataclasses.replace(config, **{path[0]: parse(hint, value, full_name)})


def _typed(hint, value, name: str):
    """A value typed by TOML, as its field's type: an integer stands for a float, an array for a tuple."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return _typed(next(a for a in args if a is not type(None)), value, name)
    if origin is tuple and isinstance(value, list):
        return tuple(_typed(args[0] if args else str, v, name) for v in value)
    if hint is float and type(value) is int:
        return float(value)
    if hint in (bool, int, float, str) and type(value) is hint:
        return value
    expected = f"an array of {args[0].__name__}" if origin is tuple else getattr(hint, "__name__", hint)
    raise ValueError(f"{name} = {value!r}: expected {expected}")


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
