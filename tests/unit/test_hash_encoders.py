"""Notebook 11's helpers: stacked networks, training with checkpoints, tiling, k-means matching."""

import pytest
import torch
from torch import nn

from helpers.papers import hash_encoders as he


def _data(n=40, d=6, classes=3, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=generator), torch.randint(
        0, classes, (n,), generator=generator
    )


def test_each_stacked_replicate_is_the_plain_network_with_its_seed():
    x, _ = _data()
    stacked = he.StackedMLP([3, 8], d_in=6, width=5, classes=3)
    for r, seed in enumerate([3, 8]):
        plain = he.StackedMLP.plain(seed, 6, 5, 3)
        assert torch.allclose(stacked(x)[r], plain(x), atol=1e-6)
        assert torch.equal(stacked.codes(x)[r], plain[0](x) > 0)


def test_one_epoch_with_the_helper_equals_one_epoch_by_hand():
    x, y = _data()
    stacked = he.StackedMLP([5, 6], 6, 4, 3)
    index = torch.arange(len(y)).expand(2, -1)
    after = he.train_with_checkpoints(stacked, x, y, index, [5, 6], [0, 1], lr=0.1, batch_size=8,
                                      progress=False)[1]  # fmt: skip
    plain = he.StackedMLP.plain(6, 6, 4, 3)
    optimizer = torch.optim.SGD(plain.parameters(), lr=0.1, momentum=0.9)
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(6))
    for i in range(0, len(y), 8):
        batch = order[i : i + 8]
        loss = nn.functional.cross_entropy(plain(x[batch]), y[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert torch.allclose(after.w1[1], plain[0].weight.T, atol=1e-6)
    assert torch.allclose(after.b2[1, 0], plain[2].bias, atol=1e-6)


def test_checkpoints_are_frozen_copies_and_zero_is_untrained():
    x, y = _data()
    stacked = he.StackedMLP([1, 2], 6, 4, 3)
    start = stacked.w1.detach().clone()
    saved = he.train_with_checkpoints(stacked, x, y, torch.arange(40).expand(2, -1), [1, 2],
                                      [0, 1, 3], progress=False)  # fmt: skip
    assert sorted(saved) == [0, 1, 3]
    assert torch.equal(saved[0].w1, start)
    assert not torch.equal(saved[1].w1, saved[3].w1)
    assert torch.equal(saved[3].w1, stacked.w1.detach())
    assert not saved[1].w1.requires_grad


def test_tiled_indices_repeat_a_subset_to_full_length():
    index = he.tiled_indices(7, 50, torch.Generator().manual_seed(0))
    assert len(index) == 50 and len(set(index.tolist())) == 7
    assert torch.equal(index[:7], index[7:14])  # the subset repeated in the same order
    with pytest.raises(ValueError, match="n_subset"):
        he.tiled_indices(51, 50, torch.Generator())


def test_a_rejected_training_call_changes_nothing():
    x, y = _data()
    stacked = he.StackedMLP([1, 2], 6, 4, 3)
    before = [p.detach().clone() for p in stacked.parameters()]
    with pytest.raises(ValueError, match="train_index"):
        he.train_with_checkpoints(
            stacked, x, y, torch.arange(40)[None], [1, 2], [1], progress=False
        )
    assert all(torch.equal(a, b) for a, b in zip(before, stacked.parameters()))


def test_kmeans_accuracy_matches_clusters_to_classes_one_to_one():
    # three well-separated code prototypes, class ids permuted against cluster ids: accuracy 1
    prototypes = torch.tensor([[1, 1, 1, 0, 0, 0, 0, 0, 0], [0, 0, 0, 1, 1, 1, 0, 0, 0],
                               [0, 0, 0, 0, 0, 0, 1, 1, 1]], dtype=torch.bool)  # fmt: skip
    labels = torch.tensor([2, 0, 1]).repeat_interleave(10)
    codes = prototypes.repeat_interleave(10, dim=0)
    assert he.kmeans_accuracy(codes, labels) == 1.0
    # two clusters of one class: one-to-one matching scores one of them as wrong (many-to-one would not)
    labels = torch.tensor([0, 0, 1]).repeat_interleave(10)
    assert he.kmeans_accuracy(codes, torch.cat([labels[:-1], torch.tensor([2])])) < 0.7


def test_encoding_properties_reports_every_measure_per_replicate():
    x, y = _data(60)
    model = he.StackedMLP([0, 1, 2], 6, 30, 3)
    found = he.encoding_properties(model, x[:40], y[:40], x[40:], y[40:], k=3, slow=True)
    assert len(found) == 3
    assert set(found[0]) == set(he.FAST) | set(he.SLOW)
    assert all(0 <= row["redundancy_train"] <= 1 and 0 <= row["knn"] <= 1 for row in found)


@pytest.mark.parametrize("args", [([], 6, 4, 3), ([1], 0, 4, 3), ([1], 6, 2.5, 3), ([1], 6, 4, 1)])
def test_stacked_mlp_rejects_bad_sizes(args):
    with pytest.raises((ValueError, TypeError)):
        he.StackedMLP(*args)
