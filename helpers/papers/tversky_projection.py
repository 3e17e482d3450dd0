"""Tversky projection layers (Doumbouya, Jurafsky, Manning, ICLR 2026), several replicates at once.

Introduced in notebook 14. The formulas follow the authors' own PyTorch library
(github.com/mdoumbouya/tversky, ``src/tversky/differentiable_tversky_v2.py``), not third-party
re-implementations. With a learned **feature bank** Ω = {f_k} (rows of ``features``), an object
``a`` *has* feature k when ``a·f_k > 0``. Write

    A_k = (a·f_k) · 1[a·f_k > 0]        (the masked measures of a; likewise B_k for b)

and sum over features k:

- **common features** ``f(A∩B)`` (``intersection``)
  - ``product``: Σ_k A_k B_k
  - the other reductions act on two *aggregated* sums, as in the official code:
    ``sa = Σ_k A_k·1[b has k]`` and ``sb = Σ_k 1[a has k]·B_k``; then ``min(sa, sb)``, ``max``,
    ``mean``, ``gmean`` (√(sa·sb), NaN-prone at 0) or ``softmin`` (−log(e^−sa + e^−sb)).
- **distinctive features of a** ``f(A−B)`` (``difference``)
  - ``ignorematch``: Σ_k A_k·1[b lacks k]
  - ``substractmatch`` (the library's spelling): ``ignorematch`` + (sa − sb) where sa > sb.
- **Tversky's contrast model**: ``S(a, b) = θ·f(A∩B) − α·f(A−B) − β·f(B−A)`` with learnable
  scalars θ, α, β (official start: 1, 0.5, 0.5; unconstrained).

A **Tversky projection** replaces ``nn.Linear(d, p)``: output j is ``S(x, π_j)`` for p learned
prototypes π_j. The indicators have zero gradient, so gradients flow only through active measures.

Every function accepts leading *replicate* dimensions: ``x`` of shape (R, n, d) with ``features``
(R, K, d) and ``prototypes`` (R, p, d) evaluates R independent layers in one call. The ``Stacked*``
modules below train R replicates as one model: their losses are summed, and since Adam works entry
by entry, each replicate follows exactly the path it would follow alone.

The experiments of notebook 14 build on these: ``train_xor`` and ``train_xor_grid`` (XOR over seeds
and settings; ``best_cell`` chooses a setting on selection seeds), and ``make_head``, ``DigitsNet``
and ``train_classifier`` (linear, cosine, MLP and Tversky heads on scikit-learn's digits, with
``digits_splits``, ``subset_classes`` and ``embed`` for the frozen-encoder set-up).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from helpers.plumbing.params import (
    check_choice,
    check_float,
    check_int,
    check_list,
    check_tensor,
)

__all__ = [
    "INTERSECTIONS",
    "DIFFERENCES",
    "INITS",
    "HEADS",
    "feature_measures",
    "intersection_measure",
    "difference_measure",
    "tversky_similarity",
    "TverskyProjection",
    "StackedLinear",
    "StackedMLP",
    "xor_data",
    "XorResult",
    "train_xor",
    "train_xor_grid",
    "fit_xor",
    "best_cell",
    "tversky_parameter_count",
    "mlp_hidden_for_budget",
    "CosineHead",
    "make_head",
    "head_parameter_count",
    "DigitsNet",
    "DigitsResult",
    "train_classifier",
    "subset_classes",
    "embed",
    "active_feature_fraction",
    "digits_splits",
]

#: The intersection reductions of the official library (gmean can give NaN gradients at 0).
INTERSECTIONS = ("product", "min", "max", "mean", "gmean", "softmin")
#: The difference reductions of the official library (``substractmatch`` is its spelling).
DIFFERENCES = ("ignorematch", "substractmatch")
#: Initialisations of the feature bank and prototypes: the library's U(0, 1), or N(0, 1).
INITS = ("uniform", "normal")
#: The classification heads compared on digits (notebook 14).
HEADS = ("linear", "cosine", "mlp", "tversky")


def feature_measures(x: torch.Tensor, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Masked measures ``(x·f_k)·1[x·f_k > 0]`` and the indicator ``x·f_k > 0``.

    ``x`` (..., n, d), ``features`` (..., K, d) → two tensors of shape (..., n, K).
    """
    dot = x @ features.mT  # (..., n, K): x·f_k
    active = dot > 0  # feature k present in x (threshold 0, strict, as in the library)
    return dot * active, active


