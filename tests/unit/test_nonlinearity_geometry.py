"""Nonlinearity and geometry (helpers.papers.nonlinearity_geometry, helpers.core.metrics.linear_cka):
the tasks, the batched networks and the geometry measures, checked on worked examples by hand."""

import itertools
import math

import pytest
import torch
from bad_input import assert_rejects

from helpers.core.metrics import linear_cka
from helpers.papers import nonlinearity_geometry as ng

# ---------------------------------------------------------------- linear CKA (core band)


def test_cka_worked_example():
    # a = (1, 2, 3), b = (1, 3, 2): centred (-1, 0, 1) and (-1, 1, 0); Bᵀ A = 1, AᵀA = 2, BᵀB = 2
    a = torch.tensor([[1.0], [2.0], [3.0]])
    b = torch.tensor([[1.0], [3.0], [2.0]])
    assert linear_cka(a, b).item() == pytest.approx(1.0**2 / (2.0 * 2.0))


def test_cka_is_one_for_rotated_rescaled_copies_and_symmetric():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(40, 6, generator=g)
    q, _ = torch.linalg.qr(torch.randn(6, 6, generator=g))
    assert linear_cka(a, 5 * a @ q + 3).item() == pytest.approx(1.0, abs=1e-6)
    b = torch.randn(40, 3, generator=g)
    assert linear_cka(a, b).item() == pytest.approx(linear_cka(b, a).item(), abs=1e-6)
    assert 0 <= linear_cka(a, b).item() <= 1


def test_cka_equals_the_kernel_formula_and_batches():
    g = torch.Generator().manual_seed(1)
    a, b = torch.randn(3, 20, 5, generator=g), torch.randn(3, 20, 4, generator=g)
    h = torch.eye(20) - 1 / 20  # centring matrix
    for i in range(3):
        k, m = h @ a[i] @ a[i].T @ h, h @ b[i] @ b[i].T @ h
        expected = (k * m).sum() / (k.norm() * m.norm())
        assert linear_cka(a, b)[i].item() == pytest.approx(expected.item(), abs=1e-5)


def test_cka_of_a_constant_representation_is_zero():
    assert linear_cka(torch.ones(5, 2), torch.randn(5, 3)).item() == 0.0


def test_cka_rejects_mismatched_examples():
    a, b = torch.randn(5, 2), torch.randn(6, 2)
    assert_rejects(lambda: linear_cka(a, b), "a and b", "same examples", unchanged=(a, b))
    assert_rejects(lambda: linear_cka(a[:1], b[:1]), "linear_cka", "at least two")


# ---------------------------------------------------------------- tasks


def test_random_task_shapes_labels_and_noise_level():
    task = ng.make_tasks("random", [0, 1], n_conditions=6, dim=40, per_condition=5, noise=0.0)
    assert task["train"]["x"].shape == (2, 30, 40)
    assert task["condition_labels"].tolist() == [1, 1, 1, -1, -1, -1]
    assert task["train"]["y"].tolist() == [1.0] * 15 + [-1.0] * 15
    # noise 0: every sample is its centre, and the two replicates have different centres
    assert torch.equal(task["train"]["x"][:, ::5], task["centres"])
    assert not torch.allclose(task["centres"][0], task["centres"][1])
    noisy = ng.make_tasks("random", [0], dim=400, per_condition=50, noise=2.0)
    x, centres = noisy["train"]["x"][0], noisy["centres"][0]
    residual = (x - centres[noisy["train"]["condition"]]).norm(dim=1)
    assert residual.mean().item() == pytest.approx(2.0, rel=0.05)  # noise norm as stated


def test_cube_tasks_label_by_one_bit_or_an_xor():
    bits = torch.tensor(list(itertools.product([-1.0, 1.0], repeat=3)))
    assert torch.equal(ng.make_tasks("cube-bit", [0])["condition_labels"], bits[:, 0])
    xor = ng.make_tasks("cube-xor", [0], noise=0.0)
    assert torch.equal(xor["condition_labels"], bits[:, 0] * bits[:, 1])
    centres = xor["centres"][0]
    assert centres.norm(dim=1) == pytest.approx(torch.ones(8), abs=1e-5)
    # a linear embedding of the cube: the centres' Gram matrix is that of the corners, over 3
    assert centres @ centres.T == pytest.approx(bits @ bits.T / 3, abs=1e-5)


