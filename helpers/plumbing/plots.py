"""The course's figure style and shared figures: accuracy against sparsity, masks, training curves.

Introduced in notebook 00. ``use_course_style()`` sets one look for every figure of the course
(``notebook.start`` applies it): colour-blind-safe colours *and* a marker per line, so two lines
differ even in grey print or for a reader who cannot tell the colours apart; readable fonts; a modest
resolution that keeps a notebook with its figures under 1 MB. Every plotting function draws into an
``Axes`` it is given (or a new one) and labels it, so notebooks only add what is specific to their
paper.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import torch
from cycler import cycler
from matplotlib.axes import Axes

from helpers.plumbing.params import check_int

__all__ = [
    "COLORS",
    "MARKERS",
    "COURSE_STYLE",
    "use_course_style",
    "spaced_markers",
    "accuracy_vs_remaining",
    "show_mask",
    "training_curves",
    "axes",
]

# The Okabe-Ito palette (Okabe & Ito, "Color Universal Design", 2008): eight colours that stay
# distinct for the common kinds of colour blindness. Yellow comes last: it is faint on white.
COLORS = [
    "#0072B2",  # blue
    "#E69F00",  # orange
    "#009E73",  # bluish green
    "#D55E00",  # vermillion
    "#CC79A7",  # reddish purple
    "#56B4E9",  # sky blue
    "#000000",  # black
    "#F0E442",  # yellow
]
# One marker per colour, cycled together: line k gets COLORS[k] and MARKERS[k].
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*"]

COURSE_STYLE: dict[str, object] = {
    "axes.prop_cycle": cycler(color=COLORS) + cycler(marker=MARKERS),
    "lines.linewidth": 1.6,
    "lines.markersize": 5,
    "font.size": 11,
    "axes.titlesize": 12,
    "axes.labelsize": 11,
    "xtick.labelsize": 10,
    "ytick.labelsize": 10,
    "legend.fontsize": 9,
    "legend.framealpha": 0.85,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "grid.linewidth": 0.6,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "image.cmap": "viridis",  # perceptually uniform and colour-blind safe
    "figure.figsize": (6.0, 4.0),
    "figure.dpi": 90,  # inline figures: sharp enough on screen, small in the .ipynb
    "savefig.dpi": 100,  # PNGs written next to results.json
    "savefig.bbox": "tight",
}


def use_course_style() -> None:
    """Apply the course's figure style (``COURSE_STYLE``) to every figure made from now on.

    Lines cycle through colour and marker together, so each line of an axes differs from the others
    in both. Three habits keep figures clean under this style:

    - long series (hundreds of steps) pass ``markevery=spaced_markers(len(y))`` to ``plot``, as
      ``training_curves`` does, or the markers merge into a thick band;
    - reference lines drawn with ``plot`` (a bound, a dense level) pass ``marker=""``: a ``plot``
      given only ``color=`` still takes the next marker from the cycle (``axhline`` takes none);
    - axes that show an image (``imshow``) call ``ax.grid(False)``, as ``show_mask`` does.

    Called by ``notebook.start``; calling it again is harmless.
    """
    mpl.rcParams.update(COURSE_STYLE)


def spaced_markers(n_points: int, n_markers: int = 10) -> int:
    """The ``markevery`` step that puts about ``n_markers`` markers on a line of ``n_points``."""
    check_int("n_points", n_points, 0)
    check_int("n_markers", n_markers, 1)
    return max(1, n_points // n_markers)


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
        ax.plot(remaining, accs, label=label)
    if dense is not None:
        # A reference level, not a method: grey, dashed and without markers.
        ax.axhline(dense, color="grey", ls="--", lw=1, marker="", label=f"dense ({dense:.3f})")
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
    ax.legend()
    return ax


def show_mask(mask: torch.Tensor, ax: Axes | None = None, title: str = "mask") -> Axes:
    """Draw a 2-D mask (or a weight matrix) as an image: kept entries dark, pruned ones white."""
    ax = axes(ax, figsize=(4, 4))
    m = mask.detach().float().cpu()
    if m.dim() > 2:
        m = m.flatten(1)  # (out, in·k...) for convolution kernels
    # Grey levels on purpose: a mask is binary, kept = dark reads like ink on paper.
    ax.imshow(m.numpy(), cmap="Greys", vmin=0, vmax=1, aspect="auto", interpolation="nearest")
    ax.set_xlabel("input unit")
    ax.set_ylabel("output unit")
    ax.set_title(f"{title}: {float(m.mean()):.1%} kept")
    ax.grid(False)
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
        ax.plot(v, label=label, markevery=spaced_markers(len(v)))
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("loss")
    ax.set_title(title)
    ax.legend()
    return ax
