"""Notebook 11 · neural networks as hash encoders (He, Lei, Ji, Tao, arXiv:2101.05490).

A ReLU network cuts its input space into linear regions, one per *activation pattern*: the binary
code c(x) = [1(z_k(x) > 0)]_k of which hidden units are on. The paper measures two properties of
these codes (the generic pieces are in ``helpers.core.activations``):

- determinism: the redundancy ratio (N − #unique codes)/N, near 0 when almost every example gets
  its own code (``activations.redundancy_ratio``);
- categorization: simple classifiers on the codes, a 9-nearest-neighbour vote under the Hamming
  distance (``activations.hamming_knn``), logistic regression, and k-means with Hungarian matching
  of clusters to labels (here).

This module trains many one-hidden-layer ReLU networks at once (``StackedMLP``: one weight tensor
per layer with a leading replicate axis, multiplied with ``torch.bmm``), so every width, replicate
and sample size of the notebook's sweeps costs one small batched training run, and records the codes
at chosen epochs (``train_with_checkpoints``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from helpers.core.activations import hamming_knn, redundancy_ratio
from helpers.plumbing.params import check_int, check_list, check_tensor

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "StackedMLP",
    "tiled_indices",
    "train_with_checkpoints",
    "encoding_properties",
    "kmeans_accuracy",
    "logistic_accuracy",
    "raw_knn_accuracy",
    "stack_metric",
    "plot_width",
    "plot_training_time",
    "plot_phase_chart",
    "plot_sample_size",
]


class StackedMLP(nn.Module):
    """R independent networks d_in → width (ReLU) → classes, stored as stacked weights.

    Replicate r is initialised exactly like ``nn.Linear(d_in, width)`` and ``nn.Linear(width,
    classes)`` created right after ``torch.manual_seed(seeds[r])``, so one replicate can be checked
    against a plain ``nn.Sequential`` trained by hand (the notebook does).
    """

    def __init__(self, seeds: Sequence[int], d_in: int, width: int, classes: int) -> None:
        super().__init__()
        seeds = check_list("seeds", seeds, "a non-empty list of integer seeds", 1)
        d_in, width = check_int("d_in", d_in, 1), check_int("width", width, 1)
        classes = check_int("classes", classes, 2)
        layers = [self.plain(s, d_in, width, classes) for s in seeds]
        stack = lambda get: nn.Parameter(torch.stack([get(m) for m in layers]))  # noqa: E731
        self.w1 = stack(lambda m: m[0].weight.T.detach())  # (R, d_in, width)
        self.b1 = stack(lambda m: m[0].bias[None].detach())  # (R, 1, width)
        self.w2 = stack(lambda m: m[2].weight.T.detach())  # (R, width, classes)
        self.b2 = stack(lambda m: m[2].bias[None].detach())  # (R, 1, classes)

    @staticmethod
    def plain(seed: int, d_in: int, width: int, classes: int) -> nn.Sequential:
        """The replicate with this seed as an ordinary ``nn.Sequential`` (Linear, ReLU, Linear)."""
        torch.manual_seed(seed)
        return nn.Sequential(nn.Linear(d_in, width), nn.ReLU(), nn.Linear(width, classes))

    def preactivations(self, x: torch.Tensor) -> torch.Tensor:
        """Hidden pre-activations z = x W1 + b1, shape (R, N, width); x is (R, N, d_in) or (N, d_in)."""
        if x.dim() == 2:
            x = x.expand(self.w1.shape[0], *x.shape)
        return torch.baddbmm(self.b1, x, self.w1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits, shape (R, N, classes)."""
        return torch.baddbmm(self.b2, torch.relu(self.preactivations(x)), self.w2)

    @torch.no_grad()
    def codes(self, x: torch.Tensor) -> torch.Tensor:
        """Activation codes 1[z > 0] of every replicate for the inputs x (N, d_in): (R, N, width)."""
        return self.preactivations(x) > 0


