"""Continuous Sparsification (helpers.continuous), step by step against first principles."""

import pytest
import torch
from torch import nn

from helpers import masks, prune
from helpers.core.data import TensorLoader
from helpers.papers import continuous_sparsification as cs


def _net(seed=0):
    torch.manual_seed(seed)
    return masks.to_masked(nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 3)))


@pytest.mark.parametrize("init", [0.0, -0.1, 0.3])
def test_soft_masks_start_dense_at_beta_one(init):
    net = _net()
    x = torch.randn(7, 6)
    before = net(x)
    logits = cs.enable_soft_masks(net, init=init)
    assert [tuple(s.shape) for s in logits] == [(5, 6), (3, 5)]
    assert all(bool((s == init).all()) for s in logits)
    # gate = sigmoid(1 * s0) / sigmoid(s0) = 1: the network computes what it did before
    torch.testing.assert_close(net(x), before)
    with pytest.raises(ValueError, match="already has a soft mask"):
        cs.enable_soft_masks(net)


def test_exponential_temperature_is_geometric_from_one_to_final():
    betas = [cs.exponential_temperature(t, 5, 16.0) for t in range(5)]
    assert betas == pytest.approx([1, 2, 4, 8, 16])
    for bad in (
        {"step": 5, "steps": 5, "final_temp": 2},
        {"step": 0, "steps": 1, "final_temp": 2},
        {"step": 0, "steps": 5, "final_temp": 0.5},
    ):
        with pytest.raises(ValueError):
            cs.exponential_temperature(**bad)


def test_schedule_sets_beta_of_each_step_during_fit():
    from helpers.core.train import fit

    net = _net()
    cs.enable_soft_masks(net)
    seen = []

    class Spy:  # extra_loss runs inside the step, after the forward pass: it sees that step's beta
        def extra_loss(self, model):
            seen.append(float(model[0].mask_temperature))
            return torch.zeros(())

    schedule = cs.TemperatureSchedule(net, steps=6, final_temp=32.0)
    schedule.start()
    batches = [(torch.randn(4, 6), torch.randint(0, 3, (4,)))] * 3
    fit(net, batches, epochs=2, callbacks=[Spy(), schedule], device="cpu", progress=False)
    assert seen == pytest.approx([32.0 ** (t / 5) for t in range(6)])
    assert float(net[2].mask_temperature) == pytest.approx(32.0)  # never beyond the final value


def test_reset_logits_keeps_decisions_and_restarts_survivors():
    net = _net()
    cs.enable_soft_masks(net, init=0.05)
    with torch.no_grad():
        net[0].mask_logits("weight").copy_(torch.linspace(-0.5, 0.5, 30).view(5, 6))
    masks.set_mask_temperature(net, 10.0)
    s = net[0].mask_logits("weight").detach().clone()
    cs.reset_logits_(net)
    expected = torch.minimum(10.0 * s, torch.tensor(0.05))  # s <- min(beta s, s0)
    torch.testing.assert_close(net[0].mask_logits("weight").detach(), expected)
    assert float(net[0].mask_temperature) == 1.0 and float(net[2].mask_temperature) == 1.0
    with pytest.raises(ValueError, match="no soft masks"):
        cs.reset_logits_(_net())


def test_extract_ticket_is_positive_logits_and_the_old_hard_mask():
    net = _net()
    old = (torch.arange(30) % 4 != 0).float().view(5, 6)
    net[0].set_mask("weight", old)
    cs.enable_soft_masks(net)
    with torch.no_grad():
        net[0].mask_logits("weight").copy_(torch.randn(5, 6))
        net[2].mask_logits("weight").fill_(
            -1e-6
        )  # barely negative: pruned, whatever sigmoid rounds to
    positive = (net[0].mask_logits("weight") > 0).float()
    expected_density = float((old * positive).sum()) / (30 + 15)
    # while the search runs, a weight counts as pruned where s <= 0
    assert masks.sparsity_report(net).density == pytest.approx(expected_density)
    cs.extract_ticket(net)
    assert torch.equal(net[0].weight_mask, old * positive)
    assert not net[0].has_soft_mask("weight") and net[2].weight_mask.sum() == 0
    assert masks.sparsity_report(net).density == pytest.approx(expected_density)
    assert bool((net[0].weight[net[0].weight_mask == 0] == 0).all())
    with pytest.raises(ValueError, match="no soft masks"):
        cs.extract_ticket(net)


