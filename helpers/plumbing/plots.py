"""Shared figures: accuracy against sparsity, masks as images, training curves.

Introduced in notebook 00. Every function draws into an ``Axes`` it is given (or a new one) and
labels it, so notebooks only add what is specific to their paper.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes

__all__ = ["accuracy_vs_remaining", "show_mask", "training_curves", "axes"]


def axes(ax: Axes | None = None, figsize: tuple[float, float] = (5.5, 3.8)) -> Axes:
    """``ax`` if given, else the axes of a new figure."""
    if ax is not None:
        return ax
    _, ax = plt.subplots(figsize=figsize)
    return ax


def accuracy_vs_remaining(
    curves: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    dense: float | None = None,
    ax: Axes | None = None,
    title: str = "Accuracy against weights remaining",
    log_x: bool = True,
) -> Axes:
    """Plot test accuracy against the percentage of weights remaining, one line per method.

    ``curves`` maps a label to ``(sparsities, accuracies)`` with sparsities as fractions in [0, 1];
    the x axis shows 100·(1 - sparsity) and runs from dense (left) to sparse (right), as in the
    lottery-ticket papers.
    """
    ax = axes(ax)
    ticks: set[float] = set()
    for label, (sparsities, accs) in curves.items():
        remaining = 100.0 * (1.0 - np.asarray(sparsities, dtype=float))
        ticks.update(np.round(remaining, 1).tolist())
        ax.plot(remaining, accs, marker="o", ms=4, label=label)
    if dense is not None:
        ax.axhline(dense, color="grey", ls="--", lw=1, label=f"dense ({dense:.3f})")
    if log_x:
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(plt.NullFormatter())
        nice = [100, 50, 20, 10, 5, 2, 1, 0.5, 0.2, 0.1]  # a 1-2-5 log scale
        shown = [v for v in nice if min(ticks) * 0.8 <= v <= max(ticks) * 1.25]
        ax.set_xticks(shown, [f"{v:g}" for v in shown])
    ax.invert_xaxis()
    ax.set_xlabel("weights remaining (%)")
    ax.set_ylabel("test accuracy")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return ax


def show_mask(mask: torch.Tensor, ax: Axes | None = None, title: str = "mask") -> Axes:
    """Draw a 2-D mask (or a weight matrix) as an image: kept entries dark, pruned ones white."""
    ax = axes(ax, figsize=(4, 4))
    m = mask.detach().float().cpu()
    if m.dim() > 2:
        m = m.flatten(1)  # (out, in·k...) for convolution kernels
    ax.imshow(m.numpy(), cmap="Greys", vmin=0, vmax=1, aspect="auto", interpolation="nearest")
    ax.set_xlabel("input unit")
    ax.set_ylabel("output unit")
    ax.set_title(f"{title}: {float(m.mean()):.1%} kept")
    return ax


def training_curves(
    losses: Mapping[str, Sequence[float]],
    ax: Axes | None = None,
    title: str = "Training loss",
    smooth: int = 20,
) -> Axes:
    """Plot per-step losses (moving average over ``smooth`` steps), one line per run."""
    ax = axes(ax)
    for label, values in losses.items():
        v = np.asarray(values, dtype=float)
        if smooth > 1 and len(v) >= smooth:
            v = np.convolve(v, np.ones(smooth) / smooth, mode="valid")
        ax.plot(v, label=label)
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("loss")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return ax
