"""Knowledge distillation: train a small *student* to imitate a trained *teacher*.

Introduced in notebook 06 (N2N), where every student the compression policy proposes is trained
by distillation before it is scored. Two losses:

- ``logit_matching_loss`` — the mean squared error between student and teacher logits (Ba & Caruana
  2014). N2N uses this one: the logits keep the teacher's "dark knowledge" (how much it prefers
  the second-best class) that a one-hot label throws away.
- ``soft_target_loss`` — Hinton, Vinyals & Dean (2015): the KL divergence between the softened
  class distributions at temperature τ, scaled by τ² so its gradient does not shrink as τ grows.

``distill`` trains a student on the teacher's logits with ``helpers.core.train.fit``: the teacher is run
once on the training inputs and its logits become the targets, so no labels are needed.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from helpers.core.data import TensorLoader
from helpers.core.train import History, fit
from helpers.plumbing.params import (
    check_choice,
    check_float,
    check_generator,
    check_int,
    check_module,
    check_tensor,
)
from helpers.plumbing.runtime import model_mode, resolve_device

__all__ = ["LOSSES", "logit_matching_loss", "soft_target_loss", "teacher_logits", "distill"]


def _check_logits(student_logits: torch.Tensor, teacher_logits: torch.Tensor) -> None:
    for name, value in (("student_logits", student_logits), ("teacher_logits", teacher_logits)):
        check_tensor(name, value)
        if not value.is_floating_point():
            raise ValueError(f"{name} must be a floating-point tensor, got dtype {value.dtype}")
    if student_logits.shape != teacher_logits.shape:
        raise ValueError(
            f"student logits {tuple(student_logits.shape)} and teacher logits "
            f"{tuple(teacher_logits.shape)} must have the same shape"
        )


def logit_matching_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor) -> torch.Tensor:
    """Mean squared error between logits, ``mean((z_s - z_t)^2)`` (the loss N2N trains students with)."""
    _check_logits(student_logits, teacher_logits)
    return F.mse_loss(student_logits, teacher_logits.detach())  # (1/NK) Σ (z_s − z_t)²


def soft_target_loss(
    student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float = 4.0
) -> torch.Tensor:
    """Hinton's distillation loss: ``τ² · KL(softmax(z_t/τ) ‖ softmax(z_s/τ))``, averaged over rows."""
    _check_logits(student_logits, teacher_logits)
    check_float("temperature", temperature, 0.0, low_open=True, finite=True)
    log_p_student = F.log_softmax(student_logits / temperature, dim=-1)  # log softmax(z_s/τ)
    log_p_teacher = F.log_softmax(
        teacher_logits.detach() / temperature, dim=-1
    )  # log softmax(z_t/τ)
    # KL(p_t ‖ p_s), summed over classes and averaged over rows
    kl = F.kl_div(log_p_student, log_p_teacher, reduction="batchmean", log_target=True)
    return temperature**2 * kl  # τ² keeps the gradient's scale independent of τ


def _check_inputs(x: torch.Tensor) -> None:
    check_tensor("x", x, min_dim=1)
    if len(x) == 0:
        raise ValueError(f"x must hold at least one input (row), got shape {tuple(x.shape)}")


LOSSES: dict[str, Callable[..., torch.Tensor]] = {
    "mse": logit_matching_loss,
    "kl": soft_target_loss,
}


@torch.no_grad()
def teacher_logits(teacher: nn.Module, x: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
    """The teacher's logits on ``x`` (eval mode, no gradient), on ``x``'s device."""
    check_module("teacher", teacher)
    _check_inputs(x)
    check_int("batch_size", batch_size, 1)
    with model_mode(teacher, training=False):
        chunks = [teacher(x[i : i + batch_size]) for i in range(0, len(x), batch_size)]
    return torch.cat(chunks).detach()


def distill(
    student: nn.Module,
    teacher: nn.Module,
    x: torch.Tensor,
    *,
    epochs: int,
    lr: float = 2e-3,
    weight_decay: float = 0.0,
    batch_size: int | None = None,
    loss: str = "mse",
    temperature: float = 4.0,
    generator: torch.Generator | None = None,
    device: str | torch.device = "auto",
    targets: torch.Tensor | None = None,
) -> History:
    """Train ``student`` to match ``teacher``'s logits on the inputs ``x``; return ``fit``'s History.

    ``batch_size=None`` trains full-batch, so ``epochs`` is then the number of optimizer steps
    (notebook 06 trains hundreds of students and needs each to be cheap). ``loss`` is ``'mse'``
    (logit matching, N2N) or ``'kl'`` (Hinton, at ``temperature``). Adam at ``lr`` with
    ``weight_decay`` (N2N: 5e-4). Pass precomputed ``targets`` (``teacher_logits(teacher, x)``) to
    skip re-running the teacher when many students learn from the same one.
    """
    check_module("student", student)
    check_module("teacher", teacher)
    _check_inputs(x)
    check_choice("loss", loss, sorted(LOSSES))
    check_int("epochs", epochs, 1)
    if batch_size is not None:
        check_int("batch_size", batch_size, 1)  # or None: full batch
    check_float("lr", lr, 0.0, low_open=True, finite=True)
    check_float("weight_decay", weight_decay, 0.0, finite=True)
    if loss == "kl":
        check_float("temperature", temperature, 0.0, low_open=True, finite=True)
    check_generator("generator", generator)
    if targets is not None:
        check_tensor("targets", targets, min_dim=1)
        if len(targets) != len(x):
            raise ValueError(f"targets have {len(targets)} rows but x has {len(x)}")
    device = resolve_device(device)
    x = x.to(device)
    if targets is None:
        targets = teacher_logits(teacher.to(device), x)
    full_batch = batch_size is None or batch_size >= len(x)
    loader = TensorLoader(  # full batch: no shuffling needed, every step sees every row
        x,
        targets.to(device),
        len(x) if full_batch else batch_size,
        shuffle=not full_batch,
        generator=generator,
    )
    if loss == "kl":

        def loss_fn(s: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            return soft_target_loss(s, t, temperature)

    else:
        loss_fn = logit_matching_loss
    optimizer = torch.optim.Adam(student.to(device).parameters(), lr=lr, weight_decay=weight_decay)
    return fit(
        student,
        loader,
        epochs=epochs,
        optimizer=optimizer,
        loss_fn=loss_fn,
        device=device,
        progress=False,
        desc="distill",
    )
