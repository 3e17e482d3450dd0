"""Activate-while-Pruning (AP; Liu, Ghosh, Tan, Motani, TMLR 2023): prune so that more units fire.

Introduced in notebook 04.

Pruned ReLU networks have a *lower* dynamic dead neuron rate (``helpers.activations``) than dense
ones; AP lowers it further on purpose. It is not a pruning criterion of its own but rides on a base
pruner. In every pruning cycle the base pruner removes (p - q) % of the remaining weights by its own
criterion, and AP removes the other q % (the paper's code: p = 20, q = 2), chosen among the weights
that are

1. negative at the end of the cycle, w_end < 0, and
2. moved least during the cycle, smallest |w_end - w_start| (w_start: the weight when the cycle's
   training began, i.e. the rewound weight for lottery tickets).

Removing a negative weight raises the pre-activation of its unit for every non-negative input (and
inputs after a ReLU are non-negative), so the unit is zero for fewer inputs; a weight that barely
moved in training is one the loss did not need. The total sparsity per cycle is the base pruner's,
so a run with AP and one without are compared at exactly the same sparsities.

Which tensors: the masked weights of ``helpers.core.masks.prunable_weights`` (never biases or batch-norm
scales: the official code selects tensors by ``'weight' in name`` and so also prunes BN's gamma).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from helpers.core.activations import ALL, DeadNeuronMonitor, dead_neuron_rate
from helpers.core.masks import prunable_weights, sparsity_report
from helpers.core.prune import (
    GradualMagnitudePruning,
    Scope,
    Snapshot,
    check_sparsity,
    cubic_sparsity,
    magnitude_prune,
    rewind,
)
from helpers.core.train import evaluate, fit
from helpers.plumbing.runtime import progress_enabled

__all__ = [
    "current_weights",
    "ap_scores",
    "ap_prune",
    "cycle_sparsities",
    "magnitude_then_ap",
    "ActivatingGradualPruning",
    "RoundResult",
    "train_and_measure",
    "imp_with_ap",
]


@torch.no_grad()
def current_weights(model: nn.Module) -> dict[str, torch.Tensor]:
    """A copy of every prunable (effective) weight, by full name: the w_start of the next cycle."""
    return {full: layer.effective(p).detach().clone() for full, layer, p in prunable_weights(model)}


@torch.no_grad()
def ap_scores(model: nn.Module, start: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """AP's candidates and their order: |w_end - w_start| where w_end < 0 and alive, +inf elsewhere.

    ``start`` maps each prunable weight's full name to its value when the cycle began (a
    ``current_weights`` copy, or a ``state_dict`` of that moment). Smaller score = pruned first;
    +inf marks weights AP never takes (positive, zero or already pruned).
    """
    scores = {}
    for full, layer, p in prunable_weights(model):
        if full not in start:
            raise ValueError(
                f"start has no weight '{full}'; pass current_weights(model) from the cycle's start"
            )
        w_end = layer.effective(p).detach()
        w_start = start[full].to(device=w_end.device, dtype=w_end.dtype)
        if w_start.shape != w_end.shape:
            raise ValueError(
                f"start['{full}'] has shape {tuple(w_start.shape)}, expected {tuple(w_end.shape)}"
            )
        candidate = (w_end < 0) & (layer.get_mask(p) > 0)
        change = (w_end - w_start).abs()  # |w_end - w_start|
        scores[full] = torch.where(candidate, change, torch.full_like(change, float("inf")))
    return scores


def _prune_lowest(
    layers: list[tuple[str, Any, str]], scores: dict[str, torch.Tensor], k: int
) -> None:
    """Set the mask to 0 at the ``k`` lowest finite scores among ``layers`` (ranked together)."""
    if k <= 0:
        return
    flat = torch.cat([scores[full].reshape(-1) for full, _, _ in layers])  # (total weights,)
    available = int(torch.isfinite(flat).sum())
    if k > available:
        names = ", ".join(full for full, _, _ in layers)
        raise ValueError(
            f"AP must prune {k} weights of {names} but only {available} alive negative weights remain; "
            "lower the AP share or the target sparsity"
        )
    drop = torch.topk(flat, k=k, largest=False).indices
    keep = torch.ones_like(flat)
    keep[drop] = 0
    start = 0
    for _, layer, p in layers:
        mask = layer.get_mask(p)
        n = mask.numel()
        layer.set_mask(p, mask * keep[start : start + n].view_as(mask))
        start += n


@torch.no_grad()
def ap_prune(
    model: nn.Module, start: Mapping[str, torch.Tensor], sparsity: float, scope: Scope = "global"
) -> int:
    """Prune by the AP criterion until ``sparsity`` of the counted weights are pruned; return how many.

    Like every pruner in ``helpers.prune``, ``sparsity`` is the *target* fraction of pruned weights,
    counting those already pruned. ``scope='global'`` ranks the candidates of all tensors together
    (as the paper's code does); ``'layer'`` brings each tensor to ``sparsity`` on its own. Raises
    ValueError when too few alive negative weights remain to reach the target.
    """
    sparsity = check_sparsity(sparsity)
    if scope not in ("layer", "global"):
        raise ValueError(f"scope must be 'layer' or 'global', got {scope!r}")
    scores = ap_scores(model, start)
    layers = list(prunable_weights(model))
    groups = [layers] if scope == "global" else [[entry] for entry in layers]
    pruned = 0
    for group in groups:
        total = sum(layer.get_mask(p).numel() for _, layer, p in group)
        zeros = sum(int((layer.get_mask(p) == 0).sum()) for _, layer, p in group)
        k = max(round(sparsity * total) - zeros, 0)  # how many more to reach the target
        _prune_lowest(group, scores, k)
        pruned += k
    return pruned


def cycle_sparsities(current: float, rate: float, ap_rate: float) -> tuple[float, float]:
    """(sparsity after the base pruner, sparsity after AP) for one cycle.

    Both rates are fractions of the weights *alive at the start of the cycle* (the paper's p and q):
    the base pruner removes ``rate - ap_rate`` of them, AP the other ``ap_rate``:

        s_base = 1 - (1 - s) (1 - (p - q)),    s_after = 1 - (1 - s) (1 - p)
    """
    check_sparsity(current, "current")
    check_sparsity(rate, "rate")
    check_sparsity(ap_rate, "ap_rate")
    if ap_rate > rate:
        raise ValueError(
            f"ap_rate ({ap_rate}) must not exceed rate ({rate}): AP takes a share of each cycle"
        )
    alive = 1.0 - current
    return 1.0 - alive * (1.0 - (rate - ap_rate)), 1.0 - alive * (1.0 - rate)


def magnitude_then_ap(
    model: nn.Module,
    start: Mapping[str, torch.Tensor],
    rate: float = 0.2,
    ap_rate: float = 0.02,
    scope: Scope = "global",
) -> float:
    """One IMP + AP pruning cycle: magnitude-prune ``rate - ap_rate`` of the alive weights, then
    AP-prune ``ap_rate`` of them (``start``: the weights when the cycle's training began).

    ``ap_rate=0`` is plain IMP. Returns the model's sparsity afterwards.
    """
    current = sparsity_report(model).sparsity
    base_target, final_target = cycle_sparsities(current, rate, ap_rate)
    magnitude_prune(model, base_target, scope)
    if ap_rate > 0:
        ap_prune(model, start, final_target, scope)
    return sparsity_report(model).sparsity


class ActivatingGradualPruning(GradualMagnitudePruning):
    """Gradual magnitude pruning (Zhu & Gupta's cubic schedule) with AP taking ``ap_share`` of each step.

    Each pruning event raises the sparsity from its current value s to the schedule's s_t; the
    magnitude criterion removes ``1 - ap_share`` of that increase, AP the rest (the paper's 2 of 20
    is ``ap_share=0.1``). Here a "cycle" is the interval between two pruning events: w_start is the
    weights right after the previous event (at the first event, when the callback was made).
    ``ap_share=0`` is plain ``GradualMagnitudePruning``. The scope is global by default, as the
    paper's code ranks all tensors together.
    """

    def __init__(
        self,
        model: nn.Module,
        final: float,
        start: int,
        end: int,
        every: int = 100,
        scope: Scope = "global",
        ap_share: float = 0.1,
    ) -> None:
        super().__init__(model, final, start, end, every, scope)
        self.ap_share = check_sparsity(ap_share, "ap_share")
        self.start_weights = current_weights(model)
        self.ap_pruned = 0

    def on_step_end(self, step: int, **_: Any) -> None:
        if step % self.every and step != self.end:
            return
        if step < self.start or step > self.end:
            return
        target = cubic_sparsity(step, self.final, self.start, self.end)
        current = sparsity_report(self.model).sparsity
        if target > current:
            base_target = current + (1.0 - self.ap_share) * (target - current)
            magnitude_prune(self.model, base_target, self.scope)
            if self.ap_share > 0:
                self.ap_pruned += ap_prune(self.model, self.start_weights, target, self.scope)
        self.start_weights = current_weights(self.model)
        self.history.append((step, target))


# --- lottery-ticket rounds with and without AP (notebook 04's experiment) -------------------------
@dataclass
class RoundResult:
    """One IMP round: its sparsity, test accuracy and dynamic DNR during and after training.

    ``dnr_during`` has one row per epoch (``{layer: DNR, ALL: DNR}``, training-mode forwards);
    ``dnr_after`` is measured on the probe inputs in eval mode once training is done.
    """

    sparsity: float
    accuracy: float
    dnr_during: list[dict[str, float]]
    dnr_after: dict[str, float]

    @property
    def mean_dnr_during(self) -> float:
        """The DNR of all layers averaged over the round's epochs (the paper's "during optimization")."""
        return sum(row[ALL] for row in self.dnr_during) / len(self.dnr_during)


def train_and_measure(
    model: nn.Module,
    train_loader: Iterable,
    test_loader: Iterable,
    probe: torch.Tensor,
    *,
    epochs: int,
    lr: float,
    device: str | torch.device = "auto",
) -> RoundResult:
    """Train ``model`` with Adam (a fresh optimizer, as the paper's code makes each cycle) while a
    ``DeadNeuronMonitor`` watches, then measure accuracy and the DNR on ``probe`` (training inputs).
    """
    with DeadNeuronMonitor(model) as monitor:
        fit(
            model,
            train_loader,
            epochs=epochs,
            lr=lr,
            callbacks=[monitor],
            device=device,
            progress=False,
        )
    return RoundResult(
        sparsity=sparsity_report(model).sparsity,
        accuracy=evaluate(model, test_loader, device=device)["acc"],
        dnr_during=monitor.epochs,
        dnr_after=dead_neuron_rate(model, probe),
    )


def imp_with_ap(
    trained: nn.Module,
    init: Snapshot,
    train_loader: Iterable,
    test_loader: Iterable,
    probe: torch.Tensor,
    *,
    rounds: int,
    epochs: int,
    lr: float,
    rate: float = 0.2,
    ap_rate: float = 0.02,
    scope: Scope = "global",
    device: str | torch.device = "auto",
    desc: str = "IMP rounds",
) -> tuple[nn.Module, list[RoundResult]]:
    """Lottery-ticket IMP with rewinding to ``init``, plus AP when ``ap_rate > 0``.

    Starts from ``trained`` (a copy; the dense network after its first training, shared by the runs
    with and without AP, which differ only from the first pruning on). Each round prunes with
    ``magnitude_then_ap``, rewinds the survivors to ``init`` and retrains. w_start of every cycle
    is therefore the initial weights, as in the paper's code (``original_initialization``).
    Returns the final model and one ``RoundResult`` per round.
    """
    if not isinstance(rounds, int) or rounds < 1:
        raise ValueError(f"rounds must be a positive integer, got {rounds!r}")
    model = copy.deepcopy(trained)
    # w_start of every cycle: the initial weights (ap_scores names any the snapshot lacks)
    start = {full: init.model[full] for full, _, _ in prunable_weights(model) if full in init.model}
    results = []
    for _ in tqdm(range(rounds), desc=desc, disable=not progress_enabled(), leave=False):
        magnitude_then_ap(model, start, rate, ap_rate, scope)
        rewind(model, init)
        results.append(
            train_and_measure(
                model, train_loader, test_loader, probe, epochs=epochs, lr=lr, device=device
            )
        )
    return model, results
