"""Training and evaluation: ``fit``, ``evaluate``, devices, seeds, AMP and callbacks.

Introduced in notebook 00. ``fit`` keeps masks intact (``keep_masks_after_steps``) for any model with
masked layers, so every notebook that trains a pruned model gets the same guarantee.

Callbacks are plain objects with any of these methods, all optional:

- ``extra_loss(model) -> Tensor``: added to the task loss (L1 on masks, activation penalties, ...);
- ``on_step_end(step=..., model=..., optimizer=..., loss=...)``: after each optimizer step
  (gradual pruning, temperature annealing, rewind snapshots, ...);
- ``on_epoch_end(epoch=..., model=..., history=...)``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from helpers.core.masked import MaskedMixin
from helpers.core.masks import keep_masks_after_steps
from helpers.core.metrics import accuracy
from helpers.plumbing.params import (
    ParameterTypeError,
    check_bool,
    check_callable,
    check_float,
    check_int,
    check_module,
    check_type,
)
from helpers.plumbing.runtime import model_mode, progress_enabled, resolve_device

__all__ = [
    "History",
    "fit",
    "evaluate",
    "predict",
    "check_loader",
]


@dataclass
class History:
    """What ``fit`` recorded: per-step training loss and per-epoch metrics."""

    step_loss: list[float] = field(default_factory=list)
    epochs: list[dict[str, float]] = field(default_factory=list)

    def last(self, key: str) -> float:
        """The latest value of an epoch metric, e.g. ``history.last('val_acc')``."""
        for row in reversed(self.epochs):
            if key in row:
                return row[key]
        raise KeyError(
            f"no epoch recorded '{key}'; recorded: {sorted(self.epochs[-1]) if self.epochs else []}"
        )


def _autocast(device: torch.device, amp: bool):  # noqa: ANN202
    if not amp:
        return contextlib.nullcontext()
    dtype = torch.float16 if device.type == "cuda" else torch.bfloat16
    return torch.autocast(device_type=device.type, dtype=dtype)


def _call(callbacks: Iterable[Any], hook: str, **kwargs: Any) -> None:
    for cb in callbacks:
        fn = getattr(cb, hook, None)
        if fn is not None:
            fn(**kwargs)


def fit(
    model: nn.Module,
    train_loader: Iterable,
    *,
    epochs: int = 1,
    optimizer: torch.optim.Optimizer | None = None,
    lr: float = 1e-3,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    val_loader: Iterable | None = None,
    callbacks: Iterable[Any] = (),
    scheduler: Any | None = None,
    device: str | torch.device = "auto",
    amp: bool = False,
    compile: bool = False,
    max_grad_norm: float | None = None,
    keep_masks: bool = True,
    progress: bool | None = None,
    desc: str = "train",
) -> History:
    """Train ``model`` for ``epochs`` passes over ``train_loader``; return a ``History``.

    Defaults: Adam at ``lr``, cross-entropy loss. Masks are re-applied after every optimizer step,
    callbacks run as described in the module docstring, the scheduler steps once per batch, and
    ``val_loader`` (if any) is evaluated after each epoch (``val_loss``, ``val_acc``).
    ``keep_masks=False`` skips re-zeroing pruned weights after each step: only for showing the
    optimizer trap (notebook 00). ``amp`` turns on mixed precision (float16 on CUDA, bfloat16 elsewhere); ``compile`` runs the
    forward pass through ``torch.compile`` (worth it on a GPU for long runs, not for the defaults).
    The model trains in training mode and gets back the train/eval mode it came with.
    """
    # Check every argument before the model is moved or trained.
    check_module("model", model)
    check_loader("train_loader", train_loader)
    epochs = check_int("epochs", epochs, 0)
    if optimizer is not None:
        check_type("optimizer", optimizer, torch.optim.Optimizer, "a torch.optim.Optimizer or None")
    check_float("lr", lr, 0.0, finite=True)  # lr=0 is allowed: it records without learning
    _check_loss_fn(loss_fn)
    if val_loader is not None:
        check_loader("val_loader", val_loader)
        if hasattr(val_loader, "__len__") and len(val_loader) == 0:  # found only after an epoch
            raise ValueError("parameter val_loader yields no batches; it must yield at least one")
    check_loader("callbacks", callbacks, "a list of callback objects")
    if scheduler is not None and not callable(getattr(scheduler, "step", None)):
        raise ParameterTypeError(
            f"parameter scheduler must be an LR scheduler (with .step()) or None, "
            f"got {type(scheduler).__name__}"
        )
    for name, flag in (("amp", amp), ("compile", compile), ("keep_masks", keep_masks)):
        check_bool(name, flag)
    if max_grad_norm is not None:
        check_float("max_grad_norm", max_grad_norm, 0.0, low_open=True)
    progress_enabled(progress)
    device = resolve_device(device)
    model.to(device)
    optimizer = optimizer or torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = loss_fn or nn.functional.cross_entropy
    callbacks = list(callbacks)
    forward = torch.compile(model) if compile else model
    scaler = torch.amp.GradScaler(device.type, enabled=amp and device.type == "cuda")
    history = History()
    step = 0
    # Train in training mode, re-zeroing pruned weights after every step; afterwards (also after an
    # error) the model gets its own train/eval mode back and the hook is removed.
    with model_mode(model, training=True), _masks_kept(optimizer, model, keep_masks):
        for epoch in tqdm(
            range(epochs), desc=desc, disable=not progress_enabled(progress), leave=False
        ):
            model.train()
            for x, y in train_loader:
                x, y = x.to(device), y.to(device)
                with _autocast(device, amp):
                    loss = loss_fn(forward(x), y)
                    for cb in callbacks:
                        if hasattr(cb, "extra_loss"):
                            loss = loss + cb.extra_loss(model)
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                if max_grad_norm is not None:
                    scaler.unscale_(optimizer)
                    nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
                scaler.step(optimizer)
                scaler.update()
                if scheduler is not None:
                    scheduler.step()
                step += 1
                history.step_loss.append(loss.item())
                _call(
                    callbacks, "on_step_end", step=step, model=model, optimizer=optimizer, loss=loss
                )
            row: dict[str, float] = {
                "epoch": epoch + 1,
                "train_loss": history.step_loss[-1] if history.step_loss else float("nan"),
            }
            if val_loader is not None:
                row.update(
                    {
                        f"val_{k}": v
                        for k, v in evaluate(
                            model, val_loader, loss_fn=loss_fn, device=device
                        ).items()
                    }
                )
            history.epochs.append(row)
            _call(callbacks, "on_epoch_end", epoch=epoch + 1, model=model, history=history)
    return history


@contextlib.contextmanager
def _masks_kept(optimizer: torch.optim.Optimizer, model: nn.Module, keep: bool) -> Iterator[None]:
    """While the block runs, re-zero pruned weights after every optimizer step (if ``keep`` and the
    model has masked layers): ``keep_masks_after_steps``, with its hook removed at the end."""
    handle = None
    if keep and any(isinstance(m, MaskedMixin) for m in model.modules()):
        handle = keep_masks_after_steps(optimizer, model)
    try:
        yield
    finally:
        if handle is not None:
            handle.remove()


@torch.no_grad()
def predict(
    model: nn.Module, loader: Iterable, device: str | torch.device = "auto"
) -> tuple[torch.Tensor, torch.Tensor]:
    """All outputs and targets of ``loader`` (on the CPU), with the model in eval mode."""
    check_module("model", model)
    check_loader("loader", loader)
    device = resolve_device(device)
    model.to(device)
    outputs, targets = [], []
    with model_mode(model, training=False):
        for x, y in loader:
            outputs.append(model(x.to(device)).float().cpu())
            targets.append(y.cpu())
    if not outputs:
        raise ValueError("parameter loader yielded no batches; it must yield at least one (x, y)")
    return torch.cat(outputs), torch.cat(targets)


def evaluate(
    model: nn.Module,
    loader: Iterable,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    device: str | torch.device = "auto",
) -> dict[str, float]:
    """Mean loss and accuracy of ``model`` on ``loader``: ``{'loss': ..., 'acc': ...}``."""
    _check_loss_fn(loss_fn)
    loss_fn = loss_fn or nn.functional.cross_entropy
    outputs, targets = predict(model, loader, device)
    return {"loss": loss_fn(outputs, targets).item(), "acc": accuracy(outputs, targets)}


def check_loader(name: str, value: Any, what: str = "an iterable of (x, y) batches") -> None:
    """Raise ParameterTypeError unless ``value`` can be iterated for (x, y) batches.

    A tensor iterates over its rows, never over (x, y) pairs: wrap it in ``data.TensorLoader``.
    """
    if isinstance(value, (str, bytes, torch.Tensor)) or not isinstance(value, Iterable):
        raise ParameterTypeError(f"parameter {name} must be {what}, got {type(value).__name__}")


def _check_loss_fn(loss_fn: Any) -> None:
    if loss_fn is not None:
        check_callable("loss_fn", loss_fn, "a function (outputs, targets) -> loss or None")
