"""ReLU-KAN and AF-KAN layers against a plain MLP at matched parameter counts (notebook 15).

Introduced in notebook 15. The formulas follow the official code:

- **ReLU-KAN** (Qiu et al. 2024, github.com/quiqi/relu_kan ``torch_relu_kan.py``; the variant the
  AF-KAN paper compares against is All-KAN's ``models/relu_kan.py``). With grid size G and order k
  there are G + k basis functions per input, with knots ``s_i = (i - k - 1)/G`` and
  ``e_i = s_i + (k + 1)/G`` for i = 1..G+k:

      R_i(x) = [ReLU(e_i - x) · ReLU(x - s_i)]² · 16 / (e_i - s_i)⁴

  a smooth bump on [s_i, e_i] with peak 1 at its middle (the code multiplies by
  ``r = 4G²/(k+1)²`` before squaring, which is the same). The layer is a dense map of the
  D·(G+k) responses (the paper writes it as a full-kernel Conv2d): ``y_q = Σ_{p,i} w_{q,p,i} R_i(x_p) + b_q``.
- **AF-KAN** (Ta & Tran 2025, github.com/hoangthangta/All-KAN ``models/af_kan.py``, its documented
  setting: SiLU, ``quad1``, ``global_attn``, no basis normalisation): with ``x1 = SiLU(x - s_i)`` and
  ``x2 = SiLU(e_i - x)`` the basis is ``φ_i(x) = (x1·x2)²``; the G+k responses of each input are
  *summed*, each input dimension d gets a gate ``a_d = softmax_d(Linear_{G+k→1}(φ(x_d)) / max(T, 1))``
  (softmax over the D input dimensions, T learned, starting at √D), then
  ``y = W · SiLU(LayerNorm(a ⊙ Σ_i φ_i(x)))`` with a bias-free W. The knots are learned and shared
  by all inputs.
- **MLP**: Linear (with bias), SiLU on hidden layers only, linear logits.

Parameters are counted as the All-KAN repository counts them (only tensors that receive a gradient);
these modules register nothing else. ``parameter_count`` gives the count from the widths alone and
``width_for_budget`` picks the hidden width that comes closest to a parameter budget.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from helpers.plumbing.params import check_choice, check_float, check_int, check_list, check_tensor

__all__ = [
    "KINDS",
    "knots",
    "relu_kan_basis",
    "af_kan_basis",
    "ReLUKANLayer",
    "AFKANLayer",
    "make_model",
    "parameter_count",
    "count_trainable",
    "width_for_budget",
    "forward_flops",
    "ADAMW_FLOPS_PER_PARAMETER",
    "train_step_flops",
    "FitResult",
    "fit_classifier",
    "step_time",
    "target_1d",
    "fit_1d",
]

#: The four models of the comparison: AF-KAN without its basis is the control (x itself is the one
#: "basis response" of each input; everything else as in AF-KAN).
KINDS = ("MLP", "ReLU-KAN", "AF-KAN", "AF-KAN, no basis")


def knots(grid: int, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The ReLU-KAN knots ``s_i = (i - k - 1)/G`` and ``e_i = s_i + (k + 1)/G``, i = 1..G+k.

    The G+k bumps cover ``[-k/G, 1 + k/G]``; every point of [0, 1] lies in k + 1 of them.
    """
    grid = check_int("grid", grid, low=1)
    k = check_int("k", k, low=0)
    low = torch.arange(-k, grid, dtype=torch.float32) / grid
    return low, low + (k + 1) / grid


