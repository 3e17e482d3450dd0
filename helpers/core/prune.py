"""Pruning methods: magnitude (layer-wise and global), random, IMP with rewinding, gradual schedules.

Introduced in notebooks 00 (magnitude, random) and 01 (IMP with rewinding). Every method writes
hard masks through ``helpers.masks``; soft (learned) masks are the mask mechanism's other half
(``MaskedMixin.enable_soft_mask``, notebook 02).

Which tensors count: the masked weights of ``helpers.core.masks.prunable_weights`` (weight matrices and
kernels; never biases or norms). Leave a layer out of pruning by leaving it dense
(``to_masked(model, skip=[...])``).

Sparsity is always the *target fraction of pruned weights*, counting weights already pruned: pruning
a model that is 50 % sparse to 60 % removes the smallest 10 % more. Already-pruned weights score 0 and
so stay pruned; masks only ever shrink.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Literal

import torch
from torch import nn
from tqdm.auto import tqdm

from helpers.core.masks import (
    get_masks,
    prunable_weights,
    require_masked,
    set_masks,
    sparsity_report,
)
from helpers.plumbing.params import (
    ParameterTypeError,
    check_bool,
    check_choice,
    check_float,
    check_generator,
    check_int,
    check_module,
    check_type,
)
from helpers.plumbing.runtime import progress_enabled

__all__ = [
    "magnitude_prune",
    "magnitude_scores",
    "random_prune",
    "METHODS",
    "pruned_copy",
    "masks_by_scores",
    "prune_by_scores",
    "check_sparsity",
    "Snapshot",
    "snapshot",
    "check_snapshot",
    "rewind",
    "imp_sparsities",
    "iterative_magnitude_pruning",
    "cubic_sparsity",
    "GradualMagnitudePruning",
]

Scope = Literal["layer", "global"]


def check_sparsity(sparsity: float, name: str = "sparsity") -> float:
    """Return ``sparsity`` (a fraction of weights) as a float; ValueError unless it lies in [0, 1].

    A value of the wrong type (a string, None, a tensor of several values) raises
    ``params.ParameterTypeError``, which is a TypeError and a ValueError.
    """
    return check_float(name, sparsity, 0.0, 1.0)


def _check_scope(scope: str) -> None:
    check_choice("scope", scope, ("layer", "global"))


def _check_function(name: str, function: Any, signature: str) -> None:
    if not callable(function):
        raise ParameterTypeError(
            f"parameter {name} must be a function {signature}, got {type(function).__name__}"
        )


def _smallest_k_mask(scores: torch.Tensor, k: int) -> torch.Tensor:
    """1 everywhere except at the ``k`` smallest scores (ties broken as ``torch.topk`` does).

    This is the selection ``torch.nn.utils.prune`` makes, so both agree weight for weight.
    """
    keep = torch.ones_like(scores)
    if k > 0:
        drop = torch.topk(scores.reshape(-1), k=k, largest=False).indices
        keep.view(-1)[drop] = 0
    return keep


@torch.no_grad()
def masks_by_scores(
    model: nn.Module,
    scores: dict[str, torch.Tensor],
    sparsity: float,
    scope: Scope = "layer",
) -> dict[str, torch.Tensor]:
    """The masks that prune the lowest-scoring weights until ``sparsity`` of the counted weights are
    pruned, by full weight name; the model is not changed (``prune_by_scores`` installs them).

    ``scores`` maps each prunable weight's full name to a tensor of its shape; larger = more
    important. Already-pruned weights are forced to the lowest score so they stay pruned.
    ``scope='layer'`` prunes each tensor to ``sparsity``; ``'global'`` ranks all tensors together,
    so tensors of small-magnitude weights (often the first or recurrent layers) lose more.
    Computing masks without installing them lets a pruner that combines criteria (AP, notebook 04)
    check every step before it changes anything.
    """
    sparsity = check_sparsity(sparsity)
    _check_scope(scope)
    weights = list(prunable_weights(model))
    check_type("scores", scores, dict, "a dict of score tensors keyed by weight name")
    names = {full for full, _, _ in weights}
    missing, unknown = names - set(scores), set(scores) - names
    if missing or unknown:
        raise ValueError(
            f"scores must name exactly the model's masked weights {sorted(names)}; "
            f"scores are missing for: {sorted(missing)}, unknown: {sorted(unknown, key=str)}"
        )
    masked_scores = {}
    for full, layer, p in weights:
        check_type(f"scores['{full}']", scores[full], torch.Tensor, "a torch.Tensor")
        if scores[full].is_complex():
            raise ValueError(f"scores for '{full}' must be real numbers, got {scores[full].dtype}")
        score = scores[full].detach().to(layer.get_mask(p).dtype)
        if score.shape != layer.get_mask(p).shape:
            raise ValueError(
                f"scores for '{full}' have shape {tuple(score.shape)}, expected {tuple(layer.get_mask(p).shape)}"
            )
        # Pruned weights get -inf so that they are always among the k smallest.
        masked_scores[full] = score.masked_fill(layer.get_mask(p) == 0, float("-inf"))

    if scope == "layer":
        return {
            full: _smallest_k_mask(score, round(sparsity * score.numel()))
            for full, score in masked_scores.items()
        }
    flat = torch.cat([score.reshape(-1) for score in masked_scores.values()])  # (all weights,)
    keep = _smallest_k_mask(flat, round(sparsity * flat.numel()))
    masks, start = {}, 0
    for full, score in masked_scores.items():
        masks[full] = keep[start : start + score.numel()].view_as(score)
        start += score.numel()
    return masks


def prune_by_scores(
    model: nn.Module,
    scores: dict[str, torch.Tensor],
    sparsity: float,
    scope: Scope = "layer",
) -> None:
    """Prune the lowest-scoring weights until ``sparsity`` of the counted weights are pruned
    (in place; which ones: ``masks_by_scores``)."""
    set_masks(model, masks_by_scores(model, scores, sparsity, scope))


def magnitude_scores(model: nn.Module) -> dict[str, torch.Tensor]:
    """|w| of every prunable (effective) weight, by full name: the magnitude criterion."""
    return {full: layer.effective(p).abs() for full, layer, p in prunable_weights(model)}


def magnitude_prune(model: nn.Module, sparsity: float, scope: Scope = "layer") -> None:
    """Han et al. 2015: prune the weights of smallest |w| until ``sparsity`` are pruned (in place)."""
    check_sparsity(sparsity)
    _check_scope(scope)
    prune_by_scores(model, magnitude_scores(model), sparsity, scope)


def random_prune(
    model: nn.Module,
    sparsity: float,
    scope: Scope = "layer",
    generator: torch.Generator | None = None,
) -> None:
    """Prune uniformly random weights until ``sparsity`` are pruned: the control every method must beat."""
    # Check first: drawing the scores advances ``generator``, which a failed call must not do.
    check_sparsity(sparsity)
    _check_scope(scope)
    check_generator("generator", generator)
    scores = {}
    for full, layer, p in prunable_weights(model):
        shape = layer.get_mask(p).shape
        scores[full] = torch.rand(shape, generator=generator).to(layer.get_mask(p).device)
    prune_by_scores(model, scores, sparsity, scope)


#: The one-shot methods of notebook 00, by name.
METHODS = ("magnitude-global", "magnitude-layer", "random")


def pruned_copy(
    model: nn.Module, method: str, sparsity: float, generator: torch.Generator | None = None
) -> nn.Module:
    """A deep copy of ``model`` pruned to ``sparsity`` by ``method`` (one of ``METHODS``).

    ``random`` prunes layer-wise, so its per-tensor sparsities equal those of ``magnitude-layer``.
    """
    check_choice("method", method, METHODS)
    check_sparsity(sparsity)
    check_generator("generator", generator)
    require_masked(model)
    pruned = copy.deepcopy(model)
    if method == "random":
        random_prune(pruned, sparsity, scope="layer", generator=generator)
    else:
        magnitude_prune(pruned, sparsity, scope=method.split("-")[1])
    return pruned


# --- lottery tickets: snapshots and rewinding -------------------------------------------------
@dataclass
class Snapshot:
    """Everything a rewind restores: model state (weights, biases, norm statistics), optimizer and
    LR-scheduler state, and the training step it was taken at. Masks are *not* restored."""

    step: int
    model: dict[str, torch.Tensor]
    optimizer: dict[str, Any] | None = None
    scheduler: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def snapshot(
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: Any | None = None,
    step: int = 0,
) -> Snapshot:
    """Deep-copy the state to rewind to later (Frankle et al. 2020 rewind to an early iteration k)."""
    check_module("model", model)
    step = check_int("step", step, 0)
    if optimizer is not None:
        check_type("optimizer", optimizer, torch.optim.Optimizer, "a torch.optim.Optimizer or None")
    if scheduler is not None and not hasattr(scheduler, "state_dict"):
        raise ParameterTypeError(
            f"parameter scheduler must be an LR scheduler (with state_dict) or None, "
            f"got {type(scheduler).__name__}"
        )
    return Snapshot(
        step=step,
        model=copy.deepcopy(model.state_dict()),
        optimizer=copy.deepcopy(optimizer.state_dict()) if optimizer is not None else None,
        scheduler=copy.deepcopy(scheduler.state_dict()) if scheduler is not None else None,
    )


@torch.no_grad()
def rewind(
    model: nn.Module,
    snap: Snapshot,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: Any | None = None,
) -> None:
    """Restore weights, biases, norm statistics (and optimizer/scheduler) from ``snap``; keep masks.

    The current masks are kept and applied, so the rewound network is the *ticket*: the early
    weights of the dense run, restricted to the surviving connections. Everything is checked
    before anything is restored, so a snapshot that does not fit leaves the model unchanged.
    """
    _check_rewind(model, snap, optimizer, scheduler)
    state = {k: v for k, v in snap.model.items() if not k.endswith("_mask")}
    model.load_state_dict(state, strict=False)
    for _, layer, _ in prunable_weights(model):
        layer.apply_mask_()
    if optimizer is not None:
        optimizer.load_state_dict(copy.deepcopy(snap.optimizer))
    if scheduler is not None:
        scheduler.load_state_dict(copy.deepcopy(snap.scheduler))


def _check_rewind(
    model: nn.Module, snap: Snapshot, optimizer: Any | None, scheduler: Any | None
) -> None:
    """Raise unless ``rewind(model, snap, optimizer, scheduler)`` can restore everything."""
    check_snapshot("snap", snap, model)
    if optimizer is not None:
        check_type("optimizer", optimizer, torch.optim.Optimizer, "a torch.optim.Optimizer or None")
        if snap.optimizer is None:
            raise ValueError("the snapshot holds no optimizer state; take it with optimizer=...")
        groups = [len(g["params"]) for g in optimizer.state_dict()["param_groups"]]
        saved = [len(g["params"]) for g in snap.optimizer["param_groups"]]
        if groups != saved:
            raise ValueError(
                f"optimizer has parameter groups of sizes {groups} but the snapshot's optimizer "
                f"had {saved}: pass the optimizer of the same model"
            )
    if scheduler is not None:
        if not callable(getattr(scheduler, "load_state_dict", None)):
            raise ParameterTypeError(
                "parameter scheduler must be an LR scheduler (with load_state_dict) or None, "
                f"got {type(scheduler).__name__}"
            )
        if snap.scheduler is None:
            raise ValueError("the snapshot holds no scheduler state; take it with scheduler=...")


def check_snapshot(name: str, snap: Any, model: nn.Module) -> Snapshot:
    """``snap`` if ``rewind`` can restore it into ``model``: a ``Snapshot`` of a masked model of the
    same architecture (the same state names and shapes, masks aside); otherwise a clear error."""
    require_masked(model)
    check_type(name, snap, Snapshot, "a Snapshot (from helpers.core.prune.snapshot)")
    current = model.state_dict()
    state = {k: v for k, v in snap.model.items() if not k.endswith("_mask")}
    unknown = set(state) - set(current)
    if unknown:
        raise ValueError(f"{name} has entries the model lacks: {sorted(unknown)[:5]}")
    for key, value in state.items():
        if isinstance(value, torch.Tensor) and value.shape != current[key].shape:
            raise ValueError(
                f"{name}['{key}'] has shape {tuple(value.shape)}, the model's "
                f"{tuple(current[key].shape)}: {name} must come from a model of the same "
                "architecture"
            )
    return snap


def imp_sparsities(rounds: int, rate: float = 0.2) -> list[float]:
    """Target sparsity after each IMP round when every round prunes ``rate`` of what remains.

    ``imp_sparsities(5, 0.2)`` → [0.2, 0.36, 0.488, 0.5904, 0.67232].
    """
    rounds = check_int("rounds", rounds, 1)
    rate = check_sparsity(rate, "rate")
    return [1.0 - (1.0 - rate) ** (r + 1) for r in range(rounds)]


def iterative_magnitude_pruning(
    model: nn.Module,
    train: Callable[[nn.Module], Any],
    rewind_to: Snapshot,
    rounds: int,
    rate: float = 0.2,
    scope: Scope = "layer",
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: Any | None = None,
    progress: bool | None = None,
    prune_step: Callable[[nn.Module, float], None] | None = None,
    desc: str = "IMP rounds",
) -> list[dict[str, Any]]:
    """Frankle & Carbin's IMP with rewinding (notebook 01); ``model`` must already be trained dense.

    Each round: prune ``rate`` of the remaining weights by magnitude, rewind the survivors (and the
    optimizer and scheduler, if given) to ``rewind_to``, retrain with ``train(model) -> score``
    (any value: an accuracy, or a record of the round). Returns one dict per round: ``round``,
    ``sparsity``, ``score`` and the round's ``masks``.

    ``prune_step(model, target_sparsity)`` replaces the magnitude pruning of step 1 by another
    pruner that brings the model to the round's target, ``imp_sparsities(rounds, rate)`` (AP on
    top of magnitude pruning in notebook 04); ``scope`` is then unused. ``desc`` labels the
    progress bar.
    """
    # Check everything before round 1 prunes anything.
    targets = imp_sparsities(rounds, rate)
    _check_scope(scope)
    _check_function("train", train, "train(model) -> score")
    if prune_step is not None:
        _check_function("prune_step", prune_step, "prune_step(model, target_sparsity)")
    _check_rewind(model, rewind_to, optimizer, scheduler)
    if progress is not None:
        check_bool("progress", progress)
    check_type("desc", desc, str, "a string")
    if prune_step is None:
        prune_step = partial(magnitude_prune, scope=scope)
    history = []
    for r, target in enumerate(tqdm(targets, desc=desc, disable=not progress_enabled(progress)), 1):
        prune_step(model, target)  # 1. prune to the round's target (by default the smallest |w|)
        rewind(model, rewind_to, optimizer, scheduler)  # 2. reset survivors to their early values
        score = train(model)  # 3. retrain the ticket
        history.append(
            {
                "round": r,
                "sparsity": sparsity_report(model).sparsity,
                "score": score,
                "masks": get_masks(model),
            }
        )
    return history


# --- gradual pruning (Zhu & Gupta 2017) -------------------------------------------------------
def cubic_sparsity(step: int, final: float, start: int, end: int, initial: float = 0.0) -> float:
    """Zhu & Gupta's schedule: s_t = s_f + (s_i - s_f) (1 - (t - t0) / (t1 - t0))^3, clamped.

    Prunes fast early, when many redundant weights exist, and slowly near the end.
    """
    check_sparsity(final, "final")
    check_sparsity(initial, "initial")
    for name, value in (("step", step), ("start", start), ("end", end)):
        check_float(name, value, finite=True)
    if end <= start:
        raise ValueError(f"end ({end}) must come after start ({start})")
    progress = min(max((step - start) / (end - start), 0.0), 1.0)
    return final + (initial - final) * (1.0 - progress) ** 3


class GradualMagnitudePruning:
    """A training callback: magnitude-prune to ``cubic_sparsity(step)`` every ``every`` steps.

    Use with ``helpers.core.train.fit(..., callbacks=[GradualMagnitudePruning(model, 0.9, 0, 1000)])``.
    """

    def __init__(
        self,
        model: nn.Module,
        final: float,
        start: int,
        end: int,
        every: int = 100,
        scope: Scope = "layer",
    ) -> None:
        require_masked(model)
        check_sparsity(final, "final")
        _check_scope(scope)
        check_int("every", every, 1)
        cubic_sparsity(start, final, start, end)  # checks start < end now, not mid-training
        self.model, self.final, self.start, self.end = model, final, start, end
        self.every, self.scope = every, scope
        self.history: list[tuple[int, float]] = []

    def due(self, step: int) -> bool:
        """Whether to prune after optimizer step ``step``: every ``every`` steps from ``start`` to
        ``end``, and at ``end`` itself, so the schedule always reaches ``final``."""
        return self.start <= step <= self.end and (step % self.every == 0 or step == self.end)

    def on_step_end(self, step: int, **_: Any) -> None:
        if not self.due(step):
            return
        target = cubic_sparsity(step, self.final, self.start, self.end)
        self.prune_to(target)
        self.history.append((step, target))

    def prune_to(self, target: float) -> None:
        """One pruning event: magnitude-prune to ``target``. A subclass changes the criterion here
        (``ActivatingGradualPruning``, notebook 04) and keeps the schedule."""
        magnitude_prune(self.model, target, self.scope)


Callback = Callable[..., None]
