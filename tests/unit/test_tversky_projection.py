"""helpers.papers.tversky_projection (notebook 14): worked examples of the Tversky measures, stacked
replicates that equal separate runs, the XOR and digits training loops, and clear errors.

The worked example (two features, the unit vectors e1 and e2):

    a = (1, 2):  a·e1 = 1 > 0, a·e2 = 2 > 0        → A = (1, 2), a has both features
    b = (2, 0):  b·e1 = 2 > 0, b·e2 = 0 (not > 0)  → B = (2, 0), b has only e1

    product  f(A∩B) = 1·2 + 2·0 = 2
    s_a = Σ A_k 1[b has k] = 1,  s_b = Σ 1[a has k] B_k = 2 → mean 1.5, min 1, max 2
    ignorematch     f(A−B) = A_2 = 2 (b lacks e2),  f(B−A) = 0 (a lacks nothing)
    substractmatch  f(A−B) = 2 + 0 (s_a < s_b),     f(B−A) = 0 + (2 − 1) = 1
    S = θ f(A∩B) − α f(A−B) − β f(B−A) with θ = 1, α = β = 0.5:
        product/ignorematch 2 − 1 − 0 = 1;  product/substractmatch 2 − 1 − 0.5 = 0.5
"""

from __future__ import annotations

import pytest
import torch
from bad_input import assert_rejects

from helpers.papers import tversky_projection as tp

A = torch.tensor([[1.0, 2.0]])
B = torch.tensor([[2.0, 0.0]])
E = torch.eye(2)  # features e1, e2


def measures(x):
    return tp.feature_measures(x, E)


def test_feature_measures_use_a_strict_threshold_at_zero():
    masked, on = measures(torch.tensor([[1.0, 0.0], [-1.0, 3.0]]))
    assert on.tolist() == [[True, False], [False, True]]  # 0 is not > 0
    assert masked.tolist() == [[1.0, 0.0], [0.0, 3.0]]


@pytest.mark.parametrize(
    "reduction, expected", [("product", 2.0), ("mean", 1.5), ("min", 1.0), ("max", 2.0)]
)
def test_intersection_worked_example(reduction, expected):
    (a_m, a_on), (b_m, b_on) = measures(A), measures(B)
    got = tp.intersection_measure(a_m, b_m, a_on, b_on, reduction)
    assert got.shape == (1, 1)
    assert got.item() == pytest.approx(expected)


def test_softmin_lies_below_min_and_gmean_between_min_and_max():
    (a_m, a_on), (b_m, b_on) = measures(A), measures(B)
    soft = tp.intersection_measure(a_m, b_m, a_on, b_on, "softmin").item()
    geo = tp.intersection_measure(a_m, b_m, a_on, b_on, "gmean").item()
    assert soft == pytest.approx(
        -torch.log(torch.exp(torch.tensor(-1.0)) + torch.exp(torch.tensor(-2.0))).item()
    )
    assert soft < 1.0 and 1.0 < geo < 2.0 and geo == pytest.approx(2**0.5)


@pytest.mark.parametrize(
    "reduction, a_minus_b, b_minus_a", [("ignorematch", 2.0, 0.0), ("substractmatch", 2.0, 1.0)]
)
def test_difference_worked_example(reduction, a_minus_b, b_minus_a):
    (a_m, a_on), (b_m, b_on) = measures(A), measures(B)
    assert tp.difference_measure(a_m, b_m, a_on, b_on, reduction).item() == a_minus_b
    assert tp.difference_measure(b_m, a_m, b_on, a_on, reduction).item() == b_minus_a


@pytest.mark.parametrize("difference, expected", [("ignorematch", 1.0), ("substractmatch", 0.5)])
def test_contrast_model_worked_example(difference, expected):
    s = tp.tversky_similarity(A, B, E, 1.0, 0.5, 0.5, "product", difference)
    assert s.item() == pytest.approx(expected)


def test_contrast_model_is_asymmetric_when_alpha_differs_from_beta():
    ab = tp.tversky_similarity(A, B, E, 1.0, 0.9, 0.1).item()
    ba = tp.tversky_similarity(B, A, E, 1.0, 0.9, 0.1).item()
    assert ab == pytest.approx(2 - 0.9 * 2) and ba == pytest.approx(2 - 0.1 * 2)
    assert ab != ba


