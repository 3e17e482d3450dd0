"""Moduli regularisation: place the hidden neurons on a manifold and penalise long connections.

Introduced in notebook 08 (Mackey, Schizas, Deighton, Boothe, Maroulas, "Geometric sparsification in
recurrent neural networks", arXiv:2406.06290; official code: github.com/mackeynations/Moduli-regularizers).

Each hidden neuron j gets a fixed point i(j) on a manifold M (a circle, a torus, a sphere, a Klein
bottle, a 6-torus). A recurrent weight w_jk then pays in proportion to a function f of the geodesic
distance between the two neurons it connects:

    R_f(W_hh) = Σ_{j,k} f(d_M(i(j), i(k))) |w_jk|^ℓ          (the paper's moduli regulariser)

and training minimises ``task loss + λ · mean_{j,k}(f(d_jk) |w_jk|^ℓ)`` (the official code's ``.mean()``,
so λ is per connection). Magnitude pruning then removes the connections the penalty has shrunk, so the
sparse network's wiring follows the geometry of M.

Scales follow the official code: the torus, 6-torus and Klein bottle are the square [0, 10)^d with
the usual identifications; the circle and the sphere have radius 5 (distance 5 · angle). The
inhibitor f is one of

- ``"dog"``: the *inverted* difference of Gaussians f(d) = D_max - D(d) with
  D(d) = 100 (exp(-d²/5) - exp(-4 d²)). Near neighbours (d ≈ 0.5–1.6) are almost free; the neuron
  itself and far neurons pay the most. (The code builds D and then inverts it with ``--invert True``;
  the author's README: "I implemented the DoG backwards".) We take D_max, the maximum of D over
  d >= 0, analytically; the code takes the maximum over the sampled matrix, which is nearly equal.
- ``"square"``: f(d) = d², the paper's "diffusion";
- ``"ripple"``: f(d) = 50 + 50 cos(2d).

Controls: a uniform coefficient (plain L1, ``uniform_coefficients``), *strength-matched* to the
geometric penalty (its constant is the mean coefficient, so a weight matrix of the same size
everywhere pays the same penalty under both), and a random geometry: the same coefficients shuffled
over the matrix (``permuted``), which keeps their distribution and destroys the geometry. (The
official code's navigation "L1" run inverts a matrix of ones and so carries no penalty at all; its
``--regpower mean`` constant, the mean of the *un-inverted* DoG, is about 4.4 times weaker than the
inverted one it is compared with.)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes
from torch import nn

from helpers.core.masked import MaskedMixin
from helpers.plumbing.params import (
    check_choice,
    check_float,
    check_generator,
    check_int,
    check_list,
    check_module,
    check_tensor,
    check_type,
)

__all__ = [
    "MANIFOLDS",
    "INHIBITORS",
    "SIDE",
    "RADIUS",
    "DOG_MAX",
    "embed_neurons",
    "manifold_distances",
    "difference_of_gaussians",
    "inhibitor",
    "Geometry",
    "make_geometry",
    "uniform_coefficients",
    "permuted",
    "CONDITIONS",
    "Condition",
    "make_conditions",
    "ModuliPenalty",
    "kept_distances",
    "locality_ratio",
    "cheapest_share",
    "draw_connections",
]

#: The manifolds neurons can be placed on (the paper's navigation table has all of them).
MANIFOLDS = ("circle", "torus", "torus6", "sphere", "klein")
#: The inhibitor functions f applied to distances.
INHIBITORS = ("dog", "square", "ripple")
#: Side of the square [0, SIDE)^d that the torus, 6-torus and Klein bottle are made of.
SIDE = 10.0
#: Radius of the circle and of the sphere (so the distance is RADIUS × the angle).
RADIUS = 5.0

_DIMENSION = {"circle": 1, "torus": 2, "torus6": 6, "sphere": 3, "klein": 2}


def embed_neurons(n: int, manifold: str, generator: torch.Generator | None = None) -> torch.Tensor:
    """Random, fixed positions of ``n`` neurons on ``manifold``, uniform over it.

    Returns coordinates (n, d): an angle in [0, 2π) for the circle, a point of [0, SIDE)^d for the
    tori and the Klein bottle, a unit vector of R^3 for the sphere.
    """
    check_choice("manifold", manifold, MANIFOLDS)
    check_int("n", n, 1)  # the number of neurons
    check_generator("generator", generator)
    if manifold == "circle":
        return torch.rand(n, 1, generator=generator) * 2 * math.pi
    if manifold == "sphere":
        gaussian = torch.randn(n, 3, generator=generator)  # isotropic, so its direction is uniform
        return gaussian / gaussian.norm(dim=1, keepdim=True)
    return torch.rand(n, _DIMENSION[manifold], generator=generator) * SIDE


def _periodic_gap(a: torch.Tensor, b: torch.Tensor, period: float) -> torch.Tensor:
    """|a_i - b_j| around a circle of circumference ``period``, per coordinate: (n, m, d)."""
    gap = (a.unsqueeze(1) - b.unsqueeze(0)).abs().remainder(period)  # (n, m, d)
    return torch.minimum(gap, period - gap)


def _klein_distances(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Flat Klein bottle [0, SIDE)^2 with (x, y) ~ (x, y + SIDE) and (x, y) ~ (x + SIDE, SIDE - y).

    The distance is the smallest Euclidean distance from a_i to one of the nine nearby images of
    b_j: vertical shifts by -SIDE, 0, SIDE, and glide reflections (x ± SIDE, SIDE - y) shifted the same.
    """
    x, y = b[:, 0], b[:, 1]
    images = []
    for shift in (-SIDE, 0.0, SIDE):
        images.append(torch.stack([x, y + shift], dim=1))
        images.append(torch.stack([x + SIDE, SIDE - y + shift], dim=1))
        images.append(torch.stack([x - SIDE, SIDE - y + shift], dim=1))
    return torch.stack([torch.cdist(a, image) for image in images]).amin(dim=0)  # (n, m)