def tiled_indices(n_subset: int, n_total: int, generator: torch.Generator) -> torch.Tensor:
    """A random subset of ``n_subset`` of ``n_total`` examples, repeated to length ``n_total``.

    The official sample-size scripts tile a small training set up to the full size, so that every
    run takes the same number of gradient steps; only the number of distinct examples changes.
    """
    n_total = check_int("n_total", n_total, 1)
    n_subset = check_int("n_subset", n_subset, 1, n_total)
    subset = torch.randperm(n_total, generator=generator)[:n_subset]
    return subset.repeat(-(-n_total // n_subset))[:n_total]


def train_with_checkpoints(
    model: StackedMLP,
    x: torch.Tensor,
    y: torch.Tensor,
    train_index: torch.Tensor,
    seeds: Sequence[int],
    checkpoints: Sequence[int],
    lr: float = 0.05,
    momentum: float = 0.9,
    batch_size: int = 64,
    progress: bool = True,
) -> dict[int, StackedMLP]:
    """Train every replicate with SGD, returning a frozen copy of the model at each checkpoint epoch.

    ``train_index`` (R, M): the training examples of each replicate (all of them, or a tiled subset).
    Replicate r shuffles its examples each epoch with a generator seeded by ``seeds[r]``; the loss is
    the sum over replicates of each one's mean cross-entropy, so their gradients stay separate.
    Checkpoint 0 is the untrained network.
    """
    check_tensor("x", x)
    checkpoints = sorted({check_int("checkpoint", c, 0) for c in checkpoints})
    if train_index.dim() != 2 or not (train_index.shape[0] == len(seeds) == model.w1.shape[0]):
        raise ValueError(
            f"train_index must have shape (replicates, examples) with one row per seed, got "
            f"{tuple(train_index.shape)} for {len(seeds)} seeds"
        )
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    generators = [torch.Generator().manual_seed(int(s)) for s in seeds]
    saved = {0: _frozen(model)} if 0 in checkpoints else {}
    for epoch in tqdm(range(1, checkpoints[-1] + 1), desc="epochs", disable=not progress):
        order = torch.stack([torch.randperm(train_index.shape[1], generator=g) for g in generators])
        order = torch.gather(train_index, 1, order).to(x.device)  # (R, M) this epoch's order
        for start in range(0, order.shape[1], batch_size):
            batch = order[:, start : start + batch_size]  # (R, B)
            logits = model(x[batch])  # (R, B, classes)
            loss = nn.functional.cross_entropy(
                logits.flatten(0, 1), y[batch].flatten(), reduction="none"
            )
            loss = loss.view(batch.shape).mean(1).sum()  # sum over replicates of the mean CE
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        if epoch in checkpoints:
            saved[epoch] = _frozen(model)
    return saved


def _frozen(model: StackedMLP) -> StackedMLP:
    copy = StackedMLP.__new__(StackedMLP)
    nn.Module.__init__(copy)
    for name in ("w1", "b1", "w2", "b2"):
        setattr(
            copy, name, nn.Parameter(getattr(model, name).detach().clone(), requires_grad=False)
        )
    return copy


def kmeans_accuracy(codes: torch.Tensor, labels: torch.Tensor, seed: int = 9) -> float:
    """Cluster the codes into as many clusters as classes (k-means) and score the best one-to-one
    matching of clusters to labels (Hungarian algorithm on the contingency table), as in the
    official PyTorch code (``SVHN/utils.py``) with ``n_cluster`` set to the number of classes.

    k-means runs on one OpenMP thread: its sums are then done in one order, so the same seed gives
    the same clusters on every machine, whatever ``OMP_NUM_THREADS`` says."""
    from scipy.optimize import linear_sum_assignment
    from sklearn.cluster import KMeans
    from threadpoolctl import threadpool_limits

    classes = int(labels.max().item()) + 1
    with threadpool_limits(limits=1):
        found = KMeans(n_clusters=classes, n_init=3, random_state=seed).fit_predict(
            codes.float().cpu().numpy()
        )
    table = np.zeros((classes, classes), dtype=np.int64)  # (cluster, label)
    np.add.at(table, (found, labels.cpu().numpy()), 1)
    rows, cols = linear_sum_assignment(-table)
    return float(table[rows, cols].sum() / len(found))


def logistic_accuracy(
    train_codes: torch.Tensor, y_train: torch.Tensor, test_codes: torch.Tensor, y_test: torch.Tensor
) -> float:
    """Test accuracy of a (multinomial, L2, C = 1) logistic regression fitted on the training codes."""
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    probe = LogisticRegression(max_iter=500)
    with threadpool_limits(limits=1):  # one summation order: the same fit on every machine
        probe.fit(train_codes.float().cpu().numpy(), y_train.cpu().numpy())
        return float(probe.score(test_codes.float().cpu().numpy(), y_test.cpu().numpy()))


@torch.no_grad()
def encoding_properties(
    model: StackedMLP,
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    x_test: torch.Tensor,
    y_test: torch.Tensor,
    k: int = 9,
    slow: bool = False,
) -> list[dict[str, float]]:
    """The encoding properties of every replicate: one dict per replicate.

    Always: redundancy ratio on train and test, 9-NN (Hamming) test accuracy on codes fitted on the
    training codes, and the network's own test accuracy. ``slow=True`` adds logistic regression on
    the codes and k-means on the training codes (Hungarian matching).
    """
    train, test = model.codes(x_train), model.codes(x_test)  # (R, N, width) booleans
    network = (model(x_test).argmax(-1) == y_test).float().mean(1)  # (R,)
    found = []
    for r in range(train.shape[0]):
        knn = (hamming_knn(train[r], y_train, test[r], k) == y_test).float().mean().item()
        row = {
            "redundancy_train": redundancy_ratio(train[r]),
            "redundancy_test": redundancy_ratio(test[r]),
            "knn": knn,
            "network": network[r].item(),
        }
        if slow:
            row["logistic"] = logistic_accuracy(train[r], y_train, test[r], y_test)
            row["kmeans"] = kmeans_accuracy(train[r], y_train)
        found.append(row)
    return found


# Bookkeeping and figures for the notebook's sweeps.

FAST = ("redundancy_train", "redundancy_test", "knn", "network")
SLOW = ("logistic", "kmeans")


def stack_metric(found: Sequence[Sequence[dict[str, float]]], key: str) -> np.ndarray:
    """``found[i][r]`` (condition i, replicate r) → array (conditions, replicates) of ``key``."""
    return np.array([[row[key] for row in reps] for reps in found], dtype=float)


def _band(ax: Axes, x: Sequence[float], values: np.ndarray, label: str, **style: Any) -> None:
    """Mean ± sd over replicates (last axis) as a line with error bars."""
    ax.errorbar(x, values.mean(-1), yerr=values.std(-1, ddof=1), capsize=3, label=label, **style)


def plot_width(
    widths: Sequence[int],
    fast: Mapping[str, np.ndarray],
    slow_init: Mapping[str, np.ndarray],
    slow_final: Mapping[str, np.ndarray],
    raw_knn: float,
) -> Figure:
    """Redundancy and categorization against width, trained (last checkpoint) and untrained (0).

    ``fast[key]``: (widths, checkpoints, replicates); ``slow_*[key]``: (widths, replicates).
    """
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8))
    for key, name in (("redundancy_train", "train"), ("redundancy_test", "test")):
        _band(left, widths, fast[key][:, -1], f"trained, {name}")
        _band(left, widths, fast[key][:, 0], f"untrained, {name}", ls="--")
    _band(right, widths, fast["knn"][:, -1], "9-NN on codes, trained")
    _band(right, widths, fast["knn"][:, 0], "9-NN on codes, untrained", ls="--")
    _band(right, widths, slow_final["logistic"], "logistic regression on codes, trained")
    _band(right, widths, slow_final["kmeans"], "k-means on train codes, trained")
    _band(right, widths, fast["network"][:, -1], "the network itself", ls=":")
    right.axhline(raw_knn, color="grey", lw=1, label=f"9-NN on the raw inputs ({raw_knn:.3f})")
    left.set(ylabel="redundancy ratio", title="Determinism: shared codes vanish with width")
    right.set(
        ylabel="test accuracy (k-means: train)", title="Categorization with simple classifiers"
    )
    for ax in (left, right):
        ax.set_xscale("log")
        ax.set(xlabel="hidden width (ReLU units)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def plot_training_time(
    widths: Sequence[int], checkpoints: Sequence[int], fast: Mapping[str, np.ndarray]
) -> Figure:
    """Train redundancy and code 9-NN accuracy against epoch, one line per width."""
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8))
    for i, w in enumerate(widths):
        _band(left, checkpoints, fast["redundancy_train"][i], f"width {w}")
        _band(right, checkpoints, fast["knn"][i], f"width {w}")
    left.set(ylabel="redundancy ratio (train)", title="Shared codes jump after the first epoch")
    right.set(ylabel="9-NN test accuracy on codes", title="Categorization over training")
    for ax in (left, right):
        ax.set_xscale("symlog", linthresh=1)
        ax.set(xlabel="epoch (0 = random initialisation)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def plot_phase_chart(
    widths: Sequence[int], checkpoints: Sequence[int], redundancy: np.ndarray
) -> Figure:
    """The "activation hash phase chart": mean train redundancy over width × epoch."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.6))
    image = ax.imshow(redundancy.mean(-1), aspect="auto", cmap="viridis", vmin=0, vmax=1)
    ax.grid(False)  # an image: no grid lines over the cells
    ax.set_xticks(range(len(checkpoints)), [str(c) for c in checkpoints])
    ax.set_yticks(range(len(widths)), [str(w) for w in widths])
    for (i, j), v in np.ndenumerate(redundancy.mean(-1)):
        ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=7,
                color="white" if v < 0.5 else "black")  # fmt: skip
    ax.set(xlabel="epoch", ylabel="hidden width", title="Phase chart: redundancy ratio (train)")
    fig.colorbar(image, ax=ax)
    fig.tight_layout()
    return fig


def plot_sample_size(sizes: Sequence[int], found: Mapping[str, np.ndarray], width: int) -> Figure:
    """Test redundancy and code 9-NN accuracy against the number of distinct training examples."""
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.6))
    _band(left, sizes, found["redundancy_test"], "test")
    _band(left, sizes, found["redundancy_train"], "train (all training examples)", ls="--")
    _band(right, sizes, found["knn"], "9-NN on codes")
    _band(right, sizes, found["network"], "the network itself", ls=":")
    left.set(ylabel="redundancy ratio", title=f"Width {width}: codes against sample size")
    right.set(ylabel="test accuracy", title="More distinct examples, better codes")
    for ax in (left, right):
        ax.set_xscale("log")
        ax.set(xlabel="distinct training examples (tiled to the same number of steps)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def raw_knn_accuracy(
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    x_test: torch.Tensor,
    y_test: torch.Tensor,
    k: int = 9,
) -> float:
    """Test accuracy of a k-NN vote on the raw inputs (Euclidean distance): the control for codes."""
    from sklearn.neighbors import KNeighborsClassifier
    from threadpoolctl import threadpool_limits

    vote = KNeighborsClassifier(n_neighbors=check_int("k", k, 1, len(y_train)))
    with threadpool_limits(limits=1):  # one summation order for the distances, as above
        vote.fit(x_train.cpu().numpy(), y_train.cpu().numpy())
        return float(vote.score(x_test.cpu().numpy(), y_test.cpu().numpy()))
