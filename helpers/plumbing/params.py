"""Checking parameters: a bad value fails at once, naming the parameter and what is allowed.

Introduced in notebook 00. Each notebook's second cell calls these on its papermill parameters, so
that ``papermill -p sparsity 1.5`` stops with a clear ``ValueError`` before any training starts. The
helpers use the same checks on their own arguments, *before* they change anything, so a bad call
never leaves a model half-modified and never ends in a traceback from deep inside torch.

Every failure is a ``ValueError``. A value of the wrong *type* raises ``ParameterTypeError``, which
is both a ``TypeError`` (what Python raises for a wrong type) and a ``ValueError`` (so one
``except ValueError`` catches every bad parameter).
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

__all__ = [
    "ParameterTypeError",
    "check_int",
    "check_float",
    "check_choice",
    "check_choices",
    "check_fractions",
    "check_bool",
    "check_type",
    "check_module",
    "check_tensor",
    "check_list",
    "check_callable",
    "check_generator",
    "check_path",
    "check_file_name",
]


class ParameterTypeError(TypeError, ValueError):
    """A parameter of the wrong type: a TypeError that ``except ValueError`` also catches."""


def _scalar(value: Any) -> Any:
    """A one-element tensor as its Python number (``torch.tensor(0.5)`` → 0.5); others unchanged."""
    if isinstance(value, torch.Tensor) and value.numel() == 1 and not value.is_complex():
        return value.item()
    return value


def check_int(name: str, value: Any, low: int | None = None, high: int | None = None) -> int:
    """``value`` as an int within [low, high]; otherwise ValueError naming ``name``."""
    value = _scalar(value)
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ParameterTypeError(
            f"parameter {name} must be an integer{_range(low, high)}, got {value!r}"
        )
    _check_bounds(name, int(value), low, high, kind="an integer")
    return int(value)


def check_float(
    name: str,
    value: Any,
    low: float | None = None,
    high: float | None = None,
    *,
    low_open: bool = False,
    high_open: bool = False,
    finite: bool = False,
) -> float:
    """``value`` as a float within [low, high] (ints accepted); otherwise ValueError.

    ``low_open=True`` excludes ``low`` itself (a learning rate must be > 0), ``high_open=True``
    excludes ``high`` (a sparsity below 1); ``finite=True`` rejects ±inf. NaN is always rejected:
    it compares false with every bound. So is an integer too large for a float (10**400).
    """
    value = _scalar(value)
    allowed = _range(low, high, low_open, high_open)
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ParameterTypeError(f"parameter {name} must be a number{allowed}, got {value!r}")
    try:
        number = float(value)
    except OverflowError:  # float(10**400) overflows rather than giving inf
        raise ValueError(
            f"parameter {name} must be a number{allowed} that fits a float, got an integer of "
            f"{value.bit_length()} bits"
        ) from None
    if math.isnan(number):
        raise ValueError(f"parameter {name} must be a number{allowed}, got NaN")
    if finite and math.isinf(number):
        raise ValueError(f"parameter {name} must be a finite number{allowed}, got {value!r}")
    _check_bounds(name, value, low, high, low_open, high_open)
    return number


def check_bool(name: str, value: Any) -> bool:
    """``value`` if it is True or False; otherwise ValueError."""
    if not isinstance(value, bool):
        raise ParameterTypeError(f"parameter {name} must be True or False, got {value!r}")
    return value


def check_choice(name: str, value: Any, choices: Iterable[Any]) -> Any:
    """``value`` if it is one of ``choices``; otherwise ValueError listing them."""
    choices = list(choices)
    try:
        known = value in choices
    except (TypeError, RuntimeError):  # e.g. a tensor, whose == is element-wise
        known = False
    if not known:
        raise ValueError(f"parameter {name} must be one of {choices}, got {value!r}")
    return value


def check_choices(name: str, values: Any, choices: Iterable[Any]) -> list[Any]:
    """A non-empty list of distinct entries of ``choices`` (cells to compare, say); else ValueError."""
    choices = list(choices)
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or len(values) == 0:
        raise ParameterTypeError(
            f"parameter {name} must be a non-empty list of options from {choices}, got {values!r}"
        )
    out = [check_choice(f"{name}[{i}]", v, choices) for i, v in enumerate(values)]
    if len(set(out)) != len(out):
        raise ValueError(f"parameter {name} must list each option once, got {values!r}")
    return out


def check_fractions(name: str, values: Any, increasing: bool = False) -> list[float]:
    """A non-empty list of numbers in [0, 1] (sparsities, say), optionally strictly increasing."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or len(values) == 0:
        raise ValueError(
            f"parameter {name} must be a non-empty list of numbers in [0, 1], got {values!r}"
        )
    out = [check_float(f"{name}[{i}]", v, 0.0, 1.0) for i, v in enumerate(values)]
    if increasing and any(b <= a for a, b in zip(out, out[1:])):
        raise ValueError(f"parameter {name} must be strictly increasing, got {values!r}")
    return out