def manifold_distances(
    a: torch.Tensor, manifold: str, b: torch.Tensor | None = None
) -> torch.Tensor:
    """Geodesic distances d_M between the neurons at ``a`` (n, d) and at ``b`` (m, d), shape (n, m).

    ``b`` defaults to ``a`` (the square matrix of all pairs, as the regulariser uses).
    """
    check_choice("manifold", manifold, MANIFOLDS)
    b = a if b is None else b
    for name, coords in (("a", a), ("b", b)):
        check_tensor(name, coords)
        if not coords.is_floating_point():
            raise ValueError(f"{name} must hold floating-point coordinates, got {coords.dtype}")
        if coords.dim() != 2 or coords.shape[1] != _DIMENSION[manifold]:
            raise ValueError(
                f"{name} must have shape (n, {_DIMENSION[manifold]}) for the {manifold}, got {tuple(coords.shape)}"
            )
    if manifold == "circle":
        return RADIUS * _periodic_gap(a, b, 2 * math.pi).squeeze(-1)  # arc length = radius · angle
    if manifold in ("torus", "torus6"):
        return _periodic_gap(a, b, SIDE).norm(dim=-1)
    if manifold == "sphere":
        # angle = atan2(|a × b|, a · b): unlike acos(a · b) exact near 0 and π, never NaN
        cross = torch.linalg.cross(
            a.unsqueeze(1).expand(-1, len(b), -1), b.unsqueeze(0).expand(len(a), -1, -1)
        )
        return RADIUS * torch.atan2(cross.norm(dim=-1), a @ b.T)
    return _klein_distances(a, b)


def difference_of_gaussians(d: torch.Tensor) -> torch.Tensor:
    """D(d) = 100 (exp(-d²/5) - exp(-4 d²)), the official code's DoG (before inversion)."""
    check_tensor("d", d)
    return 100.0 * (torch.exp(-d.pow(2) / 5.0) - torch.exp(-4.0 * d.pow(2)))


# D peaks where d D/d(d) = 0: (2d/5) e^{-d²/5} = 8d e^{-4d²}  ⇔  d² = ln 20 / (4 - 1/5).
_DOG_ARGMAX = math.sqrt(math.log(20.0) / 3.8)
#: The maximum of ``difference_of_gaussians`` over d >= 0 (about 81.1, at d ≈ 0.89).
DOG_MAX = float(difference_of_gaussians(torch.tensor(_DOG_ARGMAX)))


