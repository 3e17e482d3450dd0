"""Pruning methods, against torch.nn.utils.prune where they overlap and first principles elsewhere."""

import copy

import pytest
import torch
from torch import nn
from torch.nn.utils import prune as torch_prune

from helpers import masks, prune
from helpers.core.models import MLP, CNN1d


def _pair(seed=0):
    torch.manual_seed(seed)
    dense = nn.Sequential(nn.Linear(20, 30), nn.ReLU(), nn.Linear(30, 10), nn.Conv1d(1, 4, 3))
    return dense, masks.to_masked(copy.deepcopy(dense))


@pytest.mark.parametrize("amount", [0.0, 0.3, 0.8, 0.95, 1.0])
def test_layerwise_magnitude_matches_torch_l1_unstructured(amount):
    dense, ours = _pair()
    prune.magnitude_prune(ours, amount, scope="layer")
    for i in (0, 2, 3):
        torch_prune.l1_unstructured(dense[i], "weight", amount=amount)
        assert torch.equal(dense[i].weight_mask, ours[i].weight_mask), f"layer {i}"


@pytest.mark.parametrize("amount", [0.2, 0.6, 0.9])
def test_global_magnitude_matches_torch_global_unstructured(amount):
    dense, ours = _pair(1)
    prune.magnitude_prune(ours, amount, scope="global")
    params = [(dense[i], "weight") for i in (0, 2, 3)]
    torch_prune.global_unstructured(
        params, pruning_method=torch_prune.L1Unstructured, amount=amount
    )
    for i in (0, 2, 3):
        assert torch.equal(dense[i].weight_mask, ours[i].weight_mask), f"layer {i}"


def test_global_uses_one_threshold_across_tensors_and_differs_from_layerwise():
    _, ours = _pair(2)
    with torch.no_grad():
        ours[2].weight.mul_(10)  # one layer of larger scale
    magnitudes = torch.cat(
        [getattr(m, p).detach().abs().flatten() for _, m, p in masks.prunable_weights(ours)]
    )
    layer_copy = copy.deepcopy(ours)
    prune.magnitude_prune(ours, 0.5, scope="global")
    prune.magnitude_prune(layer_copy, 0.5, scope="layer")
    per_tensor = {name: z / t for name, z, t in masks.sparsity_report(ours).rows}
    assert (
        per_tensor["2.weight"] < 0.2 < 0.5 < per_tensor["0.weight"]
    )  # global spares the large layer
    assert all(abs(z / t - 0.5) < 0.01 for _, z, t in masks.sparsity_report(layer_copy).rows)
    keep = torch.cat([m.get_mask(p).flatten() for _, m, p in masks.prunable_weights(ours)])
    assert magnitudes[keep == 1].min() >= magnitudes[keep == 0].max()  # one threshold for all


def test_iterative_pruning_only_shrinks_masks_and_reaches_targets():
    _, ours = _pair(3)
    previous = masks.get_masks(ours)
    for target in prune.imp_sparsities(5, 0.2):
        prune.magnitude_prune(ours, target)
        current = masks.get_masks(ours)
        for name in current:
            assert torch.all(current[name] <= previous[name]), "a pruned weight came back"
        previous = current
    assert masks.sparsity_report(ours).sparsity == pytest.approx(1 - 0.8**5, abs=0.01)


def test_imp_sparsities_formula():
    assert prune.imp_sparsities(3, 0.2) == pytest.approx([0.2, 0.36, 0.488])
    with pytest.raises(ValueError):
        prune.imp_sparsities(0)


def test_random_prune_exact_count_and_seeded():
    _, a = _pair()
    _, b = _pair()
    prune.random_prune(a, 0.7, generator=torch.Generator().manual_seed(5))
    prune.random_prune(b, 0.7, generator=torch.Generator().manual_seed(5))
    assert all(torch.equal(a[i].weight_mask, b[i].weight_mask) for i in (0, 2, 3))
    for _, zeros, total in masks.sparsity_report(a).rows:
        assert zeros == round(0.7 * total)


@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan"), "0.5", None])
def test_bad_sparsity_is_rejected_and_nothing_changes(bad):
    _, ours = _pair()
    before = masks.get_masks(ours)
    with pytest.raises((ValueError, TypeError), match="sparsity"):
        prune.magnitude_prune(ours, bad)
    assert all(torch.equal(before[k], v) for k, v in masks.get_masks(ours).items())


def test_bad_scope_and_scores():
    _, ours = _pair()
    with pytest.raises(ValueError, match="scope"):
        prune.magnitude_prune(ours, 0.5, scope="network")
    with pytest.raises(ValueError, match="missing"):
        prune.prune_by_scores(ours, {}, 0.5)


def test_rewind_restores_weights_norm_stats_optimizer_and_scheduler_but_keeps_masks():
    torch.manual_seed(4)
    model = masks.to_masked(
        nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 2))
    )
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    x, y = torch.randn(16, 4), torch.randint(0, 2, (16,))

    def step():
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
        sched.step()

    step()
    snap = prune.snapshot(model, opt, sched, step=1)
    for _ in range(5):
        step()
    prune.magnitude_prune(model, 0.5)
    mask_after = masks.get_masks(model)
    prune.rewind(model, snap, opt, sched)
    assert torch.equal(model[1].running_mean, snap.model["1.running_mean"])
    assert torch.equal(model[0].bias, snap.model["0.bias"])
    assert torch.equal(model[0].weight, snap.model["0.weight"] * mask_after["0.weight"])
    assert all(torch.equal(mask_after[k], v) for k, v in masks.get_masks(model).items())
    assert sched.last_epoch == 1 and opt.param_groups[0]["lr"] == pytest.approx(0.1)
    momentum = opt.state[model[0].weight]["momentum_buffer"]
    assert torch.equal(momentum, snap.optimizer["state"][0]["momentum_buffer"])


