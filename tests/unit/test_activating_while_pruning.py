"""Activate-while-Pruning, against selections and sparsities worked out by hand."""

import copy

import pytest
import torch
from torch import nn

from helpers import activations, masks, prune
from helpers.core.masked import MaskedLinear
from helpers.core.models import MLP, CNN2d
from helpers.papers import activating_while_pruning as activating


def _same_masks(a, b):
    masks_a, masks_b = masks.get_masks(a), masks.get_masks(b)
    return masks_a.keys() == masks_b.keys() and all(
        torch.equal(masks_a[k], masks_b[k]) for k in masks_a
    )


def _layer(weight):
    layer = MaskedLinear(weight.shape[1], weight.shape[0], bias=False)
    with torch.no_grad():
        layer.weight.copy_(weight)
    return layer


def test_ap_scores_rank_alive_negative_weights_by_how_little_they_moved():
    start = torch.tensor([[0.5, -0.5, -1.0, 0.2]])
    layer = _layer(torch.tensor([[-0.4, -0.6, 1.0, -0.1]]))
    layer.set_mask("weight", torch.tensor([[1.0, 1.0, 1.0, 0.0]]))  # the last weight is pruned
    scores = activating.ap_scores(layer, {"weight": start})["weight"]
    inf = float("inf")
    # |w_end - w_start| for the alive negatives (0.9, 0.1); +inf for the positive and the pruned one.
    assert torch.allclose(scores, torch.tensor([[0.9, 0.1, inf, inf]]))


def test_ap_prune_takes_the_negatives_that_moved_least_and_reaches_the_target():
    start = torch.zeros(1, 6)
    layer = _layer(torch.tensor([[-0.3, -0.1, 0.05, -0.2, 0.01, -0.4]]))
    pruned = activating.ap_prune(layer, {"weight": start}, sparsity=2 / 6)
    assert pruned == 2
    # the two negatives closest to their start (-0.1, -0.2) go, although 0.05 and 0.01 are smaller
    assert layer.get_mask("weight").tolist() == [[1.0, 0.0, 1.0, 0.0, 1.0, 1.0]]
    assert layer.weight[0, 1] == 0 and layer.weight[0, 3] == 0  # stored weights zeroed too


def test_ap_prune_counts_already_pruned_weights_towards_the_target():
    layer = _layer(torch.tensor([[-0.3, -0.1, -0.2, 0.5]]))
    layer.set_mask("weight", torch.tensor([[1.0, 1.0, 1.0, 0.0]]))
    start = {"weight": torch.zeros(1, 4)}
    assert activating.ap_prune(layer, start, sparsity=0.5) == 1  # 1 pruned + 1 more = 2 of 4
    assert activating.ap_prune(layer, start, sparsity=0.5) == 0  # already there: nothing to do
    assert masks.sparsity_report(layer).sparsity == 0.5


def test_ap_prune_layer_scope_brings_every_tensor_to_the_target():
    torch.manual_seed(0)
    model = masks.to_masked(MLP([20, 30, 10]))
    start = activating.current_weights(model)
    with torch.no_grad():
        model.layers[0].weight.mul_(10)  # scales differ: global ranking would favour one tensor
    activating.ap_prune(model, start, 0.3, scope="layer")
    for _, zeros, total in masks.sparsity_report(model).rows:
        assert zeros == round(0.3 * total)


def test_ap_prune_global_ranks_all_tensors_together():
    model = nn.Sequential(
        _layer(torch.tensor([[-1.0, -2.0]])), _layer(torch.tensor([[-3.0, -4.0]]))
    )
    start = {"0.weight": torch.tensor([[-0.9, 0.0]]), "1.weight": torch.tensor([[0.0, -3.95]])}
    activating.ap_prune(model, start, 0.5, scope="global")  # changes 0.1, 2, 3, 0.05: two smallest
    assert model[0].get_mask("weight").tolist() == [[0.0, 1.0]]
    assert model[1].get_mask("weight").tolist() == [[1.0, 0.0]]


def test_ap_prune_refuses_when_too_few_negative_weights_remain():
    layer = _layer(torch.tensor([[-0.3, 0.1, 0.2, 0.5]]))
    with pytest.raises(ValueError, match="negative"):
        activating.ap_prune(layer, {"weight": torch.zeros(1, 4)}, sparsity=0.5)
    assert layer.get_mask("weight").sum() == 4  # nothing was changed


def test_ap_prune_checks_its_arguments():
    layer = _layer(torch.tensor([[-0.3, 0.1]]))
    with pytest.raises(ValueError, match="start has no weight"):
        activating.ap_prune(layer, {}, 0.5)
    with pytest.raises(ValueError, match="shape"):
        activating.ap_prune(layer, {"weight": torch.zeros(3)}, 0.5)
    with pytest.raises(ValueError, match="scope"):
        activating.ap_prune(layer, {"weight": torch.zeros(1, 2)}, 0.5, scope="row")
    with pytest.raises(ValueError, match="sparsity"):
        activating.ap_prune(layer, {"weight": torch.zeros(1, 2)}, 1.5)