def inhibitor(d: torch.Tensor, kind: str = "dog") -> torch.Tensor:
    """The coefficient f(d) for distances ``d``: inverted DoG, square (diffusion) or ripple."""
    check_choice("kind", kind, INHIBITORS)
    check_tensor("d", d)
    if kind == "dog":
        return DOG_MAX - difference_of_gaussians(d)  # f = D_max - D >= 0, zero at d ≈ 0.89
    if kind == "square":
        return d.pow(2)
    if kind == "ripple":
        return 50.0 + 50.0 * torch.cos(2.0 * d)
    raise AssertionError(kind)  # unreachable: check_choice allows only the three above


@dataclass
class Geometry:
    """Neurons placed on a manifold: coordinates, all pairwise distances and penalty coefficients."""

    manifold: str
    coords: torch.Tensor  # (n, d)
    distances: torch.Tensor  # (n, n)
    coefficients: torch.Tensor  # (n, n): f(d_jk), the weight of |w_jk| in the penalty


def make_geometry(
    n: int, manifold: str, kind: str = "dog", generator: torch.Generator | None = None
) -> Geometry:
    """Place ``n`` neurons at random on ``manifold`` and compute the coefficients f(d_M) of ``kind``."""
    check_choice("kind", kind, INHIBITORS)  # before the neurons are drawn from generator
    coords = embed_neurons(n, manifold, generator)
    distances = manifold_distances(coords, manifold)
    return Geometry(manifold, coords, distances, inhibitor(distances, kind))


def uniform_coefficients(n: int, value: float = 1.0) -> torch.Tensor:
    """The plain L1 control: every connection pays the same ``value`` (n, n)."""
    check_int("n", n, 1)
    check_float("value", value, 0.0, low_open=True, finite=True)
    return torch.full((n, n), float(value))