def _loop_similarity(x, p, f, theta, alpha, beta, inter, diff):
    """A per-pair, per-feature transcription of the library's formulas (the notebook's exercise)."""
    out = torch.zeros(len(x), len(p))
    for i, a in enumerate(x):
        for j, b in enumerate(p):
            da, db = f @ a, f @ b
            ha, hb = da > 0, db > 0
            am, bm = da * ha, db * hb
            sa, sb = (am * hb).sum(), (bm * ha).sum()
            common = {
                "product": (am * bm).sum(),
                "mean": (sa + sb) / 2,
                "min": torch.minimum(sa, sb),
            }[inter]
            a_only, b_only = (am * ~hb).sum(), (bm * ~ha).sum()
            if diff == "substractmatch":
                a_only = a_only + (sa - sb) * (sa > sb)
                b_only = b_only + (sb - sa) * (sb > sa)
            out[i, j] = theta * common - alpha * a_only - beta * b_only
    return out


@pytest.mark.parametrize("inter", ["product", "mean", "min"])
@pytest.mark.parametrize("diff", tp.DIFFERENCES)
def test_matrix_form_equals_a_loop_over_pairs(inter, diff):
    g = torch.Generator().manual_seed(0)
    x, p, f = (torch.randn(n, 3, generator=g) for n in (5, 4, 6))
    got = tp.tversky_similarity(x, p, f, 1.3, 0.4, 0.7, inter, diff)
    assert torch.allclose(got, _loop_similarity(x, p, f, 1.3, 0.4, 0.7, inter, diff), atol=1e-5)


def test_stacked_replicates_equal_separate_layers():
    both = tp.TverskyProjection(3, 2, 4, [3, 5], init="normal")
    x = torch.randn(7, 3, generator=torch.Generator().manual_seed(1))
    for r, s in enumerate([3, 5]):
        one = tp.TverskyProjection(3, 2, 4, [s], init="normal")
        assert torch.equal(one.features[0], both.features[r])
        assert torch.allclose(one(x)[0], both(x)[r])


def test_library_start_is_uniform_with_theta_alpha_beta_one_half_half():
    layer = tp.TverskyProjection(2, 3, 5, [0])
    assert layer.features.shape == (1, 5, 2) and layer.prototypes.shape == (1, 3, 2)
    assert 0 <= layer.features.min() and layer.features.max() < 1
    assert (layer.theta.item(), layer.alpha.item(), layer.beta.item()) == (1.0, 0.5, 0.5)
    assert sum(p[0].numel() for p in layer.parameters()) == tp.tversky_parameter_count(2, 3, 5)


def test_zero_features_are_inert_and_get_no_gradient():
    g = torch.Generator().manual_seed(2)
    x, p, f = (
        torch.randn(6, 2, generator=g),
        torch.randn(2, 2, generator=g),
        torch.randn(3, 2, generator=g),
    )
    padded = torch.cat([f, torch.zeros(2, 2)]).requires_grad_(True)
    for diff in tp.DIFFERENCES:
        s = tp.tversky_similarity(x, p, padded, 1.0, 0.5, 0.5, "mean", diff)
        assert torch.allclose(s, tp.tversky_similarity(x, p, f, 1.0, 0.5, 0.5, "mean", diff))
        (grad,) = torch.autograd.grad(s.sum(), padded)
        assert torch.equal(grad[3:], torch.zeros(2, 2))


def test_xor_grid_equals_separate_runs():
    grid = tp.train_xor_grid(
        [0, 1], [1, 3], ["uniform", "normal"], "product", "substractmatch", steps=60
    )
    for k in (1, 3):
        for init in ("uniform", "normal"):
            alone = tp.train_xor("tversky", [0, 1], k, "product", "substractmatch", init, steps=60)
            assert grid[k, init].accuracy == alone.accuracy
            assert grid[k, init].solved == alone.solved


