"""Checkpoints: a model's weights (masks included) saved atomically and loaded safely.

A checkpoint is a plain dictionary of tensors and simple values written with ``torch.save``. It is
loaded with ``torch.load(..., weights_only=True)``, which refuses anything but tensors and plain
containers: a file that would run code when unpickled is rejected, never executed. A notebook that
needs a pretrained model loads the small checkpoint its own script trained, from ``data/``.

Loading checks names and shapes *before* anything is copied, so a checkpoint of another model leaves
the target untouched and says what differs. Masked layers keep their masks as buffers
(``<name>_mask``): loading a checkpoint of a pruned model restores its sparsity too.
"""

from __future__ import annotations

import copy
import io
import pickle
from pathlib import Path
from typing import Any

import torch
from torch import nn

from helpers.plumbing.params import ParameterTypeError, check_module, check_path, check_type
from helpers.plumbing.results import atomic_write_bytes

__all__ = ["save_checkpoint", "load_checkpoint"]

FORMAT = "sparsity-notebooks-checkpoint/1"


def save_checkpoint(model: nn.Module, path: str | Path, meta: dict[str, Any] | None = None) -> Path:
    """Write ``model``'s state dict (weights, biases, buffers, masks) and ``meta`` to ``path``.

    ``meta`` holds plain values (numbers, strings, lists, dicts) that describe the run, e.g. the
    seed and accuracy. Written atomically: an interrupted save leaves the old file or none.
    """
    check_module("model", model)
    path = check_path("path", path)
    meta = check_type("meta", {} if meta is None else meta, dict, "a dict of plain values")
    _check_plain("meta", meta)  # what load_checkpoint's weights_only=True will load back
    state = {name: tensor.detach().cpu() for name, tensor in model.state_dict().items()}
    buffer = io.BytesIO()
    torch.save({"format": FORMAT, "state_dict": state, "meta": meta}, buffer)
    return atomic_write_bytes(path, buffer.getvalue())


def load_checkpoint(model: nn.Module, path: str | Path) -> dict[str, Any]:
    """Load the checkpoint at ``path`` into ``model`` (in place, on the model's device); return its meta.

    Raises FileNotFoundError when there is no file, and ValueError, changing nothing, when the file
    is not a plain-tensor checkpoint of this project or does not fit ``model`` (names or shapes).
    """
    check_module("model", model)
    path = check_path("path", path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        # weights_only=True: tensors and plain containers only; pickled code is refused, not run.
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError) as err:
        raise ValueError(
            f"path {path} is not a checkpoint that loads safely (weights_only=True): {err}"
        ) from err
    written = isinstance(saved, dict) and saved.get("format") == FORMAT
    if not written or not isinstance(saved.get("state_dict"), dict) or "meta" not in saved:
        raise ValueError(
            f"path {path} is not a checkpoint written by "
            "helpers.plumbing.checkpoints.save_checkpoint (format, state_dict and meta)"
        )
    _check_fits(model, saved["state_dict"], path)
    model.load_state_dict(saved["state_dict"])
    return saved["meta"]


def _check_fits(model: nn.Module, state: dict[str, torch.Tensor], path: Path) -> None:
    """Raise ValueError naming what differs unless ``model.load_state_dict(state)`` would succeed.

    The test is the load itself, into a copy: some layers create tensors on load (a soft-masked
    layer its mask logits), so the model's current names alone would refuse a checkpoint it accepts.
    """
    try:
        copy.deepcopy(model).load_state_dict(state)
    except RuntimeError as err:
        expected = model.state_dict()
        missing = sorted(set(expected) - set(state))
        unexpected = sorted(set(state) - set(expected))
        wrong = [
            f"{name} {tuple(getattr(state[name], 'shape', ()))} vs {tuple(tensor.shape)}"
            for name, tensor in expected.items()
            if name in state and getattr(state[name], "shape", None) != tensor.shape
        ]
        shapes = f", other shapes (checkpoint vs model) {wrong}" if wrong else ""
        raise ValueError(
            f"the checkpoint at path {path} does not fit the model ({type(model).__name__}): "
            f"missing {missing}, unexpected {unexpected}{shapes} (a masked model needs a masked "
            "checkpoint: masks.to_masked first)"
        ) from err


def _check_plain(name: str, value: Any) -> None:
    """Raise unless ``value`` is built of None, bools, numbers, strings, lists and str-keyed dicts."""
    if isinstance(value, dict):
        for key, item in value.items():
            check_type(f"{name} key {key!r}", key, str, "a str")
            _check_plain(f"{name}[{key!r}]", item)
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _check_plain(f"{name}[{i}]", item)
    elif not isinstance(value, (type(None), bool, int, float, str)):
        raise ParameterTypeError(
            f"parameter {name} must hold plain values (numbers, strings, lists, dicts), "
            f"got {type(value).__name__}"
        )
