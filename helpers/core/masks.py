"""Operations over a whole model's masks: convert, iterate, report, keep, fold and export.

Introduced in notebook 00. The layers themselves live in ``helpers.masked``.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import torch
from torch import nn

from helpers.core.masked import MASKED_FOR_DENSE, MaskedMixin, zero_pruned_weights_
from helpers.plumbing.params import ParameterTypeError, check_float, check_module, check_type

__all__ = [
    "to_masked",
    "masked_layers",
    "prunable_weights",
    "require_masked",
    "mask_logits",
    "get_masks",
    "set_masks",
    "apply_masks_",
    "keep_masks_after_steps",
    "param_groups",
    "set_mask_temperature",
    "SparsityReport",
    "sparsity_report",
    "fold",
    "to_sparse_csr",
]


# --- conversion -------------------------------------------------------------------------------
def _copy_into(dense: nn.Module, masked_cls: type[nn.Module]) -> nn.Module:
    """Build ``masked_cls`` with the constructor arguments of ``dense`` and copy its parameters."""
    if isinstance(dense, nn.RNNBase):
        kwargs = dict(
            input_size=dense.input_size,
            hidden_size=dense.hidden_size,
            num_layers=dense.num_layers,
            bias=dense.bias,
            batch_first=dense.batch_first,
            dropout=dense.dropout,
            bidirectional=dense.bidirectional,
        )
        if isinstance(dense, nn.RNN):
            kwargs["nonlinearity"] = dense.nonlinearity
        if isinstance(dense, nn.LSTM):
            kwargs["proj_size"] = dense.proj_size
    elif isinstance(dense, nn.Linear):
        kwargs = dict(in_features=dense.in_features, out_features=dense.out_features)
        kwargs["bias"] = dense.bias is not None
    else:  # a convolution
        kwargs = dict(
            in_channels=dense.in_channels,
            out_channels=dense.out_channels,
            kernel_size=dense.kernel_size,
            stride=dense.stride,
            padding=dense.padding,
            dilation=dense.dilation,
            groups=dense.groups,
            bias=dense.bias is not None,
            padding_mode=dense.padding_mode,
        )
    some = next(dense.parameters())
    new = masked_cls(**kwargs, device=some.device, dtype=some.dtype)
    new.load_state_dict(dense.state_dict(), strict=False)
    new.train(dense.training)
    return new


def to_masked(model: nn.Module, skip: Iterable[str] = ()) -> nn.Module:
    """Replace every Linear, Conv1d/2d, RNN, GRU and LSTM in ``model`` by its masked twin, in place.

    Weights are kept (all masks start at one), so the converted model computes exactly what the
    original did. ``skip`` names submodules (as in ``model.named_modules()``) to leave dense, for
    example an output layer. Returns ``model`` (or the new layer, if ``model`` itself is a layer).
    """
    check_module("model", model)
    if isinstance(skip, str) or not isinstance(skip, Iterable):
        raise ParameterTypeError(
            f"parameter skip must be a list of module names, got {type(skip).__name__} {skip!r}"
        )
    skip = set(skip)
    modules = dict(model.named_modules())
    unknown = skip - set(modules)
    if unknown:
        raise ValueError(f"skip names modules that are not in the model: {sorted(unknown)}")
    if not any(
        isinstance(layer, MaskedMixin) or type(layer) in MASKED_FOR_DENSE and name not in skip
        for name, layer in modules.items()
    ):
        raise ValueError(
            f"model ({type(model).__name__}) has no layer to mask; allowed layers: "
            f"{', '.join(cls.__name__ for cls in MASKED_FOR_DENSE)} (minus those in skip)"
        )

    def masked_twin(name: str, layer: nn.Module) -> nn.Module | None:
        if type(layer) in MASKED_FOR_DENSE and name not in skip:
            return _copy_into(layer, MASKED_FOR_DENSE[type(layer)])
        return None

    return _replace_layers(model, masked_twin)


def _replace_layers(
    model: nn.Module, replacement: Callable[[str, nn.Module], nn.Module | None]
) -> nn.Module:
    """Swap every submodule (the root included) for ``replacement(name, module)`` unless it is None.

    The one tree walk behind ``to_masked`` and ``fold``; returns the (possibly new) root.
    """
    new_root = replacement("", model)
    if new_root is not None:
        return new_root
    for name, parent in list(model.named_modules()):
        for child_name, child in list(parent.named_children()):
            new = replacement(f"{name}.{child_name}" if name else child_name, child)
            if new is not None:
                setattr(parent, child_name, new)
    return model


# --- iteration --------------------------------------------------------------------------------
def masked_layers(model: nn.Module) -> Iterator[tuple[str, MaskedMixin]]:
    """Yield ``(module_name, layer)`` for every masked layer of ``model``."""
    check_module("model", model)
    for name, module in model.named_modules():
        if isinstance(module, MaskedMixin):
            yield name, module


def prunable_weights(model: nn.Module) -> Iterator[tuple[str, MaskedMixin, str]]:
    """Yield ``(full_name, layer, param_name)`` for every masked weight.

    These are the tensors pruning acts on and sparsity counts: the weight matrices and kernels of
    masked layers. Biases, norm parameters and embeddings are never counted (as in the papers).
    """
    require_masked(model)
    for layer_name, layer in masked_layers(model):
        for param_name in layer.mask_names:
            yield _full_name(layer_name, param_name), layer, param_name


def require_masked(model: nn.Module) -> nn.Module:
    """``model`` if it is a module with at least one masked layer; otherwise a clear error.

    The check at the door of everything that acts on masks: a TypeError for what is not a module,
    a ValueError that says how to convert a model whose layers are still dense.
    """
    check_module("model", model)
    if not any(isinstance(module, MaskedMixin) for module in model.modules()):
        raise ValueError(
            f"model ({type(model).__name__}) has no masked layers; convert it first with "
            "helpers.core.masks.to_masked(model)"
        )
    return model


def _full_name(layer_name: str, param_name: str) -> str:
    """A weight's name in the whole model, as ``model.named_parameters()`` spells it."""
    return f"{layer_name}.{param_name}" if layer_name else param_name


