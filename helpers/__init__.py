"""Sparsity Notebooks helpers: the machinery every notebook shares, in three bands.

Each band imports only the bands below it; ``make test`` checks this with import-linter (the
contracts are in ``pyproject.toml``). Read a band's ``__init__`` for the table of its modules.

| band | folder | holds |
| --- | --- | --- |
| papers (top) | ``helpers/papers/`` | one module or subpackage per notebook, named after it; nothing imports them |
| core | ``helpers/core/`` | what two or more notebooks share: masked layers, masks, pruning, training, metrics, models, data, activation recording, distillation, penalties |
| plumbing (bottom) | ``helpers/plumbing/`` | a notebook's start and save, parameter checks, results and checkpoints, runtime (device, seeds, threads, progress), plots and widgets |

The core and plumbing modules can also be imported from here by their short names, as every notebook
does: ``from helpers import masks, prune, train`` is ``helpers.core.masks`` and so on. A paper module is
imported by its full name, so a notebook says which paper it builds on:
``from helpers.papers import continuous_sparsification as cs``.
"""

from __future__ import annotations

import importlib
from types import ModuleType

__version__ = "0.1.0"

#: The modules that ``from helpers import <name>`` finds, and the band each one lives in.
SHORT_NAMES: dict[str, str] = {
    **dict.fromkeys(
        ("checkpoints", "notebook", "params", "plots", "results", "runtime", "verdicts", "widgets"),
        "plumbing",
    ),
    **dict.fromkeys(
        (
            "activations",
            "data",
            "distill",
            "masked",
            "masks",
            "metrics",
            "models",
            "prune",
            "regularize",
            "train",
        ),
        "core",
    ),
}


def __getattr__(name: str) -> ModuleType:
    """Import ``helpers.<band>.<name>`` on first use of ``helpers.<name>`` (PEP 562).

    Lazy, so that importing one plumbing module does not import the whole core with it.
    """
    band = SHORT_NAMES.get(name)
    if band is None:
        raise AttributeError(
            f"module 'helpers' has no attribute {name!r}; short names are "
            f"{', '.join(sorted(SHORT_NAMES))}, paper modules live in helpers.papers"
        )
    module = importlib.import_module(f"helpers.{band}.{name}")
    globals()[name] = module  # later look-ups find it without calling __getattr__
    return module


def __dir__() -> list[str]:
    return sorted([*globals(), *SHORT_NAMES])
