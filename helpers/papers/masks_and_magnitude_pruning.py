"""Masks and magnitude pruning (Han et al., NeurIPS 2015): one small piece notebook 00 needs on top of
the core.

Introduced in notebook 00. Pruning itself is ``helpers.core.prune`` and the masked layers are
``helpers.core.masked``; this module adds

- ``pruned_weight_sizes``: how large the weights at pruned positions are, stored and effective. The
  optimizer trap is about their *size*: a count of non-zero entries would also count harmless
  1e-20 values.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from helpers.core.masks import prunable_weights, require_masked
from helpers.plumbing.params import ParameterTypeError, check_type

__all__ = ["pruned_weight_sizes"]


@torch.no_grad()
def pruned_weight_sizes(model: nn.Module, pruned: Mapping[str, torch.Tensor]) -> dict[str, float]:
    """The largest and mean |w| at the pruned positions, stored and effective, over all tensors.

    ``pruned`` maps a weight's full name (as in ``masks.get_masks``) to a boolean tensor that is
    True where the weight was pruned; the model's *current* masks are not consulted, so the sizes
    can be read after a mask was removed. Returns ``stored_max``, ``stored_mean``, ``effective_max``
    and ``effective_mean`` (0.0 where nothing was pruned).
    """
    require_masked(model)
    check_type("pruned", pruned, Mapping, "a dict of boolean tensors keyed by weight name")
    weights = {full: (layer, p) for full, layer, p in prunable_weights(model)}
    unknown = set(pruned) - set(weights)
    if unknown:
        raise ValueError(
            f"pruned names weights the model does not have: {sorted(unknown, key=str)}; "
            f"it has {sorted(weights)}"
        )
    stored, effective = [], []
    for full, where in pruned.items():
        layer, p = weights[full]
        weight = getattr(layer, p)
        if not isinstance(where, torch.Tensor) or where.dtype != torch.bool:
            raise ParameterTypeError(f"pruned['{full}'] must be a boolean tensor")
        if where.shape != weight.shape:
            raise ValueError(
                f"pruned['{full}'] has shape {tuple(where.shape)}, the weight {tuple(weight.shape)}"
            )
        stored.append(weight[where].abs().flatten())
        effective.append(layer.effective(p)[where].abs().flatten())
    sizes = {}
    for kind, values in (("stored", stored), ("effective", effective)):
        flat = torch.cat(values) if values else torch.zeros(0)
        sizes[f"{kind}_max"] = float(flat.max()) if flat.numel() else 0.0
        sizes[f"{kind}_mean"] = float(flat.mean()) if flat.numel() else 0.0
    return sizes