def _two_useful_features(n=512, seed=0):
    """Labels depend on inputs 0 and 1 only; inputs 2..7 are noise the search should cut."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 8, generator=g)
    y = (x[:, 0] + x[:, 1] > 0).long()
    return TensorLoader(x, y, 64, shuffle=True, generator=g), x, y


def test_search_cuts_the_weights_the_loss_does_not_need():
    loader, x, y = _two_useful_features()
    torch.manual_seed(0)
    net = masks.to_masked(nn.Linear(8, 2))
    result = cs.search(
        net,
        loader,
        lam=3e-3,
        rounds=2,
        epochs=6,
        mask_lr=0.05,
        lr=0.01,
        device="cpu",
        progress=False,
    )
    kept = net.weight_mask  # (2 classes, 8 inputs)
    # only the difference of the two rows matters: each useful input needs one kept weight
    assert bool((kept[:, :2].amax(dim=0) == 1).all()), "a useful input was cut off"
    assert kept[:, 2:].sum() <= 2, "the noise inputs kept too many weights"
    assert (net(x).argmax(1) == y).float().mean() > 0.9
    assert not net.has_soft_mask("weight")
    assert result.epochs == 12 and len(result.trajectory) == 12
    assert result.sparsity == pytest.approx(masks.sparsity_report(net).sparsity)
    assert torch.equal(result.masks["weight"], kept)
    assert [row["round"] for row in result.trajectory] == [1] * 6 + [2] * 6
    assert result.trajectory[5]["beta"] == pytest.approx(200.0)


def test_search_with_zero_init_does_not_empty_the_ticket_after_the_last_round():
    loader, _, _ = _two_useful_features(seed=1)
    torch.manual_seed(1)
    net = masks.to_masked(nn.Linear(8, 2))
    result = cs.search(
        net,
        loader,
        lam=0.0,
        rounds=3,
        epochs=2,
        init=0.0,
        device="cpu",
        progress=False,
        record_logits=True,
    )
    assert 0.0 < result.sparsity < 1.0  # a reset after the last round would set every s to <= 0
    # logits recorded at the start of each round and after every epoch: 3 * (1 + 2)
    assert len(result.snapshots) == 9 and result.snapshots[0]["beta"] == 1.0
    assert result.snapshots[0]["logits"].shape == (16,)


def test_search_errors():
    loader, _, _ = _two_useful_features()
    for kwargs in (
        {"lam": -1.0},
        {"lam": 1e-3, "rounds": 0},
        {"lam": 1e-3, "epochs": 1.5},
        {"lam": 1e-3, "mask_lr": 0.0},
        {"lam": 1e-3, "init": float("inf")},
    ):
        with pytest.raises(ValueError):
            cs.search(
                masks.to_masked(nn.Linear(8, 2)), loader, device="cpu", progress=False, **kwargs
            )


def test_train_ticket_rewinds_keeps_the_mask_and_refuses_soft_masks():
    loader, x, y = _two_useful_features()
    torch.manual_seed(2)
    net = masks.to_masked(nn.Linear(8, 2))
    snap = prune.snapshot(net)
    start = net.weight.detach().clone()
    mask = torch.ones(2, 8)
    mask[:, 4:] = 0
    with torch.no_grad():
        net.weight.add_(5.0)  # "trained" weights that the rewind must undo
    net.set_mask("weight", mask)
    # a learning rate of ~0 leaves the weights where the rewind put them
    acc = cs.train_ticket(
        net, snap, loader, [(x, y)], epochs=1, lr=1e-12, device="cpu", progress=False
    )
    torch.testing.assert_close(net.weight_mask, mask)
    torch.testing.assert_close(net.weight.detach(), start * mask)
    assert 0.0 <= acc <= 1.0
    cs.enable_soft_masks(net)
    with pytest.raises(ValueError, match="extract_ticket"):
        cs.train_ticket(net, snap, loader, [(x, y)], epochs=1, device="cpu", progress=False)


def test_matched_baseline_never_gives_the_baseline_fewer_weights():
    remaining = [1.0, 0.8, 0.64, 0.512, 0.4096]
    assert cs.matched_baseline(0.64, remaining) == 2  # an exact match
    assert cs.matched_baseline(0.6, remaining) == 2  # 0.64 >= 0.6, within 1.25x
    assert cs.matched_baseline(0.45, remaining) == 3  # 0.512, not the sparser 0.4096
    assert cs.matched_baseline(0.35, remaining) == 4  # sparser than the curve, but within 1.25x
    assert cs.matched_baseline(0.3, remaining) is None  # the sparsest point keeps 1.37x: too far
    assert cs.matched_baseline(0.9, [0.8, 0.64]) is None  # denser than the whole curve
    assert cs.matched_baseline(0.5, [1.0, 0.7], max_ratio=1.25) is None  # 1.4x as many: too far
    assert cs.matched_baseline(0.5, [1.0, 0.7], max_ratio=1.5) == 1
    for bad in (
        {"remaining": 0.0, "curve_remaining": remaining},
        {"remaining": 0.5, "curve_remaining": []},
        {"remaining": 0.5, "curve_remaining": remaining, "max_ratio": 0.9},
    ):
        with pytest.raises(ValueError):
            cs.matched_baseline(**bad)
