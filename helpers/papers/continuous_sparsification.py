"""Continuous Sparsification (Savarese, Silva, Maire, NeurIPS 2020): a ticket search by learned masks.

Introduced in notebook 02. Every prunable weight w gets a learned mask logit s, and the network
computes with w * sigmoid(beta s) / sigmoid(s0) (the soft half of the mask mechanism in
``helpers.masked``). Training minimises

    L(f(x; w * sigmoid(beta s) / sigmoid(s0))) + lam * ||sigmoid(beta s) / sigmoid(s0)||_1

while the temperature beta grows exponentially from 1 to ``final_temp`` within a round; as beta grows,
sigmoid(beta s) tends to the step function H(s), and the L1 term to the number of kept weights (L0).

The search runs in rounds. Between rounds, the logits are reset as s <- min(beta s, s0) and beta
back to 1: removed weights keep very negative logits (they stay off), survivors restart at s0. No
reset after the last round (with s0 <= 0 it would remove every weight). The ticket is the hard mask
(s > 0); it is then trained from weights rewound to an early iterate, like an IMP ticket
(``helpers.core.prune.snapshot`` / ``rewind``).

The pieces, in the order a search uses them: ``enable_soft_masks``, ``exponential_temperature`` and
its callback ``TemperatureSchedule``, ``helpers.core.regularize.SoftMaskL1``, ``reset_logits_``,
``extract_ticket``; ``search`` runs them all, ``train_ticket`` measures what was found, and
``matched_baseline`` picks the IMP ticket a CS ticket is compared with.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from helpers.core.masks import (
    get_masks,
    mask_logits,
    param_groups,
    prunable_weights,
    require_masked,
    set_mask_temperature,
    sparsity_report,
)
from helpers.core.prune import Snapshot, check_snapshot, rewind
from helpers.core.regularize import SoftMaskL1
from helpers.core.train import check_loader, evaluate, fit
from helpers.plumbing.params import (
    ParameterTypeError,
    check_bool,
    check_float,
    check_int,
    check_list,
)
from helpers.plumbing.runtime import progress_enabled, resolve_device

__all__ = [
    "enable_soft_masks",
    "soft_logits",
    "exponential_temperature",
    "TemperatureSchedule",
    "reset_logits_",
    "extract_ticket",
    "CSResult",
    "search",
    "train_ticket",
    "matched_baseline",
]


def enable_soft_masks(model: nn.Module, init: float = 0.0) -> list[nn.Parameter]:
    """Give every prunable weight of ``model`` mask logits s = ``init`` (s0); return the logits.

    With the 1/sigmoid(s0) rescaling of the mask mechanism the soft gate starts at exactly 1, so the
    network computes what it computed before. ``init`` (s0) steers the final sparsity: lower s0
    gives sparser tickets (the official code uses 0, or -0.1 for high sparsity).
    """
    weights = list(prunable_weights(model))
    for full, layer, name in weights:  # check every weight before enabling any
        if layer.has_soft_mask(name):
            raise ValueError(
                f"'{full}' already has a soft mask; extract_ticket(model) ends a search"
            )
        init = layer.checked_soft_init(name, init)
    return [layer.enable_soft_mask(name, init=init) for _, layer, name in weights]


@torch.no_grad()
def soft_logits(model: nn.Module) -> dict[str, torch.Tensor]:
    """A copy of every mask logit s, keyed by the weight's full name (e.g. ``'layers.0.weight'``)."""
    return {full: logits.detach().clone() for full, _, _, logits in mask_logits(model)}


def exponential_temperature(step: int, steps: int, final_temp: float) -> float:
    """beta at ``step`` (0, ..., steps-1) of a round: beta_t = final_temp ** (t / (steps - 1)).

    Starts at 1 and ends at ``final_temp`` (200 in the paper's code): the mask logits move freely
    while beta is small, and sigmoid(beta s) hardens into a 0/1 mask as beta grows.
    """
    check_int("steps", steps, 2)  # a round needs a start and an end
    final_temp = check_float("final_temp", final_temp, 1.0, finite=True)  # beta grows from 1
    step = check_float("step", step, 0, steps, high_open=True)
    return _beta(step, steps, final_temp)


