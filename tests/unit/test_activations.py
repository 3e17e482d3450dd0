"""Activation recording and the dynamic dead neuron rate, against counts made by hand."""

import pytest
import torch
from torch import nn

from helpers import activations
from helpers.core.activations import ALL
from helpers.core.models import MLP, CNN2d
from helpers.core.train import fit


def _two_layer_mlp():
    """Identity-like weights: hidden unit k outputs relu(x_k), so zeros are known by construction."""
    model = MLP([3, 3, 3, 2])
    with torch.no_grad():
        for layer in (model.layers[0], model.layers[2]):
            layer.weight.copy_(torch.eye(3))
            layer.bias.zero_()
    return model


def test_activation_modules_finds_relus_in_order_and_skips_the_output_layer():
    model = MLP([4, 5, 6, 2])
    assert list(activations.activation_modules(model)) == ["layers.1", "layers.3"]


def test_activation_modules_rejects_models_without_relu_modules():
    with pytest.raises(ValueError, match="no ReLU"):
        activations.activation_modules(nn.Linear(3, 2))


def test_recorder_keeps_outputs_and_removes_its_hooks():
    model = _two_layer_mlp()
    x = torch.tensor([[1.0, -2.0, 3.0], [-1.0, 0.5, -0.5]])
    with activations.ActivationRecorder(model) as recorder:
        model(x)
    assert torch.equal(recorder.records["layers.1"][0], x.clamp(min=0))
    model(x)  # after the context the hooks are gone
    assert len(recorder.records["layers.1"]) == 1


def test_recorder_when_train_ignores_eval_mode_forwards():
    model = _two_layer_mlp()
    with activations.ActivationRecorder(model, when="train") as recorder:
        model.eval()
        model(torch.ones(2, 3))
        model.train()
        model(torch.ones(2, 3))
    assert len(recorder.records["layers.1"]) == 1


def test_recorder_rejects_bad_arguments():
    model = _two_layer_mlp()
    with pytest.raises(ValueError, match="when"):
        activations.ActivationRecorder(model, when="sometimes")
    with pytest.raises(ValueError, match="not a submodule"):
        activations.ActivationRecorder(model, modules=["nope"])


def test_record_activations_concatenates_batches_and_restores_training_mode():
    model = _two_layer_mlp().train()
    x = torch.randn(7, 3)
    out = activations.record_activations(model, x, batch_size=3)
    assert out["layers.1"].shape == (7, 3)
    assert torch.equal(out["layers.3"], x.clamp(min=0))  # relu(relu(x)) = relu(x)
    assert model.training


def test_dead_neuron_rate_counts_zeros_per_layer_and_overall():
    model = _two_layer_mlp()
    # 4 inputs × 3 units = 12 unit-input pairs per layer; 4 entries are <= 0.
    x = torch.tensor([[1.0, -1.0, 2.0], [0.0, 1.0, 1.0], [-3.0, -1.0, 1.0], [1.0, 1.0, 1.0]])
    rates = activations.dead_neuron_rate(model, x, batch_size=3)
    assert rates["layers.1"] == pytest.approx(4 / 12)
    assert rates["layers.3"] == pytest.approx(4 / 12)
    assert rates[ALL] == pytest.approx(8 / 24)


def test_overall_rate_weights_layers_by_their_number_of_units():
    model = MLP([2, 4, 1, 2])
    with torch.no_grad():
        model.layers[0].weight.fill_(1.0)
        model.layers[0].bias.fill_(1.0)  # first ReLU: always alive
        model.layers[2].weight.fill_(-1.0)
        model.layers[2].bias.zero_()  # second ReLU (one unit): always dead
    rates = activations.dead_neuron_rate(model, torch.rand(10, 2))
    assert rates["layers.1"] == 0.0 and rates["layers.3"] == 1.0
    assert rates[ALL] == pytest.approx(1 / 5)  # 1 dead unit out of 4 + 1


def test_dead_neuron_rate_of_a_cnn_counts_every_channel_at_every_position():
    torch.manual_seed(0)
    model = CNN2d(channels=4)
    x = torch.randn(5, 1, 8, 8)
    recorded = activations.record_activations(model, x)
    assert recorded["features.2"].shape == (5, 4, 8, 8)
    by_hand = sum(float((a == 0).sum()) for a in recorded.values()) / sum(
        a.numel() for a in recorded.values()
    )
    assert activations.dead_neuron_rate(model, x)[ALL] == pytest.approx(by_hand)


def test_zero_fraction_and_dead_unit_fraction():
    a = torch.tensor([[0.0, 1.0, 0.0], [0.0, 0.0, 2.0]])
    assert activations.zero_fraction(a) == pytest.approx(4 / 6)
    assert activations.dead_unit_fraction(a) == pytest.approx(1 / 3)  # only unit 0 is zero for all
    with pytest.raises(ValueError):
        activations.dead_unit_fraction(torch.zeros(3))