def test_removing_negative_weights_raises_every_pre_activation_behind_a_relu():
    """AP's mechanism: inputs after a ReLU are >= 0, so dropping w < 0 can only raise w·x + b."""
    torch.manual_seed(1)
    model = masks.to_masked(nn.Sequential(nn.ReLU(), nn.Linear(16, 12), nn.ReLU()))
    x = torch.randn(200, 16)
    before_pre = model[:2](x)
    before = activations.dead_neuron_rate(model, x, modules=["2"])["2"]
    activating.ap_prune(
        model, activating.current_weights(model), 0.25
    )  # start = now: change 0 for all
    assert (model[:2](x) >= before_pre - 1e-6).all()
    assert activations.dead_neuron_rate(model, x, modules=["2"])["2"] < before


def test_ap_share_splits_each_increase_between_magnitude_and_ap():
    torch.manual_seed(2)
    model = masks.to_masked(MLP([20, 40, 10]))  # 1200 weights
    start = activating.current_weights(model)
    # 0 -> 20 %: magnitude takes 18 % of the weights, AP the other 2 %
    assert activating.prune_with_ap_share(model, start, 0.2, 0.1) == 240 - 216
    assert masks.sparsity_report(model).zeros == 240
    # half pruned already: 18 % and 20 % of the remaining half (59 % and 60 % in all)
    prune.magnitude_prune(model, 0.5, scope="global")
    assert activating.prune_with_ap_share(model, start, 0.6, 0.1) == 720 - 708
    assert masks.sparsity_report(model).zeros == 720
    assert activating.prune_with_ap_share(model, start, 0.6, 0.1) == 0  # at the target already
    assert masks.sparsity_report(model).zeros == 720


def _moved_mlp(seed):
    """A masked MLP, its weights at "the start of the cycle", and the weights moved by "training"."""
    torch.manual_seed(seed)
    model = masks.to_masked(MLP([20, 40, 10]))
    start = activating.current_weights(model)
    with torch.no_grad():
        for _, layer, p in masks.prunable_weights(model):
            getattr(layer, p).add_(0.05 * torch.randn_like(getattr(layer, p)))
    return model, start


@pytest.mark.parametrize("scope", ["global", "layer"])
def test_ap_share_gives_the_masks_of_magnitude_then_ap(scope):
    """The step that replaced ``magnitude_then_ap``: magnitude to s + (p - q)(1 - s), then AP to
    s + p (1 - s), weight for weight."""
    new, start = _moved_mlp(3)
    old = copy.deepcopy(new)
    p, q = 0.2, 0.02
    for _ in range(4):
        alive = 1 - masks.sparsity_report(old).sparsity
        prune.magnitude_prune(old, 1 - alive * (1 - (p - q)), scope)
        activating.ap_prune(old, start, 1 - alive * (1 - p), scope)
        activating.prune_with_ap_share(new, start, 1 - alive * (1 - p), q / p, scope)
        assert _same_masks(new, old)
        assert torch.equal(new.layers[0].weight, old.layers[0].weight)  # pruned weights zeroed


def test_ap_share_keeps_imp_sparsities_and_without_ap_is_plain_imp():
    with_ap, start = _moved_mlp(3)
    plain, reference = copy.deepcopy(with_ap), copy.deepcopy(with_ap)
    for target in prune.imp_sparsities(3, 0.2):
        activating.prune_with_ap_share(with_ap, start, target, 0.1)
        assert masks.sparsity_report(with_ap).sparsity == pytest.approx(target, abs=1e-3)
        activating.prune_with_ap_share(plain, start, target, 0.0)
        prune.magnitude_prune(reference, target, scope="global")
    assert _same_masks(plain, reference)
    assert not _same_masks(with_ap, plain)


def _state(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def _unchanged(model, before):
    after = model.state_dict()
    return before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)


def test_a_rejected_ap_step_changes_nothing():
    """Magnitude pruning would succeed, AP then finds too few alive negative weights: the call
    is rejected before either step installs a mask (the magnitude step included)."""
    layer = _layer(torch.tensor([[-0.3, 0.1, 0.2, 0.5, 0.4, 0.6, 0.7, 0.8]]))
    before = _state(layer)
    with pytest.raises(ValueError, match="negative"):  # AP's half of 0 -> 50 %: 2 of 1 negative
        activating.prune_with_ap_share(layer, {"weight": torch.zeros(1, 8)}, 0.5, 0.5)
    assert _unchanged(layer, before)


