"""Checking papermill parameters: a bad value fails at once, naming the parameter and what is allowed.

Introduced in notebook 00. Each notebook's second cell calls these on its parameters, so that
``papermill -p sparsity 1.5`` stops with a clear ``ValueError`` before any training starts.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

__all__ = ["check_int", "check_float", "check_choice", "check_fractions", "check_bool"]


def check_int(name: str, value: Any, low: int | None = None, high: int | None = None) -> int:
    """``value`` as an int within [low, high]; otherwise ValueError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"parameter {name} must be an integer, got {value!r}")
    _check_bounds(name, value, low, high)
    return value


def check_float(
    name: str, value: Any, low: float | None = None, high: float | None = None
) -> float:
    """``value`` as a float within [low, high] (ints accepted); otherwise ValueError."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"parameter {name} must be a number, got {value!r}")
    if value != value:  # NaN
        raise ValueError(f"parameter {name} must be a number, got NaN")
    _check_bounds(name, value, low, high)
    return float(value)


def check_bool(name: str, value: Any) -> bool:
    """``value`` if it is True or False; otherwise ValueError."""
    if not isinstance(value, bool):
        raise ValueError(f"parameter {name} must be True or False, got {value!r}")
    return value


def check_choice(name: str, value: Any, choices: Iterable[Any]) -> Any:
    """``value`` if it is one of ``choices``; otherwise ValueError listing them."""
    choices = list(choices)
    if value not in choices:
        raise ValueError(f"parameter {name} must be one of {choices}, got {value!r}")
    return value


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


def _check_bounds(name: str, value: float, low: float | None, high: float | None) -> None:
    if low is not None and value < low or high is not None and value > high:
        lo = "-inf" if low is None else low
        hi = "inf" if high is None else high
        raise ValueError(f"parameter {name} must lie in [{lo}, {hi}], got {value!r}")
