"""Lottery tickets (Frankle & Carbin, ICLR 2019): per-layer pruning rates, the random-mask control and
the early-stopping iteration.

Introduced in notebook 01. IMP itself (train, prune, rewind, retrain) is
``helpers.core.prune.iterative_magnitude_pruning``; this module adds the three pieces the paper's
experiment needs on top of it:

- ``per_layer_rates``: a ``prune_step`` in which each layer loses its *own* fraction of its remaining
  weights per round. Frankle & Carbin prune LeNet-300-100 layer-wise at 20 % per round and its output
  layer at 10 % (their appendix; Frankle's reimplementation, ``mnist_fc/constants.py``:
  ``{'layer0': .2, 'layer1': .2, 'layer2': .1}``); their convolutional networks prune convolutions
  slower than fully connected layers.
- ``shuffled_masks``: the random-mask control with every layer's density kept (open_lth's
  ``randomly_prune`` branch, strategy ``'layerwise'``).
- ``ValidationLoss``: a ``fit`` callback that finds the early-stopping iteration, the step of lowest
  validation loss, which the paper uses to say how fast a network learns.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping

import torch
from torch import nn

from helpers.core.masks import prunable_weights, require_masked, set_masks
from helpers.core.prune import check_sparsity, magnitude_scores, masks_by_scores
from helpers.core.train import check_loader, evaluate
from helpers.plumbing.params import (
    check_float,
    check_generator,
    check_int,
    check_type,
)
from helpers.plumbing.runtime import resolve_device

__all__ = ["layer_target", "per_layer_rates", "shuffled_masks", "ValidationLoss"]


def layer_target(target: float, rate: float, layer_rate: float) -> float:
    """The sparsity of a layer that loses ``layer_rate`` of its remaining weights per round, at the
    round where a layer pruned at ``rate`` per round has reached sparsity ``target``.

    After r rounds, 1 - target = (1 - rate)^r, and the layer keeps (1 - layer_rate)^r of its
    weights, that is (1 - target)^(log(1 - layer_rate) / log(1 - rate)). With ``rate`` 0.2 and
    ``layer_rate`` 0.1: ``layer_target(0.36, 0.2, 0.1)`` = 0.19 (two rounds: 1 - 0.9²).
    """
    target = check_sparsity(target, "target")
    rate = check_float("rate", rate, 0.0, 1.0, low_open=True, high_open=True)
    layer_rate = check_float("layer_rate", layer_rate, 0.0, 1.0, high_open=True)
    if target >= 1.0:
        return 1.0 if layer_rate > 0 else 0.0
    exponent = math.log1p(-layer_rate) / math.log1p(
        -rate
    )  # rounds of `layer_rate` per round of `rate`
    return 1.0 - (1.0 - target) ** exponent


def per_layer_rates(
    rate: float, rates: Mapping[str, float] | None = None
) -> Callable[[nn.Module, float], None]:
    """A ``prune_step(model, target)`` for ``prune.iterative_magnitude_pruning``: layer-wise magnitude
    pruning where weight ``name`` loses ``rates[name]`` of its remaining weights per round and every
    other prunable weight ``rate``.

    ``target`` is the round's sparsity at ``rate`` (what IMP passes, ``prune.imp_sparsities``); each
    layer is pruned to ``layer_target(target, rate, its rate)``. Pass the same ``rate`` to IMP.
    Frankle & Carbin's LeNet: ``per_layer_rates(0.2, {"<output>.weight": 0.1})``.
    """
    rate = check_float("rate", rate, 0.0, 1.0, low_open=True, high_open=True)
    rates = (
        {} if rates is None else dict(check_type("rates", rates, Mapping, "a dict name -> rate"))
    )
    for name, value in rates.items():
        check_type("rates (a key)", name, str, "a weight name such as 'layers.4.weight'")
        check_float(f"rates['{name}']", value, 0.0, 1.0, high_open=True)

    def step(model: nn.Module, target: float) -> None:
        require_masked(model)
        names = [full for full, _, _ in prunable_weights(model)]
        unknown = sorted(set(rates) - set(names))
        if unknown:
            raise ValueError(f"rates name weights the model lacks: {unknown}; it has {names}")
        scores = magnitude_scores(model)
        new = {}
        for full in names:  # each layer on its own schedule, by |w| within the layer
            sparsity = layer_target(target, rate, rates.get(full, rate))
            new[full] = masks_by_scores(model, scores, sparsity, scope="layer")[full]
        set_masks(model, new)

    return step


def shuffled_masks(
    masks: Mapping[str, torch.Tensor], generator: torch.Generator | None = None
) -> dict[str, torch.Tensor]:
    """The random-mask control: each mask's entries in a random order, so every layer keeps exactly
    its number of surviving weights but not which ones (open_lth ``randomly_prune``, 'layerwise')."""
    check_type("masks", masks, Mapping, "a dict of mask tensors (prune history or masks.get_masks)")
    check_generator("generator", generator)
    shuffled = {}
    for name, mask in masks.items():
        check_type(f"masks['{name}']", mask, torch.Tensor, "a torch.Tensor")
        flat = mask.reshape(-1)  # (numel,)
        order = torch.randperm(flat.numel(), generator=generator).to(flat.device)
        shuffled[name] = flat[order].view_as(mask).clone()
    return shuffled


class ValidationLoss:
    """A ``fit`` callback: the validation loss every ``every`` optimizer steps, and the step where it
    was lowest, the *early-stopping iteration* Frankle & Carbin use to measure learning speed.

    ``start`` is added to every step: a ticket rewound to step k of the dense run counts its steps
    from the dense run's start, as the paper counts iterations from initialisation.
    """

    def __init__(
        self,
        val_loader: Iterable,
        every: int,
        start: int = 0,
        device: str | torch.device = "auto",
    ) -> None:
        check_loader("val_loader", val_loader)
        self.val_loader = val_loader
        self.every = check_int("every", every, 1)
        self.start = check_int("start", start, 0)
        self.device = resolve_device(device)
        self.steps: list[int] = []
        self.losses: list[float] = []

    def on_step_end(self, step: int, model: nn.Module, **_: object) -> None:
        if step % self.every == 0:
            self.steps.append(self.start + step)
            self.losses.append(evaluate(model, self.val_loader, device=self.device)["loss"])

    @property
    def best_step(self) -> int:
        """The step (counted from ``start``) of the lowest validation loss; the earliest on ties."""
        if not self.losses:
            raise ValueError(
                "no validation loss was recorded: train with fit(..., callbacks=[this]) for at "
                f"least `every` = {self.every} steps"
            )
        return self.steps[min(range(len(self.losses)), key=self.losses.__getitem__)]

    @property
    def best_loss(self) -> float:
        """The lowest validation loss recorded."""
        return min(self.losses) if self.losses else math.nan