def intersection_measure(
    a_m: torch.Tensor, b_m: torch.Tensor, a_on: torch.Tensor, b_on: torch.Tensor, reduction: str
) -> torch.Tensor:
    """f(A∩B) for every pair: (..., n, K) and (..., m, K) measures → (..., n, m).

    ``a_m``, ``b_m``: masked measures; ``a_on``, ``b_on``: indicators (``feature_measures``).
    """
    if reduction == "product":
        return a_m @ b_m.mT  # Σ_k A_k B_k (zero unless both have k)
    sa = a_m @ b_on.float().mT  # Σ_k A_k · 1[b has k]
    sb = a_on.float() @ b_m.mT  # Σ_k 1[a has k] · B_k
    if reduction == "min":
        return torch.minimum(sa, sb)
    if reduction == "max":
        return torch.maximum(sa, sb)
    if reduction == "mean":
        return (sa + sb) / 2
    if reduction == "gmean":
        return torch.exp((torch.log(sa) + torch.log(sb)) / 2)
    if reduction == "softmin":
        return -torch.logsumexp(-torch.stack([sa, sb]), dim=0)
    raise ValueError(f"intersection must be one of {INTERSECTIONS}, got {reduction!r}")


def difference_measure(
    a_m: torch.Tensor, b_m: torch.Tensor, a_on: torch.Tensor, b_on: torch.Tensor, reduction: str
) -> torch.Tensor:
    """f(A−B), the features of a that b lacks (or has less of): → (..., n, m)."""
    only_a = a_m @ (~b_on).float().mT  # Σ_k A_k · 1[b lacks k]
    if reduction == "ignorematch":
        return only_a
    if reduction == "substractmatch":
        sa = a_m @ b_on.float().mT
        sb = a_on.float() @ b_m.mT
        more = sa > sb  # shared features on which a is stronger, as aggregated sums
        return only_a + (sa - sb) * more
    raise ValueError(f"difference must be one of {DIFFERENCES}, got {reduction!r}")


def tversky_similarity(
    x: torch.Tensor,
    prototypes: torch.Tensor,
    features: torch.Tensor,
    theta: torch.Tensor | float = 1.0,
    alpha: torch.Tensor | float = 0.5,
    beta: torch.Tensor | float = 0.5,
    intersection: str = "product",
    difference: str = "ignorematch",
) -> torch.Tensor:
    """Tversky's contrast model S(x_i, π_j) = θ f(X∩Π) − α f(X−Π) − β f(Π−X) for every pair.

    ``x`` (..., n, d), ``prototypes`` (..., p, d), ``features`` (..., K, d) → (..., n, p). Leading
    dimensions (replicates) must agree. θ, α, β: numbers or tensors broadcastable to (..., n, p).
    """
    check_choice("intersection", intersection, INTERSECTIONS)
    check_choice("difference", difference, DIFFERENCES)
    x_m, x_on = feature_measures(x, features)  # (..., n, K)
    p_m, p_on = feature_measures(prototypes, features)  # (..., p, K)
    common = intersection_measure(x_m, p_m, x_on, p_on, intersection)
    x_only = difference_measure(x_m, p_m, x_on, p_on, difference)
    p_only = difference_measure(p_m, x_m, p_on, x_on, difference).mT
    return theta * common - alpha * x_only - beta * p_only


