"""Modular growth of recurrent networks along an N-parity curriculum (in the spirit of Hamidi et al. 2024).

Introduced in notebook 09. Four pieces, each small:

1. **The N-parity curriculum** (``nparity_batch``): a stream of random bits; at every step ``t`` the
   label of task N is the parity of the last N bits, ``y_t^{(N)} = (x_{t-N+1} + ... + x_t) mod 2``.
   A curriculum trains N = 2, then 3, 4, 5, keeping the earlier tasks.
2. **Two growable RNNs** with one read-out head per task, computing

       h_t = φ(W h_{t-1} + U x_t + b),      logits_t^{(k)} = R_k h_t + c_k

   - ``ModularRNN``: modules of ``module_size`` units added one per stage. ``W`` is block-structured:
     the diagonal blocks are the modules' own recurrent weights, the blocks just below the diagonal
     are the feed-forward weights from module d-1 to module d; everything else is zero. Head k reads
     module k only. So a modular RNN is an RNN with a *structured sparse* recurrent matrix.
   - ``MonolithicRNN``: the same number of units from the start, a dense ``W``, and every head
     reads every unit.
3. **Training to a criterion** (``train_stage``, ``grow_curriculum``): at each stage, train until
   every active head reaches the criterion accuracy on a held-out batch, or the step budget runs out,
   and report the steps it took. ``set_trainable`` chooses what may change: old modules frozen or
   fine-tuned, the modules' own recurrent weights fixed at their random start, or (a control) no
   recurrence of their own at all above the first module. ``train_streams`` trains on one small
   fixed set of streams instead of fresh ones, for a generalisation test.
4. **Robustness and generalisation** (``noise_curve``, ``ablation_curve``, ``length_curve``):
   accuracy under relative Gaussian noise on the recurrent weights, with a fraction of units
   silenced, and on sequences longer than those seen in training.

Why the hierarchy suits N-parity: parity over the last N bits is the current bit XOR the parity of
the N-1 bits before it, ``y_t^{(N)} = x_t ⊕ y_{t-1}^{(N-1)}``. Module d sees ``x_t`` and module d-1's
state from the previous step, so each new module only has to learn one XOR on top of the module
below it. The first author's growth code (LevinaLab/rnn_timescale_public, pull request 3,
``RNN_Hierarchical``) wires its modules the same way: every module reads ``x_t`` and module d-1's
state at ``t-1``. A consequence worth knowing: on this curriculum a module above the first needs
no memory of its own (``'no_intra'`` shows it), so fixed intra-module weights cannot fail there.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from helpers.plumbing.params import (
    check_choice,
    check_float,
    check_generator,
    check_int,
    check_list,
    check_tensor,
    check_type,
)
from helpers.plumbing.runtime import resolve_device
from helpers.plumbing.verdicts import VERDICTS, Comparison, compare

__all__ = [
    "IGNORE",
    "STRATEGIES",
    "parity_labels",
    "nparity_batch",
    "ModularRNN",
    "MonolithicRNN",
    "set_trainable",
    "head_accuracies",
    "StageResult",
    "checked_heads",
    "train_stage",
    "build_model",
    "matched_hidden_size",
    "grow_curriculum",
    "perturbed_copy",
    "noise_curve",
    "ablation_curve",
    "length_curve",
    "pairwise_comparisons",
]

#: Label value for steps without a target (fewer than N bits seen yet); ``cross_entropy`` skips it.
IGNORE = -100

#: How a stage decides what is trained (see ``set_trainable``).
STRATEGIES = ("monolithic", "frozen", "finetune", "fixed_intra", "no_intra")

_ACTIVATIONS = {"leaky_relu": F.leaky_relu, "relu": F.relu, "tanh": torch.tanh}


# --- the N-parity curriculum ---------------------------------------------------------------------
def _check_orders(orders: Sequence[int]) -> list[int]:
    orders = check_list("orders", orders, "a non-empty list of positive integers")
    if not orders or any(isinstance(n, bool) or not isinstance(n, int) or n < 1 for n in orders):
        raise ValueError(f"orders must be a non-empty list of positive integers, got {orders!r}")
    return orders


def parity_labels(bits: torch.Tensor, order: int, supervise: str = "all") -> torch.Tensor:
    """Parity of the last ``order`` bits at every step of ``bits`` (shape (B, T), values 0/1).

    Returns (B, T) longs: ``(x_{t-N+1} + ... + x_t) mod 2`` where ``t >= N - 1``, ``IGNORE`` before.
    With ``supervise='last'`` only the final step keeps its label.
    """
    check_tensor("bits", bits)
    if bits.dim() != 2:
        raise ValueError(f"bits must have shape (batch, time), got {tuple(bits.shape)}")
    if bits.is_complex() or not bool(((bits == 0) | (bits == 1)).all()):
        raise ValueError("bits must hold only the values 0 and 1")
    check_int("order", order, 1)
    _check_supervise(supervise)
    _check_long_enough(bits.shape[1], [order])
    counts = F.pad(bits.long().cumsum(1), (1, 0))  # (B, T+1): counts[:, t] = x_0 + ... + x_{t-1}
    window = counts[:, order:] - counts[:, :-order]  # (B, T-N+1): sum of x_{t-N+1..t} for t >= N-1
    labels = torch.full_like(counts[:, 1:], IGNORE)
    labels[:, order - 1 :] = window % 2
    if supervise == "last":
        labels[:, :-1] = IGNORE
    return labels


def _check_supervise(supervise: str) -> None:
    check_choice("supervise", supervise, ("all", "last"))


def _check_long_enough(length: int, orders: list[int]) -> None:
    if length < max(orders):
        raise ValueError(
            f"streams of length {length} are too short for {max(orders)}-parity (the largest of "
            f"orders): they need at least {max(orders)} steps"
        )


def nparity_batch(
    batch_size: int,
    length: int,
    orders: Sequence[int],
    generator: torch.Generator | None = None,
    device: torch.device | str = "cpu",
    supervise: str = "all",
) -> tuple[torch.Tensor, torch.Tensor]:
    """A fresh batch of random bit streams and their N-parity labels for every N in ``orders``.

    Returns ``x`` of shape (batch, length, 1) (floats 0/1) and ``y`` of shape (len(orders), batch,
    length). Bits are drawn on the CPU with ``generator``, so a seed gives the same data everywhere.
    """
    orders = _check_orders(orders)
    for name, value in (("batch_size", batch_size), ("length", length)):
        check_int(name, value, 1)
    _check_supervise(supervise)
    _check_long_enough(length, orders)
    check_generator("generator", generator)
    device = resolve_device(device)  # every check comes before the first draw from generator
    bits = torch.randint(0, 2, (batch_size, length), generator=generator)
    y = torch.stack([parity_labels(bits, n, supervise) for n in orders])
    return bits.float().unsqueeze(-1).to(device), y.to(device)


# --- the two growable networks -------------------------------------------------------------------


def _check_positive_ints(**values: object) -> None:
    """Raise ValueError naming the first argument that is not a positive integer."""
    for name, value in values.items():
        check_int(name, value, 1)


class _GrowingRNN(nn.Module):
    """What both networks share: the unrolled recurrence and the growth counter.

    A subclass provides ``recurrent_matrix()``, ``input_matrix()``, ``bias_vector()`` (all for the
    active units), ``readout(hs)`` and ``recurrent_weights()`` (the tensors weight noise perturbs).
    """

    def __init__(self, max_stages: int, activation: str, name: str = "max_stages") -> None:
        super().__init__()
        check_int(name, max_stages, 1)  # the number of modules or heads
        check_choice("activation", activation, sorted(_ACTIVATIONS))
        self.max_stages = max_stages
        self.activation = activation
        # How many stages (modules or heads) are active; a buffer so it survives state_dict and copies.
        self.register_buffer("active", torch.tensor(1))

    @property
    def stages(self) -> int:
        """The number of active stages: modules (modular) or heads (monolithic)."""
        return int(self.active)

    def grow(self) -> None:
        """Activate the next stage (a new module with its head, or a new head)."""
        if self.stages >= self.max_stages:
            raise ValueError(f"the network already has all {self.max_stages} stages")
        self.active += 1

    @property
    def hidden_size(self) -> int:
        """Number of active hidden units."""
        return self.recurrent_matrix().shape[0]

    def forward(self, x: torch.Tensor, unit_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Logits of every active head at every step: (stages, batch, time, classes).

        ``x`` is (batch, time, inputs). ``unit_mask`` (hidden_size,) of 0/1 silences units (ablation).
        """
        check_tensor("x", x)
        w, u, b = self.recurrent_matrix(), self.input_matrix(), self.bias_vector()
        if x.dim() != 3 or x.shape[2] != u.shape[1] or not x.is_floating_point():
            raise ValueError(
                f"x must be a float tensor of shape (batch, time, {u.shape[1]}), "
                f"got {tuple(x.shape)} ({x.dtype})"
            )
        if unit_mask is not None:
            check_tensor("unit_mask", unit_mask)
        if unit_mask is not None and unit_mask.shape != (w.shape[0],):
            raise ValueError(
                f"unit_mask must have shape ({w.shape[0]},), got {tuple(unit_mask.shape)}"
            )
        phi = _ACTIVATIONS[self.activation]
        drive = x @ u.T + b  # (B, T, H): U x_t + b for every step at once
        h = x.new_zeros(x.shape[0], w.shape[0])  # (B, H), the state before the first bit
        states = []
        for t in range(x.shape[1]):
            h = phi(h @ w.T + drive[:, t])  # h_t = φ(W h_{t-1} + U x_t + b)
            if unit_mask is not None:
                h = h * unit_mask
            states.append(h)
        return self.readout(torch.stack(states, dim=1))  # states: (B, T, H)


