"""Notebook 00's helper (helpers.papers.masks_and_magnitude_pruning): the size of pruned weights,
checked by hand on a toy model."""

import pytest
import torch
from torch import nn

from helpers import masks, prune
from helpers.papers import masks_and_magnitude_pruning as mm


def _layer():
    layer = masks.to_masked(nn.Linear(2, 2, bias=False))
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[0.9, -0.1], [0.02, -0.5]]))
    prune.magnitude_prune(layer, 0.5)  # prunes -0.1 and 0.02 (and zeroes them)
    with torch.no_grad():  # as Adam's stale moments would: move the stored pruned weights again
        layer.weight.copy_(torch.tensor([[0.9, -0.1], [0.02, -0.5]]))
    return layer


def test_pruned_weight_sizes_reads_stored_and_effective_weights():
    layer = _layer()
    pruned = {"weight": layer.weight_mask == 0}
    sizes = mm.pruned_weight_sizes(layer, pruned)
    assert sizes["stored_max"] == pytest.approx(0.1)
    assert sizes["stored_mean"] == pytest.approx(0.06)
    assert sizes["effective_max"] == 0.0 and sizes["effective_mean"] == 0.0
    masks.apply_masks_(layer)
    assert mm.pruned_weight_sizes(layer, pruned)["stored_max"] == 0.0
    with torch.no_grad():
        layer.weight[0, 1] = 1e-20  # a harmless speck: counted by != 0, invisible in the size
    assert mm.pruned_weight_sizes(layer, pruned)["stored_max"] == pytest.approx(1e-20)


def test_pruned_weight_sizes_rejects_bad_positions():
    layer = _layer()
    with pytest.raises(ValueError):
        mm.pruned_weight_sizes(layer, {"nope": layer.weight_mask == 0})
    with pytest.raises(ValueError):
        mm.pruned_weight_sizes(layer, {"weight": torch.zeros(3, dtype=torch.bool)})
    with pytest.raises(TypeError):
        mm.pruned_weight_sizes(layer, {"weight": layer.weight_mask})  # float, not bool
