"""Metrics: accuracy, parameter and FLOP counts (dense and non-zero), latency, and the one-line summary.

Introduced in notebook 00. "Sparse" means three different things, reported separately:

1. **sparsity** — the fraction of prunable weights that are zero (``masks.sparsity_report``);
2. **FLOPs** — the multiply-adds a dense kernel would do vs. those with non-zero weights
   (the *theoretical* speedup, shrinkbench's definition);
3. **time** — what a clock measures. A mask makes nothing faster: masked layers do the full dense
   work plus a multiply.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from helpers.core.masked import MaskedMixin
from helpers.core.masks import mask_logits, masked_layers, require_masked, sparsity_report
from helpers.plumbing.params import (
    ParameterTypeError,
    check_float,
    check_int,
    check_module,
    check_tensor,
)
from helpers.plumbing.runtime import model_mode

__all__ = [
    "accuracy",
    "count_parameters",
    "count_flops",
    "measure_latency",
    "Summary",
    "summarize",
    "linear_cka",
]


def accuracy(outputs: torch.Tensor, targets: torch.Tensor) -> float:
    """Fraction of rows of ``outputs`` (logits) whose arg-max equals ``targets``.

    ``outputs`` has shape (N, classes) (or (..., classes)); ``targets`` holds integer class ids of
    shape (N,) (or ``outputs.shape[:-1]``).
    """
    check_tensor("outputs", outputs, min_dim=2)
    check_tensor("targets", targets)
    if outputs.shape[0] != targets.shape[0]:
        raise ValueError(f"outputs have {outputs.shape[0]} rows but targets {targets.shape[0]}")
    if outputs.shape[0] == 0:
        raise ValueError("accuracy of an empty batch is undefined")
    if targets.shape != outputs.shape[:-1] or outputs.shape[-1] == 0:
        raise ValueError(
            f"targets must have shape outputs.shape[:-1] = {tuple(outputs.shape[:-1])} (one class "
            f"id per row of at least one logit), got targets {tuple(targets.shape)} and outputs "
            f"{tuple(outputs.shape)}"
        )
    if targets.is_floating_point() or targets.is_complex():
        raise ParameterTypeError(
            f"targets must hold integer class ids (e.g. torch.long), got dtype {targets.dtype}"
        )
    return (outputs.argmax(dim=-1) == targets).float().mean().item()


def count_parameters(model: nn.Module) -> dict[str, int]:
    """All parameters, and those that are non-zero after masking (soft-mask logits not counted).

    Returns ``{'total': ..., 'nonzero': ...}``; ``total / nonzero`` is the compression ratio.
    """
    check_module("model", model)
    total = nonzero = 0
    masked_names = set()
    for layer_name, layer in masked_layers(model):
        for p in layer.mask_names:
            masked_names.add(f"{layer_name}.{p}" if layer_name else p)
            weight = layer.effective(p).detach()
            total += weight.numel()
            nonzero += int((weight != 0).sum())
    soft = {id(logits) for *_, logits in mask_logits(model)}
    for name, param in model.named_parameters():
        if name in masked_names or id(param) in soft:
            continue
        total += param.numel()
        nonzero += int((param != 0).sum())
    return {"total": total, "nonzero": nonzero}


def _rnn_flops(layer: nn.RNNBase, x: torch.Tensor) -> int:
    """2 · steps · batch · (|W_ih| + |W_hh|) per layer and direction (the matrix products)."""
    steps_batch = x.shape[0] * x.shape[1] if x.dim() == 3 else x.shape[0]
    weights = sum(
        getattr(layer, n).numel() for n in layer._flat_weights_names if n.startswith("weight_")
    )
    return 2 * steps_batch * weights


@torch.no_grad()
def count_flops(model: nn.Module, example: torch.Tensor) -> dict[str, float]:
    """FLOPs of one forward pass on ``example``: dense, and counting only non-zero weights.

    The dense count comes from ``torch.utils.flop_counter`` (matrix products and convolutions);
    RNN kernels, which it does not see, are counted by formula. For every masked layer the
    non-zero count scales that layer's FLOPs by its weight density: the theoretical ideal a perfect
    sparse kernel would reach.
    """
    check_module("model", model)
    check_tensor("example", example)
    layer_flops: dict[str, float] = {}
    hooks = []
    for name, layer in masked_layers(model):
        if isinstance(layer, nn.RNNBase):

            def record(module, inputs, _out, name=name) -> None:  # noqa: ANN001
                layer_flops[name] = float(_rnn_flops(module, inputs[0]))

            hooks.append(layer.register_forward_hook(record))
    counter = FlopCounterMode(display=False)
    try:
        with counter, model_mode(model, training=False):
            model(example)
    finally:
        for h in hooks:
            h.remove()
    per_module = counter.get_flop_counts()
    dense = float(counter.get_total_flops()) + sum(layer_flops.values())
    saved = 0.0
    for name, layer in masked_layers(model):
        flops = layer_flops.get(name)
        if flops is None:  # the counter names modules "<ModelClass>.<path>"
            key = f"{type(model).__name__}.{name}" if name else type(model).__name__
            flops = float(sum(per_module.get(key, {}).values()))
        density = _layer_density(layer)
        saved += flops * (1.0 - density)
    return {"dense": dense, "nonzero": dense - saved}


def _layer_density(layer: MaskedMixin) -> float:
    kept = total = 0
    for p in layer.mask_names:
        w = layer.effective(p)
        kept += int((w != 0).sum())
        total += w.numel()
    return kept / total if total else 1.0


@torch.no_grad()
def measure_latency(
    model: nn.Module, example: torch.Tensor, repeats: int = 20, warmup: int = 3
) -> float:
    """Median wall-clock seconds of one forward pass on ``example`` (after ``warmup`` passes)."""
    check_module("model", model)
    check_tensor("example", example)
    check_int("repeats", repeats, 1)
    check_int("warmup", warmup, 0)
    sync = torch.cuda.synchronize if example.device.type == "cuda" else (lambda: None)
    times = []
    with model_mode(model, training=False):
        for _ in range(warmup):
            model(example)
        for _ in range(repeats):
            sync()
            start = time.perf_counter()
            model(example)
            sync()
            times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def _si(value: float) -> str:
    """1530 → '1.53 k', 3e6 → '3 M' (three significant digits)."""
    for factor, prefix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= factor:
            return f"{value / factor:.3g} {prefix}"
    return f"{value:.3g}"


@dataclass
class Summary:
    """The one-line report: sparsity · compression · FLOPs · theoretical speedup · latency · accuracy."""

    sparsity: float
    compression: float
    flops_dense: float
    flops_nonzero: float
    latency_s: float
    latency_ratio: float | None
    accuracy: float | None

    @property
    def theoretical_speedup(self) -> float:
        return self.flops_dense / self.flops_nonzero if self.flops_nonzero else float("inf")

    def __str__(self) -> str:
        parts = [
            f"sparsity {self.sparsity:.1%}",
            f"compression {self.compression:.2f}×",
            f"FLOPs {_si(self.flops_dense)} → {_si(self.flops_nonzero)} "
            f"(theoretical speedup {self.theoretical_speedup:.2f}×)",
            f"latency {self.latency_s * 1e3:.3g} ms"
            + (f" ({self.latency_ratio:.2f}× dense)" if self.latency_ratio is not None else ""),
        ]
        if self.accuracy is not None:
            parts.append(f"accuracy {self.accuracy:.3f}")
        return " · ".join(parts)

    def as_dict(self) -> dict[str, float | None]:
        return {**self.__dict__, "theoretical_speedup": self.theoretical_speedup}


def summarize(
    model: nn.Module,
    example: torch.Tensor,
    accuracy: float | None = None,
    dense_latency_s: float | None = None,
) -> Summary:
    """Measure the three kinds of "sparse" for ``model`` on ``example`` (see the module docstring).

    Pass ``dense_latency_s`` (``measure_latency`` of the dense model on the same input) to get the
    measured speed ratio beside the theoretical one.
    """
    require_masked(model)
    check_tensor("example", example)
    if accuracy is not None:
        check_float("accuracy", accuracy, 0.0, 1.0)
    if dense_latency_s is not None:
        check_float("dense_latency_s", dense_latency_s, 0.0, low_open=True, finite=True)
    params = count_parameters(model)
    flops = count_flops(model, example)
    latency = measure_latency(model, example)
    return Summary(
        sparsity=sparsity_report(model).sparsity,
        compression=params["total"] / max(params["nonzero"], 1),
        flops_dense=flops["dense"],
        flops_nonzero=flops["nonzero"],
        latency_s=latency,
        latency_ratio=latency / dense_latency_s if dense_latency_s else None,
        accuracy=accuracy,
    )


def linear_cka(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Linear centred kernel alignment (CKA) between two representations of the same examples.

    Introduced in notebook 12. ``a``: (..., n, p) and ``b``: (..., n, q), the same n examples in the
    same order (leading batch dimensions broadcast, e.g. one per model). With centred kernels
    K = A Aᵀ and L = B Bᵀ (Kornblith et al. 2019),

        CKA = <K, L>_F / (‖K‖_F ‖L‖_F) = ‖Bᵀ A‖²_F / (‖Aᵀ A‖_F ‖Bᵀ B‖_F),

    a number in [0, 1], invariant to rotations and to isotropic scaling of either representation.
    Centring matters: without it a shared mean dominates the alignment. A constant representation
    has no kernel to align, and gives 0.
    """
    check_tensor("a", a, min_dim=2)
    check_tensor("b", b, min_dim=2)
    if a.shape[-2] != b.shape[-2]:
        raise ValueError(
            f"a and b must hold the same examples, got {a.shape[-2]} and {b.shape[-2]} rows"
        )
    if a.shape[-2] < 2:
        raise ValueError(f"linear_cka needs at least two examples, got {a.shape[-2]}")
    a = (a - a.mean(-2, keepdim=True)).double()  # centring the features centres the kernel
    b = (b - b.mean(-2, keepdim=True)).double()
    cross = (b.transpose(-1, -2) @ a).square().sum((-2, -1))  # ‖Bᵀ A‖²_F = <K, L>_F
    norm_a = (a.transpose(-1, -2) @ a).square().sum((-2, -1)).sqrt()  # ‖Aᵀ A‖_F = ‖K‖_F
    norm_b = (b.transpose(-1, -2) @ b).square().sum((-2, -1)).sqrt()
    denominator = norm_a * norm_b
    safe = torch.where(denominator > 0, denominator, torch.ones_like(denominator))
    return torch.where(denominator > 0, cross / safe, torch.zeros_like(cross)).float()