def test_make_tasks_rejects_bad_input():
    assert_rejects(lambda: ng.make_tasks("spiral", [0]), "structure", "cube-xor")
    assert_rejects(lambda: ng.make_tasks("random", [0], n_conditions=7), "n_conditions", "even")
    assert_rejects(lambda: ng.make_tasks("cube-xor", [0], n_conditions=6), "cube-xor", "8")
    assert_rejects(lambda: ng.make_tasks("random", []), "seeds", "non-empty list")
    assert_rejects(lambda: ng.make_tasks("random", [0], noise=-1.0), "noise", "[0.0, inf]")


# ---------------------------------------------------------------- networks


def test_init_scale_and_shared_starts():
    p = ng.init_networks(3, 400, 300, 0.1, seeds=[5, 5, 6])
    assert p["W1"].shape == (3, 400, 300) and p["w2"].shape == (3, 300)
    assert p["W1"][0].std().item() == pytest.approx(0.1 / math.sqrt(400), rel=0.02)
    assert torch.equal(p["W1"][0], p["W1"][1]) and not torch.equal(p["W1"][0], p["W1"][2])
    assert_rejects(lambda: ng.init_networks(2, 4, 4, 0.1, seeds=[1]), "seeds", "one seed per model")
    assert_rejects(lambda: ng.init_networks(2, 4, 4, 0.0), "init_scale", "(0.0, inf]")


def test_fixed_readout_is_plus_minus_one_over_hidden_and_stays_fixed():
    p = ng.init_networks(2, 3, 5, 0.1, readout="fixed")
    assert p["w2"][0].tolist() == pytest.approx([0.2, 0.2, 0.2, -0.2, -0.2])
    assert torch.equal(p["w2"][0], p["w2"][1])
    x, y = torch.randn(6, 3, generator=torch.Generator().manual_seed(0)), torch.ones(6)
    trained = ng.train(p, "tanh", x, y, steps=3, lr=1.0, record_every=3, train_readout=False)
    assert torch.equal(trained["w2"], p["w2"]) and not torch.equal(trained["W1"], p["W1"])
    assert_rejects(lambda: ng.init_networks(2, 3, 5, 0.1, readout="trained"), "readout", "gaussian")


def test_tasks_and_weights_land_on_the_device_asked_for_with_the_same_numbers():
    task = ng.make_tasks("random", [1], dim=4, per_condition=2, device="cpu")
    assert task["train"]["x"].device.type == "cpu"
    again = ng.make_tasks("random", [1], dim=4, per_condition=2, device=torch.device("cpu"))
    assert torch.equal(task["train"]["x"], again["train"]["x"])
    p = ng.init_networks(1, 4, 3, 0.1, device="cpu")
    assert all(v.device.type == "cpu" for v in p.values())


def test_geometry_reports_how_much_the_nonlinearity_is_engaged():
    # one model, one hidden unit with weight 1 on a 1-d input, eval inputs -2, -0.5, 0.5, 2, 3, -3, ...:
    # |z| > 1 for the four samples at ±2 and ±3 of each condition, z <= 0 for half of them
    task = ng.make_tasks("random", [0], n_conditions=4, dim=3, per_condition=4, noise=0.0)
    values = torch.tensor([-2.0, -0.5, 0.5, 2.0])
    for split in ("train", "eval"):
        x = torch.zeros(1, 16, 3)
        x[0, :, 0] = values.repeat(4)
        task[split]["x"] = x
    p = {"W1": torch.tensor([[[1.0], [0.0], [0.0]]]), "b1": torch.zeros(1, 1),
         "w2": torch.ones(1, 1), "b2": torch.zeros(1)}  # fmt: skip
    found = ng.geometry(p, "tanh", task)
    assert found["saturated"].item() == pytest.approx(0.5)
    assert found["inactive"].item() == pytest.approx(0.5)


def test_forward_matches_a_loop_over_models():
    p = ng.init_networks(2, 3, 4, 1.0)
    x = torch.randn(5, 3)
    h, out = ng.forward(p, x, "tanh")
    for m in range(2):
        hm = torch.tanh(x @ p["W1"][m] + p["b1"][m])
        assert torch.allclose(h[m], hm) and torch.allclose(out[m], hm @ p["w2"][m] + p["b2"][m])
    assert_rejects(lambda: ng.forward(p, x, "gelu"), "activation", "relu")


