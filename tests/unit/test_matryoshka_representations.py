"""Matryoshka representations (helpers.papers.matryoshka_representations): the nested heads, the summed
loss, batched training and the retrieval measures, checked on worked examples by hand."""

import copy
import math

import pytest
import torch
import torch.nn.functional as F
from bad_input import assert_rejects

from helpers.papers import matryoshka_representations as mr

NESTING = [2, 4, 8]


def _net(seed=0, tied=False):
    torch.manual_seed(seed)
    return mr.MatryoshkaNet([6, 12, 8], NESTING, 3, tied=tied)


def _data(n=60, seed=1):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 6, generator=g)
    y = (x[:, 0] > 0).long() + (x[:, 1] > 0).long()  # three classes, learnable
    return x, y


# ---------------------------------------------------------------- heads and loss


def test_separate_heads_score_each_prefix_with_its_own_classifier():
    torch.manual_seed(0)
    head = mr.MatryoshkaHead(NESTING, num_classes=3)
    z = torch.randn(5, 8)
    logits = head(z)
    assert logits.shape == (3, 5, 3)
    for g, m in enumerate(NESTING):
        layer = head.classifiers[g]
        assert layer.in_features == m
        assert torch.allclose(logits[g], z[:, :m] @ layer.weight.T + layer.bias)


def test_a_prefix_logit_ignores_the_coordinates_beyond_it():
    for tied in (False, True):
        torch.manual_seed(0)
        head = mr.MatryoshkaHead(NESTING, num_classes=3, tied=tied)
        z = torch.randn(4, 8)
        changed = z.clone()
        changed[:, 2:] = 100.0
        assert torch.equal(head(z)[0], head(changed)[0])  # the 2-prefix sees only z[:, :2]
        assert not torch.equal(head(z)[1], head(changed)[1])


def test_tied_heads_slice_the_columns_of_one_weight_and_share_one_bias():
    torch.manual_seed(0)
    head = mr.MatryoshkaHead(NESTING, num_classes=3, tied=True)
    assert len(head.classifiers) == 1
    w, b = head.classifiers[0].weight, head.classifiers[0].bias  # (3, 8), (3,)
    z = torch.randn(5, 8)
    for g, m in enumerate(NESTING):
        assert torch.allclose(head(z)[g], z[:, :m] @ w[:, :m].T + b)
    # MRL-E stores C * d weights, MRL stores C * sum(m)
    untied = mr.MatryoshkaHead(NESTING, num_classes=3)
    assert sum(p.numel() for p in head.parameters()) == 3 * 8 + 3
    assert sum(p.numel() for p in untied.parameters()) == 3 * (2 + 4 + 8) + 3 * 3


def test_matryoshka_loss_is_the_weighted_sum_of_cross_entropies():
    # uniform logits: every prefix's CE is log C, so the sum over G prefixes is G log C
    logits = torch.zeros(3, 4, 5)
    y = torch.tensor([0, 1, 2, 3])
    assert mr.matryoshka_loss(logits, y).item() == pytest.approx(3 * math.log(5))
    assert mr.matryoshka_loss(logits, y, torch.tensor([0.0, 0.0, 1.0])).item() == pytest.approx(
        math.log(5)
    )
    logits = torch.randn(3, 4, 5, generator=torch.Generator().manual_seed(0))
    c = torch.tensor([2.0, 1.0, 0.5])  # the paper's relative importance
    expected = sum(c[g] * F.cross_entropy(logits[g], y) for g in range(3))
    assert mr.matryoshka_loss(logits, y, c).item() == pytest.approx(expected.item())


def test_loss_weights_make_every_variant_a_special_case():
    assert mr.loss_weights("MRL", NESTING).tolist() == [1.0, 1.0, 1.0]
    assert mr.loss_weights("MRL-E", NESTING).tolist() == [1.0, 1.0, 1.0]
    assert mr.loss_weights("standard", NESTING).tolist() == [0.0, 0.0, 1.0]
    assert mr.loss_weights("FF-4", NESTING).tolist() == [0.0, 1.0, 0.0]
    assert mr.ff_name(4) == "FF-4"


@pytest.mark.parametrize("bad", ["FF-3", "FF-x", "mrl", 3, None])
def test_loss_weights_reject_unknown_variants(bad):
    assert_rejects(lambda: mr.loss_weights(bad, NESTING), "variant", "FF-m")


@pytest.mark.parametrize("bad", [[4, 2, 8], [2, 2, 8], [0, 2], [], "2,4", 8, [2, 4.5]])
def test_nesting_must_be_increasing_positive_integers(bad):
    assert_rejects(lambda: mr.check_nesting(bad), "nesting", "")


def test_the_largest_prefix_is_the_embedding_width():
    assert_rejects(lambda: mr.MatryoshkaNet([6, 12, 16], NESTING, 3), "largest nesting", "width")