def test_monitor_records_training_forwards_once_per_epoch_and_not_evaluation():
    torch.manual_seed(0)
    model = MLP([3, 8, 2])
    x, y = torch.randn(20, 3), torch.randint(0, 2, (20,))
    batches = [(x[:10], y[:10]), (x[10:], y[10:])]
    seen = []  # the zero fraction of every training-mode forward, recomputed by a hook of our own
    with activations.DeadNeuronMonitor(model) as monitor:
        hook = model.layers[1].register_forward_hook(
            lambda m, i, o: seen.append((o == 0).float().mean().item()) if m.training else None
        )
        fit(
            model,
            batches,
            epochs=2,
            lr=0.0,
            val_loader=batches,
            callbacks=[monitor],
            device="cpu",
            progress=False,
        )
        hook.remove()
    assert len(monitor.epochs) == 2
    # lr = 0: the weights never change, so each epoch sees the same two batches of equal size.
    assert len(seen) == 4
    assert monitor.epochs[0]["layers.1"] == pytest.approx(sum(seen[:2]) / 2)
    assert monitor.mean() == pytest.approx(sum(seen) / 4)
    with pytest.raises(ValueError, match="layer"):
        monitor.mean("nope")


def test_monitor_without_epochs_explains_how_to_use_it():
    monitor = activations.DeadNeuronMonitor(MLP([3, 4, 2]))
    with pytest.raises(ValueError, match="callbacks"):
        monitor.mean()
    monitor.remove()


# Activation codes (notebook 11): redundancy ratio and the Hamming k-NN vote.


def test_redundancy_ratio_worked_example():
    codes = torch.tensor([[1, 1, 0], [1, 1, 0], [0, 1, 1]])  # two distinct codes among three
    assert activations.redundancy_ratio(codes) == pytest.approx(1 / 3)
    assert activations.redundancy_ratio(torch.eye(4, dtype=torch.bool)) == 0.0
    assert activations.redundancy_ratio(torch.ones(5, 2, dtype=torch.bool)) == pytest.approx(4 / 5)


def test_redundancy_ratio_of_w_units_is_at_least_one_minus_two_to_the_w_over_n():
    codes = torch.rand(1000, 3) > 0.5  # 3 units give at most 8 codes
    assert activations.redundancy_ratio(codes) >= 1 - 8 / 1000


@pytest.mark.parametrize(
    "codes", [torch.tensor([1.0, 0.0]), torch.zeros(0, 3), torch.tensor([[0.5, 1.0]])]
)
def test_redundancy_ratio_rejects_non_codes(codes):
    with pytest.raises(ValueError, match="codes"):
        activations.redundancy_ratio(codes)


def test_hamming_knn_worked_example():
    train = torch.tensor([[0, 0, 0, 0], [0, 0, 0, 1], [1, 1, 1, 1], [1, 1, 1, 0]], dtype=torch.bool)
    labels = torch.tensor([0, 0, 1, 1])
    query = torch.tensor([[0, 0, 1, 0], [1, 1, 0, 1]], dtype=torch.bool)
    # query 0 is 1 bit from code 0, 2 bits from codes 1 and 3: its 3 nearest vote 0, 0, 1
    assert activations.hamming_knn(train, labels, query, k=3).tolist() == [0, 1]
    # k = 1 with a tie in distance goes to the lower index: [0, 1] is 1 bit from both [0, 0] and [1, 1]
    pair, tied = torch.tensor([[0, 0], [1, 1]], dtype=torch.bool), torch.tensor([[0, 1]]).bool()
    assert activations.hamming_knn(pair, torch.tensor([1, 0]), tied, k=1).tolist() == [1]
    assert activations.hamming_knn(pair, torch.tensor([0, 1]), tied, k=1).tolist() == [0]


def test_hamming_knn_agrees_with_scikit_learn_where_nothing_is_tied():
    from sklearn.neighbors import KNeighborsClassifier

    generator = torch.Generator().manual_seed(0)
    train = torch.rand(300, 40, generator=generator) > 0.5
    labels = torch.randint(0, 4, (300,), generator=generator)
    query = torch.rand(100, 40, generator=generator) > 0.5
    ours = activations.hamming_knn(train, labels, query, k=5)
    theirs = KNeighborsClassifier(5, metric="hamming", algorithm="brute").fit(train, labels)
    distance = (query[:, None, :] != train[None, :, :]).sum(-1).sort(dim=1).values
    clean = distance[:, 4] < distance[:, 5]  # the 5 nearest are the same whichever way ties go
    assert clean.sum() > 10
    expected = torch.tensor(theirs.predict(query.numpy()))
    assert torch.equal(ours[clean], expected[clean])


def test_hamming_knn_rejects_mismatched_inputs():
    train, labels = torch.zeros(4, 3, dtype=torch.bool), torch.tensor([0, 1, 0, 1])
    with pytest.raises(ValueError, match="units"):
        activations.hamming_knn(train, labels, torch.zeros(2, 5, dtype=torch.bool))
    with pytest.raises(ValueError, match="train_labels"):
        activations.hamming_knn(train, labels[:3], train)
    with pytest.raises(ValueError, match="k"):
        activations.hamming_knn(train, labels, train, k=9)
