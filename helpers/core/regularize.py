"""Penalties added to the training loss, written as ``fit`` callbacks with an ``extra_loss``.

Introduced in notebook 02 (the L1 penalty on soft masks of Continuous Sparsification); later
notebooks add their penalties here (activation L1, geometric penalties).

Use any penalty by handing it to ``helpers.core.train.fit``::

    fit(model, train_loader, callbacks=[SoftMaskL1(lam=1e-5)])

``fit`` adds ``penalty.extra_loss(model)`` to the task loss at every step, so the gradient of the
penalty flows into the same optimizer step as the task gradient.
"""

from __future__ import annotations

import torch
from torch import nn

from helpers.core.masks import prunable_weights
from helpers.plumbing.params import check_float

__all__ = ["soft_mask_l1", "SoftMaskL1"]


def soft_mask_l1(model: nn.Module) -> torch.Tensor:
    """The L1 norm of every soft mask of ``model``: sum of hard_mask * sigmoid(beta s) / sigmoid(s0).

    The soft gate is positive, so its L1 norm is its plain sum. As beta grows the gate tends to the
    step function H(s), and this sum tends to the number of kept weights, the L0 norm that
    Continuous Sparsification relaxes (notebook 02). Entries already removed by the hard mask add
    nothing. Raises ValueError if no weight of ``model`` carries a soft mask.
    """
    terms = []
    for _, layer, name in prunable_weights(model):
        if layer.has_soft_mask(name):
            gate = layer.get_mask(name) * layer.soft_gate(name)  # same shape as the weight
            terms.append(gate.sum())
    if not terms:
        raise ValueError(
            "the model has no soft masks; enable them first "
            "(helpers.papers.continuous_sparsification.enable_soft_masks or MaskedMixin.enable_soft_mask)"
        )
    return torch.stack(terms).sum()


class SoftMaskL1:
    """``fit`` callback: add lam * ||m||_1 over all soft masks m = sigmoid(beta s) / sigmoid(s0).

    ``lam`` multiplies a *sum* over all mask entries (as in the official CS code), so the same
    ``lam`` pushes harder on a larger network: rescale it when the parameter count changes.
    """

    def __init__(self, lam: float) -> None:
        self.lam = check_float("lam", lam, 0.0, finite=True)  # a non-negative number

    def extra_loss(self, model: nn.Module) -> torch.Tensor:
        """lam * sum of the soft masks (a scalar tensor on the model's device)."""
        return self.lam * soft_mask_l1(model)  # lambda ||sigma(beta s) / sigma(s0)||_1