# ---------------------------------------------------------------- training


def _plain_epoch(model, x, y, order, lr, batch_size):
    """One epoch of MRL in plain torch: summed CE over every prefix's own classifier."""
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    for i in range(0, len(x), batch_size):
        xb, yb = x[order[i : i + batch_size]], y[order[i : i + batch_size]]
        z = model.encoder(xb)
        loss = sum(
            F.cross_entropy(head(z[:, :m]), yb) for m, head in zip(NESTING, model.head.classifiers)
        )
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


def test_fit_together_on_one_model_is_the_plain_loop():
    x, y = _data()
    by_hand, helper = _net(), _net()
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(5))
    _plain_epoch(by_hand, x, y, order, lr=1e-2, batch_size=20)
    chosen = mr.fit_together(
        [helper], mr.loss_weights("MRL", NESTING)[None], [5], x, y, x, y, epochs=1, lr=1e-2,
        batch_size=20, progress=False,
    )  # fmt: skip
    assert chosen == [1]
    for p, q in zip(by_hand.parameters(), helper.parameters()):
        assert torch.allclose(p, q, atol=1e-6)


def test_models_trained_together_are_the_models_trained_alone():
    # Adam is elementwise, so stacking models gives each its own optimizer
    x, y = _data()
    variants = ["MRL", "standard", "FF-2"]
    together = [_net(s) for s in range(3)]
    weights = torch.stack([mr.loss_weights(v, NESTING) for v in variants])
    got = mr.fit_together(together, weights, [0, 1, 2], x, y, x[:30], y[:30], epochs=3,
                          lr=1e-2, batch_size=20, progress=False)  # fmt: skip
    for s in range(len(variants)):
        alone = _net(s)
        chosen = mr.fit_together([alone], weights[s : s + 1], [s], x, y, x[:30], y[:30],
                                 epochs=3, lr=1e-2, batch_size=20, progress=False)  # fmt: skip
        assert chosen == [got[s]]
        for p, q in zip(alone.parameters(), together[s].parameters()):
            assert torch.allclose(p, q, atol=1e-5)


def test_a_prefix_left_out_of_the_loss_is_not_trained():
    x, y = _data()
    model = _net()
    before = copy.deepcopy(model)
    mr.fit_together([model], mr.loss_weights("FF-4", NESTING)[None], [0], x, y, x, y, epochs=2,
                    lr=1e-2, batch_size=20, progress=False)  # fmt: skip
    heads, old = model.head.classifiers, before.head.classifiers
    assert torch.equal(heads[0].weight, old[0].weight)  # the 2-prefix's classifier: no gradient
    assert torch.equal(heads[2].weight, old[2].weight)
    assert not torch.equal(heads[1].weight, old[1].weight)


def test_fit_together_keeps_the_best_epoch_on_validation():
    x, y = _data()
    model = _net()
    chosen = mr.fit_together([model], mr.loss_weights("MRL", NESTING)[None], [0], x, y, x, y,
                             epochs=4, lr=1e-2, batch_size=20, progress=False)  # fmt: skip
    assert 1 <= chosen[0] <= 4
    assert mr.head_accuracies(model, x, y)[-1] > 0.5  # learned something (chance is 1/3)


def test_fit_together_rejects_bad_input_and_changes_nothing():
    x, y = _data()
    a, b = _net(0), _net(1, tied=True)
    c = mr.loss_weights("MRL", NESTING)
    ok = dict(x_train=x, y_train=y, x_val=x, y_val=y, epochs=1, progress=False)
    assert_rejects(lambda: mr.fit_together([a, b], torch.stack([c, c]), [0, 1], **ok),
                   "architecture", "same", (a, b))  # fmt: skip
    assert_rejects(lambda: mr.fit_together([a], c, [0], **ok), "weights", "dimension", (a,))
    assert_rejects(lambda: mr.fit_together([a], torch.zeros(1, 3), [0], **ok), "weights",
                   "positive", (a,))  # fmt: skip
    assert_rejects(lambda: mr.fit_together([a], c[None], [], **ok), "seeds", "at least", (a,))
    assert_rejects(lambda: mr.fit_together([a], c[None], [0], **{**ok, "epochs": 0}), "epochs",
                   "integer", (a,))  # fmt: skip


# ---------------------------------------------------------------- evaluation


def test_truncate_then_normalise():
    z = torch.tensor([[3.0, 4.0, 12.0]])
    assert torch.allclose(mr.normalized_prefix(z, 2), torch.tensor([[0.6, 0.8]]))
    # normalising first would give [3/13, 4/13]: not a unit vector
    assert_rejects(lambda: mr.normalized_prefix(z, 4), "m", "[1, 3]")