def check_type(name: str, value: Any, types: type | tuple[type, ...], what: str) -> Any:
    """``value`` if it is an instance of ``types``; otherwise ParameterTypeError saying ``what``."""
    if not isinstance(value, types):
        raise ParameterTypeError(f"parameter {name} must be {what}, got {type(value).__name__}")
    return value


def check_module(name: str, value: Any) -> nn.Module:
    """``value`` if it is a ``torch.nn.Module``; otherwise ParameterTypeError."""
    return check_type(name, value, nn.Module, "a torch.nn.Module")


def check_tensor(
    name: str, value: Any, dim: int | None = None, min_dim: int | None = None
) -> torch.Tensor:
    """``value`` if it is a tensor (with ``dim`` dimensions, or at least ``min_dim``)."""
    check_type(name, value, torch.Tensor, "a torch.Tensor")
    if dim is not None and value.dim() != dim:
        raise ValueError(
            f"parameter {name} must have {dim} dimension(s), got shape {tuple(value.shape)}"
        )
    if min_dim is not None and value.dim() < min_dim:
        raise ValueError(
            f"parameter {name} must have at least {min_dim} dimension(s), "
            f"got shape {tuple(value.shape)}"
        )
    return value


def check_list(name: str, value: Any, what: str = "a list", min_len: int = 0) -> list[Any]:
    """``value`` as a list if it is a list, tuple or other sequence (not a string, not a tensor).

    A string would otherwise be taken apart letter by letter and an int would fail deep inside a
    loop; both raise ``ParameterTypeError`` here. ``min_len=1`` also rejects an empty sequence.
    """
    if isinstance(value, (str, bytes, torch.Tensor)) or not isinstance(value, Sequence):
        raise ParameterTypeError(f"parameter {name} must be {what}, got {type(value).__name__}")
    if len(value) < min_len:
        raise ValueError(
            f"parameter {name} must be {what} with at least {min_len} entries, got {value!r}"
        )
    return list(value)


def check_callable(name: str, value: Any, what: str = "a function") -> Any:
    """``value`` if it can be called; otherwise ParameterTypeError saying ``what``."""
    if not callable(value):
        raise ParameterTypeError(f"parameter {name} must be {what}, got {type(value).__name__}")
    return value


def check_generator(name: str, value: Any) -> torch.Generator | None:
    """``value`` if it is a ``torch.Generator`` or None; never draws from it."""
    if value is not None:
        check_type(name, value, torch.Generator, "a torch.Generator or None")
    return value


def check_path(name: str, value: Any) -> Path:
    """``value`` as a ``Path`` if it is a ``str`` or a path object; otherwise ParameterTypeError."""
    check_type(name, value, (str, os.PathLike), "a path (a str or a pathlib.Path)")
    return Path(value)


def check_file_name(name: str, value: Any, what: str = "a file name") -> str:
    """``value`` if it is one file or folder name: no folder part, not '', '.' or '..'.

    A name joined to an output folder (``out / name``) must stay inside it: ``'../x.json'`` or
    ``'a/b'`` would write elsewhere, so they are rejected here, before anything is written.
    """
    check_type(name, value, str, what)
    if value in ("", ".", "..") or Path(value).name != value or "\\" in value:
        raise ValueError(
            f"parameter {name} must be {what} without folders (not '', '.' or '..'), got {value!r}"
        )
    return value


def _range(
    low: float | None, high: float | None, low_open: bool = False, high_open: bool = False
) -> str:
    """' in [low, high]' for messages ('' when unbounded); '(' and ')' mark an excluded end."""
    if low is None and high is None:
        return ""
    lo = "-inf" if low is None else low
    hi = "inf" if high is None else high
    return f" in {'(' if low_open else '['}{lo}, {hi}{')' if high_open else ']'}"


def _check_bounds(
    name: str,
    value: float,
    low: float | None,
    high: float | None,
    low_open: bool = False,
    high_open: bool = False,
    kind: str = "a number",
) -> None:
    below = low is not None and (value <= low if low_open else value < low)
    above = high is not None and (value >= high if high_open else value > high)
    if below or above:
        allowed = _range(low, high, low_open, high_open)
        raise ValueError(f"parameter {name} must be {kind}{allowed}, got {value!r}")
