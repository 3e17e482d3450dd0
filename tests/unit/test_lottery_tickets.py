"""Lottery tickets (helpers.papers.lottery_tickets): per-layer rates, the random-mask control and the
early-stopping iteration, checked on toy models by hand."""

import copy

import pytest
import torch
from torch import nn

from helpers import masks, prune, train
from helpers.core.data import TensorLoader
from helpers.papers import lottery_tickets as lt


def _net(seed=0):
    torch.manual_seed(seed)
    return masks.to_masked(nn.Sequential(nn.Linear(20, 30), nn.ReLU(), nn.Linear(30, 10)))


@pytest.mark.parametrize("rounds", [1, 2, 5, 9])
def test_layer_target_is_the_layer_own_schedule(rounds):
    target = prune.imp_sparsities(rounds, 0.2)[-1]
    assert lt.layer_target(target, 0.2, 0.1) == pytest.approx(1 - 0.9**rounds)
    assert lt.layer_target(target, 0.2, 0.2) == pytest.approx(target)
    assert lt.layer_target(target, 0.2, 0.0) == 0.0  # a layer left dense
    assert lt.layer_target(0.0, 0.2, 0.1) == 0.0
    assert lt.layer_target(1.0, 0.2, 0.1) == 1.0


@pytest.mark.parametrize(
    "bad", [(1.2, 0.2, 0.1), (0.5, 0.0, 0.1), (0.5, 1.0, 0.1), (0.5, 0.2, 1.0), (0.5, 0.2, -0.1)]
)
def test_layer_target_rejects_values_outside_their_range(bad):
    with pytest.raises(ValueError):
        lt.layer_target(*bad)


def test_per_layer_rates_prunes_each_layer_on_its_schedule_by_magnitude():
    net = _net()
    step = lt.per_layer_rates(0.2, {"2.weight": 0.1})
    before = masks.get_masks(net)
    for r, target in enumerate(prune.imp_sparsities(4, 0.2), 1):
        weights = {
            n: layer.effective(p).detach().abs() for n, layer, p in masks.prunable_weights(net)
        }
        step(net, target)
        after = masks.get_masks(net)
        for name, rate in (("0.weight", 0.2), ("2.weight", 0.1)):
            kept = after[name]
            assert int(kept.sum()) == kept.numel() - round((1 - (1 - rate) ** r) * kept.numel())
            assert bool((kept <= before[name]).all())  # masks only shrink
            # every pruned survivor of the last round was no larger than every kept weight
            dropped = (before[name] == 1) & (kept == 0)
            if dropped.any():
                assert weights[name][dropped].max() <= weights[name][kept == 1].min()
        before = after


def test_per_layer_rates_rejects_unknown_names_and_changes_nothing():
    net = _net()
    before = masks.get_masks(net)
    with pytest.raises(ValueError, match="lacks"):
        lt.per_layer_rates(0.2, {"4.weight": 0.1})(net, 0.5)
    assert all(torch.equal(before[n], m) for n, m in masks.get_masks(net).items())
    with pytest.raises(ValueError):
        lt.per_layer_rates(0.0)
    with pytest.raises(ValueError):
        lt.per_layer_rates(0.2, {"0.weight": 1.0})
    with pytest.raises(TypeError):
        lt.per_layer_rates(0.2, [("0.weight", 0.1)])


def test_per_layer_rates_drives_imp():
    net = _net()
    history = prune.iterative_magnitude_pruning(
        net,
        lambda model: 0.0,
        prune.snapshot(net),
        rounds=3,
        rate=0.2,
        prune_step=lt.per_layer_rates(0.2, {"2.weight": 0.1}),
        progress=False,
    )
    last = history[-1]["masks"]
    assert last["0.weight"].mean().item() == pytest.approx(0.8**3, abs=1e-3)
    assert last["2.weight"].mean().item() == pytest.approx(0.9**3, abs=1e-2)


def test_shuffled_masks_keep_each_layer_count_but_not_the_positions():
    net = _net()
    prune.magnitude_prune(net, 0.7)
    original = masks.get_masks(net)
    shuffled = lt.shuffled_masks(original, torch.Generator().manual_seed(0))
    again = lt.shuffled_masks(original, torch.Generator().manual_seed(0))
    for name, mask in original.items():
        assert shuffled[name].shape == mask.shape
        assert shuffled[name].sum() == mask.sum()
        assert torch.equal(shuffled[name], again[name])  # the generator decides
    assert not torch.equal(shuffled["0.weight"], original["0.weight"])
    masks.set_masks(net, shuffled)  # valid masks for the model they came from
    with pytest.raises(TypeError):
        lt.shuffled_masks([original["0.weight"]])


def _loaders(seed=0):
    g = torch.Generator().manual_seed(seed)
    x, y = torch.randn(64, 20, generator=g), torch.randint(0, 10, (64,), generator=g)
    train_loader = TensorLoader(x[:48], y[:48], 8, shuffle=True, generator=g)
    return train_loader, TensorLoader(x[48:], y[48:], 16)


def test_validation_loss_records_every_few_steps_and_finds_the_lowest():
    net = _net()
    train_loader, val_loader = _loaders()
    tracker = lt.ValidationLoss(val_loader, every=4, start=10, device="cpu")
    train.fit(net, train_loader, epochs=2, callbacks=[tracker], device="cpu", progress=False)
    assert tracker.steps == [14, 18, 22]  # 12 steps, every 4, counted from step 10
    by_hand = [train.evaluate(net, val_loader, device="cpu")["loss"]]
    assert tracker.losses[-1] == pytest.approx(by_hand[0])
    best = min(range(3), key=tracker.losses.__getitem__)
    assert tracker.best_step == tracker.steps[best]
    assert tracker.best_loss == min(tracker.losses)
    with pytest.raises(ValueError, match="no validation loss"):
        _ = lt.ValidationLoss(val_loader, every=4).best_step
    with pytest.raises(ValueError):
        lt.ValidationLoss(val_loader, every=0)


class _StateAt:
    """Keeps a copy of the model's state after ``step`` optimizer steps."""

    def __init__(self, step):
        self.step, self.state = step, None

    def on_step_end(self, step, model, **_):
        if step == self.step:
            self.state = copy.deepcopy(model.state_dict())


def test_a_constant_rate_run_passes_through_the_shorter_run():
    # Notebook 01 reads a 10-epoch result from the first 10 epochs of a longer run: with Adam at a
    # constant learning rate and the same data order, the two are the same run.
    states = []
    for epochs in (2, 4):
        model, (train_loader, _) = _net(), _loaders()
        at = _StateAt(12)  # 2 epochs of 6 steps
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
        train.fit(
            model,
            train_loader,
            epochs=epochs,
            optimizer=optimizer,
            callbacks=[at],
            device="cpu",
            progress=False,
        )
        states.append(at.state)
    for key, value in states[0].items():
        assert torch.equal(value, states[1][key]), key