def _beta(step: float, steps: int, final_temp: float) -> float:
    """beta_t = beta_T^(t / (T - 1)), for arguments already checked."""
    return final_temp ** (step / (steps - 1))


class TemperatureSchedule:
    """``fit`` callback: set beta = ``exponential_temperature(t, steps, final_temp)`` at every step.

    Call ``start()`` (beta = 1) before the round's ``fit``; after the optimizer step number t
    (1-based, as ``fit`` counts) it sets the beta of the next step, never beyond ``final_temp``.
    """

    def __init__(self, model: nn.Module, steps: int, final_temp: float) -> None:
        require_masked(model)
        exponential_temperature(0, steps, final_temp)  # checks steps and final_temp
        self.model, self.steps, self.final_temp = model, steps, float(final_temp)
        self.beta = 1.0

    def start(self) -> None:
        """beta = 1 for the first step of a round."""
        self.beta = 1.0
        set_mask_temperature(self.model, 1.0)

    def on_step_end(self, step: int, **_: Any) -> None:
        self.beta = _beta(min(step, self.steps - 1), self.steps, self.final_temp)
        set_mask_temperature(self.model, self.beta)


@torch.no_grad()
def reset_logits_(model: nn.Module) -> None:
    """Between rounds: s <- min(beta s, s0) for every soft mask, then beta <- 1 (in place).

    Multiplying by beta keeps the round's decisions (sigmoid(beta s) is unchanged at the new beta of
    1 for removed weights); clamping at s0 lets every survivor compete again from the start value.
    """
    soft = list(mask_logits(model))
    if not soft:
        raise ValueError("the model has no soft masks to reset; enable_soft_masks(model) first")
    for _, layer, _, logits in soft:
        # s <- min(beta s, s0)
        logits.copy_(torch.minimum(layer.mask_temperature * logits, layer.mask_soft_init))
    set_mask_temperature(model, 1.0)


def extract_ticket(model: nn.Module) -> None:
    """End the search: every hard mask *= (s > 0) and the logits are dropped (the CS ticket).

    The ticket keeps the weights' own values (no 1/sigmoid(s0) factor), so after rewinding it
    computes with exactly the rewound weights on the kept connections, like an IMP ticket.
    """
    soft = list(mask_logits(model))
    if not soft:
        raise ValueError("the model has no soft masks; there is no search to end")
    for _, layer, name, _ in soft:
        layer.harden_soft_mask(name)


@dataclass
class CSResult:
    """What ``search`` found and recorded.

    ``masks``: the ticket's hard masks; ``sparsity``: its fraction of pruned weights; ``epochs``:
    training epochs the search used; ``trajectory``: one row per epoch (round, epoch, beta,
    sparsity = fraction of logits <= 0); ``snapshots``: the logits at the start of each round and
    after every epoch (only with ``record_logits=True``), each ``{'round', 'epoch', 'beta',
    'logits'}`` with the logits of all weights in one flat CPU tensor; ``loss``: the training loss
    (task + penalty) at every step.
    """

    lam: float
    masks: dict[str, torch.Tensor]
    sparsity: float
    epochs: int
    trajectory: list[dict[str, float]] = field(default_factory=list)
    snapshots: list[dict[str, Any]] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)


class _StepMaskOptimizer:
    """``fit`` callback for ``search``: step the mask logits' own optimizer after each step of ``fit``'s.

    ``fit`` drives one optimizer (Adam on the weights); the logits get SGD with momentum, as in the
    official code, so they move in proportion to their gradient and freeze as beta grows.
    """

    def __init__(self, optimizer: torch.optim.Optimizer) -> None:
        self.optimizer = optimizer

    def on_step_end(self, **_: Any) -> None:
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)