def test_train_takes_the_gradient_step_by_hand_and_leaves_its_start():
    p = ng.init_networks(1, 3, 4, 1.0, seeds=[2])
    start = {k: v.clone() for k, v in p.items()}
    x, y = torch.randn(6, 3), torch.tensor([1.0, -1, 1, -1, 1, -1])
    w = ng.train(p, "linear", x, y, steps=1, lr=0.1, record_every=1)
    # linear network: f = x W1 w2 + b1·w2 + b2; dL/db2 = mean(f − y)
    f = x @ p["W1"][0] @ p["w2"][0] + p["b1"][0] @ p["w2"][0] + p["b2"][0]
    assert w["b2"][0].item() == pytest.approx(-0.1 * (f - y).mean().item(), abs=1e-6)
    assert all(torch.equal(p[k], start[k]) for k in p)


def test_train_records_the_right_steps_and_can_freeze_the_readout():
    p = ng.init_networks(2, 3, 4, 1.0)
    x, y = torch.randn(6, 3), torch.ones(6)
    seen = []
    w = ng.train(p, "relu", x, y, 5, 0.1, 2, lambda s, _: seen.append(s), train_readout=False)
    assert seen == [0, 2, 4, 5]
    assert torch.equal(w["w2"], p["w2"]) and not torch.equal(w["W1"], p["W1"])
    assert_rejects(lambda: ng.train(p, "relu", x, y[:5], 1, 0.1, 1), "x", "needs y")


# ---------------------------------------------------------------- geometry


def test_dichotomies_count_each_balanced_split_once():
    d = ng.dichotomies(8)
    assert d.shape == (35, 8) and (d.sum(1) == 0).all() and (d[:, 0] == 1).all()
    assert len({tuple(r.tolist()) for r in d}) == 35


def test_parallelism_score_of_a_factorised_code_is_one():
    # conditions on a square: label = first coordinate; the coding vectors are all (2, 0)
    means = torch.tensor([[[1.0, 1], [1, -1], [-1, 1], [-1, -1]]])
    labels = torch.tensor([1.0, 1, -1, -1])
    assert ng.parallelism_score(means, labels).item() == pytest.approx(1.0)
    # XOR labels on the same square: in either pairing the two coding vectors point in opposite
    # directions, e.g. (1, 1) − (1, −1) = (0, 2) and (−1, −1) − (−1, 1) = (0, −2)
    xor = torch.tensor([1.0, -1, -1, 1])
    assert ng.parallelism_score(means, xor).item() == pytest.approx(-1.0, abs=1e-6)
    assert_rejects(lambda: ng.parallelism_score(means, torch.tensor([1.0, 1, 1, -1])),
                   "parallelism_score", "balanced")  # fmt: skip


def _square_samples(labels, noise=0.1, per=20):
    g = torch.Generator().manual_seed(0)
    corners = torch.tensor([[1.0, 1], [1, -1], [-1, 1], [-1, -1]])
    condition = torch.arange(4).repeat_interleave(per)
    h = corners[condition] + noise * torch.randn(len(condition), 2, generator=g)
    return h[None], condition, torch.tensor(labels)


def test_ccgp_generalises_for_a_factorised_label_and_fails_for_xor():
    # 4 splits: holding out (1, 1) with (−1, 1), or (1, −1) with (−1, −1), leaves a training pair that
    # differs along the label axis only (accuracy 1); the two diagonal splits leave a pair that differs
    # along both axes, and the held-out corners sit on the decoder's boundary (about chance).
    h, condition, labels = _square_samples([1.0, 1, -1, -1])
    assert 0.7 < ng.ccgp(h, condition, labels).item() < 0.9
    h, condition, labels = _square_samples([1.0, -1, -1, 1])
    assert ng.ccgp(h, condition, labels).item() < 0.1  # held-out corners sit on the wrong side


def test_shattering_dimensionality_of_a_square():
    # 4 corners in 2-d: of the 3 balanced dichotomies, 2 are linear and XOR is not
    h, condition, _ = _square_samples([1.0, 1, -1, -1], noise=0.05)
    sd = ng.shattering_dimensionality(h, condition, h, condition).item()
    assert 2 / 3 <= sd < 0.9


def test_at_loss_picks_the_first_step_below_the_target():
    found = {"step": [0, 10, 20], "loss": [[0.5, 0.5], [0.04, 0.3], [0.01, 0.2]]}
    for m in ng.METRICS:
        found[m] = [[0.0, 0.0], [1.0, 1.0], [2.0, 2.0]]
    out = ng.at_loss(found, 0.05)
    assert out["step"] == [10, 20] and out["reached"] == [True, False]
    assert out["cka_target"] == [1.0, 2.0]
    assert_rejects(lambda: ng.at_loss(found, 0.0), "loss_target", "(0.0, inf]")
