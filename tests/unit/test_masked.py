"""The mask invariants of STANDARD.md, each against first principles."""

import copy
import io

import pytest
import torch
from torch import nn

from helpers import masks, prune
from helpers.core.masked import (
    MaskedConv1d,
    MaskedConv2d,
    MaskedGRU,
    MaskedLinear,
    MaskedLSTM,
    MaskedRNN,
)
from helpers.core.train import fit

LAYERS = {
    "linear": (lambda: nn.Linear(6, 5), lambda: torch.randn(4, 6)),
    "conv1d": (lambda: nn.Conv1d(2, 3, 3), lambda: torch.randn(4, 2, 9)),
    "conv2d": (lambda: nn.Conv2d(2, 3, 3), lambda: torch.randn(4, 2, 6, 6)),
    "rnn_tanh": (lambda: nn.RNN(3, 5, batch_first=True), lambda: torch.randn(4, 7, 3)),
    "rnn_relu": (
        lambda: nn.RNN(3, 5, batch_first=True, nonlinearity="relu"),
        lambda: torch.randn(4, 7, 3),
    ),
    "gru": (lambda: nn.GRU(3, 5, batch_first=True), lambda: torch.randn(4, 7, 3)),
    "lstm": (lambda: nn.LSTM(3, 5, num_layers=2, batch_first=True), lambda: torch.randn(4, 7, 3)),
}
OPTIMIZERS = {
    "sgd_momentum": lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, weight_decay=1e-2),
    "adam": lambda p: torch.optim.Adam(p, lr=0.05, weight_decay=1e-2),
    "adamw": lambda p: torch.optim.AdamW(p, lr=0.05, weight_decay=0.5),
}


def out(layer, x):
    y = layer(x)
    return y[0] if isinstance(y, tuple) else y


class Net(nn.Module):
    def __init__(self, make):
        super().__init__()
        self.layer = make()

    def forward(self, x):
        return out(self.layer, x).flatten(1)


@pytest.mark.parametrize("kind", LAYERS)
def test_conversion_keeps_outputs(kind):
    make, data = LAYERS[kind]
    torch.manual_seed(0)
    dense = make()
    x = data()
    masked = masks.to_masked(copy.deepcopy(dense))
    assert type(masked) is not type(dense)
    torch.testing.assert_close(out(masked, x), out(dense, x), rtol=0, atol=0)