class _Recorder:
    """``fit`` callback for ``search``: the sparsity (and optionally the logits) after each epoch."""

    def __init__(
        self, result: CSResult, schedule: TemperatureSchedule, record_logits: bool
    ) -> None:
        self.result, self.schedule, self.record_logits = result, schedule, record_logits
        self.round = 0

    def snapshot(self, model: nn.Module, epoch: int) -> None:
        flat = torch.cat([s.flatten() for s in soft_logits(model).values()]).cpu()  # (n_weights,)
        self.result.snapshots.append(
            {"round": self.round, "epoch": epoch, "beta": self.schedule.beta, "logits": flat}
        )

    def on_epoch_end(self, epoch: int, model: nn.Module, **_: Any) -> None:
        row = {
            "round": self.round,
            "epoch": epoch,
            "beta": self.schedule.beta,
            "sparsity": sparsity_report(model).sparsity,
        }
        self.result.trajectory.append(row)
        if self.record_logits:
            self.snapshot(model, epoch)


def search(
    model: nn.Module,
    train_loader: Any,
    *,
    lam: float,
    rounds: int = 2,
    epochs: int = 15,
    final_temp: float = 200.0,
    init: float = 0.0,
    lr: float = 1e-3,
    mask_lr: float = 0.05,
    device: str | torch.device = "auto",
    record_logits: bool = False,
    progress: bool | None = None,
) -> CSResult:
    """Run Continuous Sparsification on ``model`` (in place) and leave it holding the ticket's masks.

    ``rounds`` rounds of ``epochs`` epochs each minimise the task loss + ``lam`` * L1(soft masks),
    with beta annealed from 1 to ``final_temp`` within each round and the logits reset between
    rounds. Adam trains the weights (``lr``); SGD with momentum 0.9 trains the logits (``mask_lr``,
    their own parameter group without weight decay), as in the official code. Under Adam every logit
    would move by about its learning rate per step however small its gradient, which undoes the
    freezing that a growing beta brings. At the end the ticket (s > 0) replaces the soft masks.
    The weights are left as trained: rewind them before training the ticket (``train_ticket``).
    """
    # Check everything before the first soft mask is enabled.
    require_masked(model)
    steps = _steps_per_round(train_loader, check_int("epochs", epochs, 1))
    check_int("rounds", rounds, 1)
    check_float("final_temp", final_temp, 1.0, finite=True)
    for name, value in (("lr", lr), ("mask_lr", mask_lr)):
        check_float(name, value, 0.0, low_open=True, finite=True)
    penalty = SoftMaskL1(lam)  # checks lam
    device = resolve_device(device)
    check_bool("record_logits", record_logits)
    progress_enabled(progress)  # checks progress
    enable_soft_masks(model, init)  # checks init and that no search runs yet
    model.to(device)
    weights, logits = param_groups(model)  # the logits in their own group, without weight decay
    optimizer = torch.optim.Adam([weights], lr=lr)
    mask_optimizer = _StepMaskOptimizer(torch.optim.SGD([logits], lr=mask_lr, momentum=0.9))
    schedule = TemperatureSchedule(model, steps=steps, final_temp=final_temp)
    result = CSResult(lam=float(lam), masks={}, sparsity=float("nan"), epochs=rounds * epochs)
    recorder = _Recorder(result, schedule, record_logits)
    for round_index in range(rounds):
        recorder.round = round_index + 1
        schedule.start()
        if record_logits:
            recorder.snapshot(model, epoch=0)
        history = fit(
            model,
            train_loader,
            epochs=epochs,
            optimizer=optimizer,
            callbacks=[penalty, mask_optimizer, schedule, recorder],
            device=device,
            progress=progress,
            desc=f"CS round {round_index + 1}",
        )
        result.loss += history.step_loss
        # No reset after the last round: with s0 <= 0 it would set every s <= 0 (an empty ticket).
        if round_index < rounds - 1:
            reset_logits_(model)
    extract_ticket(model)
    result.masks = get_masks(model)
    result.sparsity = sparsity_report(model).sparsity
    return result