def test_a_linear_layer_never_solves_xor_and_a_bilinear_one_does():
    linear = tp.train_xor("linear", [0, 1, 2], steps=300)
    assert max(linear.accuracy) <= 0.75 and linear.fraction == 0.0
    assert tp.train_xor("bilinear", [0, 1, 2], steps=300).fraction == 1.0


def test_one_tversky_layer_can_solve_xor():
    # the library's start, product/ignorematch, 4 features: seed 0 solves it (checked by hand once)
    res = tp.train_xor("tversky", [0], 4, steps=1000)
    assert res.solved == (True,) and res.active_features == (1.0,)
    layer = tp.fit_xor("tversky", 0, 4)
    x, y = tp.xor_data()
    assert torch.equal(layer(x)[0].argmax(-1), y)


def test_signed_coding():
    x, y = tp.xor_data("signed")
    assert x.tolist() == [[-1, -1], [-1, 1], [1, -1], [1, 1]] and y.tolist() == [0, 1, 1, 0]


def test_budget_helpers():
    assert tp.tversky_parameter_count(2, 2, 4) == 15
    assert tp.mlp_hidden_for_budget(2, 2, 15) == 2  # 2·2+2 + 2·2+2 = 12 ≤ 15 < 17 for h = 3
    assert tp.mlp_hidden_for_budget(32, 10, 835) == 19  # 33·19 + 20·10 = 827 ≤ 835 < 870 (h = 20)
    head = tp.make_head("mlp", 32, 10, [0], mlp_hidden=19)
    assert (
        tp.head_parameter_count(head)
        <= 835
        < tp.head_parameter_count(tp.make_head("mlp", 32, 10, [0], mlp_hidden=20))
    )


def test_best_cell_prefers_the_fraction_then_fewer_features():
    def res(*solved):
        return tp.XorResult(tuple(solved), tuple(float(s) for s in solved), (1.0,) * len(solved))

    grids = {
        ("product", "ignorematch"): {(4, "uniform"): res(1, 1), (2, "uniform"): res(1, 0)},
        ("mean", "substractmatch"): {(8, "normal"): res(1, 1), (2, "normal"): res(1, 1)},
    }
    assert tp.best_cell(grids) == ("mean", "substractmatch", 2, "normal")


def _toy_splits(r=2, n=40, d=6, classes=3):
    g = torch.Generator().manual_seed(0)
    centres = 3 * torch.randn(classes, d, generator=g)

    def draw(m):
        y = torch.arange(m).remainder(classes).expand(r, -1).clone()
        return centres[y] + torch.randn(r, m, d, generator=g), y

    return {"fit": draw(n), "val": draw(12), "test": draw(12)}


def test_stacked_training_equals_training_each_replicate_alone():
    splits = _toy_splits()
    both = tp.make_head("tversky", 6, 3, [10, 11], 4)
    res = tp.train_classifier(both, splits, [10, 11], epochs=3, batch_size=8, lr=0.01)
    for r, s in enumerate([10, 11]):
        one = tp.make_head("tversky", 6, 3, [s], 4)
        alone = tp.train_classifier(
            one, {k: (x[r : r + 1], y[r : r + 1]) for k, (x, y) in splits.items()}, [s], 3, 8, 0.01
        )
        assert alone.val_curve[0] == pytest.approx(res.val_curve[r])
        assert torch.allclose(one.features[0], both.features[r], atol=1e-5)


def test_train_classifier_reports_the_test_accuracy_at_the_validation_choice():
    splits = _toy_splits()
    res = tp.train_classifier(tp.make_head("linear", 6, 3, [0, 1]), splits, [0, 1], 5, 8, 0.05)
    for r in range(2):
        assert res.val[r] == max(res.val_curve[r])
        assert res.epoch[r] == res.val_curve[r].index(max(res.val_curve[r])) + 1
    assert all(t > 0.8 for t in res.test)  # well-separated clusters


@pytest.mark.parametrize("kind", tp.HEADS)
def test_heads_map_embeddings_to_class_scores(kind):
    head = tp.make_head(kind, 5, 4, [0, 1, 2], n_features=3, mlp_hidden=6)
    assert head(torch.randn(7, 5)).shape == (3, 7, 4)
    assert head(torch.randn(3, 7, 5)).shape == (3, 7, 4)
    net = tp.DigitsNet(kind, [0, 1], n_features=3, mlp_hidden=6)
    assert net(torch.randn(2, 9, 64)).shape == (2, 9, 10)