def test_nearest_and_knn_accuracy_by_hand():
    db = torch.tensor([[1.0, 0.0, 5.0], [0.0, 1.0, -5.0], [-1.0, 0.0, 0.0]])
    y_db = torch.tensor([0, 1, 2])
    q = torch.tensor([[2.0, 0.1, -9.0], [0.1, 3.0, 9.0]])
    # with the first 2 coordinates, query 0 points along db 0 and query 1 along db 1
    assert mr.nearest(q, db, 2, 1)[:, 0].tolist() == [0, 1]
    assert mr.knn_accuracy(db, y_db, q, torch.tensor([0, 1]), 2) == 1.0
    # with all 3, the last coordinate dominates and both are wrong
    assert mr.knn_accuracy(db, y_db, q, torch.tensor([0, 1]), 3) == 0.0


def test_map_at_k_follows_the_official_definition():
    y_db = torch.tensor([0, 1, 0, 0])
    neighbors = torch.tensor([[0, 1, 2], [1, 2, 3]])  # hits: [1, 0, 1] and [0, 1, 1]
    y_query = torch.tensor([0, 0])
    # query 0: (1/1 + 2/3) / 3; query 1: (1/2 + 2/3) / 3
    expected = ((1 + 2 / 3) / 3 + (1 / 2 + 2 / 3) / 3) / 2
    assert mr.map_at_k(neighbors, y_db, y_query, 3) == pytest.approx(expected)
    assert mr.map_at_k(torch.tensor([[0, 2, 3]]), y_db, torch.tensor([0]), 3) == 1.0


def test_adaptive_retrieval_with_the_whole_database_is_exhaustive_search():
    g = torch.Generator().manual_seed(0)
    db, q = torch.randn(50, 8, generator=g), torch.randn(7, 8, generator=g)
    full = mr.nearest(q, db, 8, 5)
    assert torch.equal(mr.adaptive_retrieval(q, db, 2, 50, 8, 5), full)
    # a short shortlist can only return items it holds, reranked by the full embedding
    shortlist = mr.nearest(q, db, 2, 10)
    got = mr.adaptive_retrieval(q, db, 2, 10, 8, 5)
    for row, cands in zip(got, shortlist):
        assert set(row.tolist()) <= set(cands.tolist())
    assert_rejects(lambda: mr.adaptive_retrieval(q, db, 2, 4, 8, 5), "k", "[1, 4]")


def test_retrieval_flops_count_the_shortlist_and_the_rerank():
    assert mr.retrieval_flops(3000, 4, 30, 32) == 3000 * 4 + 30 * 32
    assert 3000 * 32 / mr.retrieval_flops(3000, 4, 30, 32) == pytest.approx(7.41, abs=0.01)
    assert_rejects(lambda: mr.retrieval_flops(10, 4, 11, 32), "shortlist", "[0, 10]")


def test_pca_features_keep_the_direction_of_largest_variance():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(200, 3, generator=g) * torch.tensor([0.1, 5.0, 1.0])
    (p,) = mr.pca_features(z, [], 1)
    # the first component is the second axis: projections correlate with it almost perfectly
    corr = torch.corrcoef(torch.stack([p[:, 0], z[:, 1]]))[0, 1].abs()
    assert corr > 0.99
    p2, other = mr.pca_features(z, [z[:5]], 2)
    assert torch.allclose(other, p2[:5], atol=1e-5)
    assert_rejects(lambda: mr.pca_features(z, [], 4), "m", "[1, 3]")


def test_linear_probe_separates_separable_features():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(100, 2, generator=g)
    y = (z[:, 0] + z[:, 1] > 0).long()
    assert mr.linear_probe(z, y, z, y) == 1.0
    assert_rejects(lambda: mr.linear_probe(z, y, z[:, :1], y), "feature width", "same")


def test_classification_and_retrieval_metrics_have_one_value_per_width():
    x, y = _data(n=40)
    models = {"standard": _net(0), "MRL": _net(0), "MRL-E": _net(0, tied=True)}
    models |= {mr.ff_name(m): _net(0) for m in NESTING[:-1]}
    found = mr.classification_metrics(models, x, y, x, y)
    for kind in ("head", "probe", "knn"):
        for values in found[kind].values():
            assert len(values) == len(NESTING)
            assert all(0.0 <= v <= 1.0 for v in values)
    # 1-NN of the training set against itself finds each example: accuracy 1 at full width
    assert found["knn"]["MRL"][-1] == 1.0
    ret = mr.retrieval_metrics(models["MRL"], x, y, x[:10], y[:10], shortlist=5, k=3)
    assert ret["adaptive"][-1] == ret["prefix"][-1]
    assert ret["flops"] == [40 * 2 + 5 * 8, 40 * 4 + 5 * 8, 40 * 8]