def mask_logits(model: nn.Module) -> Iterator[tuple[str, MaskedMixin, str, nn.Parameter]]:
    """Yield ``(full_name, layer, param_name, logits)`` for every masked weight with a soft mask.

    The soft-mask logits of notebook 02 (``MaskedMixin.enable_soft_mask``), read through
    ``MaskedMixin.mask_logits``. Yields nothing for a model without soft masks, so that callers
    which accept any model (``param_groups``) can use it too.
    """
    for layer_name, layer in masked_layers(model):
        for param_name in layer.mask_names:
            if layer.has_soft_mask(param_name):
                full = _full_name(layer_name, param_name)
                yield full, layer, param_name, layer.mask_logits(param_name)


def get_masks(model: nn.Module) -> dict[str, torch.Tensor]:
    """A copy of every hard mask, keyed by the weight's full name (e.g. ``'layers.0.weight'``)."""
    return {full: layer.get_mask(p).detach().clone() for full, layer, p in prunable_weights(model)}


def set_masks(model: nn.Module, masks: dict[str, torch.Tensor]) -> None:
    """Install masks from a ``get_masks``-style dict: one mask for every masked weight of the model.

    All masks are checked (names, shapes, 0/1 entries) before any is written, so a bad dict leaves
    the model unchanged.
    """
    weights = {full: (layer, p) for full, layer, p in prunable_weights(model)}
    check_type("masks", masks, dict, "a dict of masks keyed by weight name (as from get_masks)")
    unknown, missing = set(masks) - set(weights), set(weights) - set(masks)
    if unknown or missing:
        raise ValueError(
            f"masks must name exactly the model's masked weights {sorted(weights)}; "
            f"unknown: {sorted(unknown, key=str)}, missing: {sorted(missing)}"
        )
    checked = {}
    for full, mask in masks.items():
        layer, p = weights[full]
        try:
            checked[full] = layer.checked_mask(p, mask)
        except ValueError as err:  # name the weight by its full name in the model
            raise type(err)(f"masks['{full}']: {err}") from err
    for full, mask in checked.items():
        layer, p = weights[full]
        layer.set_mask(p, mask)


def apply_masks_(model: nn.Module) -> None:
    """Zero every stored weight whose mask entry is 0 (in place, one fused call)."""
    require_masked(model)
    zero_pruned_weights_((layer, p) for _, layer, p in prunable_weights(model))


def keep_masks_after_steps(optimizer: torch.optim.Optimizer, model: nn.Module):  # noqa: ANN201
    """Re-zero pruned weights after every ``optimizer.step()``; returns the hook handle.

    Without this, the forward pass is still correct (it multiplies by the mask), but momentum, Adam's
    moments and AdamW's decoupled decay move the *stored* pruned weights away from zero: a later
    ``fold``, export or mask change would then revive them. Notebook 00 shows that trap.

    The hook re-zeroes every masked weight in one fused call. It keeps the list of masked layers and
    looks up their weight and mask tensors each time it runs (a few dictionary lookups per weight),
    so masks changed in place (``set_mask``, pruning) are seen, and so is a model moved or converted
    after registering (``model.to(torch.float64)``, another device: new mask tensors). Layers added
    later (``to_masked`` again) are not: register the hook once the model is built.
    """
    check_type("optimizer", optimizer, torch.optim.Optimizer, "a torch.optim.Optimizer")
    targets = [(layer, p) for _, layer, p in prunable_weights(model)]

    def reapply(_optimizer, _args, _kwargs) -> None:  # noqa: ANN001
        zero_pruned_weights_(targets)

    return optimizer.register_step_post_hook(reapply)


