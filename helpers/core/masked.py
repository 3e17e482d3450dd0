"""Masked layers: one mask mechanism for Linear, Conv1d/2d and the recurrent layers.

Introduced in notebook 00; every later notebook builds on it.

A masked layer keeps its ordinary dense parameters and, for each prunable weight ``name``, a buffer
``name_mask`` of zeros and ones. The layer computes with the *effective* weight

    effective = weight * hard_mask                              (hard mask, notebooks 00, 01, ...)
    effective = weight * hard_mask * sigmoid(beta * s) / sigmoid(s0)   (soft mask, notebook 02)

where ``s`` are learned mask logits (``mask_logits(name)``), ``beta`` is a temperature and ``s0`` their initial
value (the rescaling keeps the initial effective weight equal to the dense one, as in Continuous
Sparsification). Hard and soft masks are one mechanism: a soft mask is a learned factor on top of the
hard one, and ``harden_soft_mask`` turns it into a hard mask (``s > 0``) when the search is done.

Why the stored weight is also kept at zero: multiplying in ``forward`` makes the gradient of a pruned
entry zero, but SGD momentum, Adam's moments and AdamW's decoupled weight decay still move the stored
value off zero. We therefore multiply in ``forward`` *and* re-zero the stored weights after every
optimizer step (``helpers.core.masks.keep_masks_after_steps``, one fused call for the whole model), so the
checkpoint, the sparse export and the weight histograms never show a revived weight. Every other
path that writes weights re-zeroes too: ``set_mask``, pruning, ``harden_soft_mask``, ``prune.rewind``
and ``load_state_dict`` (a checkpoint may hold non-zero pruned entries).

Why the multiply stays, for hard masks too: once the stored pruned weights are zero, ``weight * mask``
equals ``weight``, so ``forward`` could hand the stored weight to the kernel. But the gradient of a
pruned entry must still be exactly 0 right after every ``backward()`` (gradient clipping, gradient-based
scores and a hand-written ``w -= lr * w.grad`` read it there), and the multiply's backward is the
cheapest way we measured to get that: one C++ autograd node per weight. A Python gradient hook per
weight (``Tensor.register_hook`` or ``register_post_accumulate_grad_hook``) costs more per backward
pass than the node and the forward multiply together. So the masked layers keep the multiply and
keep it cheap: ``effective`` reads the weight and mask straight from the module, with no Python
exception on the way (``benchmarks/bench_masks.py`` measures what is left). The multiply also keeps
``torch.func`` (``functional_call``, ``vmap`` ensembles), ``torch.compile`` and tracing exact without
special cases: whatever tensor they hand in as the weight is masked.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable

import torch
import torch.nn.functional as F
from torch import nn

from helpers.plumbing.params import ParameterTypeError, check_float

__all__ = [
    "MaskedMixin",
    "MaskedLinear",
    "MaskedConv1d",
    "MaskedConv2d",
    "MaskedRNN",
    "MaskedGRU",
    "MaskedLSTM",
    "MASKED_FOR_DENSE",
    "zero_pruned_weights_",
]


def _logits_attribute(name: str) -> str:
    """The attribute (and ``state_dict`` key) of the mask logits of parameter ``name``: the one place
    that spells it; everything else goes through ``MaskedMixin.mask_logits``."""
    return f"{name}_logits"


def zero_pruned_weights_(targets: Iterable[tuple[MaskedMixin, str]]) -> None:
    """Zero the stored pruned entries of every ``(layer, name)`` in ``targets``, in one fused call.

    The weight and mask tensors are looked up when this runs, so it stays exact after the model is
    moved or converted (``model.to(...)`` makes new mask tensors). It runs after every optimizer
    step, so it is kept cheap: it writes through ``detach()``, which shares the weight's storage and
    version counter but needs no ``torch.no_grad()`` switch.
    """
    weights, masks = [], []
    for layer, name in targets:
        weights.append(getattr(layer, name).detach())
        masks.append(layer._buffers[f"{name}_mask"])
    torch._foreach_mul_(weights, masks)  # w <- w * m for every weight at once


class MaskedMixin:
    """The mask mechanism shared by every masked layer (see the module docstring).

    A subclass lists its prunable parameter names in ``mask_names`` (set in ``_init_masks``) and
    computes with ``self.effective(name)`` instead of ``getattr(self, name)``.
    """

    mask_names: tuple[str, ...]

    def _init_masks(self, names: tuple[str, ...]) -> None:
        self.mask_names = tuple(names)
        for name in self.mask_names:
            weight = getattr(self, name)
            self.register_buffer(f"{name}_mask", torch.ones_like(weight, requires_grad=False))
        # The temperature beta of soft masks; a buffer so it is saved and moved with the layer.
        self.register_buffer("mask_temperature", torch.tensor(1.0))
        # s0, the initial value of soft-mask logits, for the rescaling 1 / sigmoid(s0).
        self.register_buffer("mask_soft_init", torch.tensor(0.0))

    # --- reading -----------------------------------------------------------------------------
    def get_mask(self, name: str) -> torch.Tensor:
        """The hard mask of parameter ``name`` (a tensor of 0.0 and 1.0, same shape as the weight)."""
        self._check_name(name)
        return getattr(self, f"{name}_mask")

    def has_soft_mask(self, name: str) -> bool:
        """Whether ``name`` currently carries learned mask logits."""
        # A dictionary lookup: getattr(self, ..., None) would raise and catch an AttributeError in
        # nn.Module.__getattr__ on every forward of a hard-masked layer, a measurable cost.
        return self._parameters.get(_logits_attribute(name)) is not None

    def mask_logits(self, name: str) -> nn.Parameter:
        """The learned mask logits s of ``name``, or ValueError if it has none (``enable_soft_mask``
        first). Read and change soft masks through this, never through the attribute's name."""
        self._check_name(name)
        if not self.has_soft_mask(name):
            raise ValueError(f"'{name}' has no soft mask; call enable_soft_mask('{name}') first")
        return getattr(self, _logits_attribute(name))

    def soft_gate(self, name: str) -> torch.Tensor:
        """sigmoid(beta * s) / sigmoid(s0): the learned soft factor of ``name``."""
        logits = self.mask_logits(name)
        return torch.sigmoid(self.mask_temperature * logits) / torch.sigmoid(self.mask_soft_init)

    def effective(self, name: str) -> torch.Tensor:
        """The weight the layer computes with: weight * hard mask (* soft gate, if any).

        The product also makes the gradient of every pruned entry exactly 0 (module docstring).
        """
        weight = getattr(self, name)
        gate = self._buffers[f"{name}_mask"]
        if self.has_soft_mask(name):
            gate = gate * self.soft_gate(name)
        return weight * gate

    # --- writing -----------------------------------------------------------------------------
    @torch.no_grad()
    def set_mask(self, name: str, mask: torch.Tensor) -> None:
        """Replace the hard mask of ``name`` and zero the pruned stored weights.

        Raises ValueError for a wrong shape or entries other than 0 and 1 (nothing is changed then).
        """
        checked = self.checked_mask(name, mask)
        getattr(self, f"{name}_mask").copy_(checked)
        self.apply_mask_()

    def checked_mask(self, name: str, mask: torch.Tensor) -> torch.Tensor:
        """``mask`` as a valid hard mask for ``name`` (the buffer's dtype and device), or an error.

        Allowed: a tensor (or nested list) of the weight's shape holding only 0 and 1, as bool,
        integer or floating point. Checks only; ``set_mask`` and ``masks.set_masks`` call it before
        they write anything, so a bad mask changes nothing.
        """
        self._check_name(name)
        current = getattr(self, f"{name}_mask")
        allowed = f"a tensor of 0 and 1 (or False and True) of shape {tuple(current.shape)}"
        try:
            mask = torch.as_tensor(mask)
        except (TypeError, ValueError, RuntimeError) as err:
            raise ParameterTypeError(
                f"mask for '{name}' must be {allowed}, got {type(mask).__name__}"
            ) from err
        if mask.is_complex():
            raise ParameterTypeError(f"mask for '{name}' must be {allowed}, got dtype {mask.dtype}")
        if mask.shape != current.shape:
            raise ValueError(
                f"mask for '{name}' has shape {tuple(mask.shape)}; the weight has shape "
                f"{tuple(current.shape)}"
            )
        # Check the values as given: converting first would round a tiny 1e-98 to an exact 0.
        if not bool(((mask == 0) | (mask == 1)).all()):
            raise ValueError(f"mask for '{name}' must contain only 0 and 1 (or False and True)")
        return mask.to(device=current.device, dtype=current.dtype)

    def apply_mask_(self) -> None:
        """Zero the stored weights wherever the hard mask is 0 (after an optimizer step, say)."""
        zero_pruned_weights_((self, name) for name in self.mask_names)

    def enable_soft_mask(self, name: str, init: float = 0.0) -> nn.Parameter:
        """Give ``name`` learnable mask logits ``s`` (all equal to ``init``) and return them.

        The logits go into their own parameter group without weight decay (``masks.param_groups``).
        """
        init = self.checked_soft_init(name, init)
        self.mask_soft_init.fill_(init)
        weight = getattr(self, name)
        logits = nn.Parameter(torch.full_like(weight, init))
        self.register_parameter(_logits_attribute(name), logits)
        return logits

    def checked_soft_init(self, name: str, init: float) -> float:
        """``init`` as a float if it can start the soft mask of ``name``; otherwise ValueError.

        Allowed: a finite number at least the log of the weight dtype's smallest normal number
        (-87 in float32). Below it sigmoid(init) underflows, and the rescaling 1 / sigmoid(s0) turns
        every output into inf or NaN. Checks only; ``enable_soft_mask`` calls it first.
        """
        self._check_name(name)
        lowest = math.ceil(math.log(torch.finfo(getattr(self, name).dtype).tiny))  # σ(s) ≈ e^s
        return check_float("init", init, lowest, finite=True)

    @torch.no_grad()
    def harden_soft_mask(self, name: str) -> None:
        """End the soft search: hard mask *= (s > 0), and drop the logits (the ticket of CS).

        A zero is counted where ``s <= 0``, never where ``sigmoid(beta * s)`` underflows to 0.
        """
        logits = self.mask_logits(name)
        self.get_mask(name).mul_((logits > 0).to(logits.dtype))
        delattr(self, _logits_attribute(name))
        self.apply_mask_()

    def _check_name(self, name: str) -> None:
        if not isinstance(name, str) or name not in self.mask_names:
            raise ValueError(
                f"parameter name: '{name}' is not a masked parameter of {type(self).__name__}; "
                f"allowed: {', '.join(self.mask_names)}"
            )

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs) -> None:  # noqa: ANN001
        # Soft-mask logits exist only while a search runs: create them on load when the saved
        # state has them, so a searched model loads into a freshly built one.
        for name in self.mask_names:
            key = prefix + _logits_attribute(name)
            if key in state_dict and not self.has_soft_mask(name):
                self.enable_soft_mask(name)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        # A checkpoint may hold non-zero pruned entries (saved without keep_masks_after_steps, or
        # edited by hand): keep the stored weights at zero wherever the loaded mask is.
        self.apply_mask_()


