"""Worked examples: the mask machinery on numbers small enough to check by hand.

Each test is a specification a student can verify with pencil and paper (in the style of open_lth's
tests). The running example is a ``MaskedLinear(10, 1, bias=False)`` whose weights are 0, 1, ..., 9,
fed an input of ten ones, so its output is simply the sum of its effective weights. "Every other
weight masked" means the odd positions are pruned: the mask is 1, 0, 1, 0, ... and keeps 0, 2, 4, 6, 8.
"""

import pytest
import torch
from torch import nn

from helpers import masks, prune, train
from helpers.core.masked import MaskedLinear

ONES = torch.ones(1, 10)
KEEP_EVEN = torch.tensor([[1.0, 0.0] * 5])  # every other weight masked: positions 1, 3, 5, 7, 9
PRUNED = KEEP_EVEN == 0


def zero_to_nine() -> MaskedLinear:
    """MaskedLinear(10, 1, bias=False) with weights 0, 1, ..., 9."""
    layer = MaskedLinear(10, 1, bias=False)
    with torch.no_grad():
        layer.weight.copy_(torch.arange(10.0).view(1, 10))
    return layer


def sum_loss(output: torch.Tensor, _target: torch.Tensor) -> torch.Tensor:
    """loss = y.sum(): with an input of ones, d loss / d (effective weight i) = 1 for every i."""
    return output.sum()


def test_dense_output_is_sum_of_weights():
    """All masks start at one: y = 0 + 1 + ... + 9 = 45."""
    assert torch.equal(zero_to_nine()(ONES), torch.tensor([[45.0]]))


def test_every_other_weight_masked():
    """Mask 1,0,1,0,...: y = 0 + 2 + 4 + 6 + 8 = 20, and set_mask zeroes the stored odd weights."""
    layer = zero_to_nine()
    layer.set_mask("weight", KEEP_EVEN)
    assert torch.equal(layer(ONES), torch.tensor([[20.0]]))
    assert torch.equal(layer.weight.detach(), torch.tensor([[0.0, 0, 2, 0, 4, 0, 6, 0, 8, 0]]))


def test_one_sgd_step_with_known_gradient():
    """loss = y.sum() with x = ones: grad = 1 where kept, exactly 0 where pruned (forward multiplies
    by the mask, so d loss / d w_i = x_i * m_i = m_i). SGD with lr 0.1: kept w_i -> w_i - 0.1, pruned
    stay 0, giving [-0.1, 0, 1.9, 0, 3.9, 0, 5.9, 0, 7.9, 0] and y = 20 - 5 * 0.1 = 19.5.
    (0.1 is not exact in binary, so kept entries are compared to within 1e-6.)"""
    layer = zero_to_nine()
    layer.set_mask("weight", KEEP_EVEN)
    layer(ONES).sum().backward()
    assert torch.equal(layer.weight.grad, KEEP_EVEN)
    torch.optim.SGD(layer.parameters(), lr=0.1).step()
    expected = torch.tensor([[-0.1, 0, 1.9, 0, 3.9, 0, 5.9, 0, 7.9, 0]])
    for weight in (layer.weight.detach(), layer.effective("weight").detach()):  # stored, effective
        torch.testing.assert_close(weight, expected, rtol=0, atol=1e-6)
        assert torch.equal(weight[PRUNED], torch.zeros(5))  # exactly zero, not just close
    assert layer(ONES).item() == pytest.approx(19.5, abs=1e-5)


OPTIMIZERS = {
    "sgd_momentum": lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, weight_decay=0.1),
    "adamw": lambda p: torch.optim.AdamW(p, lr=0.1, weight_decay=0.1),
}