def test_subset_classes_relabels_in_the_given_order():
    splits = _toy_splits(classes=3)
    sub = tp.subset_classes(splits, [2, 0])
    x, y = sub["fit"]
    assert set(y.flatten().tolist()) == {0, 1}
    old_x, old_y = splits["fit"]
    assert torch.equal(x[0, y[0] == 0], old_x[0, old_y[0] == 2])


def test_digits_splits_are_stratified_and_disjoint_per_replicate():
    splits = tp.digits_splits([0, 1], val_fraction=0.2)
    (xf, _), (xv, yv), (xt, _) = splits["fit"], splits["val"], splits["test"]
    assert xf.shape[-1] == 64 and xf.shape[0] == 2
    assert xf.shape[1] + xv.shape[1] + xt.shape[1] == 1797
    counts = torch.bincount(yv[0], minlength=10)
    assert counts.min() >= 25 and counts.max() <= 30  # about a fifth of each class's ~144
    assert not torch.equal(xt[0], xt[1])  # each replicate draws its own split
    rows = {tuple(v.tolist()) for v in xf[0]}
    assert not any(tuple(v.tolist()) in rows for v in xv[0])


def test_active_feature_fraction_counts_features_present_somewhere():
    layer = tp.TverskyProjection(2, 2, 3, [0])
    with torch.no_grad():
        layer.features[0] = torch.tensor([[1.0, 0.0], [-1.0, -1.0], [0.0, 1.0]])
        layer.prototypes[0] = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    x, _ = tp.xor_data()  # inputs in {0, 1}²: nothing has the feature (−1, −1)
    assert tp.active_feature_fraction(layer, x) == [pytest.approx(2 / 3)]


# -- bad input: a clear ValueError naming the argument, nothing changed ---------------------------


def test_bad_reductions_and_starts_are_rejected():
    assert_rejects(
        lambda: tp.tversky_similarity(A, B, E, intersection="median"), "intersection", "product"
    )
    assert_rejects(
        lambda: tp.tversky_similarity(A, B, E, difference="diff"), "difference", "ignorematch"
    )
    assert_rejects(lambda: tp.TverskyProjection(2, 2, 3, [0], init="zeros"), "init", "uniform")
    assert_rejects(lambda: tp.TverskyProjection(2, 2, 0, [0]), "n_features", "1")
    assert_rejects(lambda: tp.TverskyProjection(2, 2, 3, []), "seeds", "non-empty")
    assert_rejects(lambda: tp.xor_data("ternary"), "coding", "binary")
    assert_rejects(lambda: tp.train_xor("rnn", [0]), "model", "tversky")
    assert_rejects(lambda: tp.make_head("attention", 4, 2, [0]), "kind", "linear")
    assert_rejects(lambda: tp.StackedMLP([2, 3, 2], [0], activation="gelu"), "activation", "relu")


def test_bad_budgets_and_training_settings_are_rejected():
    assert_rejects(lambda: tp.mlp_hidden_for_budget(32, 10, 20), "budget", "too small")
    splits = _toy_splits()
    head = tp.make_head("linear", 6, 3, [0, 1])
    assert_rejects(
        lambda: tp.train_classifier(head, splits, [0, 1], epochs=0), "epochs", "1", (head,)
    )
    assert_rejects(lambda: tp.train_classifier(head, splits, [0, 1], lr=-1.0), "lr", "0", (head,))
    assert_rejects(lambda: tp.train_classifier(head, splits, [0]), "replicates", "seeds", (head,))
    assert_rejects(
        lambda: tp.train_classifier(head, {"fit": splits["fit"]}, [0, 1]), "splits", "val", (head,)
    )
    assert_rejects(lambda: tp.train_xor_grid([0], []), "n_features", "list")
    assert_rejects(lambda: tp.digits_splits([0], val_fraction=1.0), "val_fraction", "1")