class MaskedLinear(MaskedMixin, nn.Linear):
    """``nn.Linear`` whose weight is masked: y = x (W * M)^T + b."""

    def __init__(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
        super().__init__(*args, **kwargs)
        self._init_masks(("weight",))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.effective("weight"), self.bias)


class MaskedConv1d(MaskedMixin, nn.Conv1d):
    """``nn.Conv1d`` whose kernel is masked."""

    def __init__(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
        super().__init__(*args, **kwargs)
        self._init_masks(("weight",))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(x, self.effective("weight"), self.bias)


class MaskedConv2d(MaskedMixin, nn.Conv2d):
    """``nn.Conv2d`` whose kernel is masked."""

    def __init__(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
        super().__init__(*args, **kwargs)
        self._init_masks(("weight",))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(x, self.effective("weight"), self.bias)


class _MaskedRecurrent(MaskedMixin):
    """Masks on every input (``weight_ih_l*``) and recurrent (``weight_hh_l*``) matrix.

    Each matrix stacks the gates (LSTM: i, f, g, o; GRU: r, z, n), so one mask covers every gate.
    PyTorch's fused RNN kernels read the list ``self._flat_weights``; during ``forward`` we hand them
    the effective (masked) weights and restore the raw list afterwards. The dense parameters are
    untouched, so the same tensors serve the optimizer, ``state_dict`` and ``fold``.
    """

    def _init_recurrent_masks(self) -> None:
        names = tuple(n for n in self._flat_weights_names if n.startswith("weight_"))
        self._init_masks(names)

    def forward(self, input, hx=None):  # noqa: ANN001, ANN201 - same signature as nn.RNNBase
        # Under torch.func.functional_call the parameters are swapped for other tensors; let
        # nn.RNNBase pick those up now, or it would do so inside forward and undo our swap.
        self._update_flat_weights()
        raw = self._flat_weights
        self._flat_weights = [
            self.effective(name) if name in self.mask_names else weight
            for name, weight in zip(self._flat_weights_names, raw, strict=True)
        ]
        try:
            with warnings.catch_warnings():
                # On CUDA the masked weights are not one contiguous cuDNN chunk; that is expected.
                warnings.filterwarnings("ignore", message=".*contiguous chunk of memory.*")
                return super().forward(input, hx)
        finally:
            self._flat_weights = raw


class MaskedRNN(_MaskedRecurrent, nn.RNN):
    """``nn.RNN`` (tanh or ReLU) with masks on input and recurrent weights."""

    def __init__(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
        super().__init__(*args, **kwargs)
        self._init_recurrent_masks()


class MaskedGRU(_MaskedRecurrent, nn.GRU):
    """``nn.GRU`` with masks on input and recurrent weights of every gate."""

    def __init__(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
        super().__init__(*args, **kwargs)
        self._init_recurrent_masks()


class MaskedLSTM(_MaskedRecurrent, nn.LSTM):
    """``nn.LSTM`` with masks on input and recurrent weights of every gate."""

    def __init__(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
        super().__init__(*args, **kwargs)
        self._init_recurrent_masks()


#: Which masked class replaces which dense class (used by ``masks.to_masked`` and ``masks.fold``).
MASKED_FOR_DENSE: dict[type[nn.Module], type[nn.Module]] = {
    nn.Linear: MaskedLinear,
    nn.Conv1d: MaskedConv1d,
    nn.Conv2d: MaskedConv2d,
    nn.RNN: MaskedRNN,
    nn.GRU: MaskedGRU,
    nn.LSTM: MaskedLSTM,
}
