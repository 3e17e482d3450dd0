"""Quantizers, sparsity as a quantizer, the straight-through estimator and the denoising (ridge) dequantizer.

Introduced in notebook 05 (Ye et al., "Robust Training of Neural Networks at Arbitrary Precision and
Sparsity", arXiv:2409.09245). The paper splits fake quantization into three stages; each has a
function here, so a reader can follow the pipeline line by line:

    0. sparsify         x_S = x + sg(threshold(x) - x)          ``sparsify``       (sparsity as quantization)
    1. pre-quantize     v = f(x_S) = (x_S - b_f) / s_f          ``prequantize``    (affine) or x_S / s_f (linear)
    2. add noise        q = v + sg(round(v) - v)                ``noisy_round``    (rounding as additive noise)
    3. dequantize       x_hat = g(q)                            ``ridge_dequantize`` (the paper) or
                                                                ``inverse_prequantize`` (the usual f^-1)

``fake_quantize`` runs the stages for one tensor; ``QuantizedLinear`` / ``to_quantized`` put it into a
model (weights, and optionally the layer inputs: activations).

``sg`` is stop-gradient (``.detach()``): the rounding / thresholding error is a constant for autograd.
The training methods differ only in stage 3 and in the gradient:

- ``"ridge"`` (the paper): forward ``g(q)``, the ridge-regression fit of ``x`` from ``q``,
  ``g(q) = Cov(x, q) / (Var(q) + lambda) * (q - mean(q)) + mean(x)``, computed from the statistics of
  the *noisy* ``q``; autograd differentiates through those statistics, so the gradient depends on
  the error. Sparsity uses the linear form ``g(q) = <q, x> / (<q, q> + lambda) * q``, which keeps
  zeros at zero.
- ``"ste"``: the *same* forward value ``g(q)``, but the straight-through backward
  (d x_hat / d x = I): the error never reaches the gradient. Comparing ``"ste"`` with ``"ridge"``
  isolates the gradient path, the paper's thesis; it is also a strong, *scaled* STE (for one bit and
  lambda = 0, ``g`` is XNOR-Net's mean|x| scale).
- ``"ste_plain"``: textbook fake quantization, forward ``f^-1(q)`` (the absmax grid), STE backward.
- ``"ste_clipped"``: the binary baseline the field uses (BinaryConnect, BNN, XNOR-Net), one bit
  only. Weights: forward ``alpha * sign(w)`` with XNOR-Net's scale ``alpha = mean|w|`` per row (of
  the kept weights, per tensor, when sparse); activations: forward ``sign(a)``; backward the
  *clipped* straight-through estimator, gradient 1 where ``|x| <= 1`` and 0 outside
  (``clipped_sign``). ``binary_mlp`` builds the binary MLP it is used in (BatchNorm before every
  binarized activation, as in BNN).

Statistics are taken per output row of a weight matrix (``granularity="row"``) or over the whole
tensor (``"tensor"``); means, variances and covariances are averages (the 1/N of the paper's
objective), so ``lambda`` is in the units of ``q`` squared.

Why a layer of its own and not ``helpers.masked``: here the mask is part of the quantizer, recomputed
from the current weights at every forward pass, and the straight-through gradient reaches pruned
weights (so they can come back). A stored hard mask, as in ``MaskedLinear``, does the opposite.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from helpers.core.data import Split
from helpers.core.models import MLP
from helpers.plumbing.params import (
    check_bool,
    check_choice,
    check_float,
    check_int,
    check_module,
    check_tensor,
    check_type,
)

__all__ = [
    "METHODS",
    "GRANULARITIES",
    "straight_through",
    "clipped_sign",
    "grid_round",
    "noisy_round",
    "magnitude_mask",
    "sparsify",
    "prequantize",
    "inverse_prequantize",
    "ridge_dequantize",
    "fake_quantize",
    "QuantizedLinear",
    "to_quantized",
    "quantized_layers",
    "binary_mlp",
    "carve_validation",
]

METHODS = ("ste", "ridge", "ste_plain", "ste_clipped")
GRANULARITIES = ("row", "tensor")
Method = Literal["ste", "ridge", "ste_plain", "ste_clipped"]
Granularity = Literal["row", "tensor"]


# --- checks -------------------------------------------------------------------------------------
# The public functions check their arguments once, here; the kernels they share (``_grid_round``,
# ``_fake_quantize``, ...) run on checked arguments, so a layer's forward pass re-checks nothing.
def _check_bits(bits: int | None, name: str = "bits", allow_none: bool = True) -> None:
    """A bit width: an integer in [1, 16], or None (keep float values) where ``allow_none``."""
    if not (bits is None and allow_none):
        check_int(name, bits, 1, 16)


def _check_sparsity(sparsity: float) -> None:
    """A plain number in [0, 1) (a layer keeps it as given, so not a tensor)."""
    check_type("sparsity", sparsity, (int, float), "a number in [0, 1)")
    check_float("sparsity", sparsity, 0, 1, high_open=True)


def _check_x(name: str, x: torch.Tensor) -> None:
    """A non-empty floating-point tensor with at least one dimension (what a quantizer takes)."""
    check_tensor(name, x)
    if x.dim() == 0:
        raise ValueError(f"cannot quantize a 0-d tensor; give {name} as a vector or a matrix")
    if x.numel() == 0 or not x.is_floating_point():
        raise ValueError(
            f"{name} must be a non-empty floating-point tensor, got shape {tuple(x.shape)} "
            f"and dtype {x.dtype}"
        )


def _stat_dims(x: torch.Tensor, granularity: Granularity) -> tuple[int, ...]:
    """The dimensions a statistic averages over: all but the first (per row), or all (per tensor)."""
    if granularity == "row" and x.dim() >= 2:
        return tuple(range(1, x.dim()))
    return tuple(range(x.dim()))


# --- stage 2: rounding as additive noise ------------------------------------------------------------
def straight_through(x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
    """Forward ``x_hat``, backward the identity: x + sg(x_hat - x), the straight-through estimator."""
    check_tensor("x", x)
    check_tensor("x_hat", x_hat)
    if x_hat.shape != x.shape:
        raise ValueError(
            f"x_hat must have the shape of x {tuple(x.shape)}, got {tuple(x_hat.shape)}"
        )
    return _straight_through(x, x_hat)


def _straight_through(x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
    # x + sg(x_hat - x), written as sg(x_hat) + (x - sg(x)): the same gradient, and the value is
    # x_hat to the last bit (x + (x_hat - x) can be off by a rounding error).
    return x_hat.detach() + (x - x.detach())


def clipped_sign(x: torch.Tensor, clip: float = 1.0) -> torch.Tensor:
    """Forward sign(x) in {-1, +1} (sign(0) = +1); backward 1 where |x| <= clip, else 0.

    The clipped straight-through estimator of binary networks (Hubara et al. 2016, BNN; "hardtanh
    STE"): the gradient of hardtanh(x) = clamp(x, -clip, clip) stands in for the derivative of
    sign, so a value far outside the window stops receiving gradient.
    """
    check_tensor("x", x)
    return _clipped_sign(x, check_float("clip", clip, 0.0, low_open=True))


def _clipped_sign(x: torch.Tensor, clip: float = 1.0) -> torch.Tensor:
    hard = x.clamp(-clip, clip)  # d hard / dx = 1 inside the window, 0 outside
    sign = torch.where(x >= 0, 1.0, -1.0).to(x.dtype)
    return sign + (hard - hard.detach())  # value sign(x) exactly, gradient of hardtanh


def _binarize_clipped(x: torch.Tensor, sparsity: float) -> torch.Tensor:
    """XNOR-Net's binary weight alpha * sign(x) (alpha = mean|x| per row), or, when sparse, the
    kept weights at +-alpha (alpha = mean|x| of the kept ones, per tensor) and the rest at 0; the
    gradient is the clipped STE's, 1 where |x| <= 1, for pruned weights too (they can come back)."""
    xd = x.detach()
    if sparsity == 0:
        mask = torch.ones_like(xd)
        rows = tuple(range(1, xd.dim())) or (0,)  # a vector is one row
        alpha = xd.abs().mean(dim=rows, keepdim=True)  # per row
    else:
        mask = _magnitude_mask(xd, sparsity, granularity="tensor")
        alpha = (xd.abs() * mask).sum() / mask.sum()  # over the kept weights
    hard = x.clamp(-1.0, 1.0)
    target = mask * alpha * torch.where(xd >= 0, 1.0, -1.0).to(x.dtype)
    return target + (hard - hard.detach())  # value target exactly, gradient of hardtanh


def grid_round(v: torch.Tensor, bits: int) -> torch.Tensor:
    """Round ``v`` to the 2^bits mid-rise levels {-(2^b - 1)/2, ..., -1/2, 1/2, ..., (2^b - 1)/2}.

    The levels are the centres of unit bins; values outside the outer bins are clipped to them.
    One bit gives sign(v) / 2, two bits {-1.5, -0.5, 0.5, 1.5}. A mid-rise grid uses every one of
    the 2^b codes (a symmetric grid with a zero level wastes one).
    """
    check_tensor("v", v)
    _check_bits(bits, allow_none=False)
    return _grid_round(v, bits)


def _grid_round(v: torch.Tensor, bits: int) -> torch.Tensor:
    top = (2**bits - 1) / 2  # the outermost level
    return torch.clamp(torch.floor(v) + 0.5, -top, top)  # q = floor(v) + 1/2, clipped


def noisy_round(v: torch.Tensor, bits: int) -> torch.Tensor:
    """q = v + sg(round(v) - v): the rounded value, with the rounding error δ a constant for autograd.

    The paper's stage 2. Its value is ``grid_round(v)`` and dq/dv = 1: exactly the STE of rounding.
    What differs between the methods is what stage 3 does with ``q``.
    """
    check_tensor("v", v)
    _check_bits(bits, allow_none=False)
    return _noisy_round(v, bits)


def _noisy_round(v: torch.Tensor, bits: int) -> torch.Tensor:
    # v + sg(round(v) - v) (δ detached), written so that the value is exactly on the grid
    return _grid_round(v, bits).detach() + (v - v.detach())


# --- stage 0: sparsity as a quantizer --------------------------------------------------------------
def magnitude_mask(
    x: torch.Tensor, sparsity: float, granularity: Granularity = "tensor"
) -> torch.Tensor:
    """1.0 where |x| is among the largest (1 - sparsity) of its row (or tensor), else 0.0.

    Keeps ``round((1 - sparsity) * n)`` entries, at least one, of every group of ``n`` (ties broken
    by ``topk``). ``sparsity=0`` keeps everything.
    """
    _check_sparsity(sparsity)
    check_choice("granularity", granularity, GRANULARITIES)
    _check_x("x", x)
    return _magnitude_mask(x, sparsity, granularity)


def _magnitude_mask(x: torch.Tensor, sparsity: float, granularity: Granularity) -> torch.Tensor:
    if sparsity == 0:
        return torch.ones_like(x)
    per_row = len(_stat_dims(x, granularity)) < x.dim()
    groups = x.detach().abs().reshape(x.shape[0] if per_row else 1, -1)  # (rows or 1, n)
    keep = max(1, round((1.0 - sparsity) * groups.shape[1]))
    idx = groups.topk(keep, dim=1).indices  # (groups, keep): the largest magnitudes
    mask = torch.zeros_like(groups).scatter_(1, idx, 1.0)  # (groups, n)
    return mask.reshape(x.shape)


def sparsify(
    x: torch.Tensor, sparsity: float, granularity: Granularity = "tensor"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Sparsity as a quantizer: x_S = x + sg(m ⊙ x - x), the paper's stage 0; returns (x_S, m).

    The value is the magnitude-pruned ``x``; the error δ_S = m ⊙ x - x is a constant for autograd,
    so every weight, pruned or not, receives a gradient (they can grow back).
    """
    return _sparsify(x, magnitude_mask(x, sparsity, granularity))


def _sparsify(x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return x + (mask * x - x).detach(), mask  # δ_S = threshold(x) - x, detached


# --- stage 1: the pre-quantization transform f ------------------------------------------------------
def prequantize(
    x: torch.Tensor, bits: int, affine: bool = True, granularity: Granularity = "row"
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """v = f(x) = (x - b_f) / s_f: centre (if ``affine``) and scale ``x`` onto the rounding grid.

    Returns ``(v, s_f, b_f)``. ``b_f`` is the mean (0 when not ``affine``); the step ``s_f`` makes the
    2^bits unit bins span the largest deviation, s_f = max|x - b_f| / 2^(bits-1) (absmax range, so
    nothing is clipped). The range statistics are constants for autograd: they only place the grid.
    Statistics per row or per tensor (``granularity``).
    """
    _check_bits(bits, allow_none=False)
    check_bool("affine", affine)
    check_choice("granularity", granularity, GRANULARITIES)
    _check_x("x", x)
    return _prequantize(x, bits, affine, granularity)


def _prequantize(
    x: torch.Tensor, bits: int, affine: bool, granularity: Granularity
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    dims = _stat_dims(x, granularity)
    xd = x.detach()
    b_f = (
        xd.mean(dim=dims, keepdim=True)
        if affine
        else torch.zeros_like(xd.mean(dim=dims, keepdim=True))
    )
    absmax = (xd - b_f).abs().amax(dim=dims, keepdim=True).clamp_min(torch.finfo(x.dtype).tiny)
    s_f = absmax / 2 ** (bits - 1)  # step: 2^bits bins over [-absmax, absmax]
    return (x - b_f) / s_f, s_f, b_f


def inverse_prequantize(q: torch.Tensor, s_f: torch.Tensor, b_f: torch.Tensor) -> torch.Tensor:
    """f^-1(q) = s_f q + b_f: the usual dequantizer of fake quantization (what STE training uses)."""
    for name, value in (("q", q), ("s_f", s_f), ("b_f", b_f)):
        check_tensor(name, value)
    return s_f * q + b_f


# --- stage 3: the denoising dequantizer g ------------------------------------------------------------
def ridge_dequantize(
    q: torch.Tensor,
    x: torch.Tensor,
    lam: float = 0.01,
    affine: bool = True,
    granularity: Granularity = "row",
) -> torch.Tensor:
    """g(q): the ridge-regression reconstruction of ``x`` from the noisy ``q`` (Ye et al., stage 3).

    affine:  min_{s,b} 1/(2N) ||s q + b - x||² + λ/2 s²  ⇒  g(q) = Cov(x, q) / (Var(q) + λ) · (q - q̄) + x̄
    linear:  min_s     1/(2N) ||s q - x||²     + λ/2 s²  ⇒  g(q) = <q, x>/N / (<q, q>/N + λ) · q

    Statistics per row (or tensor) and *not* detached: autograd differentiates through them, which
    is the paper's corrective gradient path. λ → ∞ shrinks g(q) to x̄ (ignore the noisy q); λ = 0 is
    the least-squares fit (for one bit, XNOR-Net's scale mean|x - x̄|).
    """
    check_float("lam", lam, 0.0)
    check_bool("affine", affine)
    _check_x("q", q)
    _check_x("x", x)
    if q.shape != x.shape:
        raise ValueError(f"q has shape {tuple(q.shape)} but x has shape {tuple(x.shape)}")
    check_choice("granularity", granularity, GRANULARITIES)
    return _ridge_dequantize(q, x, lam, affine, granularity)


def _ridge_dequantize(
    q: torch.Tensor, x: torch.Tensor, lam: float, affine: bool, granularity: Granularity
) -> torch.Tensor:
    dims = _stat_dims(x, granularity)
    if affine:
        q_mean = q.mean(dim=dims, keepdim=True)
        x_mean = x.mean(dim=dims, keepdim=True)
        cov = ((q - q_mean) * (x - x_mean)).mean(dim=dims, keepdim=True)  # Cov(x, q)
        var = (q - q_mean).pow(2).mean(dim=dims, keepdim=True)  # Var(q)
        return cov / (var + lam) * (q - q_mean) + x_mean  # s_g (q - q̄) + x̄
    qx = (q * x).mean(dim=dims, keepdim=True)  # <q, x> / N
    qq = (q * q).mean(dim=dims, keepdim=True)  # <q, q> / N
    return qx / (qq + lam) * q  # s_g q


# --- the whole pipeline ---------------------------------------------------------------------------
def fake_quantize(
    x: torch.Tensor,
    bits: int | None = None,
    sparsity: float = 0.0,
    method: Method = "ste",
    lam: float = 0.01,
    granularity: Granularity = "row",
) -> torch.Tensor:
    """The weight a quantized (and/or sparse) layer computes with, in training.

    ``bits=None`` keeps float values (sparsity only); ``sparsity=0`` keeps every weight. With both,
    the kept weights are quantized and the pruned ones stay exactly zero (sparse low-bit, the
    paper's "sub-1-bit" regime). Magnitude masks, and with them all statistics of a sparse
    tensor, are per tensor (a row of a 40-input layer has 0.4 weights left at 99 % sparsity);
    the statistics of a dense quantized tensor follow ``granularity``.

    ``method``: ``"ridge"`` (the paper), ``"ste"`` (same forward, straight-through backward),
    ``"ste_plain"`` (forward f^-1(q), straight-through backward) or ``"ste_clipped"`` (one bit only:
    XNOR-Net's alpha * sign, clipped STE); see the module docstring.

    - bits only:      affine f, affine g (the paper's choice for 1/2/4 bits);
    - sparsity only:  f = x / σ, linear g (zeros stay zero), σ of the dense tensor;
    - both:           linear f and g on the kept weights, zeros stay zero.
    """
    _check_x("x", x)
    _check_spec(bits, sparsity, method, lam, granularity)
    return _fake_quantize(x, bits, sparsity, method, lam, granularity)


def _fake_quantize(
    x: torch.Tensor,
    bits: int | None,
    sparsity: float,
    method: Method,
    lam: float,
    granularity: Granularity,
) -> torch.Tensor:
    """``fake_quantize`` on checked arguments: the kernel a ``QuantizedLinear`` runs every step."""
    if method == "ste_clipped":
        return _binarize_clipped(x, sparsity)
    if bits is None and sparsity == 0:
        return x
    if sparsity == 0:
        # Bits only: affine f and g, statistics per row (or tensor).
        v, s_f, b_f = _prequantize(x, bits, affine=True, granularity=granularity)
        q = _noisy_round(v, bits)  # q = f(x) + δ
        affine = True
    else:
        # Sparsity (and maybe bits): the mask is per tensor, so are the statistics; linear f and g
        # keep the pruned weights at exactly zero.
        granularity, affine = "tensor", False
        x_s, mask = _sparsify(x, _magnitude_mask(x, sparsity, "tensor"))  # x_S = x + δ_S
        if bits is None:
            # f(x) = x / σ with σ the root mean square of the dense x; no rounding.
            sigma = x.detach().pow(2).mean().sqrt().clamp_min(torch.finfo(x.dtype).tiny)
            s_f, b_f = sigma, torch.zeros_like(sigma)
            q = x_s / s_f
        else:
            v, s_f, b_f = _prequantize(x, bits, affine=False, granularity="tensor")
            levels = mask * _grid_round(v, bits)  # kept weights on the grid, pruned ones at 0
            v_s = x_s / s_f
            q = levels + (v_s - v_s.detach())  # q = f(x_S) + δ_Q, exactly on the grid
    if method == "ridge":
        return _ridge_dequantize(q, x, lam, affine, granularity)
    with torch.no_grad():  # the straight-through methods use only the value of x_hat
        if method == "ste":
            x_hat = _ridge_dequantize(q, x, lam, affine, granularity)
        else:  # "ste_plain": f^-1(q)
            x_hat = s_f * q + b_f
    return _straight_through(x, x_hat)


def _check_clipped_bits(
    method: str, bits: int | None, name: str = "bits", allow_none: bool = False
) -> None:
    """The clipped STE is the binary baseline: defined for one bit only (``bits`` already checked)."""
    if method != "ste_clipped" or bits == 1 or (bits is None and allow_none):
        return
    allowed = "None or 1" if allow_none else "1"
    raise ValueError(
        f"method 'ste_clipped' binarizes (sign with a clipped STE): {name} must be {allowed}, "
        f"got {bits!r}"
    )


def _check_layer_args(in_features: int, out_features: int, bias: bool) -> None:
    check_int("in_features", in_features, 1)
    check_int("out_features", out_features, 1)
    check_bool("bias", bias)


def _check_spec(
    bits: int | None = None,
    sparsity: float = 0.0,
    method: Method = "ste",
    lam: float = 0.01,
    granularity: Granularity = "row",
    act_bits: int | None = None,
) -> None:
    """The checks of ``QuantizedLinear``'s quantization arguments (``to_quantized`` runs them first)."""
    _check_bits(bits)
    _check_bits(act_bits, "act_bits")
    _check_sparsity(sparsity)
    check_choice("method", method, METHODS)
    check_float("lam", lam, 0.0)
    check_choice("granularity", granularity, GRANULARITIES)
    _check_clipped_bits(method, bits)
    _check_clipped_bits(method, act_bits, "act_bits", allow_none=True)


# --- layers ----------------------------------------------------------------------------------------
class QuantizedLinear(nn.Linear):
    """``nn.Linear`` whose weight is fake-quantized (and/or sparsified) in every forward pass.

    The float weight stays the trained parameter; ``quantized_weight()`` is what the layer computes
    with: y = x Ŵ^T + b. Biases stay in float, as is usual. With ``act_bits`` the layer's *input* is
    fake-quantized too, per sample, by the same method (A1W1: ``bits=1, act_bits=1``).
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        *,
        bits: int | None = None,
        sparsity: float = 0.0,
        method: Method = "ste",
        lam: float = 0.01,
        granularity: Granularity = "row",
        act_bits: int | None = None,
    ) -> None:
        _check_layer_args(in_features, out_features, bias)
        _check_spec(bits, sparsity, method, lam, granularity, act_bits)
        super().__init__(in_features, out_features, bias=bias)  # draws the initial weights
        self.bits = bits
        self.sparsity = sparsity
        self.method = method
        self.lam = lam
        self.granularity = granularity
        self.act_bits = act_bits

    def quantized_weight(self) -> torch.Tensor:
        """The effective weight Ŵ (differentiable as the method prescribes)."""
        return _fake_quantize(
            self.weight, self.bits, self.sparsity, self.method, self.lam, self.granularity
        )  # the spec was checked when the layer was built

    def quantized_input(self, x: torch.Tensor) -> torch.Tensor:
        """The input the layer multiplies: quantized per sample (a row of the batch) when ``act_bits``
        is set, with affine f and g and the layer's method (``"ste_clipped"``: sign with the clipped
        STE); unchanged otherwise."""
        if self.act_bits is None:
            return x
        _check_x("x", x)  # the input is new; the spec was checked when the layer was built
        if self.method == "ste_clipped":
            return _clipped_sign(x)  # BNN: sign(a), no scale, clipped STE
        return _fake_quantize(x, self.act_bits, 0.0, self.method, self.lam, "row")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_tensor("x", x, min_dim=1)
        if x.shape[-1] != self.in_features:
            raise ValueError(
                f"x must end in a dimension of size in_features={self.in_features}, "
                f"got {tuple(x.shape)}"
            )
        return F.linear(self.quantized_input(x), self.quantized_weight(), self.bias)

    def extra_repr(self) -> str:
        return (
            f"{super().extra_repr()}, bits={self.bits}, sparsity={self.sparsity}, "
            f"method={self.method!r}, lam={self.lam}, granularity={self.granularity!r}, act_bits={self.act_bits}"
        )


def _check_spec_keys(spec: dict[str, object]) -> None:
    """Only ``QuantizedLinear``'s quantization arguments, each checked."""
    allowed = ("bits", "sparsity", "method", "lam", "granularity", "act_bits")
    unknown = sorted(set(spec) - set(allowed))
    if unknown:
        raise ValueError(f"unknown quantization arguments {unknown} in spec; allowed: {allowed}")
    _check_spec(**spec)


def to_quantized(model: nn.Module, float_first_input: bool = True, **spec: object) -> nn.Module:
    """Replace every ``nn.Linear`` of ``model`` (in place) by a ``QuantizedLinear`` with ``spec``.

    ``spec`` holds the keyword arguments of ``QuantizedLinear`` (bits, sparsity, method, lam,
    granularity, act_bits). Weights and biases are copied; returns ``model``. With ``act_bits``,
    the first layer's input (the data) stays in float unless ``float_first_input=False``, as is
    usual for binary networks.
    """
    check_module("model", model)
    check_bool("float_first_input", float_first_input)
    _check_spec_keys(spec)
    if isinstance(model, nn.Linear):
        raise ValueError(
            "model is itself a Linear layer; allowed: a model that contains Linear layers"
        )
    if not any(isinstance(m, nn.Linear) for m in model.modules()):
        raise ValueError(f"model {type(model).__name__} has no nn.Linear layer to quantize")
    _replace_linear(model, spec)
    if float_first_input and spec.get("act_bits") is not None:
        layers = quantized_layers(model)
        if layers:
            layers[0][1].act_bits = None
    return model


def _replace_linear(model: nn.Module, spec: dict[str, object]) -> None:
    """Replace every ``nn.Linear`` below ``model`` in place, depth first in module order."""
    for name, child in list(model.named_children()):
        if isinstance(child, nn.Linear) and not isinstance(child, QuantizedLinear):
            new = QuantizedLinear(
                child.in_features, child.out_features, child.bias is not None, **spec
            ).to(device=child.weight.device, dtype=child.weight.dtype)
            with torch.no_grad():
                new.weight.copy_(child.weight)
                if child.bias is not None:
                    new.bias.copy_(child.bias)
            setattr(model, name, new)
        else:
            _replace_linear(child, spec)


def quantized_layers(model: nn.Module) -> list[tuple[str, QuantizedLinear]]:
    """(name, layer) for every ``QuantizedLinear`` of ``model``."""
    check_module("model", model)
    return [(n, m) for n, m in model.named_modules() if isinstance(m, QuantizedLinear)]


# --- the binary MLP and its data ---------------------------------------------------------------------
def binary_mlp(sizes: Sequence[int], norm: bool = True, **spec: object) -> MLP:
    """The binary MLP of BNN (Hubara et al. 2016), every Linear a ``QuantizedLinear`` with ``spec``.

    Linear → BatchNorm → Linear → BatchNorm → ... → Linear, with no ReLU: binarizing a layer's
    *input* (``act_bits=1``) is the nonlinearity. BatchNorm keeps every pre-activation near zero mean
    and unit variance, where sign and the clipped STE's window |a| <= 1 make sense; ``norm=False``
    leaves an identity in its place. ``binary_mlp([40, 64, 64, 10], bits=1, act_bits=1,
    method="ridge")`` is the fully binary (A1W1) network of notebook 05; the data input of the first
    layer stays in float (see ``to_quantized``). Everything is checked before a weight is drawn.
    """
    check_bool("norm", norm)
    _check_spec_keys(spec)
    model = MLP(sizes, activation=nn.Identity)  # checks sizes; layers[0], [2], ... are the Linears
    if norm:
        for i in range(1, len(model.layers), 2):  # the placeholders between two Linears
            model.layers[i] = nn.BatchNorm1d(model.layers[i - 1].out_features)
    return to_quantized(model, **spec)


def carve_validation(split: Split, n_val: int, seed: int = 0) -> Split:
    """A validation split carved from ``split``'s *training* data: ``n_val`` examples drawn at random
    (by ``seed``, on a generator of its own) become the held-out part, the rest the part to fit.

    Returns a ``Split`` whose ``x_train``/``y_train`` are the examples to fit on and whose
    ``x_test``/``y_test`` are the validation examples, so ``.loaders()`` gives (train, validation).
    The test set of ``split`` is not touched: choose learning rates, epochs and so on here.
    """
    check_type("split", split, Split, "a helpers.core.data.Split")
    n = len(split.x_train)
    n_val = check_int("n_val", n_val, 1, n - 1)
    seed = check_int("seed", seed, 0)
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).to(
        split.x_train.device
    )
    val, fit = order[:n_val], order[n_val:]
    return Split(
        split.x_train[fit],
        split.y_train[fit],
        split.x_train[val],
        split.y_train[val],
        split.num_classes,
    )
