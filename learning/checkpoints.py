"""Checkpoints: a folder with ``model.safetensors`` and ``config.json`` (no pickle anywhere).
``config.json`` also records the command, git commit and time that wrote it (``provenance``).

A checkpoint is written to a temporary folder and swapped in with renames, keeping the
previous one as ``<name>.previous`` until the new one is complete: a crash mid-write
leaves the old checkpoint usable. Training state (optimizer moments, step) is saved the
same way, flattened into safetensors, so resuming needs no pickle either.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from learning.errors import CheckpointError
from learning.provenance import provenance

MODEL_FILE, CONFIG_FILE, OPTIMIZER_FILE = "model.safetensors", "config.json", "optimizer.safetensors"


def save_checkpoint(folder: Path, model: torch.nn.Module, config: dict,
                    optimizer: torch.optim.Optimizer | None = None) -> Path:
    folder = Path(folder)
    staging = folder.with_name(folder.name + ".writing")
    previous = folder.with_name(folder.name + ".previous")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    save_file(state, staging / MODEL_FILE)
    (staging / CONFIG_FILE).write_text(json.dumps({**config, "provenance": provenance()}, indent=2, sort_keys=True))
    if optimizer is not None:
        tensors, layout = flatten_optimizer(optimizer)
        save_file(tensors, staging / OPTIMIZER_FILE)
        (staging / "optimizer.json").write_text(json.dumps(layout))
    if folder.exists():
        shutil.rmtree(previous, ignore_errors=True)
        folder.rename(previous)
    staging.rename(folder)
    shutil.rmtree(previous, ignore_errors=True)
    return folder


def existing_checkpoint(folder: Path) -> Path | None:
    """The complete checkpoint at ``folder``, or its ``.previous`` when a crash came between
    the two renames of save_checkpoint; None when there is neither."""
    folder = Path(folder)
    for candidate in (folder, folder.with_name(folder.name + ".previous")):
        if (candidate / CONFIG_FILE).is_file():
            return candidate
    return None


def read_config(folder: Path) -> dict:
    folder = existing_checkpoint(folder) or Path(folder)
    try:
        return json.loads((folder / CONFIG_FILE).read_text())
    except FileNotFoundError:
        raise CheckpointError(f"{folder}: no {CONFIG_FILE}; expected a checkpoint folder") from None
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{folder}/{CONFIG_FILE} is not valid JSON ({exc})") from exc


def read_config_of_kind(folder: Path, kind: str, what: str) -> dict:
    """The checkpoint's config, after checking it was written as ``kind``; ``what`` names the
    kind in the error ("policy", "world-model", ...)."""
    meta = read_config(folder)
    if meta.get("kind") != kind:
        raise CheckpointError(f"{folder} is not a {what} checkpoint (kind {meta.get('kind')!r})")
    return meta


def load_weights(folder: Path, model: torch.nn.Module) -> None:
    folder = existing_checkpoint(folder) or Path(folder)
    try:
        state = load_file(folder / MODEL_FILE)
    except FileNotFoundError:
        raise CheckpointError(f"{folder}: no {MODEL_FILE}") from None
    except Exception as exc:  # safetensors reports damage with several exception types
        raise CheckpointError(f"{folder}/{MODEL_FILE} cannot be read ({exc})") from exc
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise CheckpointError(f"{folder}: weights do not fit the model built from its config "
                              f"(missing {missing[:5]}, unexpected {unexpected[:5]})")
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    wrong = {k: (tuple(v.shape), shapes[k]) for k, v in state.items() if tuple(v.shape) != shapes[k]}
    if wrong:
        raise CheckpointError(f"{folder}: weight shapes differ from the config's model: {list(wrong.items())[:3]}")


def load_optimizer(folder: Path, optimizer: torch.optim.Optimizer) -> bool:
    """Restore optimizer state saved with the checkpoint; False when there is none."""
    folder = existing_checkpoint(folder) or Path(folder)
    if not (folder / OPTIMIZER_FILE).is_file():
        return False
    tensors = load_file(folder / OPTIMIZER_FILE)
    layout = json.loads((folder / "optimizer.json").read_text())
    state = {int(i): {key: tensors[f"{i}.{key}"] for key in keys} for i, keys in layout["state"].items()}
    optimizer.load_state_dict({"state": state, "param_groups": layout["param_groups"]})
    return True


def flatten_optimizer(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    state = optimizer.state_dict()
    tensors, keys = {}, {}
    for index, values in state["state"].items():
        keys[str(index)] = []
        for key, value in values.items():
            tensors[f"{index}.{key}"] = torch.as_tensor(value).detach().contiguous().cpu()
            keys[str(index)].append(key)
    return tensors, {"state": keys, "param_groups": state["param_groups"]}
