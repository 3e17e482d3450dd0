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

import torch
from torch import nn

from helpers.core.activations import ALL, DeadNeuronMonitor, dead_neuron_rate
from helpers.core.masks import get_masks, prunable_weights, set_masks, sparsity_report
from helpers.core.prune import (
    GradualMagnitudePruning,
    Scope,
    Snapshot,
    check_sparsity,
    iterative_magnitude_pruning,
    magnitude_scores,
    masks_by_scores,
)
from helpers.core.train import evaluate, fit
from helpers.plumbing.params import check_choice

__all__ = [
    "current_weights",
    "ap_scores",
    "ap_masks",
    "ap_prune",
    "prune_with_ap_share",
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
def ap_scores(
    model: nn.Module,
    start: Mapping[str, torch.Tensor],
    masks: Mapping[str, torch.Tensor] | None = None,
) -> dict[str, torch.Tensor]:
    """AP's candidates and their order: |w_end - w_start| where w_end < 0 and alive, +inf elsewhere.

    ``start`` maps each prunable weight's full name to its value when the cycle began (a
    ``current_weights`` copy, or a ``state_dict`` of that moment). Smaller score = pruned first;
    +inf marks weights AP never takes (positive, zero or already pruned). ``masks`` says which
    weights are alive (default: the model's own masks; ``prune_with_ap_share`` passes the masks
    its magnitude step is about to install).
    """
    masks = get_masks(model) if masks is None else masks
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
        candidate = (w_end < 0) & (masks[full] > 0)
        change = (w_end - w_start).abs()  # |w_end - w_start|
        scores[full] = torch.where(candidate, change, torch.full_like(change, float("inf")))
    return scores


def _zeros(masks: Mapping[str, torch.Tensor], names: Iterable[str] | None = None) -> int:
    """How many entries of ``masks`` (only those of ``names``, if given) are 0: pruned weights."""
    return sum(int((masks[full] == 0).sum()) for full in (masks if names is None else names))


def _without_lowest(
    names: list[str],
    scores: Mapping[str, torch.Tensor],
    masks: Mapping[str, torch.Tensor],
    k: int,
) -> dict[str, torch.Tensor]:
    """The masks of ``names`` with 0 also at the ``k`` lowest finite scores (ranked together)."""
    flat = torch.cat([scores[full].reshape(-1) for full in names])  # (weights of names,)
    available = int(torch.isfinite(flat).sum())
    if k > available:
        raise ValueError(
            f"AP must prune {k} weights of {', '.join(names)} but only {available} alive negative "
            "weights remain; lower the AP share or the target sparsity"
        )
    keep = torch.ones_like(flat)
    if k > 0:
        keep[torch.topk(flat, k=k, largest=False).indices] = 0
    new, first = {}, 0
    for full in names:
        n = masks[full].numel()
        new[full] = masks[full] * keep[first : first + n].view_as(masks[full])
        first += n
    return new


@torch.no_grad()
def ap_masks(
    model: nn.Module,
    start: Mapping[str, torch.Tensor],
    sparsity: float,
    scope: Scope = "global",
    masks: Mapping[str, torch.Tensor] | None = None,
) -> dict[str, torch.Tensor]:
    """The masks after AP-pruning ``masks`` (default: the model's) until ``sparsity`` of the counted
    weights are pruned, by full weight name; the model is not changed.

    ``scope='global'`` ranks the candidates of all tensors together (as the paper's code does);
    ``'layer'`` brings each tensor to ``sparsity`` on its own. Raises ValueError when too few alive
    negative weights remain to reach the target; as nothing is installed, that changes nothing.
    """
    sparsity = check_sparsity(sparsity)
    check_choice("scope", scope, ("layer", "global"))
    masks = dict(get_masks(model) if masks is None else masks)
    scores = ap_scores(model, start, masks)
    names = [full for full, _, _ in prunable_weights(model)]
    for group in [names] if scope == "global" else [[full] for full in names]:
        total = sum(masks[full].numel() for full in group)
        k = max(round(sparsity * total) - _zeros(masks, group), 0)  # how many more to the target
        masks.update(_without_lowest(group, scores, masks, k))
    return masks


def ap_prune(
    model: nn.Module, start: Mapping[str, torch.Tensor], sparsity: float, scope: Scope = "global"
) -> int:
    """Prune by the AP criterion until ``sparsity`` of the counted weights are pruned; return how many.

    Like every pruner in ``helpers.prune``, ``sparsity`` is the *target* fraction of pruned weights,
    counting those already pruned; the masks are those of ``ap_masks``. Raises ValueError when too
    few alive negative weights remain to reach the target, and then changes nothing.
    """
    before = get_masks(model)
    after = ap_masks(model, start, sparsity, scope, before)
    set_masks(model, after)
    return _zeros(after) - _zeros(before)


@torch.no_grad()
def prune_with_ap_share(
    model: nn.Module,
    start: Mapping[str, torch.Tensor],
    target: float,
    ap_share: float,
    scope: Scope = "global",
) -> int:
    """One pruning event with AP: raise the sparsity from its current value s to ``target`` t,
    magnitude pruning taking ``1 - ap_share`` of the increase and AP the rest; return how many AP took.

        s_base = s + (1 - ap_share) (t - s)    (magnitude: the smallest |w|)
        s_after = t                            (AP: alive negatives that moved least since ``start``)

    The paper's cycle (prune p of the alive weights, AP takes q of them) is ``ap_share = q / p``
    with t = 1 - (1 - s)(1 - p); ``imp_with_ap`` and ``ActivatingGradualPruning`` both prune with
    it. Nothing happens when the model is at least ``target`` sparse already. Both steps' masks are
    computed before any is installed, so a rejected call changes nothing.
    """
    target = check_sparsity(target, "target")
    ap_share = check_sparsity(ap_share, "ap_share")
    check_choice("scope", scope, ("layer", "global"))
    current = sparsity_report(model).sparsity
    if target <= current:
        return 0
    base = current + (1.0 - ap_share) * (target - current)  # s_base = s + (1 - share)(t - s)
    after_magnitude = masks_by_scores(model, magnitude_scores(model), base, scope)
    after_ap = (
        ap_masks(model, start, target, scope, after_magnitude) if ap_share > 0 else after_magnitude
    )
    set_masks(model, after_ap)
    return _zeros(after_ap) - _zeros(after_magnitude)


class ActivatingGradualPruning(GradualMagnitudePruning):
    """Gradual magnitude pruning (Zhu & Gupta's cubic schedule) with AP taking ``ap_share`` of each step.

    Each pruning event raises the sparsity from its current value s to the schedule's s_t; the
    magnitude criterion removes ``1 - ap_share`` of that increase, AP the rest (the paper's 2 of 20
    is ``ap_share=0.1``; ``prune_with_ap_share``). Here a "cycle" is the interval between two
    pruning events: w_start is the weights right after the previous event (at the first event,
    when the callback was made). ``ap_share=0`` is plain ``GradualMagnitudePruning``. The scope is
    global by default, as the paper's code ranks all tensors together. When to prune is the
    parent's schedule (``due``); only the pruning action (``prune_to``) differs.
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

    def prune_to(self, target: float) -> None:
        """Magnitude and AP together up to ``target``; the weights now start the next cycle."""
        self.ap_pruned += prune_with_ap_share(
            self.model, self.start_weights, target, self.ap_share, self.scope
        )
        self.start_weights = current_weights(self.model)


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
    with and without AP, which differ only from the first pruning on). The rounds are
    ``prune.iterative_magnitude_pruning``'s: every round prunes ``rate`` (p) of the alive weights,
    AP taking ``ap_rate`` (q) of them (``prune_with_ap_share`` with share q / p), rewinds the
    survivors to ``init`` and retrains. w_start of every cycle is therefore the initial weights, as
    in the paper's code (``original_initialization``). Returns the final model and one
    ``RoundResult`` per round.
    """
    rate = check_sparsity(rate, "rate")
    ap_rate = check_sparsity(ap_rate, "ap_rate")
    if ap_rate > rate:
        raise ValueError(
            f"ap_rate ({ap_rate}) must not exceed rate ({rate}): AP takes a share of each round"
        )
    ap_share = ap_rate / rate if rate > 0 else 0.0
    model = copy.deepcopy(trained)
    # w_start of every cycle: the initial weights (ap_scores names any the snapshot lacks)
    start = {full: init.model[full] for full, _, _ in prunable_weights(model) if full in init.model}
    history = iterative_magnitude_pruning(
        model,
        lambda m: train_and_measure(
            m, train_loader, test_loader, probe, epochs=epochs, lr=lr, device=device
        ),
        init,
        rounds,
        rate,
        prune_step=lambda m, target: prune_with_ap_share(m, start, target, ap_share, scope),
        desc=desc,
    )
    return model, [entry["score"] for entry in history]