@pytest.mark.parametrize("make_optimizer", OPTIMIZERS.values(), ids=OPTIMIZERS)
def test_pruned_weights_stay_exactly_zero_with_upkeep(make_optimizer):
    """One dense step fills the momentum / Adam moments of every weight; then prune the odd half and
    take three more steps. With keep_masks_after_steps the stored odd weights are exactly 0."""
    layer = zero_to_nine()
    optimizer = make_optimizer(layer.parameters())
    masks.keep_masks_after_steps(optimizer, layer)
    for step in range(4):
        if step == 1:
            layer.set_mask("weight", KEEP_EVEN)
        optimizer.zero_grad()
        layer(ONES).sum().backward()
        optimizer.step()
    assert torch.equal(layer.weight.detach()[PRUNED], torch.zeros(5))
    assert (layer.weight.detach()[~PRUNED] != 0).all()  # the kept ones did train


def test_momentum_revives_pruned_weight_without_upkeep():
    """SGD lr 0.1, momentum 0.9, no upkeep. Step 1 (dense): grad 1, buffer 1, w_i -> w_i - 0.1.
    Prune the odd half (stored 0). Step 2: grad of a pruned weight is 0, but its buffer is
    0.9 * 1 + 0 = 0.9, so it moves to 0 - 0.1 * 0.9 = -0.09. The forward pass still ignores it."""
    layer = zero_to_nine()
    optimizer = torch.optim.SGD(layer.parameters(), lr=0.1, momentum=0.9)
    for step in range(2):
        if step == 1:
            layer.set_mask("weight", KEEP_EVEN)
        optimizer.zero_grad()
        layer(ONES).sum().backward()
        optimizer.step()
    torch.testing.assert_close(layer.weight.detach()[PRUNED], torch.full((5,), -0.09))
    assert torch.equal(layer.effective("weight").detach()[PRUNED], torch.zeros(5))


class PruneOddAfterFirstStep:
    """A fit callback: prune every other weight after the first (dense) optimizer step."""

    def on_step_end(self, step, model, **_):
        if step == 1:
            model.set_mask("weight", KEEP_EVEN)


@pytest.mark.parametrize("keep_masks", [True, False])
def test_fit_keep_masks_false_lets_adamw_revive_pruned_weights(keep_masks):
    """AdamW lr 0.1, weight decay 0.1, two steps of loss y.sum(), pruning after step 1.
    Step 1: m = 0.1 * 1 = 0.1, v = 0.001 * 1 = 0.001. Step 2, pruned weight (w = 0, grad 0): the decay
    0 * (1 - 0.1 * 0.1) keeps it 0, but m = 0.9 * 0.1 = 0.09, v = 0.999 * 0.001 = 0.000999, and
    bias correction gives m^ = 0.09 / 0.19 = 0.474, v^ = 0.000999 / 0.001999 = 0.500, so the step is
    -0.1 * 0.474 / sqrt(0.500) = -0.067. fit re-zeroes it (keep_masks=True, the default); with
    keep_masks=False it stays at -0.067."""
    layer = zero_to_nine()
    train.fit(
        layer,
        [(ONES, torch.zeros(1))] * 2,
        optimizer=torch.optim.AdamW(layer.parameters(), lr=0.1, weight_decay=0.1),
        loss_fn=sum_loss,
        callbacks=[PruneOddAfterFirstStep()],
        keep_masks=keep_masks,
        device="cpu",
        progress=False,
    )
    pruned = layer.weight.detach()[PRUNED]
    if keep_masks:
        assert torch.equal(pruned, torch.zeros(5))
    else:
        torch.testing.assert_close(pruned, torch.full((5,), -0.0670), rtol=0, atol=1e-4)


def test_soft_mask_at_initial_logits_equals_dense():
    """enable_soft_mask(init=s0) sets every logit s = s0; at temperature beta = 1 the gate is
    sigmoid(1 * s0) / sigmoid(s0) = x / x = 1 exactly (the same float divided by itself), so the
    output is the dense 45, bit for bit. Without the rescaling it would be 45 * sigmoid(2) = 39.6."""
    layer = zero_to_nine()
    layer.enable_soft_mask("weight", init=2.0)
    assert torch.equal(layer.soft_gate("weight"), torch.ones(1, 10))
    assert torch.equal(layer(ONES), torch.tensor([[45.0]]))


