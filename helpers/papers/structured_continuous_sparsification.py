"""Structured soft gates: grow and prune whole channels and whole layers during training.

Introduced in notebook 03 (Yuan, Savarese & Maire, *Growing Efficient Deep Networks by Structured
Continuous Sparsification*, ICLR 2021). Notebook 02's Continuous Sparsification gives every *weight*
a learned mask ``sigmoid(beta * s)``; here one logit ``s`` switches a whole *unit* on or off: a
channel (all its weights at once) or a residual block. Removing a unit removes real work, so the
savings show up in FLOPs and in a smaller dense network, not only in a sparsity count.

The pieces, each a few lines:

- ``ChannelGate``: the gate ``m = sigmoid(beta * s) * q`` on dimension 1 of its input, with
  ``q ~ Bernoulli(sigmoid(beta * s))`` drawn once per step during training, so every step trains one
  sampled sub-network; a per-unit temperature ``beta`` that grows only while that unit is sampled
  (``anneal_``); a hard architecture ``s > 0`` at evaluation.
- ``GatedResCNN1d``: a 1-D residual CNN for mnist1d whose blocks carry a channel gate on their inner
  width and a layer gate (a one-unit ``ChannelGate``) on their residual branch.
- FLOPs of a gated network as a function of how many units are active: ``gated_flops``; the same
  formula with probabilities gives the *expected* FLOPs that the budget penalty differentiates.
- ``GrowPruneSchedule``: the training callback: budget-aware penalty, temperature annealing, active
  width and training-FLOPs bookkeeping; ``project_to_budget_``: the last step, which switches off the
  weakest units if the inference architecture still exceeds the budget.
- ``FixedSteps``: a loader cut to an exact number of steps, so a baseline can be given exactly the
  training FLOPs of the growing run, with its own learning-rate schedule.
- ``compact``: the plain (gate-free, narrower, shallower) network that the hard gates describe;
  ``helpers.core.metrics.count_flops`` on it checks ``gated_flops``.
- ``l1_channel_keep``, ``uniform_keep_for_flops``, ``l1_pruned_copy``: the structured-pruning
  baseline (Li et al. 2017: drop the filters of smallest L1 norm), cut to a FLOPs budget.

FLOPs follow ``torch.utils.flop_counter``: 2 per multiply-add of a convolution or matrix product;
biases, activations and gates are not counted. Training FLOPs count a step as 3 forward passes
(forward, gradient with respect to activations, gradient with respect to weights) of the network
that actually ran: the sampled sub-network for a gated net, the whole network for a dense one.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from helpers.plumbing.params import (
    ParameterTypeError,
    check_bool,
    check_float,
    check_int,
    check_list,
    check_module,
    check_tensor,
    check_type,
)
from helpers.plumbing.runtime import model_mode

__all__ = [
    "ChannelGate",
    "gates",
    "GatedBlock",
    "GatedResCNN1d",
    "LayerCost",
    "gated_flops",
    "all_units",
    "hard_units",
    "sampled_units",
    "expected_units",
    "active_widths",
    "fix_gates_",
    "anneal_rate",
    "GrowPruneSchedule",
    "project_to_budget_",
    "FixedSteps",
    "make_optimizer",
    "compact",
    "l1_channel_keep",
    "uniform_keep_for_flops",
    "l1_pruned_copy",
    "TRAIN_FLOPS_PER_FORWARD",
]

#: A training step costs about three forward passes: the forward pass itself, the gradient with
#: respect to the activations and the gradient with respect to the weights (each one matrix product).
TRAIN_FLOPS_PER_FORWARD = 3


# --- the gate ----------------------------------------------------------------------------------
class ChannelGate(nn.Module):
    """A learned on/off gate per unit (channel, neuron, or a whole layer when ``num_units == 1``).

    It multiplies dimension 1 of its input by a gate vector ``m`` of length ``num_units``:

    - training:   ``m = sigmoid(beta * s) * q``, ``q ~ Bernoulli(sigmoid(beta * s))`` drawn once per
      forward pass (one sampled sub-network per step; ``sampling=False`` uses ``q = 1``, which is
      plain Continuous Sparsification with a structured mask);
    - evaluation: ``m = sigmoid(beta * s) * [s > 0]``, the hard architecture ``s > 0`` with the gate
      values of the kept units (``compact`` folds them into the next layer's weights);
    - fixed (``fix_``): ``m = keep``, a hard 0/1 mask that no longer learns (the pruned baseline and
      the dense network use this); in training it also counts as the sample of the units that ran.

    Gradients reach ``s`` only through ``sigmoid(beta * s)``; ``q`` is a constant. A unit that was
    not sampled therefore gets no gradient from the task in that step, exactly as if it had not been
    computed. ``beta`` is kept per unit (a buffer, saved with the model) and grows only while the
    unit is sampled (``anneal_``), so units that are rarely used stay soft and can still be grown.
    """

    def __init__(
        self,
        num_units: int,
        init: float | Sequence[float] | torch.Tensor = 0.0,
        sampling: bool = True,
    ) -> None:
        super().__init__()
        check_int("num_units", num_units, 1)
        check_bool("sampling", sampling)
        logits = _as_numbers("init", init, f"a number or {num_units} numbers").to(torch.float32)
        if logits.dim() == 0:
            logits = logits.expand(num_units)
        if logits.shape != (num_units,):
            raise ValueError(
                f"init must be a number or {num_units} numbers, got shape {tuple(logits.shape)}"
            )
        if not bool(torch.isfinite(logits).all()):
            raise ValueError(f"init must hold finite numbers, got {init!r}")
        self.logits = nn.Parameter(logits.clone())
        self.sampling = bool(sampling)
        self.register_buffer("temperature", torch.ones(num_units))
        self.register_buffer("fixed", torch.tensor(False))
        # q of the latest training forward pass: which units ran (for annealing and training FLOPs).
        self.register_buffer("last_sample", torch.ones(num_units))

    @property
    def num_units(self) -> int:
        return self.logits.numel()

    def probability(self) -> torch.Tensor:
        """sigmoid(beta * s): each unit's probability of being sampled, and its soft gate value."""
        return torch.sigmoid(self.temperature * self.logits)

    def keep(self) -> torch.Tensor:
        """The hard architecture: True where ``s > 0`` (never read from ``sigmoid``, which saturates)."""
        return self.logits.detach() > 0

    def gate(self) -> torch.Tensor:
        """The vector ``m`` the input is multiplied by in the current mode (see the class docstring)."""
        if bool(self.fixed):
            keep = self.keep().to(self.logits.dtype)
            if self.training:
                self.last_sample.copy_(keep)  # a fixed unit runs in every step, or never
            return keep
        p = self.probability()
        if not self.training:
            return p * self.keep().to(p.dtype)  # m = sigmoid(beta s) * H(s)
        if self.sampling:
            q = torch.bernoulli(p.detach())  # q ~ Bernoulli(sigmoid(beta s)), no gradient
        else:
            q = torch.ones_like(p)
        self.last_sample.copy_(q)
        return p * q  # m = sigmoid(beta s) * q

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_tensor("x", x)
        if self.num_units == 1:  # a layer gate: one number scales the whole input
            return x * self.gate()
        if x.dim() < 2 or x.shape[1] != self.num_units:
            raise ValueError(
                f"expected input with {self.num_units} units in dimension 1, got shape {tuple(x.shape)}"
            )
        return x * self.gate().view(1, -1, *([1] * (x.dim() - 2)))  # (C,) -> (1, C, 1, ...)

    @torch.no_grad()
    def anneal_(self, rate: float) -> None:
        """beta_j <- beta_j * rate ** q_j: raise the temperature of the units sampled in the last step.

        After ``t_j`` steps in which unit ``j`` was sampled, ``beta_j = rate ** t_j``: a unit used in
        every step follows CS's exponential schedule, a unit never used keeps ``beta = 1``.
        """
        check_float("rate", rate, 1.0, finite=True)  # temperatures only grow
        if not bool(self.fixed):
            self.temperature.mul_(rate**self.last_sample)

    @torch.no_grad()
    def fix_(self, keep: torch.Tensor) -> None:
        """Freeze the gate to the hard 0/1 mask ``keep``: the logits become +1/-1 and stop learning."""
        keep = self.checked_keep("keep", keep)
        self.logits.copy_(torch.where(keep.bool(), 1.0, -1.0))
        self.logits.requires_grad_(False)
        self.fixed.fill_(True)

    def checked_keep(self, name: str, keep: torch.Tensor | Sequence[bool]) -> torch.Tensor:
        """``keep`` as a tensor on the gate's device, after checking its shape and its 0/1 values."""
        keep = _as_numbers(name, keep, f"a tensor of {self.num_units} zeros and ones (or booleans)")
        if keep.shape != (self.num_units,):
            raise ValueError(f"{name} must have shape ({self.num_units},), got {tuple(keep.shape)}")
        if not bool(((keep == 0) | (keep == 1)).all()):
            raise ValueError(
                f"{name} must hold only 0 and 1 (or False and True), got {keep.tolist()}"
            )
        return keep.to(self.logits.device)

    def extra_repr(self) -> str:
        return f"num_units={self.num_units}, sampling={self.sampling}, fixed={bool(self.fixed)}"


def _gate(num_units: int, name: str, init: Any, sampling: bool) -> ChannelGate:
    """``ChannelGate(num_units, init, sampling)``, whose errors about ``init`` name it ``name``."""
    try:
        return ChannelGate(num_units, init, sampling)
    except ValueError as err:
        raise type(err)(f"{name}: {err}") from err


def _as_numbers(name: str, value: Any, what: str) -> torch.Tensor:
    """``value`` (a number, a sequence of numbers or a real tensor) as a tensor; else a clear error."""
    if isinstance(value, (str, bytes)) or (isinstance(value, torch.Tensor) and value.is_complex()):
        raise ParameterTypeError(f"parameter {name} must be {what}, got {value!r}")
    if isinstance(value, torch.Tensor):
        return value
    try:
        return torch.as_tensor(value, dtype=torch.float32)
    except (TypeError, ValueError, RuntimeError) as err:
        raise ParameterTypeError(f"parameter {name} must be {what}, got {value!r}") from err


def gates(model: nn.Module) -> dict[str, ChannelGate]:
    """Every ``ChannelGate`` of ``model`` by module name (e.g. ``'blocks.0.unit_gate'``)."""
    check_module("model", model)
    return {name: m for name, m in model.named_modules() if isinstance(m, ChannelGate)}


# --- the gated network -------------------------------------------------------------------------
@dataclass(frozen=True)
class LayerCost:
    """One weight layer's multiply-adds per example as a function of its active units.

    ``macs = macs_per_pair * (active inputs) * (active outputs) * (block on?)``, where a count comes
    from the named gate, or is the fixed ``n_in``/``n_out`` when the gate is ``None``. For a
    convolution ``macs_per_pair = kernel_size * output_length``; for a linear layer it is 1.
    """

    name: str
    macs_per_pair: int
    n_in: int
    n_out: int
    in_gate: str | None = None
    out_gate: str | None = None
    block_gate: str | None = None


class GatedBlock(nn.Module):
    """A residual block ``x <- relu(x + g_l * conv_b(g_c ⊙ relu(conv_a(x))))`` with two gates.

    ``g_c`` (``unit_gate``) switches the block's ``width`` inner channels on and off: a channel off
    removes one filter of ``conv_a`` *and* one input channel of ``conv_b``. ``g_l`` (``block_gate``)
    switches the whole residual branch: off, the block is the identity (its input is already >= 0,
    so the outer ReLU changes nothing) and costs nothing. ``gated=False`` builds the same block
    without gates (the plain network that ``compact`` returns).
    """

    def __init__(
        self,
        channels: int,
        width: int,
        unit_init: torch.Tensor | float = 0.0,
        block_init: float = 0.0,
        gated: bool = True,
        sampling: bool = True,
    ) -> None:
        super().__init__()
        check_int("channels", channels, 1)
        check_int("width", width, 1)
        check_bool("gated", gated)
        check_bool("sampling", sampling)
        # The gates check unit_init, block_init and sampling: build them before any weight is drawn.
        unit_gate = _gate(width, "unit_init", unit_init, sampling) if gated else nn.Identity()
        block_gate = _gate(1, "block_init", block_init, sampling) if gated else nn.Identity()
        self.conv_a = nn.Conv1d(channels, width, 3, padding=1)  # (N, C, L) -> (N, W, L)
        self.conv_b = nn.Conv1d(width, channels, 3, padding=1)  # (N, W, L) -> (N, C, L)
        self.unit_gate, self.block_gate = unit_gate, block_gate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.unit_gate(F.relu(self.conv_a(x)))
        return F.relu(x + self.block_gate(self.conv_b(h)))


class GatedResCNN1d(nn.Module):
    """A 1-D residual CNN with channel gates and layer gates, for signals such as mnist1d (N, L).

    stem ``Conv1d(1, channels, 5, stride 2)`` -> ``len(widths)`` ``GatedBlock``s of inner widths
    ``widths`` -> a linear read-out of the flattened ``(channels, L/2)`` features. The *seed*
    architecture, the one training starts from, is set by the initial logits: the first
    ``seed_width`` channels of every block start at ``seed_logit`` (> 0, on), the others at
    ``grow_logit`` (< 0: off, but sampled with probability ``sigmoid(grow_logit)``, so they can grow);
    the first ``seed_blocks`` blocks start on, the rest off. ``gated=False`` gives the plain network.
    """

    def __init__(
        self,
        length: int = 40,
        channels: int = 32,
        widths: Sequence[int] = (64, 64, 64),
        num_classes: int = 10,
        seed_width: int | None = None,
        seed_blocks: int | None = None,
        seed_logit: float = 2.0,
        grow_logit: float = -1.0,
        gated: bool = True,
        sampling: bool = True,
    ) -> None:
        super().__init__()
        widths = check_list("widths", widths, "a list of positive integers (block widths)")
        for name, value in (
            ("length", length),
            ("channels", channels),
            ("num_classes", num_classes),
        ):
            check_int(name, value, 1)
        for i, w in enumerate(widths):
            check_int(f"widths[{i}]", w, 1)
        seed_width = max(widths, default=0) if seed_width is None else seed_width
        seed_blocks = len(widths) if seed_blocks is None else seed_blocks
        check_int("seed_blocks", seed_blocks, 0, len(widths))
        check_int("seed_width", seed_width, 0)
        check_float("seed_logit", seed_logit, finite=True)
        check_float("grow_logit", grow_logit, finite=True)
        check_bool("gated", gated)
        check_bool("sampling", sampling)
        if gated and not (seed_logit > 0 > grow_logit):
            raise ValueError(
                f"need seed_logit > 0 > grow_logit, got {seed_logit!r} and {grow_logit!r}"
            )
        self.length, self.channels, self.widths = length, channels, widths
        self.stem = nn.Conv1d(1, channels, 5, stride=2, padding=2)  # (N, 1, L) -> (N, C, L/2)
        self.features_length = (length - 1) // 2 + 1
        blocks = []
        for i, w in enumerate(widths):
            unit_init = torch.full((w,), float(grow_logit))
            unit_init[:seed_width] = seed_logit
            block_init = seed_logit if i < seed_blocks else grow_logit
            blocks.append(
                GatedBlock(channels, w, unit_init, block_init, gated=gated, sampling=sampling)
            )
        self.blocks = nn.ModuleList(blocks)
        self.head = nn.Linear(channels * self.features_length, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_tensor("x", x)
        if x.dim() not in (2, 3) or x.dim() == 3 and x.shape[1] != 1 or x.shape[-1] != self.length:
            raise ValueError(
                f"x must have shape (N, {self.length}) or (N, 1, {self.length}) (length "
                f"{self.length}, one channel), got {tuple(x.shape)}"
            )
        if x.dim() == 2:
            x = x.unsqueeze(1)  # (N, L) -> (N, 1, L)
        x = F.relu(self.stem(x))  # (N, C, L/2)
        for block in self.blocks:
            x = block(x)
        return self.head(x.flatten(1))  # (N, C * L/2) -> (N, classes)

    def layer_costs(self) -> list[LayerCost]:
        """The cost structure that ``gated_flops`` evaluates (see ``LayerCost``)."""
        n, c = self.features_length, self.channels
        costs = [LayerCost("stem", 5 * n, 1, c)]
        for i, w in enumerate(self.widths):
            gated = isinstance(self.blocks[i].unit_gate, ChannelGate)
            unit = f"blocks.{i}.unit_gate" if gated else None
            block = f"blocks.{i}.block_gate" if gated else None
            costs.append(LayerCost(f"blocks.{i}.conv_a", 3 * n, c, w, None, unit, block))
            costs.append(LayerCost(f"blocks.{i}.conv_b", 3 * n, w, c, unit, None, block))
        costs.append(LayerCost("head", 1, c * n, self.head.out_features))
        return costs


# --- counting active units and FLOPs -----------------------------------------------------------
Units = dict[str, torch.Tensor]


def all_units(model: nn.Module) -> Units:
    """Every unit on: the full-width, full-depth network (the supernet the gates choose from)."""
    check_module("model", model)
    return {name: torch.ones_like(g.logits.detach()) for name, g in gates(model).items()}


def hard_units(model: nn.Module) -> Units:
    """Each gate's 0/1 vector of the inference architecture: ``s > 0`` (or the fixed mask)."""
    return {name: g.keep().float() for name, g in gates(model).items()}


def sampled_units(model: nn.Module) -> Units:
    """Each gate's ``q`` from the latest training step: the sub-network that actually ran."""
    return {name: g.last_sample.detach().clone() for name, g in gates(model).items()}


def expected_units(model: nn.Module) -> Units:
    """Each gate's ``sigmoid(beta * s)`` (with gradient): the units' probabilities of running."""
    out = {}
    for name, g in gates(model).items():
        out[name] = g.keep().float() if bool(g.fixed) else g.probability()
    return out


def gated_flops(model: nn.Module, units: Units | None = None) -> torch.Tensor:
    """FLOPs of one example's forward pass when the units in ``units`` are active.

    ``FLOPs = 2 * sum over layers of macs_per_pair * n_in_active * n_out_active * block_active``.
    With 0/1 ``units`` (``hard_units``, ``sampled_units``) this is the FLOPs of that sub-network;
    with probabilities (``expected_units``) it is the *expected* FLOPs, differentiable in the
    logits. The expectation is exact: a layer's input and output counts come from different,
    independently sampled gates. Default ``units``: the hard architecture.
    """
    check_module("model", model)
    if not hasattr(model, "layer_costs"):
        raise ValueError(
            f"model {type(model).__name__} does not describe its costs (no layer_costs method); "
            "allowed: a GatedResCNN1d"
        )
    if units is not None:
        _check_units(model, units)
    units = hard_units(model) if units is None else units
    device = next(model.parameters()).device
    total = torch.zeros((), device=device)
    for cost in model.layer_costs():
        n_in = units[cost.in_gate].sum() if cost.in_gate else cost.n_in
        n_out = units[cost.out_gate].sum() if cost.out_gate else cost.n_out
        on = units[cost.block_gate].sum() if cost.block_gate else 1.0
        total = total + 2.0 * cost.macs_per_pair * n_in * n_out * on  # 2 FLOPs per multiply-add
    return total


def _check_units(model: nn.Module, units: Any) -> None:
    """``units`` must map every gate that ``model.layer_costs()`` reads to a tensor."""
    check_type("units", units, Mapping, "a dict of unit tensors keyed by gate name")
    needed = {g for c in model.layer_costs() for g in (c.in_gate, c.out_gate, c.block_gate) if g}
    missing = sorted(needed - set(units))
    if missing:
        raise ValueError(f"units must have an entry for every gate of the model; missing {missing}")
    for name in needed:
        check_type(f"units['{name}']", units[name], torch.Tensor, "a torch.Tensor")


def _check_gated(model: Any) -> None:
    """``model`` must be a ``GatedResCNN1d`` built with ``gated=True``."""
    check_type("model", model, GatedResCNN1d, "a GatedResCNN1d")
    if not gates(model):
        raise ValueError("model has no gates; allowed: a GatedResCNN1d built with gated=True")


def active_widths(model: GatedResCNN1d) -> list[int]:
    """Active inner width of each block in the inference architecture (0 where the block is off)."""
    _check_gated(model)
    units = hard_units(model)
    widths = []
    for i in range(len(model.blocks)):
        on = int(units[f"blocks.{i}.block_gate"].item())
        widths.append(on * int(units[f"blocks.{i}.unit_gate"].sum().item()))
    return widths


@torch.no_grad()
def fix_gates_(model: nn.Module, keep: dict[str, torch.Tensor] | None = None) -> None:
    """Freeze every gate to a hard mask (default: all units on, i.e. the plain dense network).

    Every mask is checked before any gate is frozen, so a bad one leaves the model as it was.
    """
    found = gates(model)
    if not found:
        raise ValueError("model has no ChannelGate to fix; allowed: a model built with gates")
    keep = {} if keep is None else check_type("keep", keep, Mapping, "a dict of masks by gate")
    unknown = set(keep) - set(found)
    if unknown:
        raise ValueError(
            f"keep names gates the model does not have: {sorted(unknown)}; allowed: {sorted(found)}"
        )
    masks = {
        name: gate.checked_keep(f"keep['{name}']", keep[name])
        if name in keep
        else torch.ones(gate.num_units, dtype=torch.bool)
        for name, gate in found.items()
    }
    for name, gate in found.items():
        gate.fix_(masks[name])


def anneal_rate(final_temperature: float, steps: int) -> float:
    """The per-step factor that takes beta from 1 to ``final_temperature`` in ``steps`` sampled steps."""
    check_float("final_temperature", final_temperature, 1.0, finite=True)
    check_int("steps", steps, 1)
    return final_temperature ** (1.0 / steps)  # beta_T = rate ** T


# --- the training callback ---------------------------------------------------------------------
@dataclass
class GrowPruneSchedule:
    """Budget-aware growing and pruning, as a ``helpers.core.train.fit`` callback.

    - ``extra_loss``: ``lambda_t * E[FLOPs](sigmoid(beta s)) / FLOPs_full``, the sparsity objective
      measured in compute rather than in units, so a wide layer's channel costs what it really costs;
    - the budget: ``lambda_t = strength * (FLOPs_hard / target_flops - 1)``, re-computed after every
      step from the current inference architecture. Above the budget the penalty prunes, below it the
      sign flips and the penalty rewards growth, so the architecture settles near the budget while
      the task loss decides *which* units to keep;
    - ``on_step_end``: ``anneal_`` every gate by ``rate`` (only units that ran heat up), and add the
      sampled sub-network's training FLOPs to ``train_flops``;
    - ``history`` (one row per ``record_every`` steps): step, cumulative training FLOPs, inference
      FLOPs, sampled FLOPs, lambda_t and each block's active width; ``epoch_train_flops``: the
      cumulative training FLOPs at the end of every epoch.

    ``batch_size`` is the number of examples in every step (use a loader with ``drop_last=True``);
    ``rate`` comes from ``anneal_rate(final_temperature, total_steps)``.
    """

    model: GatedResCNN1d
    target_flops: float
    strength: float
    rate: float
    batch_size: int
    record_every: int = 10
    train_flops: float = 0.0
    lam: float = field(init=False, default=0.0)
    history: list[dict[str, Any]] = field(default_factory=list)
    epoch_train_flops: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        _check_gated(self.model)
        check_float("target_flops", self.target_flops, 0.0, low_open=True, finite=True)
        check_float("strength", self.strength, 0.0, finite=True)
        check_float("rate", self.rate, 1.0, finite=True)  # see anneal_rate
        for name in ("batch_size", "record_every"):
            check_int(name, getattr(self, name), 1)
        self.full_flops = float(gated_flops(self.model, all_units(self.model)))
        self._update_lambda()

    def _update_lambda(self) -> None:
        ratio = float(gated_flops(self.model)) / self.target_flops
        self.lam = self.strength * (ratio - 1.0)  # lambda_t = kappa (F_hard / F_budget - 1)

    def extra_loss(self, model: nn.Module) -> torch.Tensor:
        return self.lam * gated_flops(model, expected_units(model)) / self.full_flops

    def on_epoch_end(self, epoch: int, **_: Any) -> None:
        self.epoch_train_flops.append(self.train_flops)

    def on_step_end(self, step: int, model: nn.Module, **_: Any) -> None:
        sampled = float(gated_flops(model, sampled_units(model)))
        self.train_flops += TRAIN_FLOPS_PER_FORWARD * sampled * self.batch_size
        for gate in gates(model).values():
            gate.anneal_(self.rate)
        self._update_lambda()
        if step % self.record_every == 0 or step == 1:
            self.history.append(
                {
                    "step": step,
                    "train_flops": self.train_flops,
                    "inference_flops": float(gated_flops(model)),
                    "sampled_flops": sampled,
                    "lambda": self.lam,
                    "widths": active_widths(model),
                }
            )


@torch.no_grad()
def project_to_budget_(model: GatedResCNN1d, budget: float) -> list[tuple[str, int]]:
    """Switch off the weakest units until the inference architecture fits ``budget`` FLOPs.

    The budget coefficient of ``GrowPruneSchedule`` steers the FLOPs to the budget, but a coarse unit
    (a whole block is a third of a small network's FLOPs) can sit at ``s = 0`` and flip on and off
    with every step, so the last step may leave the network above the budget. This is the guarantee:
    the kept units are ranked by their test-time gate value ``sigmoid(beta s)`` (how strongly each
    one is passed on; compared as ``beta s``, which does not round to 1.0 when the sigmoid saturates)
    and switched off, weakest first (``s <- -s``), until ``gated_flops(model) <= budget``. Returns
    the ``(gate name, unit)`` pairs switched off, in order (empty when the network was within the
    budget, which it then leaves unchanged).
    """
    _check_gated(model)
    budget = check_float("budget", budget, 0.0, low_open=True, finite=True)
    found = gates(model)
    # Checked before any change: with every trainable gate off, does the model fit at all?
    floor = {
        name: g.keep().float() if bool(g.fixed) else torch.zeros_like(g.logits.detach())
        for name, g in found.items()
    }
    if float(gated_flops(model, floor)) > budget:
        raise ValueError(
            f"budget {budget:.4g} FLOPs is below what the model costs with every gate off "
            f"({float(gated_flops(model, floor)):.4g}); allowed: a budget above that"
        )
    ranked = sorted(
        (float(value), name, int(j))
        for name, gate in found.items()
        if not bool(gate.fixed)
        for value, j in zip(
            (gate.temperature * gate.logits)[gate.keep()], torch.nonzero(gate.keep()).flatten()
        )
    )
    removed = []
    for _, name, j in ranked:
        if float(gated_flops(model)) <= budget:
            break
        found[name].logits[j] = -found[name].logits[j]  # s > 0 -> -s < 0: off, same magnitude
        removed.append((name, j))
    return removed


class FixedSteps:
    """Exactly ``steps`` batches from ``loader``, passing over it (reshuffled) as often as needed.

    ``helpers.core.train.fit(model, FixedSteps(loader, n), epochs=1, ...)`` trains for ``n`` steps,
    so a run can be given a training budget in FLOPs rather than in whole epochs.
    """

    def __init__(self, loader: Any, steps: int) -> None:
        if not hasattr(loader, "__iter__") or not hasattr(loader, "__len__"):
            raise ParameterTypeError(
                f"loader must be a loader of (x, y) batches with a length, got {loader!r}"
            )
        if len(loader) < 1:
            raise ValueError("loader must give at least one batch per pass, got an empty loader")
        self.loader = loader
        self.steps = check_int("steps", steps, 1)

    def __len__(self) -> int:
        return self.steps

    def __iter__(self) -> Any:
        done = 0
        while done < self.steps:
            for batch in self.loader:
                if done == self.steps:
                    return
                yield batch
                done += 1


def make_optimizer(
    model: nn.Module, lr: float, total_steps: int, gate_lr: float | None = None
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LambdaLR]:
    """Adam with two parameter groups, and a per-step schedule for ``helpers.core.train.fit``.

    Weights: learning rate ``lr`` decayed to 0 along a cosine, ``lr_t = lr (1 + cos(pi t / T)) / 2``.
    Gate logits (trainable ones only): a constant ``gate_lr`` and no weight decay, so the
    architecture keeps moving until the temperatures freeze it (CS, too, keeps masks out of decay).
    """
    check_module("model", model)
    check_int("total_steps", total_steps, 1)
    check_float("lr", lr, 0.0, low_open=True, finite=True)
    if gate_lr is not None:
        check_float("gate_lr", gate_lr, 0.0, low_open=True, finite=True)
    gate_logits = {id(gate.logits) for gate in gates(model).values()}
    trainable = [p for p in model.parameters() if p.requires_grad]
    logits = [p for p in trainable if id(p) in gate_logits]
    weights = [p for p in trainable if id(p) not in gate_logits]
    groups = [{"params": weights, "lr": lr}]
    schedules = [lambda t: 0.5 * (1.0 + math.cos(math.pi * min(t, total_steps) / total_steps))]
    if logits:
        if gate_lr is None:
            raise ValueError(
                "the model has trainable gates: gate_lr must be a positive number in (0.0, inf], "
                "got None"
            )
        groups.append({"params": logits, "lr": gate_lr, "weight_decay": 0.0})
        schedules.append(lambda t: 1.0)
    optimizer = torch.optim.Adam(groups)
    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, schedules)


# --- the plain network the gates describe ------------------------------------------------------
@torch.no_grad()
def compact(model: GatedResCNN1d) -> GatedResCNN1d:
    """The gate-free network of the inference architecture, with the gate values folded in.

    Kept channels of a block become a narrower ``conv_a``/``conv_b`` pair. A block computes
    ``g_l * (W_b (g_c ⊙ r) + b_b)``, so column ``j`` of ``conv_b`` is multiplied by ``g_l * g_c[j]``
    and its bias by ``g_l`` (the gates sit between a ReLU and a linear map, so they fold exactly).
    Blocks that are off, or have no channel left, are dropped. The result computes what
    ``model.eval()`` computes, with ordinary layers.
    """
    _check_gated(model)
    kept = []  # (block, kept channels, channel scale, block scale)
    with model_mode(model, training=False):  # the gates' evaluation values
        for block in model.blocks:
            keep = block.unit_gate.keep()
            if bool(block.block_gate.keep().all()) and int(keep.sum()) > 0:
                block_value = block.block_gate.gate()  # (1,)
                kept.append((block, keep, block.unit_gate.gate()[keep] * block_value, block_value))
    widths = [int(keep.sum()) for _, keep, _, _ in kept]
    small = GatedResCNN1d(
        model.length, model.channels, widths, model.head.out_features, gated=False
    )
    small = small.to(next(model.parameters()).device)
    small.stem.load_state_dict(model.stem.state_dict())
    small.head.load_state_dict(model.head.state_dict())
    for target, (block, keep, scale, block_value) in zip(small.blocks, kept, strict=True):
        target.conv_a.weight.copy_(block.conv_a.weight[keep])  # (W, C, 3) -> (W_kept, C, 3)
        target.conv_a.bias.copy_(block.conv_a.bias[keep])
        folded = block.conv_b.weight[:, keep] * scale.view(1, -1, 1)  # (C, W_kept, 3)
        target.conv_b.weight.copy_(folded)
        target.conv_b.bias.copy_(block.conv_b.bias * block_value)
    small.train(model.training)
    return small


# --- the structured-pruning baseline -----------------------------------------------------------
def l1_channel_keep(model: GatedResCNN1d, widths: Sequence[int]) -> dict[str, torch.Tensor]:
    """Li et al. 2017's filter pruning: in block ``i`` keep the ``widths[i]`` channels whose
    ``conv_a`` filters have the largest L1 norm. Returns ``fix_gates_``-style masks (blocks stay on).
    """
    check_type("model", model, GatedResCNN1d, "a GatedResCNN1d")
    widths = check_list("widths", widths, "a list of block widths")
    if len(widths) != len(model.blocks):
        raise ValueError(
            f"widths must give one width per block ({len(model.blocks)}), got {list(widths)!r}"
        )
    keep = {}
    for i, (block, w) in enumerate(zip(model.blocks, widths, strict=True)):
        n = block.conv_a.out_channels
        w = check_int(f"widths[{i}]", w, 0, n)
        # (W, C, 3) -> (W,): the L1 norm of each filter
        norms = block.conv_a.weight.detach().abs().sum(dim=(1, 2))
        mask = torch.zeros(n, dtype=torch.bool, device=norms.device)
        mask[torch.topk(norms, w).indices] = True
        keep[f"blocks.{i}.unit_gate"] = mask
        keep[f"blocks.{i}.block_gate"] = torch.ones(1, dtype=torch.bool, device=norms.device)
    return keep


def uniform_keep_for_flops(model: GatedResCNN1d, budget: float) -> list[int]:
    """Block widths ``floor(f * width)`` for the largest one fraction ``f`` whose FLOPs fit ``budget``.

    This is the uniform per-layer ratio of filter pruning; every block stays on. Raises ValueError
    when even width 0 (stem and read-out only) exceeds the budget.
    """
    _check_gated(model)
    check_float("budget", budget)
    largest = max(model.widths)
    best = None
    for step in range(largest + 1):
        widths = [math.floor(step / largest * w) for w in model.widths]
        if float(_flops_of_widths(model, widths)) <= budget:
            best = widths
    if best is None:
        raise ValueError(
            f"budget {budget:.3g} is below the FLOPs of the network without block channels"
        )
    return best


def l1_pruned_copy(model: GatedResCNN1d, budget: float) -> tuple[GatedResCNN1d, list[int]]:
    """A copy of the (trained, dense) ``model`` filter-pruned to at most ``budget`` FLOPs.

    The same fraction of every block's channels is kept (``uniform_keep_for_flops``), chosen by
    filter L1 norm (``l1_channel_keep``), and the gates are fixed: the copy is ready to fine-tune.
    Returns the copy and its block widths.
    """
    _check_gated(model)
    check_float("budget", budget)
    pruned = copy.deepcopy(model)
    widths = uniform_keep_for_flops(pruned, budget)
    fix_gates_(pruned, l1_channel_keep(pruned, widths))
    return pruned, widths


def _flops_of_widths(model: GatedResCNN1d, widths: Sequence[int]) -> torch.Tensor:
    """FLOPs of ``model`` with the first ``widths[i]`` channels of block ``i`` on (blocks on)."""
    units = {}
    for i, w in enumerate(widths):
        device = model.blocks[i].conv_a.weight.device
        mask = torch.zeros(model.widths[i], device=device)
        mask[:w] = 1.0
        units[f"blocks.{i}.unit_gate"] = mask
        units[f"blocks.{i}.block_gate"] = torch.ones(1, device=device)
    return gated_flops(model, units)