def permuted(coefficients: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """The random-geometry control: the same coefficients, shuffled over all entries of the matrix."""
    check_tensor("coefficients", coefficients)
    check_generator("generator", generator)
    flat = coefficients.reshape(-1)
    order = torch.randperm(flat.numel(), generator=generator).to(flat.device)
    return flat[order].view_as(coefficients)


#: The conditions notebook 08 compares: three controls, then manifolds with the inverted DoG (a
#: suffix after "_" picks another inhibitor for the torus: "torus_square", "torus_ripple").
CONDITIONS = (
    "none",
    "l1",
    "random",
    "circle",
    "torus",
    "sphere",
    "klein",
    "torus6",
    "torus_square",
    "torus_ripple",
)


@dataclass
class Condition:
    """One regularisation condition: its coefficients R (None: no penalty) and where its neurons sit.

    The controls have no geometry of their own; they carry the torus placement so their surviving
    connections can be drawn on the same torus as the torus condition's.
    """

    name: str
    coefficients: torch.Tensor | None
    geometry: Geometry


def make_conditions(
    names: list[str] | tuple[str, ...], n: int, generator: torch.Generator | None = None
) -> dict[str, Condition]:
    """The penalty coefficients of each named condition for ``n`` neurons (one replicate).

    One torus placement is drawn first and shared: the ``"torus"`` condition penalises with it,
    ``"random"`` shuffles its coefficients (same values, no geometry), and ``"l1"`` charges every
    connection the same constant, the mean of the torus coefficients over all n² entries: a
    strength-matched L1 (at any λ, a weight matrix of the same size everywhere pays the same
    penalty under L1, the torus and the shuffled torus). Other manifolds get their own placement.
    """
    names = check_list("names", names, "a non-empty list of condition names", min_len=1)
    unknown = [name for name in names if not isinstance(name, str) or name not in CONDITIONS]
    if unknown:
        raise ValueError(f"unknown conditions {unknown} in names; allowed: {CONDITIONS}")
    check_int("n", n, 1)
    check_generator("generator", generator)
    torus = make_geometry(n, "torus", "dog", generator)
    out = {}
    for name in names:
        geometry, coefficients = torus, None
        if name == "l1":  # strength-matched: the mean coefficient of the torus penalty
            coefficients = uniform_coefficients(n, float(torus.coefficients.mean()))
        elif name == "random":
            coefficients = permuted(torus.coefficients, generator)
        elif name.startswith("torus_"):  # the same placement, another inhibitor
            kind = name.partition("_")[2]
            geometry = Geometry(
                "torus", torus.coords, torus.distances, inhibitor(torus.distances, kind)
            )
            coefficients = geometry.coefficients
        elif name == "torus":
            coefficients = torus.coefficients
        elif name != "none":
            geometry = make_geometry(n, name, "dog", generator)
            coefficients = geometry.coefficients
        out[name] = Condition(name, coefficients, geometry)
    return out


class ModuliPenalty:
    """A ``fit`` callback adding λ · mean(R ⊙ |W|^ℓ) for the weight ``name`` of ``module``.

    ``R`` are the coefficients (``make_geometry(...).coefficients``, a uniform or a permuted matrix).
    The penalty acts on the *effective* weight of a masked layer (weight × mask), so pruned entries
    cost nothing. With ``strength=0`` it adds nothing (the "no regularisation" condition).
    """

    def __init__(
        self,
        module: nn.Module,
        coefficients: torch.Tensor,
        strength: float,
        power: int = 1,
        name: str = "weight",
    ) -> None:
        check_module("module", module)
        check_type("name", name, str, "a string (the weight's attribute name)")
        weight = getattr(module, name, None)
        if not isinstance(weight, torch.Tensor):
            raise ValueError(f"module {type(module).__name__} has no weight named {name!r}")
        check_tensor("coefficients", coefficients)
        if coefficients.shape != weight.shape:
            raise ValueError(
                f"coefficients have shape {tuple(coefficients.shape)}, the weight {name!r} has {tuple(weight.shape)}"
            )
        check_float("strength", strength, 0.0, finite=True)
        check_int("power", power, 1, 2)  # 1: L1, 2: L2
        self.module, self.name, self.strength, self.power = module, name, float(strength), power
        self.coefficients = coefficients.detach().to(device=weight.device, dtype=weight.dtype)

    def weight(self) -> torch.Tensor:
        """The weight the penalty sees: the effective (masked) one for a masked layer."""
        if isinstance(self.module, MaskedMixin):
            return self.module.effective(self.name)
        return getattr(self.module, self.name)

    def penalty(self) -> torch.Tensor:
        """mean_{j,k}(R_jk |w_jk|^ℓ), without the factor λ."""
        weight = self.weight()
        if self.coefficients.device != weight.device:
            self.coefficients = self.coefficients.to(weight.device)
        return (self.coefficients * weight.abs().pow(self.power)).mean()

    def extra_loss(self, model: nn.Module) -> torch.Tensor:  # noqa: ARG002 - fit's callback signature
        """λ · mean(R ⊙ |W|^ℓ), added to the task loss by ``helpers.core.train.fit``."""
        if self.strength == 0:
            return torch.zeros((), device=self.weight().device)
        return self.strength * self.penalty()


def kept_distances(
    mask: torch.Tensor, distances: torch.Tensor, include_self: bool = False
) -> torch.Tensor:
    """Manifold distances of the connections a mask keeps (1-D), self-connections left out by default."""
    check_tensor("mask", mask, dim=2)
    check_tensor("distances", distances, dim=2)
    if distances.shape[0] != distances.shape[1]:
        raise ValueError(f"distances must be a square (n, n) matrix, got {tuple(distances.shape)}")
    if mask.shape != distances.shape:
        raise ValueError(
            f"mask {tuple(mask.shape)} and distances {tuple(distances.shape)} differ in shape"
        )
    keep = mask.detach().cpu() > 0
    if not include_self:
        keep = keep & ~torch.eye(keep.shape[0], dtype=torch.bool)
    return distances.detach().cpu()[keep]


def _off_diagonal(n: int) -> torch.Tensor:
    return ~torch.eye(n, dtype=torch.bool)


def locality_ratio(mask: torch.Tensor, distances: torch.Tensor) -> float:
    """Mean manifold distance of the connections a mask keeps over that of all pairs (self left out).

    1 means no geometry (a mask that ignores where neurons sit scores 1 on average); below 1, the
    surviving wiring joins neighbours on the manifold.
    """
    kept = kept_distances(mask, distances)  # checks both arguments
    if kept.numel() == 0:
        raise ValueError("mask keeps no connection between distinct neurons")
    every = distances.detach().cpu()[_off_diagonal(distances.shape[0])]
    return (kept.mean() / every.mean()).item()


def cheapest_share(mask: torch.Tensor, coefficients: torch.Tensor) -> float:
    """The share of the connections a mask keeps that are among the penalty's k cheapest (k = kept).

    Over all n² entries, as the penalty counts them. A mask that ignores the penalty scores about
    k / n² (the density); 1 means exactly the cheapest connections survived.
    """
    check_tensor("mask", mask, dim=2)
    check_tensor("coefficients", coefficients, dim=2)
    if mask.shape != coefficients.shape:
        raise ValueError(
            f"mask {tuple(mask.shape)} and coefficients {tuple(coefficients.shape)} differ in shape"
        )
    keep = mask.detach().cpu().flatten() > 0
    k = int(keep.sum())
    if k == 0:
        raise ValueError("mask keeps no connection")
    cheapest = torch.zeros_like(keep)
    cheapest[coefficients.detach().cpu().flatten().argsort(stable=True)[:k]] = True
    return (cheapest & keep).sum().item() / k


def _plane_positions(coords: torch.Tensor, manifold: str) -> np.ndarray:
    """Where to draw each neuron: the circle as a ring of radius RADIUS, the torus as its square."""
    c = coords.detach().cpu()
    if manifold == "circle":
        return (RADIUS * torch.cat([torch.cos(c), torch.sin(c)], dim=1)).numpy()
    if manifold in ("torus", "klein"):
        return c.numpy()
    raise ValueError(
        f"draw_connections draws the circle, the torus and the Klein bottle, not {manifold!r}"
    )


def draw_connections(
    mask: torch.Tensor,
    geometry: Geometry,
    neurons: list[int] | None = None,
    ax: Axes | None = None,
    title: str = "",
    colors: Any = None,
) -> Axes:
    """Draw neurons at their places on the manifold and the surviving connections into a few of them.

    ``mask`` is W_hh's mask (rows: receiving neuron j, columns: sending neuron k, as in
    h_t = ReLU(W_hh h_{t-1})). On the torus a connection runs to the nearest periodic copy of the
    sender; where it crosses an edge of the square it reappears on the opposite edge, so a short
    connection always looks short.
    """
    check_type("geometry", geometry, Geometry, "a Geometry (from make_geometry)")
    manifold = geometry.manifold
    xy = _plane_positions(geometry.coords, manifold)  # checks the manifold before drawing
    n = len(xy)
    check_tensor("mask", mask)
    if mask.shape != (n, n):
        raise ValueError(
            f"mask must have shape ({n}, {n}) like the geometry, got {tuple(mask.shape)}"
        )
    neurons = [0] if neurons is None else check_list("neurons", neurons, "a list of neuron indices")
    for i, j in enumerate(neurons):
        check_int(f"neurons[{i}]", j, 0, n - 1)
    if ax is None:
        _, ax = plt.subplots(figsize=(4, 4))
    keep = mask.detach().cpu() > 0
    colors = colors or plt.rcParams["axes.prop_cycle"].by_key()["color"]
    ax.scatter(xy[:, 0], xy[:, 1], s=8, color="lightgrey", zorder=1)
    for i, j in enumerate(neurons):
        color = colors[i % len(colors)]
        senders = [k for k in torch.nonzero(keep[j]).flatten().tolist() if k != j]
        for k in senders:
            start, end = xy[j], xy[k]
            segments = [(start, end)]
            if manifold == "torus":
                end = (
                    start + (end - start + SIDE / 2) % SIDE - SIDE / 2
                )  # nearest copy of the sender
                shift = np.floor(end / SIDE) * SIDE  # which copy of the square that copy lies in
                segments = (
                    [(start, end), (start - shift, end - shift)] if shift.any() else [(start, end)]
                )
            for a, b in segments:  # drawn lines are clipped at the square's edges
                ax.plot(
                    [a[0], b[0]], [a[1], b[1]], color=color, lw=0.9, alpha=0.75, marker="", zorder=2
                )
            ax.scatter([xy[k, 0]], [xy[k, 1]], s=14, color=color, zorder=3)
        ax.scatter([xy[j, 0]], [xy[j, 1]], s=90, marker="*", color=color, edgecolor="k", zorder=4)
    if manifold == "circle":
        ax.add_patch(plt.Circle((0, 0), RADIUS, fill=False, color="grey", lw=0.5))
        ax.set_xlabel("x on the circle (radius 5)")
        ax.set_ylabel("y on the circle")
    else:
        ax.set_xlim(0, SIDE)
        ax.set_ylim(0, SIDE)
        ax.set_xlabel(f"{manifold} coordinate 1 (period {SIDE:g})")
        ax.set_ylabel(f"{manifold} coordinate 2 (period {SIDE:g})")
    ax.set_aspect("equal")
    ax.set_title(title)
    return ax