def test_imp_sparsities():
    """Each IMP round prunes 20 % of what remains: 1 - 0.8 = 0.2, 1 - 0.8^2 = 0.36, 1 - 0.8^3 = 0.488.
    In floats 1 - 0.8**2 is 0.3599999999999999, hence pytest.approx."""
    assert prune.imp_sparsities(3, 0.2) == pytest.approx([0.2, 0.36, 0.488])


def two_layer_toy() -> nn.Module:
    """Two masked 2x2 layers: first weights [[1, 2], [3, 4]], second [[10, 20], [30, 40]]."""
    model = masks.to_masked(nn.Sequential(nn.Linear(2, 2, bias=False), nn.Linear(2, 2, bias=False)))
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[1.0, 2], [3, 4]]))
        model[1].weight.copy_(torch.tensor([[10.0, 20], [30, 40]]))
    return model


def test_layerwise_vs_global_magnitude_pruning():
    """50 % sparsity = 4 of the 8 weights. Layer-wise: each layer loses its own 2 smallest
    (1, 2 and 10, 20). Global: the 4 smallest overall are 1, 2, 3, 4, so the first layer goes
    entirely (layer collapse) and the second stays dense."""
    layerwise, global_ = two_layer_toy(), two_layer_toy()
    prune.magnitude_prune(layerwise, 0.5, scope="layer")
    prune.magnitude_prune(global_, 0.5, scope="global")
    top_row_pruned = torch.tensor([[0.0, 0], [1, 1]])
    assert torch.equal(masks.get_masks(layerwise)["0.weight"], top_row_pruned)
    assert torch.equal(masks.get_masks(layerwise)["1.weight"], top_row_pruned)
    assert torch.equal(masks.get_masks(global_)["0.weight"], torch.zeros(2, 2))
    assert torch.equal(masks.get_masks(global_)["1.weight"], torch.ones(2, 2))


def test_fold_gives_plain_linear_with_same_output():
    """fold bakes the mask into the weight: a plain nn.Linear with weights [0, 0, 2, 0, 4, ...]
    and output 0 + 2 + 4 + 6 + 8 = 20, like the masked layer."""
    layer = zero_to_nine()
    layer.set_mask("weight", KEEP_EVEN)
    folded = masks.fold(layer)
    assert type(folded) is nn.Linear
    assert torch.equal(folded.weight.detach(), torch.tensor([[0.0, 0, 2, 0, 4, 0, 6, 0, 8, 0]]))
    assert torch.equal(folded(ONES), layer(ONES))
    assert torch.equal(folded(ONES), torch.tensor([[20.0]]))


def test_rewind_restores_snapshot_weights_and_keeps_mask():
    """Snapshot the weights 0..9; one SGD step (lr 0.1, grad 1) makes them -0.1, 0.9, ..., 8.9.
    Magnitude-pruning 50 % drops the five smallest |w| (positions 0-4). Rewinding restores the
    snapshot values of the survivors and keeps the mask: [0, 0, 0, 0, 0, 5, 6, 7, 8, 9], y = 35."""
    layer = zero_to_nine()
    snap = prune.snapshot(layer)
    layer(ONES).sum().backward()
    torch.optim.SGD(layer.parameters(), lr=0.1).step()
    prune.magnitude_prune(layer, 0.5)
    prune.rewind(layer, snap)
    assert torch.equal(layer.get_mask("weight"), torch.tensor([[0.0] * 5 + [1.0] * 5]))
    assert torch.equal(layer.weight.detach(), torch.tensor([[0.0, 0, 0, 0, 0, 5, 6, 7, 8, 9]]))
    assert torch.equal(layer(ONES), torch.tensor([[35.0]]))