def param_groups(model: nn.Module, weight_decay: float = 0.0) -> list[dict]:
    """Parameter groups for an optimizer: mask logits in a group of their own without weight decay.

    Weight decay on soft-mask logits would pull them towards 0, i.e. towards "undecided", and
    fight the sparsity penalty; CS keeps them out of decay.
    """
    check_module("model", model)
    weight_decay = check_float("weight_decay", weight_decay, 0.0, finite=True)
    soft = {id(logits) for *_, logits in mask_logits(model)}
    logits, others = [], []
    for param in model.parameters():
        (logits if id(param) in soft else others).append(param)
    groups = [{"params": others, "weight_decay": weight_decay}]
    if logits:
        groups.append({"params": logits, "weight_decay": 0.0})
    return groups


def set_mask_temperature(model: nn.Module, beta: float) -> None:
    """Set the soft-mask temperature beta of every masked layer (CS anneals it upward)."""
    beta = check_float("beta", beta, 0.0, low_open=True, finite=True)
    require_masked(model)
    for _, layer in masked_layers(model):
        layer.mask_temperature.fill_(beta)


# --- reporting --------------------------------------------------------------------------------
@dataclass
class SparsityReport:
    """Zeros per prunable tensor and in total; ``counted`` names the tensors that were counted."""

    rows: list[tuple[str, int, int]] = field(default_factory=list)  # (name, zeros, total)

    @property
    def zeros(self) -> int:
        return sum(z for _, z, _ in self.rows)

    @property
    def total(self) -> int:
        return sum(t for _, _, t in self.rows)

    @property
    def sparsity(self) -> float:
        """Fraction of counted weights that are pruned."""
        return self.zeros / self.total if self.total else 0.0

    @property
    def density(self) -> float:
        return 1.0 - self.sparsity

    @property
    def counted(self) -> list[str]:
        return [name for name, _, _ in self.rows]

    def __str__(self) -> str:
        width = max(len(n) for n in self.counted) if self.rows else 10
        lines = [f"{'tensor':<{width}}  {'pruned':>9}  {'total':>9}  sparsity"]
        for name, zeros, total in self.rows:
            lines.append(f"{name:<{width}}  {zeros:>9}  {total:>9}  {zeros / total:8.1%}")
        lines.append(
            f"{'all counted':<{width}}  {self.zeros:>9}  {self.total:>9}  {self.sparsity:8.1%}"
        )
        lines.append("(counted: masked weight matrices and kernels; biases and norms excluded)")
        return "\n".join(lines)


@torch.no_grad()
def sparsity_report(model: nn.Module) -> SparsityReport:
    """Sparsity per masked weight and in total, counting the hard mask (soft logits <= 0 too).

    Counting the mask rather than the weight makes the report independent of weights that happen
    to be exactly zero; with a soft mask a weight counts as pruned where its logit is <= 0.
    """
    report = SparsityReport()
    for full, layer, p in prunable_weights(model):
        keep = layer.get_mask(p) > 0
        if layer.has_soft_mask(p):
            keep = keep & (layer.mask_logits(p) > 0)
        report.rows.append((full, int((~keep).sum()), keep.numel()))
    return report


# --- folding and export -----------------------------------------------------------------------
@torch.no_grad()
def fold(model: nn.Module) -> nn.Module:
    """A deep copy of ``model`` with every masked layer replaced by its plain PyTorch layer.

    The masks are baked into the weights (soft gates included), so the copy computes the same
    outputs with ordinary ``nn.Linear``/``nn.Conv*``/``nn.RNN``/``nn.GRU``/``nn.LSTM`` modules:
    it loads anywhere without this package.
    """
    require_masked(model)
    dense_for_masked = {masked: dense for dense, masked in MASKED_FOR_DENSE.items()}
    folded = copy.deepcopy(model)

    def plain(layer: MaskedMixin) -> nn.Module:
        dense_cls = dense_for_masked[type(layer)]
        effective = {name: layer.effective(name).detach().clone() for name in layer.mask_names}
        dense = _copy_into(layer, dense_cls)  # copies weights and biases (buffers dropped)
        for name, value in effective.items():
            getattr(dense, name).copy_(value)
        if isinstance(dense, nn.RNNBase):
            dense.flatten_parameters()
        return dense

    return _replace_layers(
        folded, lambda _name, layer: plain(layer) if isinstance(layer, MaskedMixin) else None
    )


def to_sparse_csr(layer: MaskedMixin, name: str = "weight") -> torch.Tensor:
    """The effective 2-D weight ``name`` of a masked layer as a sparse CSR tensor (for inference).

    A mask alone saves no time; a sparse format skips the zeros (notebook 31 measures when it pays).
    """
    check_type("layer", layer, MaskedMixin, "a masked layer (helpers.masked)")
    layer._check_name(name)
    weight = layer.effective(name).detach()
    if weight.dim() != 2:
        raise ValueError(f"'{name}' has {weight.dim()} dimensions; CSR export needs a 2-D matrix")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*Sparse CSR tensor support is in beta.*")
        return weight.to_sparse_csr()