def _init(shape: tuple[int, ...], how: str, generator: torch.Generator) -> torch.Tensor:
    if how == "uniform":
        return torch.rand(shape, generator=generator)  # the library's U(0, 1)
    return torch.randn(shape, generator=generator)


def _stack(
    shape: tuple[int, ...],
    seeds: Sequence[int],
    make: Callable[[tuple[int, ...], torch.Generator], torch.Tensor],
) -> torch.Tensor:
    """One tensor per replicate seed, stacked: replicate r's values depend on its seed only."""
    return torch.stack([make(shape, torch.Generator().manual_seed(int(s))) for s in seeds])


def _check_seeds(seeds: Sequence[int]) -> list[int]:
    seeds = check_list("seeds", seeds, "a non-empty list of replicate seeds", 1)
    return [check_int(f"seeds[{i}]", s, 0, 2**63 - 1) for i, s in enumerate(seeds)]


class TverskyProjection(nn.Module):
    """R independent Tversky projection layers ``d → p`` with K features each (one per seed).

    Parameters, as in the official ``TverskyProjection``: ``features`` (R, K, d) and ``prototypes``
    (R, p, d), initialised U(0, 1) (``init='uniform'``) or N(0, 1); θ, α, β (R, 1, 1) starting at 1,
    0.5, 0.5. ``forward(x)`` takes x (n, d), shared by all replicates, or (R, n, d), and returns
    logits (R, n, p). ``forward(x, prototypes=...)`` uses other prototypes (for example data-domain
    prototypes passed through an encoder).
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        n_features: int,
        seeds: Sequence[int],
        intersection: str = "product",
        difference: str = "ignorematch",
        init: str = "uniform",
    ) -> None:
        super().__init__()
        d = check_int("in_features", in_features, 1)
        p = check_int("out_features", out_features, 1)
        k = check_int("n_features", n_features, 1)
        seeds = _check_seeds(seeds)
        self.intersection = check_choice("intersection", intersection, INTERSECTIONS)
        self.difference = check_choice("difference", difference, DIFFERENCES)
        init = check_choice("init", init, INITS)
        # Replicate r draws its features, then its prototypes, from its own seed.
        both = _stack((k + p, d), seeds, lambda s, g: _init(s, init, g))
        self.features = nn.Parameter(both[:, :k].clone())
        self.prototypes = nn.Parameter(both[:, k:].clone())
        r = len(seeds)
        self.theta = nn.Parameter(torch.full((r, 1, 1), 1.0))
        self.alpha = nn.Parameter(torch.full((r, 1, 1), 0.5))
        self.beta = nn.Parameter(torch.full((r, 1, 1), 0.5))

    def forward(self, x: torch.Tensor, prototypes: torch.Tensor | None = None) -> torch.Tensor:
        prototypes = self.prototypes if prototypes is None else prototypes
        if x.dim() == 2:
            x = x.expand(self.features.shape[0], -1, -1)  # (R, n, d), no copy
        return tversky_similarity(
            x,
            prototypes,
            self.features,
            self.theta,
            self.alpha,
            self.beta,
            self.intersection,
            self.difference,
        )


class StackedLinear(nn.Module):
    """R independent ``nn.Linear(d, p)`` layers, one per seed, each with PyTorch's default
    initialisation U(−1/√d, 1/√d). Input (n, d) or (R, n, d); output (R, n, p)."""

    def __init__(self, in_features: int, out_features: int, seeds: Sequence[int]) -> None:
        super().__init__()
        d = check_int("in_features", in_features, 1)
        p = check_int("out_features", out_features, 1)
        seeds = _check_seeds(seeds)
        bound = 1 / math.sqrt(d)
        both = _stack((d + 1, p), seeds, lambda s, g: (2 * torch.rand(s, generator=g) - 1) * bound)
        self.weight = nn.Parameter(both[:, :d].clone())  # (R, d, p)
        self.bias = nn.Parameter(both[:, d:].clone())  # (R, 1, p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.weight + self.bias  # (n, d) or (R, n, d) @ (R, d, p) → (R, n, p)


class StackedMLP(nn.Module):
    """R independent MLPs ``sizes[0] → … → sizes[-1]`` with ReLU (or tanh) between layers."""

    def __init__(
        self, sizes: Sequence[int], seeds: Sequence[int], activation: str = "relu"
    ) -> None:
        super().__init__()
        sizes = check_list("sizes", sizes, "a list of layer widths", 2)
        seeds = _check_seeds(seeds)
        self.act = (
            torch.tanh
            if check_choice("activation", activation, ("relu", "tanh")) == "tanh"
            else F.relu
        )
        # Layer i of replicate r takes its seed from (seed, i), so layers are independent draws.
        self.layers = nn.ModuleList(
            StackedLinear(a, b, [s * 16 + i for s in seeds])
            for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True))
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, layer in enumerate(self.layers):
            x = layer(x) if i == 0 else layer(self.act(x))
        return x


# ---------------------------------------------------------------------------------------------
# XOR


def xor_data(coding: str = "binary") -> tuple[torch.Tensor, torch.Tensor]:
    """The four XOR points and labels. ``'binary'``: inputs in {0, 1}² (the coding the library's
    U(0, 1) start suits: [0, 0] has no active feature); ``'signed'``: inputs in {−1, 1}²."""
    check_choice("coding", coding, ("binary", "signed"))
    x = torch.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    y = torch.tensor([0, 1, 1, 0])
    return (2 * x - 1 if coding == "signed" else x), y


@dataclass(frozen=True)
class XorResult:
    """One XOR training cell over replicates: did each seed reach 100 % (``solved``), its final
    accuracy on the four points, and the fraction of features it used (Tversky only, else NaN)."""

    solved: tuple[bool, ...]
    accuracy: tuple[float, ...]
    active_features: tuple[float, ...]

    @property
    def fraction(self) -> float:
        """Fraction of seeds that solved XOR (the paper's 'convergence')."""
        return sum(self.solved) / len(self.solved)


def _make_xor_model(
    model: str,
    seeds: list[int],
    n_features: int,
    intersection: str,
    difference: str,
    init: str,
    activation: str = "relu",
) -> nn.Module:
    if model == "tversky":
        return TverskyProjection(2, 2, n_features, seeds, intersection, difference, init)
    if model == "linear":
        return StackedLinear(2, 2, seeds)
    if model == "bilinear":  # a linear layer on [x1, x2, x1·x2]: XOR is linear in these
        return StackedLinear(3, 2, seeds)
    return StackedMLP([2, n_features, 2], seeds, activation)  # 'mlp': n_features hidden units


def train_xor(
    model: str,
    seeds: Sequence[int],
    n_features: int = 4,
    intersection: str = "product",
    difference: str = "ignorematch",
    init: str = "uniform",
    steps: int = 1000,
    lr: float = 0.05,
    coding: str = "binary",
    activation: str = "relu",
) -> XorResult:
    """Train one model per seed on the four XOR points (full batch, Adam, cross-entropy).

    ``model``: ``'tversky'`` (one Tversky projection 2 → 2 classes with ``n_features`` features),
    ``'linear'`` (one ``nn.Linear(2, 2)``), ``'bilinear'`` (a linear layer on [x1, x2, x1·x2]) or
    ``'mlp'`` (2 → ``n_features`` units → 2, ``activation`` ``'relu'`` or ``'tanh'``). A seed
    *solves* XOR when all four points are classified correctly after the last step.
    """
    check_choice("model", model, ("tversky", "linear", "bilinear", "mlp"))
    seeds = _check_seeds(seeds)
    check_int("n_features", n_features, 1)
    check_choice("intersection", intersection, INTERSECTIONS)
    check_choice("difference", difference, DIFFERENCES)
    check_choice("init", init, INITS)
    check_int("steps", steps, 1)
    check_float("lr", lr, 0.0, 10.0, low_open=True)
    x, y = xor_data(coding)
    if model == "bilinear":
        x = torch.cat([x, x[:, :1] * x[:, 1:]], dim=1)
    net = _make_xor_model(model, seeds, n_features, intersection, difference, init, activation)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    targets = y.expand(len(seeds), -1).reshape(-1)
    for _ in range(steps):
        logits = net(x)  # (R, 4, 2)
        # the sum over replicates of each replicate's mean loss: independent gradients
        loss = F.cross_entropy(logits.reshape(-1, 2), targets, reduction="sum") / len(y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    with torch.no_grad():
        logits = net(x)
        acc = (logits.argmax(-1) == y).float().mean(-1)
        used = active_feature_fraction(net, x) if model == "tversky" else [math.nan] * len(seeds)
    return XorResult(
        solved=tuple(bool(a == 1.0) for a in acc),
        accuracy=tuple(float(a) for a in acc),
        active_features=tuple(float(u) for u in used),
    )


def train_xor_grid(
    seeds: Sequence[int],
    n_features: Sequence[int],
    inits: Sequence[str] = INITS,
    intersection: str = "product",
    difference: str = "ignorematch",
    steps: int = 1000,
    lr: float = 0.05,
    coding: str = "binary",
) -> dict[tuple[int, str], XorResult]:
    """``train_xor`` for every (feature count, init) cell at once, one Tversky layer per seed.

    All cells train as one stacked model: a layer with K < max(n_features) features gets zero
    feature vectors in the extra rows. A zero feature is never present (0 > 0 is false), so it adds
    nothing to any measure and gets zero gradient, and Adam leaves it at zero: each cell computes
    what a layer of its own size would (up to float summation order). Replicate (K, init, seed)
    starts from exactly the values ``TverskyProjection(2, 2, K, [seed], init=init)`` draws.
    """
    seeds = _check_seeds(seeds)
    sizes = [
        check_int(f"n_features[{i}]", k, 1)
        for i, k in enumerate(check_list("n_features", n_features, "a list of feature counts", 1))
    ]
    inits = [
        check_choice(f"inits[{i}]", v, INITS)
        for i, v in enumerate(check_list("inits", inits, "a list of inits", 1))
    ]
    check_int("steps", steps, 1)
    check_float("lr", lr, 0.0, 10.0, low_open=True)
    cells = [(k, init) for k in sizes for init in inits]
    k_max = max(sizes)
    layer = TverskyProjection(2, 2, k_max, [0] * len(cells) * len(seeds), intersection, difference)
    with torch.no_grad():
        r = 0
        for k, init in cells:
            for s in seeds:
                one = TverskyProjection(2, 2, k, [s], intersection, difference, init)
                layer.features[r].zero_()
                layer.features[r, :k] = one.features[0]
                layer.prototypes[r] = one.prototypes[0]
                r += 1
    x, y = xor_data(coding)
    opt = torch.optim.Adam(layer.parameters(), lr=lr)
    targets = y.repeat(r)
    for _ in range(steps):
        loss = F.cross_entropy(layer(x).reshape(-1, 2), targets, reduction="sum") / len(y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    with torch.no_grad():
        acc = (layer(x).argmax(-1) == y).float().mean(-1).view(len(cells), len(seeds))
        _, on_x = feature_measures(x.expand(r, -1, -1), layer.features)
        _, on_p = feature_measures(layer.prototypes, layer.features)
        alive = (on_x.any(-2) | on_p.any(-2)).float().sum(-1).view(len(cells), len(seeds))
    return {
        (k, init): XorResult(
            solved=tuple(bool(a == 1.0) for a in acc[c]),
            accuracy=tuple(float(a) for a in acc[c]),
            active_features=tuple(float(n) / k for n in alive[c]),
        )
        for c, (k, init) in enumerate(cells)
    }


def fit_xor(
    model: str,
    seed: int,
    n_features: int = 4,
    intersection: str = "product",
    difference: str = "ignorematch",
    init: str = "uniform",
    steps: int = 1000,
    lr: float = 0.05,
    coding: str = "binary",
    activation: str = "relu",
) -> nn.Module:
    """One model trained on XOR exactly as ``train_xor`` trains replicate ``seed``, returned so that
    its decision regions and features can be looked at (``'tversky'``, ``'linear'`` or ``'mlp'``)."""
    check_choice("model", model, ("tversky", "linear", "mlp"))
    seed = check_int("seed", seed, 0)
    check_int("n_features", n_features, 1)
    net = _make_xor_model(model, [seed], n_features, intersection, difference, init, activation)
    x, y = xor_data(coding)
    opt = torch.optim.Adam(net.parameters(), lr=check_float("lr", lr, 0.0, 10.0, low_open=True))
    for _ in range(check_int("steps", steps, 1)):
        loss = F.cross_entropy(net(x)[0], y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return net


def best_cell(
    grids: dict[tuple[str, str], dict[tuple[int, str], XorResult]],
) -> tuple[str, str, int, str]:
    """The setting (intersection, difference, n_features, init) with the highest convergence
    fraction; ties go to fewer features, then to the order of the grids and inits given
    (list the library's defaults first)."""
    check_list("grids", list(grids), "a non-empty dict of XOR grids", 1)
    order = []
    for g, ((inter, diff), cells) in enumerate(grids.items()):
        for c, ((k, init), result) in enumerate(cells.items()):
            order.append(((-result.fraction, k, g, c), (inter, diff, k, init)))
    return min(order)[1]


def active_feature_fraction(layer: TverskyProjection, x: torch.Tensor) -> list[float]:
    """Per replicate, the fraction of features present in at least one input or prototype: a
    feature present nowhere gets no gradient and is dead for good."""
    check_tensor("x", x)
    with torch.no_grad():
        xs = x.expand(layer.features.shape[0], -1, -1) if x.dim() == 2 else x
        _, on_x = feature_measures(xs, layer.features)
        _, on_p = feature_measures(layer.prototypes, layer.features)
        alive = on_x.any(-2) | on_p.any(-2)  # (R, K)
    return alive.float().mean(-1).tolist()


def tversky_parameter_count(d: int, p: int, k: int) -> int:
    """Parameters of one Tversky projection d → p with K features: K·d + p·d + 3 (θ, α, β)."""
    return k * d + p * d + 3


def mlp_hidden_for_budget(d: int, p: int, budget: int) -> int:
    """The widest hidden layer h with an MLP d → h → p of at most ``budget`` parameters."""
    check_int("budget", budget, 1)
    h = (budget - p) // (d + 1 + p)  # (d + 1)·h + (h + 1)·p ≤ budget
    if h < 1:
        raise ValueError(f"budget {budget} is too small for an MLP {d} → h → {p}")
    return h


# ---------------------------------------------------------------------------------------------
# Digits: an MLP encoder with one of several heads


class CosineHead(nn.Module):
    """R cosine-prototype heads: a learned scale s times cos(z, w_j) for 10 learned prototypes w_j
    (a normalised linear layer without bias; the scale starts at 10)."""

    def __init__(self, in_features: int, out_features: int, seeds: Sequence[int]) -> None:
        super().__init__()
        self.prototypes = StackedLinear(in_features, out_features, seeds)
        del self.prototypes.bias  # cosine similarity has no offset
        self.scale = nn.Parameter(torch.full((len(_check_seeds(seeds)), 1, 1), 10.0))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        w = F.normalize(self.prototypes.weight, dim=1)  # (R, d, p): unit-length prototypes
        return self.scale * (F.normalize(z, dim=-1) @ w)


def make_head(
    kind: str,
    in_features: int,
    classes: int,
    seeds: Sequence[int],
    n_features: int = 16,
    mlp_hidden: int = 20,
) -> nn.Module:
    """R replicates of one classification head ``in_features → classes``.

    ``'linear'``: ``nn.Linear``; ``'cosine'``: ``CosineHead``; ``'mlp'``: Linear, ReLU, Linear with
    ``mlp_hidden`` units; ``'tversky'``: a ``TverskyProjection`` with ``n_features`` features
    (the official library's defaults: product, ignorematch, U(0, 1) start).
    """
    check_choice("kind", kind, HEADS)
    if kind == "linear":
        return StackedLinear(in_features, classes, seeds)
    if kind == "cosine":
        return CosineHead(in_features, classes, seeds)
    if kind == "mlp":
        return StackedMLP([in_features, check_int("mlp_hidden", mlp_hidden, 1), classes], seeds)
    return TverskyProjection(in_features, classes, n_features, seeds)


def head_parameter_count(head: nn.Module) -> int:
    """Parameters of one replicate of a stacked head (every tensor's leading dimension is R)."""
    return sum(p[0].numel() for p in head.parameters())


class DigitsNet(nn.Module):
    """R replicates of an encoder ``64 → hidden → embed`` (ReLU between, none after, like the
    official MNIST example's last convolution) followed by one head (``make_head``)."""

    def __init__(
        self,
        head: str,
        seeds: Sequence[int],
        hidden: int = 64,
        embed: int = 32,
        classes: int = 10,
        n_features: int = 16,
        mlp_hidden: int = 20,
    ) -> None:
        super().__init__()
        seeds = _check_seeds(seeds)
        check_int("hidden", hidden, 1)
        check_int("embed", embed, 1)
        self.encoder = StackedMLP([64, hidden, embed], seeds)  # the same start for every head
        self.head = make_head(
            head, embed, classes, [s * 16 + 7 for s in seeds], n_features, mlp_hidden
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(x))


@dataclass(frozen=True)
class DigitsResult:
    """Per replicate: the epoch chosen on validation, validation and test accuracy there, and the
    validation curve (one value per epoch)."""

    epoch: tuple[int, ...]
    val: tuple[float, ...]
    test: tuple[float, ...]
    val_curve: tuple[tuple[float, ...], ...]


def _accuracy(net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return (net(x).argmax(-1) == y).float().mean(-1)  # (R,)


def train_classifier(
    net: DigitsNet,
    splits: dict[str, tuple[torch.Tensor, torch.Tensor]],
    seeds: Sequence[int],
    epochs: int = 30,
    batch_size: int = 64,
    lr: float = 3e-3,
) -> DigitsResult:
    """Train R stacked replicates of a classifier at once with Adam on minibatches; pick each
    replicate's epoch by its validation accuracy and report the test accuracy of that epoch.

    ``net`` maps x (R, n, d) to logits (R, n, C). ``splits``: ``{'fit': (x, y), 'val': (x, y),
    'test': (x, y)}`` with x (R, n, d) and y (R, n): replicate r has its own split. Minibatch order
    comes from each replicate's seed. The test accuracy is recorded every epoch but only the one at
    the epoch chosen on validation is returned.
    """
    seeds = _check_seeds(seeds)
    if not isinstance(splits, dict) or not {"fit", "val", "test"} <= set(splits):
        got = sorted(splits) if isinstance(splits, dict) else type(splits).__name__
        raise ValueError(
            f"splits must be a dict of 'fit', 'val' and 'test' (x, y) pairs, got {got}"
        )
    check_int("epochs", epochs, 1)
    check_int("batch_size", batch_size, 1)
    check_float("lr", lr, 0.0, 10.0, low_open=True)
    x, y = splits["fit"]
    r, n = y.shape
    if r != len(seeds):
        raise ValueError(f"the splits hold {r} replicates but {len(seeds)} seeds were given")
    gens = [torch.Generator().manual_seed(int(s) + 99) for s in seeds]
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    rows = torch.arange(r)[:, None]
    val_curve, test_curve = [], []
    for _ in range(epochs):
        order = torch.stack([torch.randperm(n, generator=g) for g in gens])  # (R, n)
        for start in range(0, n, batch_size):
            idx = order[:, start : start + batch_size]
            logits = net(x[rows, idx])  # (R, b, 10)
            loss = F.cross_entropy(logits.flatten(0, 1), y[rows, idx].flatten(), reduction="sum")
            opt.zero_grad(set_to_none=True)
            (loss / idx.shape[1]).backward()
            opt.step()
        val_curve.append(_accuracy(net, *splits["val"]))
        test_curve.append(_accuracy(net, *splits["test"]))
    val = torch.stack(val_curve, 1)  # (R, epochs)
    best = val.argmax(1)  # the first epoch with the best validation accuracy
    test = torch.stack(test_curve, 1)[torch.arange(r), best]
    return DigitsResult(
        epoch=tuple(int(e) + 1 for e in best),
        val=tuple(float(v) for v in val[torch.arange(r), best]),
        test=tuple(float(t) for t in test),
        val_curve=tuple(tuple(float(v) for v in row) for row in val),
    )


def digits_splits(
    seeds: Sequence[int], val_fraction: float = 0.2
) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """One stratified fit / validation / test split of scikit-learn's digits per replicate seed,
    stacked: x (R, n, 64) standardised with the replicate's training mean and std, y (R, n).

    The test set is a quarter of the data (``helpers.data.digits``); ``val_fraction`` of the rest
    is held out for every choice (epoch, learning rate).
    """
    from helpers.core.data import digits

    seeds = _check_seeds(seeds)
    val_fraction = check_float(
        "val_fraction", val_fraction, 0.0, 1.0, low_open=True, high_open=True
    )
    parts: dict[str, list[tuple[torch.Tensor, torch.Tensor]]] = {"fit": [], "val": [], "test": []}
    for s in seeds:
        split = digits(seed=int(s) % 2**32)
        g = torch.Generator().manual_seed(int(s))
        fit_idx, val_idx = [], []
        for c in range(10):  # stratified: the same share of every class goes to validation
            idx = (split.y_train == c).nonzero().flatten()
            idx = idx[torch.randperm(len(idx), generator=g)]
            cut = round(val_fraction * len(idx))
            val_idx.append(idx[:cut])
            fit_idx.append(idx[cut:])
        fit, val = torch.cat(fit_idx).sort().values, torch.cat(val_idx).sort().values
        parts["fit"].append((split.x_train[fit], split.y_train[fit]))
        parts["val"].append((split.x_train[val], split.y_train[val]))
        parts["test"].append((split.x_test, split.y_test))
    return {
        name: (torch.stack([x for x, _ in rows]), torch.stack([y for _, y in rows]))
        for name, rows in parts.items()
    }


def subset_classes(
    splits: dict[str, tuple[torch.Tensor, torch.Tensor]], classes: Sequence[int]
) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """The examples of ``classes`` only, relabelled 0, 1, … in the given order.

    Replicates may hold a few more examples of a class than others; every replicate keeps the
    smallest count (its first examples), so the result stacks again.
    """
    classes = [
        check_int(f"classes[{i}]", c, 0)
        for i, c in enumerate(check_list("classes", classes, "a list of class labels", 2))
    ]
    out = {}
    for name, (x, y) in splits.items():
        keep = torch.zeros_like(y, dtype=torch.bool)
        new_y = torch.zeros_like(y)
        for i, c in enumerate(classes):
            keep |= y == c
            new_y[y == c] = i
        n = int(keep.sum(1).min())
        idx = [row.nonzero().flatten()[:n] for row in keep]
        out[name] = (
            torch.stack([x[r, i] for r, i in enumerate(idx)]),
            torch.stack([new_y[r, i] for r, i in enumerate(idx)]),
        )
    return out


def embed(
    encoder: nn.Module, splits: dict[str, tuple[torch.Tensor, torch.Tensor]]
) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Every split passed through a frozen (stacked) encoder: the features an adapter head sees."""
    with torch.no_grad():
        return {name: (encoder(x), y) for name, (x, y) in splits.items()}