def test_cubic_schedule_endpoints_and_shape():
    assert prune.cubic_sparsity(0, 0.9, 0, 100) == 0.0
    assert prune.cubic_sparsity(100, 0.9, 0, 100) == pytest.approx(0.9)
    assert prune.cubic_sparsity(500, 0.9, 0, 100) == pytest.approx(0.9)
    assert prune.cubic_sparsity(50, 0.9, 0, 100) == pytest.approx(0.9 * (1 - 0.5**3))
    with pytest.raises(ValueError):
        prune.cubic_sparsity(0, 0.9, 10, 10)


def test_gradual_pruning_callback_reaches_final_sparsity():
    from helpers.core.train import fit

    torch.manual_seed(6)
    model = masks.to_masked(MLP([10, 16, 3]))
    data = [(torch.randn(8, 10), torch.randint(0, 3, (8,)))] * 10
    gmp = prune.GradualMagnitudePruning(model, 0.8, start=0, end=20, every=5)
    fit(model, data, epochs=3, callbacks=[gmp], device="cpu")
    assert masks.sparsity_report(model).sparsity == pytest.approx(0.8, abs=0.01)
    targets = [t for _, t in gmp.history]
    assert targets == sorted(targets) and len(targets) >= 4


def test_pruning_conv_model_counts_only_kernels():
    model = masks.to_masked(CNN1d())
    prune.magnitude_prune(model, 0.5)
    report = masks.sparsity_report(model)
    assert all(name.endswith("weight") for name in report.counted)
    assert "(counted:" in str(report)


def test_iterative_magnitude_pruning_rewinds_and_nests_masks():
    torch.manual_seed(7)
    model = masks.to_masked(MLP([6, 12, 3]))
    snap = prune.snapshot(model)
    seen = []

    def train(m):
        # the ticket starts from the snapshot's weights, restricted to the current mask
        for full, layer, p in masks.prunable_weights(m):
            assert torch.equal(getattr(layer, p), snap.model[full] * layer.get_mask(p))
        with torch.no_grad():
            for param in m.parameters():
                param.add_(0.01 * torch.randn_like(param))  # "training" moves the weights
        masks.apply_masks_(m)
        seen.append(masks.sparsity_report(m).sparsity)
        return float(len(seen))

    history = prune.iterative_magnitude_pruning(
        model, train, snap, rounds=4, rate=0.2, progress=False
    )
    assert [h["score"] for h in history] == [1.0, 2.0, 3.0, 4.0]
    assert [h["sparsity"] for h in history] == pytest.approx(prune.imp_sparsities(4, 0.2), abs=0.02)
    for earlier, later in zip(history, history[1:]):
        for name in earlier["masks"]:
            assert torch.all(later["masks"][name] <= earlier["masks"][name])


def test_iterative_magnitude_pruning_calls_a_custom_prune_step_with_the_round_targets():
    torch.manual_seed(8)
    model = masks.to_masked(MLP([6, 12, 3]))
    reference = copy.deepcopy(model)
    snap = prune.snapshot(model)
    calls, order = [], []

    def prune_step(m, target):
        calls.append((m, target))
        order.append("prune")
        prune.magnitude_prune(m, target, scope="global")

    def train(m):
        order.append("train")
        return 0.0

    history = prune.iterative_magnitude_pruning(
        model, train, snap, rounds=3, rate=0.3, prune_step=prune_step, progress=False
    )
    assert [m for m, _ in calls] == [model] * 3
    assert [t for _, t in calls] == prune.imp_sparsities(3, 0.3)  # exactly the schedule
    assert order == ["prune", "train"] * 3
    default = prune.iterative_magnitude_pruning(
        reference, lambda _: 0.0, snap, rounds=3, rate=0.3, scope="global", progress=False
    )
    for ours, theirs in zip(history, default, strict=True):
        assert ours["masks"].keys() == theirs["masks"].keys()
        assert all(torch.equal(ours["masks"][k], theirs["masks"][k]) for k in ours["masks"])


def _old_gate(step, start, end, every):
    """The check GradualMagnitudePruning.on_step_end made before ``due`` existed."""
    if step % every and step != end:
        return False
    return not (step < start or step > end)


@pytest.mark.parametrize("start, end, every", [(0, 40, 10), (3, 37, 5), (10, 11, 4), (0, 7, 100)])
def test_gradual_pruning_prunes_at_the_steps_it_always_did(start, end, every):
    model = masks.to_masked(MLP([6, 12, 3]))
    gmp = prune.GradualMagnitudePruning(model, 0.5, start=start, end=end, every=every)
    steps = range(0, end + 2 * every)
    assert [s for s in steps if gmp.due(s)] == [s for s in steps if _old_gate(s, start, end, every)]
    for step in steps:
        gmp.on_step_end(step=step)
    assert [s for s, _ in gmp.history] == [s for s in steps if gmp.due(s)]