def relu_kan_basis(x: torch.Tensor, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
    """R_i(x) = [ReLU(e_i − x)·ReLU(x − s_i)]² · 16/(e_i − s_i)⁴ for every entry of x.

    ``x`` of shape (..., D); ``low``/``high`` of shape (G+k,) or (D, G+k). Returns (..., D, G+k).
    """
    x = x.unsqueeze(-1)  # (..., D, 1)
    r = 4.0 / (high - low) ** 2  # = 4G²/(k+1)² for the default knots
    return (F.relu(high - x) * F.relu(x - low) * r) ** 2


def af_kan_basis(x: torch.Tensor, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
    """AF-KAN's ``quad1`` basis with SiLU: φ_i(x) = [SiLU(x − s_i)·SiLU(e_i − x)]², shape (..., D, G+k).

    Unlike R_i it is not zero outside [s_i, e_i] (SiLU is negative there, then squared) and it is not
    scaled to a peak of 1: the official code applies no factor.
    """
    x = x.unsqueeze(-1)
    return (F.silu(x - low) * F.silu(high - x)) ** 2


class ReLUKANLayer(nn.Module):
    """One ReLU-KAN layer: basis responses of every input, then a dense map (the paper's Conv2d).

    ``norm=True`` puts a LayerNorm before the basis and ``train_knots=True`` learns per-input knots,
    as All-KAN's variant (the one the AF-KAN paper compares against); the original keeps both off.
    """

    def __init__(
        self, d_in: int, d_out: int, grid: int = 3, k: int = 3, norm: bool = True,
        train_knots: bool = True,
    ) -> None:  # fmt: skip
        super().__init__()
        self.d_in, self.d_out = check_int("d_in", d_in, low=1), check_int("d_out", d_out, low=1)
        low, high = knots(grid, k)
        low, high = low.expand(d_in, -1).clone(), high.expand(d_in, -1).clone()  # (D, G+k)
        self.low = nn.Parameter(low, requires_grad=train_knots)
        self.high = nn.Parameter(high, requires_grad=train_knots)
        self.norm = nn.LayerNorm(d_in) if norm else nn.Identity()
        self.linear = nn.Linear(d_in * low.shape[1], d_out)  # the full-kernel Conv2d

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        basis = relu_kan_basis(self.norm(x), self.low, self.high)  # (B, D, G+k)
        return self.linear(basis.flatten(1))  # y_q = Σ_{p,i} w_{q,p,i} R_i(x_p) + b_q


class AFKANLayer(nn.Module):
    """One AF-KAN layer (SiLU, quad1, global_attn): y = W·SiLU(LN(a ⊙ Σ_i φ_i(x))), W without bias.

    ``basis=False`` is the control: the basis sum Σ_i φ_i(x_d) is replaced by x_d itself (one
    response per input), so the layer is a gated LayerNorm–SiLU–Linear block. ``norm=False`` drops
    the LayerNorm (a LayerNorm over one feature is constant: the 1-D fit needs it off).
    """

    def __init__(
        self, d_in: int, d_out: int, grid: int = 3, k: int = 3, norm: bool = True,
        basis: bool = True,
    ) -> None:  # fmt: skip
        super().__init__()
        self.d_in, self.d_out = check_int("d_in", d_in, low=1), check_int("d_out", d_out, low=1)
        self.use_basis = basis
        low, high = knots(grid, k)
        n_basis = low.shape[0] if basis else 1
        self.low = nn.Parameter(low) if basis else None  # shared by all inputs, learned
        self.high = nn.Parameter(high) if basis else None
        self.score = nn.Linear(n_basis, 1)  # the official gk_linear: scores each input dimension
        self.temperature = nn.Parameter(torch.tensor(math.sqrt(d_in)))
        self.norm = nn.LayerNorm(d_in) if norm else nn.Identity()
        self.weight = nn.Parameter(torch.empty(d_out, d_in))
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))  # as the official base_weight

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.use_basis:
            phi = af_kan_basis(x, self.low, self.high)  # (B, D, G+k)
        else:
            phi = x.unsqueeze(-1)  # (B, D, 1)
        gate = F.softmax(self.score(phi) / self.temperature.clamp(min=1.0), dim=-2)  # over D
        z = (phi * gate).sum(-1)  # = a_d · Σ_i φ_i(x_d), shape (B, D)
        return F.linear(F.silu(self.norm(z)), self.weight)


def _check_kind(kind: str) -> str:
    return check_choice("kind", kind, KINDS)


def _check_widths(widths: Sequence[int]) -> list[int]:
    widths = check_list("widths", widths, "a list of at least two layer widths", min_len=2)
    return [check_int(f"widths[{i}]", w, low=1) for i, w in enumerate(widths)]


def make_model(
    kind: str, widths: Sequence[int], grid: int = 3, k: int = 3, norm: bool = True
) -> nn.Sequential:
    """A network of ``kind`` (one of ``KINDS``) with layer widths ``widths`` = [d_in, h..., d_out].

    MLP: Linear + SiLU between layers, linear logits. ReLU-KAN: All-KAN's layers (LayerNorm and
    per-input knots when ``norm``; fixed knots and no LayerNorm otherwise, the original). AF-KAN:
    stacked AF-KAN layers (the last one's output are the logits, as in the official model).
    """
    kind = _check_kind(kind)
    widths = _check_widths(widths)
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
        if kind == "MLP":
            layers.append(nn.Linear(a, b))
            if i < len(widths) - 2:
                layers.append(nn.SiLU())
        elif kind == "ReLU-KAN":
            layers.append(ReLUKANLayer(a, b, grid, k, norm=norm, train_knots=norm))
        else:
            layers.append(AFKANLayer(a, b, grid, k, norm=norm, basis=kind == "AF-KAN"))
    return nn.Sequential(*layers)