def _steps_per_round(train_loader: Any, epochs: int) -> int:
    """The optimizer steps of one round, ``epochs * len(train_loader)``; at least 2 (beta goes from
    1 to ``final_temp``), else a ValueError naming ``train_loader``."""
    check_loader("train_loader", train_loader, "a loader of (x, y) batches with a len()")
    if not hasattr(train_loader, "__len__"):
        raise ParameterTypeError(
            "parameter train_loader must be a loader of (x, y) batches with a len() (the "
            f"temperature schedule needs the number of steps), got {type(train_loader).__name__}"
        )
    steps = epochs * len(train_loader)
    if steps < 2:
        raise ValueError(
            f"parameter train_loader must give a round at least 2 steps (epochs * len(train_loader)"
            f" = {steps}): the temperature goes from 1 to final_temp"
        )
    return steps


def train_ticket(
    model: nn.Module,
    rewind_to: Snapshot,
    train_loader: Any,
    test_loader: Any,
    *,
    epochs: int,
    lr: float = 1e-3,
    device: str | torch.device = "auto",
    progress: bool | None = None,
) -> float:
    """Rewind ``model`` to ``rewind_to`` (keeping its masks), train it with Adam; return test accuracy.

    The same recipe measures CS tickets and IMP tickets in notebook 02, so the only difference
    between them is the mask. If the snapshot holds optimizer state (Adam's moments and learning
    rate at the rewind step of the dense run), the optimizer is rewound too and ``lr`` is unused.
    """
    # Check everything before the model is rewound.
    if any(layer.has_soft_mask(name) for _, layer, name in prunable_weights(model)):
        raise ValueError("the model still has soft masks; call extract_ticket(model) first")
    check_snapshot("rewind_to", rewind_to, model)
    check_loader("train_loader", train_loader)
    check_loader("test_loader", test_loader)
    check_int("epochs", epochs, 1)
    check_float("lr", lr, 0.0, low_open=True, finite=True)
    device = resolve_device(device)
    progress_enabled(progress)  # checks progress
    model.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    rewind(model, rewind_to, optimizer if rewind_to.optimizer is not None else None)
    fit(
        model,
        train_loader,
        epochs=epochs,
        optimizer=optimizer,
        device=device,
        progress=progress,
        desc="ticket",
    )
    return evaluate(model, test_loader, device=device)["acc"]


def matched_baseline(
    remaining: float, curve_remaining: Sequence[float], max_ratio: float = 1.25
) -> int | None:
    """Which point of a baseline's curve to compare a ticket with; None if no point is close enough.

    The point is the sparsest one that keeps *at least* as many weights as the ticket
    (``curve_remaining[i] >= remaining``), and it is accepted only if it keeps at most ``max_ratio``
    times as many (1.25 = one IMP round of 20 %). The comparison therefore never favours the
    ticket: the baseline always has the same number of weights or more. Notebook 02 compares each
    CS ticket with IMP this way. A ticket more than ``max_ratio`` sparser than the curve's sparsest
    point gets None: we do not extrapolate.
    """
    check_float("remaining", remaining, 0.0, 1.0, low_open=True)
    check_float("max_ratio", max_ratio, 1.0)
    curve_remaining = check_list("curve_remaining", curve_remaining, "a list of fractions", 1)
    for i, r in enumerate(curve_remaining):
        check_float(f"curve_remaining[{i}]", r, 0.0, 1.0)
    candidates = [i for i, r in enumerate(curve_remaining) if r >= remaining]
    if not candidates:
        return None
    best = min(candidates, key=lambda i: curve_remaining[i])
    return best if curve_remaining[best] <= max_ratio * remaining else None