def _normal(rows: int, cols: int, std: float, generator: torch.Generator | None) -> nn.Parameter:
    return nn.Parameter(torch.randn(rows, cols, generator=generator) * std)


def _head(inputs: int, classes: int, generator: torch.Generator | None) -> nn.Linear:
    """A read-out ``nn.Linear`` with PyTorch's default uniform init, drawn from ``generator``."""
    head = nn.Linear(inputs, classes)
    bound = inputs**-0.5
    with torch.no_grad():
        head.weight.copy_(torch.rand(head.weight.shape, generator=generator) * 2 * bound - bound)
        head.bias.copy_(torch.rand(head.bias.shape, generator=generator) * 2 * bound - bound)
    return head


class ModularRNN(_GrowingRNN):
    """Modules of ``module_size`` units, grown one per curriculum stage (notebook 09).

    Module d has input weights ``w_in[d]``, its own recurrent weights ``w_hh[d]`` and bias, a
    feed-forward matrix ``w_ff[d-1]`` from module d-1 (for d > 0) and its read-out head ``heads[d]``.
    All ``max_modules`` modules are built at once (so a seed fixes every one of them); ``grow``
    switches the next one on. Recurrent and feed-forward weights start as N(0, 1/module_size).
    """

    def __init__(
        self,
        module_size: int,
        max_modules: int,
        input_size: int = 1,
        num_classes: int = 2,
        activation: str = "leaky_relu",
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__(max_modules, activation, "max_modules")
        _check_positive_ints(
            module_size=module_size, input_size=input_size, num_classes=num_classes
        )
        check_generator("generator", generator)
        m = module_size
        self.module_size = m
        g = generator
        self.w_in = nn.ParameterList([_normal(m, input_size, 1.0, g) for _ in range(max_modules)])
        self.w_hh = nn.ParameterList([_normal(m, m, m**-0.5, g) for _ in range(max_modules)])
        self.w_ff = nn.ParameterList([_normal(m, m, m**-0.5, g) for _ in range(max_modules - 1)])
        self.b = nn.ParameterList([nn.Parameter(torch.zeros(m)) for _ in range(max_modules)])
        self.heads = nn.ModuleList([_head(m, num_classes, g) for _ in range(max_modules)])

    def recurrent_matrix(self) -> torch.Tensor:
        """W of the active modules: own weights on the diagonal, feed-forward just below it."""
        k, m = self.stages, self.module_size
        w = torch.block_diag(*self.w_hh[:k])  # (k·m, k·m)
        if k > 1:
            ff = torch.block_diag(*self.w_ff[: k - 1])  # ((k-1)·m, (k-1)·m)
            w = w + F.pad(ff, (0, m, m, 0))  # shift down one module: rows of d, columns of d-1
        return w

    def input_matrix(self) -> torch.Tensor:
        return torch.cat(list(self.w_in[: self.stages]))  # (k·m, inputs)

    def bias_vector(self) -> torch.Tensor:
        return torch.cat(list(self.b[: self.stages]))  # (k·m,)

    def readout(self, hs: torch.Tensor) -> torch.Tensor:
        m = self.module_size
        return torch.stack(
            [self.heads[d](hs[..., d * m : (d + 1) * m]) for d in range(self.stages)]
        )

    def recurrent_weights(self) -> list[nn.Parameter]:
        """The active modules' own recurrent and feed-forward matrices (what weight noise hits)."""
        return [*self.w_hh[: self.stages], *self.w_ff[: self.stages - 1]]

    def module_parameters(self, d: int) -> dict[str, list[nn.Parameter]]:
        """Module d's parameters by role: 'intra' (its W_hh), 'inter' (input and feed-forward in),
        'bias' and 'head'."""
        check_int("d", d, 0, self.max_stages - 1)  # the module index
        inter = [self.w_in[d]] + ([self.w_ff[d - 1]] if d > 0 else [])
        return {
            "intra": [self.w_hh[d]],
            "inter": inter,
            "bias": [self.b[d]],
            "head": list(self.heads[d].parameters()),
        }


class MonolithicRNN(_GrowingRNN):
    """One dense RNN of ``hidden_size`` units with a head per task, all heads reading all units.

    The non-modular baseline of notebook 09: the full size from the start; ``grow`` adds a head.
    Recurrent weights start as N(0, 1/hidden_size), input weights as N(0, 1), as in ``ModularRNN``.
    """

    def __init__(
        self,
        hidden_size: int,
        max_heads: int,
        input_size: int = 1,
        num_classes: int = 2,
        activation: str = "leaky_relu",
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__(max_heads, activation, "max_heads")
        _check_positive_ints(
            hidden_size=hidden_size, input_size=input_size, num_classes=num_classes
        )
        check_generator("generator", generator)
        self.w_in = _normal(hidden_size, input_size, 1.0, generator)
        self.w_hh = _normal(hidden_size, hidden_size, hidden_size**-0.5, generator)
        self.b = nn.Parameter(torch.zeros(hidden_size))
        self.heads = nn.ModuleList(
            [_head(hidden_size, num_classes, generator) for _ in range(max_heads)]
        )

    def recurrent_matrix(self) -> torch.Tensor:
        return self.w_hh

    def input_matrix(self) -> torch.Tensor:
        return self.w_in

    def bias_vector(self) -> torch.Tensor:
        return self.b

    def readout(self, hs: torch.Tensor) -> torch.Tensor:
        return torch.stack([self.heads[k](hs) for k in range(self.stages)])

    def recurrent_weights(self) -> list[nn.Parameter]:
        return [self.w_hh]


def _check_model(model: Any) -> None:
    check_type("model", model, _GrowingRNN, "a ModularRNN or MonolithicRNN")


def _check_strategy(model: _GrowingRNN, strategy: str) -> None:
    """``strategy`` must be one of STRATEGIES and fit the model ('monolithic' ⇔ MonolithicRNN)."""
    _check_model(model)
    check_choice("strategy", strategy, STRATEGIES)
    if (strategy == "monolithic") != isinstance(model, MonolithicRNN):
        raise ValueError(
            f"strategy {strategy!r} does not fit a {type(model).__name__}; allowed: 'monolithic' "
            "for a MonolithicRNN, the others for a ModularRNN"
        )
    if strategy == "no_intra" and any(bool(w.any()) for w in model.w_hh[1:]):
        raise ValueError(
            "strategy 'no_intra' needs the modules above the first to have no recurrent weights "
            "(W_hh = 0); build the network with build_model('no_intra', ...)"
        )


def set_trainable(model: _GrowingRNN, strategy: str) -> list[nn.Parameter]:
    """Mark what the current stage may train; return those parameters (for a fresh optimizer).

    - ``'monolithic'``: everything (a ``MonolithicRNN``);
    - ``'frozen'``: only the newest module and its head; older modules stay as they were;
    - ``'finetune'``: every active module;
    - ``'fixed_intra'``: like ``'frozen'``, but each module's own recurrent weights W_hh stay at
      their random initial values: only input, feed-forward, bias and head weights learn;
    - ``'no_intra'`` (a control): like ``'frozen'``, but the modules above the first have no
      recurrent weights of their own (W_hh = 0, never trained); the first keeps and trains its own,
      which 2-parity needs. What such a network can do, its wiring does without module memory.

    Freezing sets ``requires_grad=False``: a frozen tensor gets no gradient, and a new optimizer per
    stage holds no momentum for it, so it cannot drift (Adam's moments would move it otherwise).
    """
    _check_strategy(model, strategy)
    if strategy == "monolithic":
        for p in model.parameters():
            p.requires_grad_(True)
        return list(model.parameters())
    newest = model.stages - 1
    for p in model.parameters():
        p.requires_grad_(False)
    for d in range(model.stages):
        if strategy == "finetune" or d == newest:
            for role, params in model.module_parameters(d).items():
                fixed = strategy == "fixed_intra" or (strategy == "no_intra" and d > 0)
                if not (fixed and role == "intra"):
                    for p in params:
                        p.requires_grad_(True)
    return [p for p in model.parameters() if p.requires_grad]


# --- training to a criterion ---------------------------------------------------------------------
@torch.no_grad()
def head_accuracies(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, unit_mask: torch.Tensor | None = None
) -> list[float]:
    """Accuracy of each active head over the labelled steps of ``(x, y)`` (labels ``IGNORE`` skipped)."""
    logits = model(x, unit_mask=unit_mask)  # (K, B, T, C)
    check_tensor("y", y)
    if y.shape != logits.shape[:-1]:
        raise ValueError(
            f"y must have shape (heads, batch, time) = {tuple(logits.shape[:-1])}, "
            f"got {tuple(y.shape)}"
        )
    accs = []
    for k in range(logits.shape[0]):
        labelled = y[k] != IGNORE
        accs.append((logits[k].argmax(-1) == y[k])[labelled].float().mean().item())
    return accs


def _loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    logits = model(x)  # (K, B, T, C)
    k = logits.shape[0]
    # The sum over active heads of the mean cross-entropy over labelled steps.
    return sum(
        F.cross_entropy(logits[i].flatten(0, 1), y[i].flatten(), ignore_index=IGNORE)
        for i in range(k)
    )


@dataclass
class StageResult:
    """One curriculum stage: the newest task, the steps it took, whether it reached the criterion.

    ``accuracies`` are every active head's held-out accuracies when the stage ended; ``trainable``
    counts the parameters the stage could change, so ``steps * trainable`` is its number of
    parameter updates.
    """

    order: int
    steps: int
    reached: bool
    accuracies: list[float]
    trainable: int
    seconds: float
    losses: list[float] = field(default_factory=list)


def checked_heads(strategy: str, stages: int) -> list[int]:
    """The heads whose accuracy decides when a stage is done.

    Every active head for ``'monolithic'`` and ``'finetune'`` (training may change, and so must
    keep, the old tasks); only the newest for ``'frozen'``, ``'fixed_intra'`` and ``'no_intra'``,
    whose old heads cannot change and so keep the accuracy they ended their own stage with.
    """
    check_choice("strategy", strategy, STRATEGIES)
    check_int("stages", stages, 1)
    frozen_old = ("frozen", "fixed_intra", "no_intra")
    return [stages - 1] if strategy in frozen_old else list(range(stages))


def train_stage(
    model: _GrowingRNN,
    strategy: str,
    orders: Sequence[int],
    eval_data: tuple[torch.Tensor, torch.Tensor],
    *,
    criterion: float = 0.95,
    max_steps: int = 300,
    batch_size: int = 128,
    length: int = 20,
    lr: float = 5e-3,
    eval_every: int = 5,
    generator: torch.Generator | None = None,
    supervise: str = "all",
    train_data: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> StageResult:
    """Train the active heads (tasks ``orders``) until the checked heads reach ``criterion``.

    The loss is the sum of the active heads' cross-entropies. Every step draws a fresh batch of
    ``batch_size`` streams of ``length`` bits, or, if ``train_data`` is given, uses that one fixed
    set ``(x, y)`` (full batch) at every step. Every ``eval_every`` steps ``eval_data`` is scored,
    and the stage stops at the first check where every head in ``checked_heads`` is at least
    ``criterion``, or after ``max_steps``. Each stage gets a new Adam optimizer.
    """
    _check_strategy(model, strategy)
    orders = _check_orders(orders)
    if len(orders) != model.stages:
        raise ValueError(f"{len(orders)} orders for a network with {model.stages} active heads")
    _check_stage_args(criterion, max_steps, batch_size, length, lr, eval_every, supervise)
    _check_long_enough(length, orders)
    _check_eval_data(eval_data, model.stages)
    if train_data is not None:
        _check_eval_data(train_data, model.stages, "train_data")
    check_generator("generator", generator)
    params = set_trainable(model, strategy)  # the first change: every check comes before it
    optimizer = torch.optim.Adam(params, lr=lr)
    heads = checked_heads(strategy, model.stages)
    device = next(model.parameters()).device
    x_eval, y_eval = eval_data

    def done(accs: list[float]) -> bool:
        return min(accs[k] for k in heads) >= criterion

    start = time.perf_counter()
    losses: list[float] = []
    accs = head_accuracies(model, x_eval, y_eval)
    steps = 0
    while not done(accs) and steps < max_steps:
        if train_data is None:
            x, y = nparity_batch(batch_size, length, orders, generator, device, supervise)
        else:
            x, y = train_data
        loss = _loss(model, x, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        steps += 1
        losses.append(loss.item())
        if steps % eval_every == 0 or steps == max_steps:
            accs = head_accuracies(model, x_eval, y_eval)
    return StageResult(
        order=orders[-1],
        steps=steps,
        reached=done(accs),
        accuracies=accs,
        trainable=sum(p.numel() for p in params),
        seconds=time.perf_counter() - start,
        losses=losses,
    )


def _check_stage_args(
    criterion: float = 0.95,
    max_steps: int = 300,
    batch_size: int = 128,
    length: int = 20,
    lr: float = 5e-3,
    eval_every: int = 5,
    supervise: str = "all",
) -> None:
    """The checks of ``train_stage``'s keyword arguments (``grow_curriculum`` runs them first)."""
    check_float("criterion", criterion, 0.0, 1.0, low_open=True)
    for name, value in (
        ("max_steps", max_steps),
        ("batch_size", batch_size),
        ("length", length),
        ("eval_every", eval_every),
    ):
        check_int(name, value, 1)
    check_float("lr", lr, 0.0, low_open=True, finite=True)
    _check_supervise(supervise)


def _check_eval_data(eval_data: Any, stages: int, name: str = "eval_data") -> None:
    """``eval_data`` (or ``name``) must be ``(x, y)`` with x (B, T, inputs) and y (stages, B, T)."""
    check_type(name, eval_data, (tuple, list), "a tuple (x, y) of tensors")
    if len(eval_data) != 2:
        raise ValueError(f"{name} must be a tuple (x, y), got {len(eval_data)} entries")
    x, y = eval_data
    check_tensor(f"{name}[0]", x, dim=3)
    check_tensor(f"{name}[1]", y, dim=3)
    if y.shape != (stages, *x.shape[:2]):
        raise ValueError(
            f"{name}[1] must have shape (heads={stages}, batch, time) = "
            f"{(stages, *x.shape[:2])} to match x, got {tuple(y.shape)}"
        )


def build_model(
    strategy: str,
    module_size: int,
    n_modules: int,
    generator: torch.Generator | None = None,
    activation: str = "leaky_relu",
    hidden_size: int | None = None,
) -> _GrowingRNN:
    """The network a strategy trains, with one stage active.

    ``'monolithic'``: a ``MonolithicRNN`` of ``hidden_size`` units (default ``module_size *
    n_modules``, the modular network's unit count; ``matched_hidden_size`` gives its parameter
    count instead). Otherwise a ``ModularRNN``; for ``'no_intra'`` the modules above the first
    start (and stay) without recurrent weights of their own.
    """
    check_choice("strategy", strategy, STRATEGIES)
    check_int("module_size", module_size, 1)
    check_int("n_modules", n_modules, 1)
    if strategy == "monolithic":
        units = module_size * n_modules if hidden_size is None else hidden_size
        check_int("hidden_size", units, 1)
        return MonolithicRNN(units, n_modules, activation=activation, generator=generator)
    if hidden_size is not None:
        raise ValueError(
            f"hidden_size is for strategy 'monolithic' only, got strategy {strategy!r}"
        )
    model = ModularRNN(module_size, n_modules, activation=activation, generator=generator)
    if strategy == "no_intra":
        with torch.no_grad():
            for w in model.w_hh[1:]:
                w.zero_()
    return model


def matched_hidden_size(module_size: int, n_modules: int, input_size: int = 1) -> int:
    """Units of the ``MonolithicRNN`` whose parameter count is closest to a full ``ModularRNN``'s.

    A modular network of D modules of n units has about D·(2n² + ...) weights, a monolithic one of
    H units about H²: equal units means unequal parameters, so notebook 09 runs both baselines.
    """
    _check_positive_ints(module_size=module_size, n_modules=n_modules, input_size=input_size)
    n, d, classes = module_size, n_modules, 2
    # W_in, W_hh, bias and head of every module, plus the d-1 feed-forward matrices.
    modular = d * (n * input_size + n * n + n + classes * n + classes) + (d - 1) * n * n

    def monolithic(h: int) -> int:  # W_in, W_hh, bias, and d heads reading all h units
        return h * input_size + h * h + h + d * (classes * h + classes)

    h = 1
    while monolithic(h + 1) <= modular:
        h += 1
    return h if modular - monolithic(h) <= monolithic(h + 1) - modular else h + 1


def grow_curriculum(
    model: _GrowingRNN,
    strategy: str,
    orders: Sequence[int],
    *,
    eval_size: int = 256,
    train_streams: int | None = None,
    generator: torch.Generator | None = None,
    progress: object | None = None,
    **stage_kwargs: object,
) -> list[StageResult]:
    """Run the whole curriculum: stage s trains tasks ``orders[:s+1]``, growing the model first.

    ``model`` must start with one stage active. Returns one ``StageResult`` per stage.

    - Default: every step trains on fresh streams, and a held-out validation batch (``eval_size``
      streams, drawn once from ``generator``) decides when a stage is done.
    - ``train_streams=n``: one fixed set of ``n`` streams, drawn once, is the whole training set
      (full batch at every step), and a stage is done when the *training* accuracy reaches the
      criterion. Fresh test streams then measure how well the network generalises beyond them.

    ``progress``, if given, is a tqdm bar advanced once per stage. ``stage_kwargs`` go to
    ``train_stage``. Afterwards every parameter is trainable again (``requires_grad=True``), as a
    fresh model's would be.
    """
    _check_strategy(model, strategy)
    orders = _check_orders(orders)
    if len(orders) > model.max_stages:
        raise ValueError(
            f"orders has {len(orders)} curriculum stages for a network with at most "
            f"{model.max_stages}"
        )
    if model.stages != 1:
        raise ValueError(f"the model must start with 1 active stage, it has {model.stages}")
    check_int("eval_size", eval_size, 1)
    if train_streams is not None:
        check_int("train_streams", train_streams, 1)
    check_generator("generator", generator)
    if progress is not None and not callable(getattr(progress, "update", None)):
        raise ValueError(f"progress must be None or a tqdm bar (with .update), got {progress!r}")
    allowed = {"criterion", "max_steps", "batch_size", "length", "lr", "eval_every", "supervise"}
    unknown = sorted(set(stage_kwargs) - allowed)
    if unknown:
        raise ValueError(f"unknown stage arguments {unknown}; allowed: {sorted(allowed)}")
    _check_stage_args(**stage_kwargs)  # before the eval batch is drawn from generator
    length = stage_kwargs.get("length", 20)
    supervise = stage_kwargs.get("supervise", "all")
    _check_long_enough(length, orders)
    device = next(model.parameters()).device
    fixed_set = train_streams is not None
    size = train_streams if fixed_set else eval_size
    x_eval, y_eval = nparity_batch(size, length, orders, generator, device, supervise)
    results = []
    for s in range(len(orders)):
        if s > 0:
            model.grow()
        stage = train_stage(
            model,
            strategy,
            orders[: s + 1],
            (x_eval, y_eval[: s + 1]),
            generator=generator,
            train_data=(x_eval, y_eval[: s + 1]) if fixed_set else None,
            **stage_kwargs,
        )
        results.append(stage)
        if progress is not None:
            progress.update(1)
    for p in model.parameters():
        p.requires_grad_(True)
    return results


# --- robustness and generalisation ---------------------------------------------------------------
@torch.no_grad()
def perturbed_copy(
    model: _GrowingRNN, sigma: float, generator: torch.Generator | None = None
) -> _GrowingRNN:
    """A copy of ``model`` with relative Gaussian noise on every recurrent weight tensor.

    ``W ← W + σ ‖W‖_F · D / ‖D‖_F`` with ``D`` standard normal, per tensor, so each tensor moves by
    exactly the fraction σ of its own norm, whatever its size. Only existing connections are
    perturbed: the zero blocks between non-neighbouring modules stay zero.
    """
    _check_model(model)
    check_float("sigma", sigma, 0.0, finite=True)
    check_generator("generator", generator)
    noisy = copy.deepcopy(model)
    for w in noisy.recurrent_weights():
        direction = torch.randn(w.shape, generator=generator).to(w.device)
        w.add_(sigma * w.norm() * direction / direction.norm())  # ‖ΔW‖_F = σ ‖W‖_F
    return noisy


def _check_curve_args(
    model: _GrowingRNN,
    orders: Sequence[int],
    draws: int,
    n: int = 1,
    generator: torch.Generator | None = None,
) -> list[int]:
    """The curves score the last head on the last task: ``orders`` must match the active heads."""
    _check_model(model)
    orders = _check_orders(orders)
    if len(orders) != model.stages:
        raise ValueError(f"{len(orders)} orders for a network with {model.stages} active heads")
    check_int("draws", draws, 1)
    check_int("n", n, 1)
    check_generator("generator", generator)
    return orders


def _last_head_curve(
    model: _GrowingRNN,
    levels: Sequence[float],
    orders: Sequence[int],
    score: Callable[[float, torch.Tensor, torch.Tensor], float],
    *,
    length: int,
    n: int,
    draws: int,
    generator: torch.Generator | None,
) -> list[float]:
    """Per level, the mean of ``score(level, x, y)`` over ``draws`` fresh batches of ``n`` streams."""
    orders = _check_curve_args(model, orders, draws, n, generator)
    check_int("length", length, 1)
    _check_long_enough(length, orders)
    device = next(model.parameters()).device
    curve = []
    for level in levels:
        scores = []
        for _ in range(draws):
            x, y = nparity_batch(n, length, orders, generator, device)
            scores.append(score(level, x, y))
        curve.append(sum(scores) / len(scores))
    return curve


def noise_curve(
    model: _GrowingRNN,
    sigmas: Sequence[float],
    orders: Sequence[int],
    *,
    length: int = 20,
    n: int = 256,
    draws: int = 5,
    generator: torch.Generator | None = None,
) -> list[float]:
    """Mean accuracy of the last head (the hardest task) under relative weight noise σ, per σ.

    Each σ is averaged over ``draws`` noise draws, each scored on its own fresh batch of ``n`` streams.
    """
    sigmas = check_list("sigmas", sigmas, "a list of noise levels >= 0")
    for i, sigma in enumerate(sigmas):
        check_float(f"sigmas[{i}]", sigma, 0.0, finite=True)

    def noisy(sigma: float, x: torch.Tensor, y: torch.Tensor) -> float:
        return head_accuracies(perturbed_copy(model, sigma, generator), x, y)[-1]

    return _last_head_curve(
        model, sigmas, orders, noisy, length=length, n=n, draws=draws, generator=generator
    )


def ablation_curve(
    model: _GrowingRNN,
    fractions: Sequence[float],
    orders: Sequence[int],
    *,
    length: int = 20,
    n: int = 256,
    draws: int = 5,
    generator: torch.Generator | None = None,
) -> list[float]:
    """Mean accuracy of the last head with a random ``fraction`` of all hidden units silenced.

    A silenced unit is held at zero at every step (its output reaches nobody). Each fraction is
    averaged over ``draws`` random choices of units.
    """
    fractions = check_list("fractions", fractions, "a list of fractions in [0, 1]")
    for i, fraction in enumerate(fractions):
        check_float(f"fractions[{i}]", fraction, 0.0, 1.0)
    _check_model(model)
    hidden = model.hidden_size

    def silenced(fraction: float, x: torch.Tensor, y: torch.Tensor) -> float:
        mask = torch.ones(hidden)
        mask[torch.randperm(hidden, generator=generator)[: round(fraction * hidden)]] = 0.0
        return head_accuracies(model, x, y, unit_mask=mask.to(x.device))[-1]

    return _last_head_curve(
        model, fractions, orders, silenced, length=length, n=n, draws=draws, generator=generator
    )


@torch.no_grad()
def length_curve(
    model: _GrowingRNN,
    lengths: Sequence[int],
    orders: Sequence[int],
    *,
    window: int = 10,
    n: int = 256,
    generator: torch.Generator | None = None,
) -> list[float]:
    """Accuracy of the last head over the final ``window`` steps of streams of each length.

    Trained on short streams, does the network still compute parity after many more steps?
    """
    orders = _check_curve_args(model, orders, 1, n, generator)
    check_int("window", window, 1)
    lengths = check_list("lengths", lengths, "a list of sequence lengths")
    for i, length in enumerate(lengths):
        check_int(f"lengths[{i}]", length)
        if length < max(window, max(orders)):
            raise ValueError(
                f"lengths must be at least window={window} and the largest order, got {length}"
            )
    device = next(model.parameters()).device
    curve = []
    for length in lengths:
        x, y = nparity_batch(n, length, orders, generator, device)
        y_end = y.clone()
        y_end[..., : length - window] = IGNORE  # score the last `window` steps only
        curve.append(head_accuracies(model, x, y_end)[-1])
    return curve


# --- verdicts made of several comparisons --------------------------------------------------------
def pairwise_comparisons(
    claim: str,
    values: dict[str, Sequence[float]],
    methods: Sequence[str],
    baselines: Sequence[str],
    *,
    threshold: float,
    higher_is_better: bool = True,
    relative: bool = False,
    names: dict[str, str] | None = None,
    valid: dict[str, Sequence[bool]] | None = None,
) -> list[Comparison]:
    """One paired ``verdicts.compare`` for every (method, baseline) pair, in that order.

    ``values[name]`` holds one measurement per replicate; replicate i of every network shares seed
    i, so the comparisons are paired. ``relative=True`` compares the ratio method ÷ baseline per
    replicate with 1.0 (for costs such as steps, where a practical threshold is a fraction).
    ``names`` gives the short names the measured text uses.

    ``valid[name][i]`` (optional) says whether replicate i of a network may be compared: a pair uses
    only the replicates valid for both (for example, both reached the training criterion, so they
    start a perturbation from the same clean accuracy). A pair with no such replicate is compared on
    all of them and comes out *inconclusive*, with no standard error.
    """
    check_type("values", values, dict, "a dict: network name -> one measurement per replicate")
    if valid is not None:
        check_type("valid", valid, dict, "a dict: network name -> one True/False per replicate")
    names = names or {}
    found = []
    for m in check_list("methods", methods, "a list of network names", 1):
        for b in check_list("baselines", baselines, "a list of network names", 1):
            for name in (m, b):
                if name not in values:
                    raise ValueError(f"no values for {name!r}; values has {sorted(values)}")
            mv, bv = list(values[m]), list(values[b])
            keep = [True] * len(mv)
            if valid is not None:
                if m not in valid or b not in valid:
                    raise ValueError(
                        f"valid needs entries for {m!r} and {b!r}; it has {sorted(valid)}"
                    )
                keep = [bool(x and y) for x, y in zip(valid[m], valid[b], strict=True)]
                if len(keep) != len(mv):
                    raise ValueError(f"valid[{m!r}] needs one flag per replicate ({len(mv)})")
            if any(keep):
                mv = [v for v, k in zip(mv, keep, strict=True) if k]
                bv = [v for v, k in zip(bv, keep, strict=True) if k]
            if relative:
                if len(mv) != len(bv) or any(v <= 0 for v in bv):
                    raise ValueError("relative comparisons need positive, paired baseline values")
                mv, bv = [x / y for x, y in zip(mv, bv)], [1.0] * len(bv)
            c = compare(
                claim,
                mv,
                bv,
                threshold=threshold,
                higher_is_better=higher_is_better,
                method_name=names.get(m, m),
                baseline_name=names.get(b, b),
            )
            if not any(keep):  # nothing comparable: show the numbers, decide nothing
                c = replace(c, standard_error=math.inf, verdict=VERDICTS[3])
            found.append(c)
    return found