def count_trainable(model: nn.Module) -> int:
    """Parameters that can receive a gradient (the All-KAN repository's count)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def parameter_count(
    kind: str, widths: Sequence[int], grid: int = 3, k: int = 3, norm: bool = True
) -> int:
    """The trainable parameters of ``make_model(kind, widths, grid, k, norm)``, from the widths alone."""
    kind = _check_kind(kind)
    widths = _check_widths(widths)
    n = check_int("grid", grid, low=1) + check_int("k", k, low=0)
    total = 0
    for a, b in zip(widths[:-1], widths[1:]):
        if kind == "MLP":
            total += a * b + b
        elif kind == "ReLU-KAN":
            total += a * n * b + b + ((2 * a + 2 * a * n) if norm else 0)  # LN, per-input knots
        else:
            m = n if kind == "AF-KAN" else 1
            knots_ = 2 * n if kind == "AF-KAN" else 0
            total += b * a + (m + 1) + 1 + knots_ + (2 * a if norm else 0)  # W, score, T, knots, LN
    return total


def width_for_budget(
    kind: str, budget: int, d_in: int, d_out: int, grid: int = 3, k: int = 3, norm: bool = True
) -> int:
    """The hidden width h of a [d_in, h, d_out] network whose parameter count is closest to ``budget``."""
    budget = check_int("budget", budget, low=1)
    check_int("d_in", d_in, low=1)
    check_int("d_out", d_out, low=1)
    best = min(
        range(1, 4097),
        key=lambda h: abs(parameter_count(kind, [d_in, h, d_out], grid, k, norm) - budget),
    )
    return best


def forward_flops(kind: str, widths: Sequence[int], grid: int = 3, k: int = 3) -> int:
    """Floating-point operations of one example's forward pass, counted by hand (see the notebook).

    A multiply-add is 2 FLOPs. Elementwise: ReLU, a subtraction, a product, a square count 1 each;
    SiLU counts 4 (exp, add, divide, multiply); LayerNorm over D counts 5·D; a softmax over D, 3·D.
    """
    kind = _check_kind(kind)
    widths = _check_widths(widths)
    n = check_int("grid", grid, low=1) + check_int("k", k, low=0)
    total = 0
    for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
        hidden = i < len(widths) - 2
        if kind == "MLP":
            total += 2 * a * b + (4 * b if hidden else 0)
        elif kind == "ReLU-KAN":
            # LN; per (input, basis): 2 subtractions, 2 ReLUs, 2 products (incl. r), 1 square
            total += 5 * a + 7 * a * n + 2 * a * n * b
        else:
            m = n if kind == "AF-KAN" else 1
            basis = (
                (2 + 2 * 4 + 1 + 1) * a * n if kind == "AF-KAN" else 0
            )  # subs, SiLUs, prod, square
            gate = 2 * a * m + a + 3 * a + 2 * a * m  # score, temperature, softmax, weighted sum
            total += basis + gate + 5 * a + 4 * a + 2 * a * b  # LN, SiLU, W
    return total


#: FLOPs of one AdamW update, per parameter: weight decay 1, first moment 3, second moment 4,
#: denominator 3 (square root, bias correction, epsilon), the step itself 3 (divide, scale, subtract).
ADAMW_FLOPS_PER_PARAMETER = 14


def train_step_flops(
    kind: str, widths: Sequence[int], grid: int = 3, k: int = 3, batch_size: int = 64
) -> int:
    """Floating-point operations of one training step on ``batch_size`` examples, counted by hand.

    Forward, backward and the AdamW update. The backward pass counts as twice the forward pass (each
    matrix product needs a gradient for its input and one for its weights, the usual rule), so a step
    costs ``3 * forward_flops`` per example plus ``ADAMW_FLOPS_PER_PARAMETER`` per parameter; the loss
    is left out (the same for every model). Unlike a measured time, this count is the same on every
    run and machine, which is why notebook 15's cost claim rests on it.
    """
    batch_size = check_int("batch_size", batch_size, low=1)
    per_example = forward_flops(kind, widths, grid, k)
    update = ADAMW_FLOPS_PER_PARAMETER * parameter_count(kind, widths, grid, k)
    return 3 * per_example * batch_size + update


@dataclass
class FitResult:
    """One training run: the epoch and learning rate chosen on validation, and what they gave."""

    lr: float
    epoch: int
    val_accuracy: float
    test_accuracy: float
    seconds: float
    history: list[float] = field(default_factory=list)  # validation accuracy per epoch


def _accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return (model(x).argmax(1) == y).float().mean().item()


def fit_classifier(
    model: nn.Module,
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    x_val: torch.Tensor,
    y_val: torch.Tensor,
    *,
    epochs: int,
    lr: float,
    seed: int,
    batch_size: int = 64,
    gamma: float = 0.8,
    weight_decay: float = 1e-4,
) -> tuple[nn.Module, FitResult]:
    """Train with AdamW and an exponential schedule (the All-KAN recipe), shuffling every epoch.

    Keeps the weights of the epoch with the best validation accuracy (the official script picks it on
    the test set; here the test set is never seen). ``test_accuracy`` is left NaN: the caller reads the
    test set once, for the setting chosen on validation.
    """
    epochs = check_int("epochs", epochs, low=1)
    lr = check_float("lr", lr, 0.0, 1.0, low_open=True)
    gamma = check_float("gamma", gamma, 0.0, 1.0, low_open=True)
    generator = torch.Generator().manual_seed(check_int("seed", seed, low=0))
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    schedule = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=gamma)
    best, best_state, history, start = -1.0, None, [], time.perf_counter()
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(len(y_train), generator=generator).to(x_train.device)
        for i in range(0, len(order), batch_size):
            batch = order[i : i + batch_size]
            loss = F.cross_entropy(model(x_train[batch]), y_train[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        schedule.step()
        model.eval()
        history.append(_accuracy(model, x_val, y_val))
        if history[-1] > best:
            best, best_epoch = history[-1], epoch + 1
            best_state = {n: t.detach().clone() for n, t in model.state_dict().items()}
    seconds = time.perf_counter() - start
    model.load_state_dict(best_state)
    return model, FitResult(lr, best_epoch, best, math.nan, seconds, history)


def step_time(
    models: dict[str, nn.Module], x: torch.Tensor, y: torch.Tensor, steps: int = 20, rounds: int = 5
) -> dict[str, float]:
    """Median seconds per training step (forward, backward, AdamW step) of each model, timed in turns.

    Timing the models in turns, round after round, spreads any load on the machine over all of them,
    so their *ratios* are fair even when the absolute times are not.
    """
    check_int("steps", steps, low=1)
    check_int("rounds", rounds, low=1)
    check_tensor("x", x)
    copies = {name: _copy(m) for name, m in models.items()}
    optimizers = {n: torch.optim.AdamW(m.parameters(), lr=1e-6) for n, m in copies.items()}
    times: dict[str, list[float]] = {name: [] for name in models}
    for _ in range(rounds):
        for name, model in copies.items():
            start = time.perf_counter()
            for _ in range(steps):
                loss = F.cross_entropy(model(x), y)
                optimizers[name].zero_grad()
                loss.backward()
                optimizers[name].step()
            times[name].append((time.perf_counter() - start) / steps)
    return {name: sorted(t)[len(t) // 2] for name, t in times.items()}


def _copy(model: nn.Module) -> nn.Module:
    import copy

    return copy.deepcopy(model)


def target_1d(x: torch.Tensor) -> torch.Tensor:
    """The 1-D function of the fit: y = sin(πx) + x²."""
    return torch.sin(math.pi * x) + x**2


def fit_1d(
    model: nn.Module,
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    x_val: torch.Tensor,
    y_val: torch.Tensor,
    *,
    steps: int,
    lr: float,
    check_every: int = 50,
) -> tuple[nn.Module, float]:
    """Full-batch Adam on the mean squared error; keeps the weights with the lowest validation MSE.

    Returns the model (best weights loaded) and that validation MSE.
    """
    steps = check_int("steps", steps, low=1)
    lr = check_float("lr", lr, 0.0, 1.0, low_open=True)
    check_every = check_int("check_every", check_every, low=1)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    best, best_state = math.inf, None
    for step in range(1, steps + 1):
        loss = F.mse_loss(model(x_train), y_train)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % check_every == 0 or step == steps:
            with torch.no_grad():
                val = F.mse_loss(model(x_val), y_val).item()
            if val < best:
                best = val
                best_state = {n: t.detach().clone() for n, t in model.state_dict().items()}
    if best_state is not None:  # a diverged run (NaN throughout) keeps its last weights
        model.load_state_dict(best_state)
    return model, best