def test_a_rejected_layer_wise_ap_prune_changes_no_layer():
    """Layer scope: the first tensor can reach the target, the second cannot; neither changes."""
    model = nn.Sequential(
        _layer(torch.tensor([[-1.0, -2.0, 3.0, 4.0]])),
        _layer(torch.tensor([[-1.0, 2.0, 3.0, 4.0]])),
    )
    start = {"0.weight": torch.zeros(1, 4), "1.weight": torch.zeros(1, 4)}
    before = _state(model)
    with pytest.raises(ValueError, match="1.weight"):
        activating.ap_prune(model, start, 0.5, scope="layer")
    assert _unchanged(model, before)
    with pytest.raises(ValueError, match="1.weight"):
        activating.prune_with_ap_share(model, start, 0.5, 1.0, scope="layer")
    assert _unchanged(model, before)


def test_imp_with_ap_checks_its_rates_before_training():
    model = masks.to_masked(MLP([20, 16, 3]))
    with pytest.raises(ValueError, match="ap_rate"):
        activating.imp_with_ap(
            model,
            prune.snapshot(model),
            [],
            [],
            None,
            rounds=2,
            epochs=1,
            lr=0.1,
            rate=0.1,
            ap_rate=0.2,
        )


def test_batch_norm_scales_are_never_pruned():
    torch.manual_seed(4)
    model = masks.to_masked(CNN2d(channels=4))
    bn_before = {
        n: p.clone() for n, p in model.named_parameters() if "features.1" in n or "features.5" in n
    }
    start = activating.current_weights(model)
    assert all("features.1" not in name and "features.5" not in name for name in start)
    activating.prune_with_ap_share(model, start, 0.5, 0.2)
    for name, value in bn_before.items():
        assert torch.equal(dict(model.named_parameters())[name], value)


def test_activating_gradual_pruning_reaches_the_schedule_with_an_ap_share():
    torch.manual_seed(5)
    model = masks.to_masked(MLP([20, 40, 10]))
    plain = copy.deepcopy(model)
    ap = activating.ActivatingGradualPruning(
        model, final=0.8, start=0, end=40, every=10, ap_share=0.1
    )
    gmp = prune.GradualMagnitudePruning(plain, final=0.8, start=0, end=40, every=10, scope="global")
    for step in range(1, 41):
        ap.on_step_end(step=step)
        gmp.on_step_end(step=step)
    assert masks.sparsity_report(model).sparsity == pytest.approx(0.8, abs=1e-3)
    assert ap.history == gmp.history
    total = masks.sparsity_report(model).zeros
    assert ap.ap_pruned == pytest.approx(0.1 * total, rel=0.05)
    with pytest.raises(ValueError, match="ap_share"):
        activating.ActivatingGradualPruning(model, 0.8, 0, 40, ap_share=2.0)


def test_activating_gradual_pruning_without_ap_share_is_plain_gradual_pruning():
    torch.manual_seed(6)
    model = masks.to_masked(MLP([20, 40, 10]))
    plain = copy.deepcopy(model)
    ap = activating.ActivatingGradualPruning(
        model, final=0.7, start=0, end=30, every=10, ap_share=0.0
    )
    gmp = prune.GradualMagnitudePruning(plain, final=0.7, start=0, end=30, every=10, scope="global")
    for step in range(1, 31):
        ap.on_step_end(step=step)
        gmp.on_step_end(step=step)
    assert _same_masks(model, plain)


def test_imp_with_ap_prunes_rewinds_and_measures_every_round():
    torch.manual_seed(7)
    x, y = torch.randn(64, 20), torch.randint(0, 3, (64,))
    batches = [(x[:32], y[:32]), (x[32:], y[32:])]
    model = masks.to_masked(MLP([20, 16, 3]))
    init = prune.snapshot(model)
    dense = activating.train_and_measure(
        model, batches, batches, x, epochs=1, lr=1e-2, device="cpu"
    )
    assert dense.sparsity == 0.0 and len(dense.dnr_during) == 1
    assert set(dense.dnr_after) == {"layers.1", activations.ALL}
    runs = {}
    for q in (0.0, 0.05):
        _, runs[q] = activating.imp_with_ap(
            model, init, batches, batches, x, rounds=2, epochs=1, lr=1e-2, ap_rate=q, device="cpu"
        )
    assert [r.sparsity for r in runs[0.0]] == [r.sparsity for r in runs[0.05]]
    assert [r.sparsity for r in runs[0.0]] == pytest.approx(prune.imp_sparsities(2, 0.2), abs=2e-3)
    assert 0.0 <= runs[0.05][-1].mean_dnr_during <= 1.0
    assert masks.sparsity_report(model).sparsity == 0.0  # the trained dense model is left alone
    with pytest.raises(ValueError, match="rounds"):
        activating.imp_with_ap(model, init, batches, batches, x, rounds=0, epochs=1, lr=1e-2)