@pytest.mark.parametrize("kind", LAYERS)
def test_masked_output_equals_dense_layer_with_zeroed_weights(kind):
    make, data = LAYERS[kind]
    torch.manual_seed(1)
    dense = make()
    masked = masks.to_masked(copy.deepcopy(dense))
    prune.random_prune(masked, 0.6, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():  # first principles: zero the same entries of the plain layer by hand
        for name in masked.mask_names:
            getattr(dense, name).mul_(masked.get_mask(name))
    x = data()
    torch.testing.assert_close(out(masked, x), out(dense, x))
    torch.testing.assert_close(out(masks.fold(masked), x), out(masked, x), rtol=0, atol=0)
    assert type(masks.fold(masked)) is type(dense)


def _train(net, optimizer, x, steps, hook=True):
    """``steps`` optimizer steps on a fixed batch, through ``fit`` (which keeps masks) or by hand."""
    y = torch.randint(0, 2, (x.shape[0],), generator=torch.Generator().manual_seed(0))

    def loss_fn(o, t):
        return nn.functional.cross_entropy(o[:, :2], t)

    if hook:
        fit(net, [(x, y)] * steps, epochs=1, optimizer=optimizer, loss_fn=loss_fn, device="cpu")
        return
    for _ in range(steps):
        optimizer.zero_grad()
        loss_fn(net(x), y).backward()
        optimizer.step()


@pytest.mark.parametrize("opt", OPTIMIZERS)
@pytest.mark.parametrize("kind", LAYERS)
@pytest.mark.parametrize("clip", [None, 0.1])
def test_pruned_weights_stay_zero_after_steps(kind, opt, clip):
    """Prune mid-training, when momentum and Adam's moments are non-zero: the hard case."""
    make, data = LAYERS[kind]
    torch.manual_seed(2)
    net = masks.to_masked(Net(make))
    x = data()
    optimizer = OPTIMIZERS[opt](net.parameters())
    _train(net, optimizer, x, steps=3)  # dense steps fill the optimizer state
    prune.magnitude_prune(net, 0.5)
    pruned = {name: layer.get_mask(p) == 0 for name, layer, p in masks.prunable_weights(net)}
    before = {
        name: getattr(layer, p).detach().clone() for name, layer, p in masks.prunable_weights(net)
    }
    y = torch.randint(0, 2, (x.shape[0],))
    fit(
        net,
        [(x, y)] * 5,
        epochs=2,
        optimizer=optimizer,
        max_grad_norm=clip,
        device="cpu",
        loss_fn=lambda o, t: nn.functional.cross_entropy(o[:, :2], t),
    )
    for name, layer, p in masks.prunable_weights(net):
        assert torch.all(getattr(layer, p)[pruned[name]] == 0), (
            f"{name}: stored pruned weight revived"
        )
        assert torch.all(layer.effective(p)[pruned[name]] == 0)
        assert not torch.equal(getattr(layer, p), before[name]), (
            "training did not move kept weights"
        )


@pytest.mark.parametrize("opt", OPTIMIZERS)
def test_optimizer_trap_without_reapplying(opt):
    """The trap the hook prevents: after pruning mid-training, optimizer state revives stored weights."""
    torch.manual_seed(3)
    net = masks.to_masked(Net(LAYERS["linear"][0]))
    x = torch.randn(8, 6)
    optimizer = OPTIMIZERS[opt](net.parameters())
    _train(net, optimizer, x, steps=3)
    prune.magnitude_prune(net, 0.5)
    pruned = net.layer.weight_mask == 0
    _train(net, optimizer, x, steps=2, hook=False)
    assert (net.layer.weight[pruned] != 0).any(), (
        "expected the optimizer to move stored pruned weights"
    )
    assert torch.all(net.layer.effective("weight")[pruned] == 0), (
        "the forward pass still masks them"
    )


def test_state_dict_roundtrip_into_fresh_model_and_deepcopy():
    torch.manual_seed(4)
    net = masks.to_masked(nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.LSTM(8, 4)))
    prune.magnitude_prune(net, 0.7, scope="global")
    buffer = io.BytesIO()
    torch.save(net.state_dict(), buffer)
    buffer.seek(0)
    fresh = masks.to_masked(nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.LSTM(8, 4)))
    fresh.load_state_dict(torch.load(buffer, weights_only=True))
    for (name, a, p), (_, b, _) in zip(masks.prunable_weights(net), masks.prunable_weights(fresh)):
        assert torch.equal(a.get_mask(p), b.get_mask(p)), name
    x = torch.randn(3, 2, 5)
    torch.testing.assert_close(fresh(x)[0], net(x)[0], rtol=0, atol=0)
    clone = copy.deepcopy(net)
    torch.testing.assert_close(clone(x)[0], net(x)[0], rtol=0, atol=0)
    report = masks.sparsity_report(clone)
    assert report.zeros == round(0.7 * report.total) == masks.sparsity_report(net).zeros


def test_to_device_moves_masks():
    layer = MaskedConv2d(1, 2, 3)
    moved = layer.to(torch.float64)
    assert moved.weight_mask.dtype == torch.float64
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    for device in devices:
        assert layer.to(device).weight_mask.device.type == device


def test_set_mask_rejects_bad_masks_and_changes_nothing():
    layer = MaskedLinear(3, 2)
    before = layer.weight.detach().clone()
    with pytest.raises(ValueError, match="shape"):
        layer.set_mask("weight", torch.ones(3, 2))
    with pytest.raises(ValueError, match="only 0 and 1"):
        layer.set_mask("weight", torch.full((2, 3), 0.5))
    with pytest.raises(ValueError, match="allowed: weight"):
        layer.set_mask("bias", torch.ones(2))
    assert torch.equal(layer.weight, before) and torch.all(layer.weight_mask == 1)


def test_soft_mask_starts_dense_and_hardens_to_positive_logits():
    torch.manual_seed(5)
    layer = MaskedLinear(4, 3)
    x = torch.randn(2, 4)
    dense_out = layer(x)
    logits = layer.enable_soft_mask("weight", init=0.3)
    torch.testing.assert_close(layer(x), dense_out)  # sigmoid(s0)/sigmoid(s0) = 1 at beta = 1
    with torch.no_grad():
        logits.copy_(torch.tensor([[1.0, -1.0, 0.0, 2.0]] * 3))
    masks.set_mask_temperature(layer, 50.0)
    assert masks.sparsity_report(layer).sparsity == pytest.approx(
        0.5
    )  # logit <= 0 counts as pruned
    layer.harden_soft_mask("weight")
    assert torch.equal(layer.weight_mask, torch.tensor([[1.0, 0.0, 0.0, 1.0]] * 3))
    assert not layer.has_soft_mask("weight")


def test_soft_mask_state_loads_into_fresh_layer_and_logits_have_no_decay():
    layer = MaskedConv1d(2, 2, 3)
    layer.enable_soft_mask("weight", init=0.5)
    fresh = MaskedConv1d(2, 2, 3)
    fresh.load_state_dict(layer.state_dict())
    assert fresh.has_soft_mask("weight") and float(fresh.mask_soft_init) == 0.5
    groups = masks.param_groups(layer, weight_decay=0.1)
    assert groups[1]["weight_decay"] == 0.0 and groups[1]["params"][0] is layer.mask_logits(
        "weight"
    )


@pytest.mark.parametrize("cls", [MaskedRNN, MaskedGRU, MaskedLSTM])
def test_recurrent_masks_cover_every_gate_and_both_matrices(cls):
    layer = cls(3, 4, num_layers=2)
    assert set(layer.mask_names) == {"weight_ih_l0", "weight_hh_l0", "weight_ih_l1", "weight_hh_l1"}
    gates = {MaskedRNN: 1, MaskedGRU: 3, MaskedLSTM: 4}[cls]
    assert layer.get_mask("weight_hh_l0").shape == (gates * 4, 4)


def test_to_masked_skip_and_errors():
    net = nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 2))
    masks.to_masked(net, skip=["1"])
    assert isinstance(net[0], MaskedLinear) and type(net[1]) is nn.Linear
    with pytest.raises(ValueError, match="not in the model"):
        masks.to_masked(nn.Sequential(nn.Linear(2, 2)), skip=["head"])
    with pytest.raises(TypeError):
        masks.to_masked("not a model")
    with pytest.raises(ValueError, match="no masked layers"):
        masks.sparsity_report(nn.Sequential(nn.ReLU()))


def test_sparse_csr_export_matches_dense():
    layer = MaskedLinear(16, 8)
    prune.magnitude_prune(layer, 0.9)
    csr = masks.to_sparse_csr(layer)
    x = torch.randn(16, 5)
    torch.testing.assert_close(csr @ x, layer.effective("weight").detach() @ x)
    assert csr.values().numel() == round(0.1 * 128)


def test_mask_logits_is_the_one_way_to_the_soft_mask():
    layer = MaskedLinear(4, 3)
    with pytest.raises(ValueError, match="enable_soft_mask"):
        layer.mask_logits("weight")
    with pytest.raises(ValueError, match="allowed: weight"):
        layer.mask_logits("bias")
    logits = layer.enable_soft_mask("weight", init=0.2)
    assert layer.mask_logits("weight") is logits
    assert "weight_logits" in layer.state_dict()  # the saved name, stable for checkpoints


def test_model_mask_logits_names_every_soft_mask_and_feeds_param_groups():
    from helpers.core.metrics import count_parameters

    net = masks.to_masked(nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2)))
    assert list(masks.mask_logits(net)) == []
    assert list(masks.mask_logits(nn.Linear(2, 2))) == []  # a plain model has none either
    before = count_parameters(net)
    logits = net[2].enable_soft_mask("weight")
    assert [(full, layer, name) for full, layer, name, _ in masks.mask_logits(net)] == [
        ("2.weight", net[2], "weight")
    ]
    assert next(masks.mask_logits(net))[3] is logits
    groups = masks.param_groups(net, weight_decay=0.1)
    assert groups[1]["params"] == [logits] and groups[1]["weight_decay"] == 0.0
    assert all(p is not logits for p in groups[0]["params"])
    assert len(groups[0]["params"]) == len(list(net.parameters())) - 1
    assert count_parameters(net) == before  # logits are not model parameters to count
