"""Matryoshka Representation Learning (Kusupati et al., NeurIPS 2022): nested prefixes of one embedding.

Introduced in notebook 13. One encoder F maps x to z = F(x) in R^d; for every m in a nesting list
M = {m_1 < ... < m_G = d} the *prefix* z[:, :m] gets its own linear classifier, and training minimises

    L = sum_{m in M} c_m * CE(W^(m) z[:, :m] + b^(m), y)        (the paper's Sec. 3, c_m = 1)

so that every prefix is a usable representation on its own. **MRL-E** ties the classifiers:
W^(m) = W[:, :m], one shared bias (official ``MRL.py``, ``MRL_Linear_Layer(efficient=True)``).

The pieces, each small enough to read beside the paper:

- ``MatryoshkaHead``: the G classifiers (separate or tied) on the prefixes of z;
- ``matryoshka_loss``: the weighted sum of cross-entropies (``Matryoshka_CE_Loss``). With weights
  ``c`` one-hot at m it trains a *fixed-feature* model FF-m (the paper's per-size baseline: the same
  network, the classifier reading only the first m features); one-hot at d, a standard model;
- ``MatryoshkaNet``: an MLP encoder plus a head;
- ``fit_together``: trains many such networks at once (replicates and variants), batched with
  ``torch.func.stack_module_state`` and ``vmap``, each with its own data order and its own epoch
  chosen on a validation split;
- evaluation as the paper does it: ``head_accuracies``; ``linear_probe`` and ``pca_features`` for the
  post-hoc baselines; ``knn_accuracy`` and retrieval that *truncate first, then L2-normalise*
  (``retrieval/faiss_nn.ipynb``); ``adaptive_retrieval`` (shortlist with a short prefix, rerank with a
  long one) and ``map_at_k`` (the official ``compute_metrics.py`` definition).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from helpers.plumbing.params import (
    check_bool,
    check_float,
    check_int,
    check_list,
    check_tensor,
    check_type,
)
from helpers.plumbing.runtime import progress_enabled

__all__ = [
    "check_nesting",
    "MatryoshkaHead",
    "matryoshka_loss",
    "MatryoshkaNet",
    "loss_weights",
    "fit_together",
    "embed",
    "head_accuracies",
    "linear_probe",
    "pca_features",
    "normalized_prefix",
    "knn_accuracy",
    "nearest",
    "adaptive_retrieval",
    "map_at_k",
    "retrieval_flops",
    "ff_name",
    "classification_metrics",
    "retrieval_metrics",
]


def check_nesting(nesting: Sequence[int], name: str = "nesting") -> list[int]:
    """``nesting`` as a list of strictly increasing positive integers (the prefix sizes m)."""
    sizes = check_list(name, nesting, "a list of increasing positive integers", 1)
    sizes = [check_int(f"{name}[{i}]", m, 1) for i, m in enumerate(sizes)]
    if any(b <= a for a, b in zip(sizes, sizes[1:])):
        raise ValueError(f"parameter {name} must be strictly increasing, got {nesting!r}")
    return sizes


class MatryoshkaHead(nn.Module):
    """One linear classifier per prefix z[:, :m], m in ``nesting`` (the last m is the full width d).

    ``tied=False`` (MRL): G separate ``nn.Linear(m, num_classes)``. ``tied=True`` (MRL-E): one
    ``nn.Linear(d, num_classes)`` whose first m *columns* score the prefix of size m, with one bias
    shared by every size. ``forward`` returns logits of shape (G, N, num_classes).
    """

    def __init__(self, nesting: Sequence[int], num_classes: int, tied: bool = False) -> None:
        super().__init__()
        self.nesting = check_nesting(nesting)
        self.num_classes = check_int("num_classes", num_classes, 2)
        self.tied = check_bool("tied", tied)
        sizes = [self.nesting[-1]] if tied else self.nesting
        self.classifiers = nn.ModuleList(nn.Linear(m, num_classes) for m in sizes)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if self.tied:
            w, b = self.classifiers[0].weight, self.classifiers[0].bias  # (C, d), (C,)
            # logits_m = z[:, :m] W[:, :m]^T + b: the columns of W, never a random subset
            return torch.stack([z[:, :m] @ w[:, :m].T + b for m in self.nesting])
        return torch.stack([head(z[:, :m]) for m, head in zip(self.nesting, self.classifiers)])


def matryoshka_loss(
    logits: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor | None = None
) -> torch.Tensor:
    """sum_g c_g * CE(logits[g], targets): the Matryoshka loss (a *sum*, as in the official code).

    ``logits``: (G, N, C); ``targets``: (N,) class indices; ``weights``: the relative importance c,
    shape (G,), default all ones. A weight of 0 leaves that prefix out of training altogether.
    """
    losses = torch.stack([F.cross_entropy(out, targets) for out in logits])  # (G,)
    if weights is None:
        return losses.sum()
    return (losses * weights).sum()


class MatryoshkaNet(nn.Module):
    """An MLP encoder ``sizes[0] → ... → sizes[-1] = d`` (ReLU between layers, none on z) and a
    ``MatryoshkaHead`` over its output. ``embed(x)`` is z; ``forward(x)`` the (G, N, C) logits."""

    def __init__(
        self, sizes: Sequence[int], nesting: Sequence[int], num_classes: int, tied: bool = False
    ) -> None:
        super().__init__()
        sizes = check_list("sizes", sizes, "a list of at least two positive integers", 2)
        sizes = [check_int(f"sizes[{i}]", s, 1) for i, s in enumerate(sizes)]
        nesting = check_nesting(nesting)
        if nesting[-1] != sizes[-1]:
            raise ValueError(
                f"the largest nesting size must be the embedding width sizes[-1] = {sizes[-1]}, "
                f"got nesting {nesting}"
            )
        layers: list[nn.Module] = []
        for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            if i > 0:
                layers.append(nn.ReLU())
            layers.append(nn.Linear(n_in, n_out))
        self.encoder = nn.Sequential(*layers)
        self.head = MatryoshkaHead(nesting, num_classes, tied)

    @property
    def nesting(self) -> list[int]:
        return self.head.nesting

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x.flatten(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(x))


def loss_weights(variant: str, nesting: Sequence[int]) -> torch.Tensor:
    """The relative importance c of a variant: ``'MRL'`` and ``'MRL-E'`` all ones; ``'standard'``
    one-hot at the full width; ``'FF-m'`` one-hot at m (m must be one of ``nesting``)."""
    nesting = check_nesting(nesting)
    c = torch.zeros(len(nesting))
    if variant in ("MRL", "MRL-E"):
        return c + 1.0
    if variant == "standard":
        c[-1] = 1.0
        return c
    if isinstance(variant, str) and variant.startswith("FF-") and variant[3:].isdigit():
        m = int(variant[3:])
        if m in nesting:
            c[nesting.index(m)] = 1.0
            return c
    raise ValueError(
        f"variant must be 'standard', 'MRL', 'MRL-E' or 'FF-m' with m in {nesting}, got {variant!r}"
    )


def _check_split(x: torch.Tensor, y: torch.Tensor, what: str) -> None:
    check_tensor(f"x_{what}", x, min_dim=2)
    check_tensor(f"y_{what}", y, dim=1)
    if len(x) != len(y) or len(x) == 0:
        raise ValueError(f"x_{what} and y_{what} must have the same, non-zero number of rows")


def fit_together(
    models: Sequence[MatryoshkaNet],
    weights: torch.Tensor,
    seeds: Sequence[int],
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    x_val: torch.Tensor,
    y_val: torch.Tensor,
    *,
    epochs: int,
    lr: float = 1e-3,
    batch_size: int = 100,
    progress: bool | None = None,
) -> list[int]:
    """Train ``models`` (same architecture) at once with Adam, model e on loss weights ``weights[e]``,
    its mini-batch order drawn from ``seeds[e]``; keep each model's best epoch on the validation split.

    Adam works elementwise, so one optimizer over the stacked parameters is E independent Adams;
    the summed loss gives each model the gradient of its own loss. A model's validation score is its
    mean accuracy over the prefixes it trains (weight > 0). Returns each model's chosen epoch
    (1-based) and loads those weights back into ``models``.
    """
    models = check_list("models", models, "a non-empty list of MatryoshkaNet", 1)
    for i, m in enumerate(models):
        check_type(f"models[{i}]", m, MatryoshkaNet, "a MatryoshkaNet")
    shapes = [[tuple(p.shape) for p in m.parameters()] for m in models]
    if any(s != shapes[0] for s in shapes) or any(
        m.head.tied != models[0].head.tied for m in models
    ):
        raise ValueError("models must all have the same architecture (sizes, nesting, tied)")
    check_tensor("weights", weights, dim=2)
    if tuple(weights.shape) != (len(models), len(models[0].nesting)):
        raise ValueError(
            f"weights must have shape (models, nesting sizes) = "
            f"({len(models)}, {len(models[0].nesting)}), got {tuple(weights.shape)}"
        )
    if not bool((weights >= 0).all()) or not bool((weights.sum(1) > 0).all()):
        raise ValueError("weights must be non-negative, with at least one positive entry per model")
    seeds = check_list("seeds", seeds, "a list of integer seeds, one per model", len(models))
    seeds = [check_int(f"seeds[{i}]", s, 0) for i, s in enumerate(seeds)]
    if len(seeds) != len(models):
        raise ValueError(f"seeds must give one seed per model ({len(models)}), got {len(seeds)}")
    _check_split(x_train, y_train, "train")
    _check_split(x_val, y_val, "val")
    epochs = check_int("epochs", epochs, 1)
    lr = check_float("lr", lr, 0.0, 1.0, low_open=True)
    batch_size = check_int("batch_size", batch_size, 1, len(x_train))

    from torch.func import functional_call, stack_module_state, vmap

    params, buffers = stack_module_state(list(models))  # each leaf: (E, *shape)
    base = copy.deepcopy(models[0]).to("meta")  # the architecture, without weights
    weights = weights.to(x_train.device, torch.float32)
    used = weights > 0  # (E, G): the prefixes each model is trained and selected on

    def loss_one(p, b, x, y, w):  # noqa: ANN001, ANN202 -- one model's loss, vmapped over models
        return matryoshka_loss(functional_call(base, (p, b), (x,)), y, w)

    def logits_all(x):  # noqa: ANN001, ANN202 -- every model's (G, N, C) logits on the same x
        return vmap(lambda p, b: functional_call(base, (p, b), (x,)))(params, buffers)

    optimizer = torch.optim.Adam(params.values(), lr=lr)
    batched_loss = vmap(loss_one)
    generators = [torch.Generator().manual_seed(s) for s in seeds]
    n, steps = len(x_train), -(-len(x_train) // batch_size)
    best = {k: v.detach().clone() for k, v in params.items()}
    best_score = torch.full((len(models),), -1.0, device=x_train.device)
    best_epoch = [0] * len(models)
    for epoch in tqdm(range(1, epochs + 1), desc="epochs", disable=not progress_enabled(progress)):
        order = torch.stack([torch.randperm(n, generator=g) for g in generators])  # (E, n)
        order = order.to(x_train.device)
        for i in range(steps):
            idx = order[:, i * batch_size : (i + 1) * batch_size]  # (E, B)
            optimizer.zero_grad(set_to_none=True)
            batched_loss(params, buffers, x_train[idx], y_train[idx], weights).sum().backward()
            optimizer.step()
        with torch.no_grad():
            correct = (logits_all(x_val).argmax(-1) == y_val).float().mean(-1)  # (E, G)
            score = (correct * used).sum(1) / used.sum(1)
            better = score > best_score
            for k, v in params.items():
                best[k][better] = v.detach()[better]
            best_score = torch.where(better, score, best_score)
            best_epoch = [epoch if b else e for b, e in zip(better.tolist(), best_epoch)]
    with torch.no_grad():
        for e, model in enumerate(models):
            for k, p in model.named_parameters():
                p.copy_(best[k][e])
    return best_epoch


@torch.no_grad()
def embed(model: MatryoshkaNet, x: torch.Tensor) -> torch.Tensor:
    """The embeddings z = F(x), (N, d), in eval mode and without gradients."""
    check_type("model", model, MatryoshkaNet, "a MatryoshkaNet")
    check_tensor("x", x, min_dim=2)
    return model.embed(x)


@torch.no_grad()
def head_accuracies(model: MatryoshkaNet, x: torch.Tensor, y: torch.Tensor) -> list[float]:
    """Accuracy of each prefix's own classifier, one value per nesting size."""
    check_type("model", model, MatryoshkaNet, "a MatryoshkaNet")
    _check_split(x, y, "test")
    return (model(x).argmax(-1) == y).float().mean(-1).tolist()


def linear_probe(
    z_train: torch.Tensor,
    y_train: torch.Tensor,
    z_test: torch.Tensor,
    y_test: torch.Tensor,
    *,
    steps: int = 100,
    weight_decay: float = 1e-4,
) -> float:
    """Test accuracy of a logistic-regression classifier fitted (full batch, L-BFGS) on frozen
    features: the post-hoc baselines' classifier. Features are standardised with the training
    set's mean and spread first; ``weight_decay`` is a small L2 penalty, fixed, not tuned."""
    _check_split(z_train, y_train, "train")
    _check_split(z_test, y_test, "test")
    if z_train.shape[1:] != z_test.shape[1:]:
        raise ValueError("z_train and z_test must have the same feature width")
    steps = check_int("steps", steps, 1)
    weight_decay = check_float("weight_decay", weight_decay, 0.0, finite=True)
    mean, std = z_train.mean(0), z_train.std(0) + 1e-6
    a, b = (z_train - mean) / std, (z_test - mean) / std
    classes = int(max(y_train.max(), y_test.max())) + 1
    with torch.random.fork_rng(devices=[]):  # nothing random here; keep the global stream untouched
        layer = nn.Linear(a.shape[1], classes).to(a.device)
        nn.init.zeros_(layer.weight), nn.init.zeros_(layer.bias)
    optimizer = torch.optim.LBFGS(layer.parameters(), max_iter=steps, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = F.cross_entropy(layer(a), y_train) + weight_decay * layer.weight.pow(2).sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        optimizer.step(closure)
    with torch.no_grad():
        return (layer(b).argmax(1) == y_test).float().mean().item()


def pca_features(
    z_train: torch.Tensor, others: Sequence[torch.Tensor], m: int
) -> list[torch.Tensor]:
    """The first m principal components of ``z_train`` (centred by its mean), applied to
    ``z_train`` and to each tensor in ``others``: the paper's post-hoc SVD baseline at size m."""
    check_tensor("z_train", z_train, dim=2)
    m = check_int("m", m, 1, z_train.shape[1])
    mean = z_train.mean(0)
    # z - mean = U S V^T; the top-m right singular vectors span the best rank-m subspace
    _, _, vt = torch.linalg.svd(z_train - mean, full_matrices=False)
    basis = vt[:m].T  # (d, m)
    return [(t - mean) @ basis for t in [z_train, *others]]


def normalized_prefix(z: torch.Tensor, m: int) -> torch.Tensor:
    """z[:, :m] / ||z[:, :m]||: truncate first, *then* L2-normalise (the official retrieval code)."""
    check_tensor("z", z, dim=2)
    m = check_int("m", m, 1, z.shape[1])
    return F.normalize(z[:, :m], dim=1)


def nearest(queries: torch.Tensor, database: torch.Tensor, m: int, k: int) -> torch.Tensor:
    """Indices (Q, k) of each query's k nearest database rows by cosine similarity of m-prefixes."""
    k = check_int("k", k, 1, len(database))
    sims = normalized_prefix(queries, m) @ normalized_prefix(database, m).T  # (Q, N)
    return sims.topk(k, dim=1).indices


def knn_accuracy(
    z_db: torch.Tensor, y_db: torch.Tensor, z_query: torch.Tensor, y_query: torch.Tensor, m: int
) -> float:
    """1-nearest-neighbour accuracy of the m-prefix (truncate, normalise, cosine)."""
    _check_split(z_db, y_db, "db")
    _check_split(z_query, y_query, "query")
    hit = y_db[nearest(z_query, z_db, m, 1)[:, 0]] == y_query
    return hit.float().mean().item()


def adaptive_retrieval(
    z_query: torch.Tensor,
    z_db: torch.Tensor,
    shortlist_dim: int,
    shortlist: int,
    rerank_dim: int,
    k: int,
) -> torch.Tensor:
    """Adaptive retrieval (Sec. 4.3.1): shortlist ``shortlist`` candidates with the ``shortlist_dim``
    prefix over the whole database, rerank only those with the ``rerank_dim`` prefix; (Q, k) indices."""
    shortlist = check_int("shortlist", shortlist, 1, len(z_db))
    k = check_int("k", k, 1, shortlist)
    candidates = nearest(z_query, z_db, shortlist_dim, shortlist)  # (Q, K)
    q = normalized_prefix(z_query, rerank_dim)  # (Q, D_r)
    db = normalized_prefix(z_db, rerank_dim)[candidates]  # (Q, K, D_r)
    sims = torch.einsum("qd,qkd->qk", q, db)
    order = sims.topk(k, dim=1).indices  # positions within the shortlist
    return candidates.gather(1, order)


def map_at_k(neighbors: torch.Tensor, y_db: torch.Tensor, y_query: torch.Tensor, k: int) -> float:
    """mAP@k as the official ``compute_metrics.py`` computes it: per query, the precision at each
    rank i ≤ k that holds a same-class item, summed and divided by k; then the mean over queries."""
    check_tensor("neighbors", neighbors, dim=2)
    k = check_int("k", k, 1, neighbors.shape[1])
    matches = (y_db[neighbors[:, :k]] == y_query[:, None]).float()  # (Q, k)
    precision = matches.cumsum(1) / torch.arange(1, k + 1, device=matches.device)
    return ((precision * matches).sum(1) / k).mean().item()


def retrieval_flops(n_db: int, shortlist_dim: int, shortlist: int, rerank_dim: int) -> int:
    """Multiply-adds per query of adaptive retrieval by exhaustive search: n_db·D_s + K·D_r
    (the paper's FLOP count for its theoretical speed-up; HNSW's real time is another matter)."""
    for name, v in (("n_db", n_db), ("shortlist_dim", shortlist_dim), ("rerank_dim", rerank_dim)):
        check_int(name, v, 1)
    shortlist = check_int("shortlist", shortlist, 0, n_db)
    return n_db * shortlist_dim + shortlist * rerank_dim


def ff_name(m: int) -> str:
    """The name of the fixed-feature model of size m (``'FF-8'``)."""
    return f"FF-{check_int('m', m, 1)}"


def classification_metrics(
    models: dict[str, MatryoshkaNet],
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    x_test: torch.Tensor,
    y_test: torch.Tensor,
) -> dict[str, dict[str, list[float]]]:
    """Every accuracy of one replicate, one value per nesting size m (the x-axis of Figs. 2 and 3).

    ``models`` holds ``'standard'``, ``'MRL'``, ``'MRL-E'`` and ``'FF-m'`` for every m but the full
    width (the standard model *is* FF-d). Returns:

    - ``head``: MRL's, MRL-E's and FF's own classifiers (FF: model FF-m at size m);
    - ``probe``: a logistic-regression probe fitted on the training set's frozen features: the
      standard model's first m coordinates (``truncated``), its top-m principal components
      (``PCA``), and MRL's prefix (``MRL``, the same classifier as the post-hoc baselines get);
    - ``knn``: 1-NN accuracy of the truncated, normalised prefix (``truncated`` is the standard's).
    """
    nesting = models["MRL"].nesting
    ff = {m: models[ff_name(m)] for m in nesting[:-1]} | {nesting[-1]: models["standard"]}
    heads = {name: head_accuracies(models[name], x_test, y_test) for name in ("MRL", "MRL-E")}
    heads["FF"] = [head_accuracies(ff[m], x_test, y_test)[i] for i, m in enumerate(nesting)]
    z = {name: (embed(model, x_train), embed(model, x_test)) for name, model in models.items()}
    zs_train, zs_test = z["standard"]
    zm_train, zm_test = z["MRL"]
    probes: dict[str, list[float]] = {"truncated": [], "PCA": [], "MRL": []}
    for m in nesting:
        probes["truncated"].append(linear_probe(zs_train[:, :m], y_train, zs_test[:, :m], y_test))
        p_train, p_test = pca_features(zs_train, [zs_test], m)
        probes["PCA"].append(linear_probe(p_train, y_train, p_test, y_test))
        probes["MRL"].append(linear_probe(zm_train[:, :m], y_train, zm_test[:, :m], y_test))
    knn = {
        name: [knn_accuracy(*z[name][:1], y_train, z[name][1], y_test, m) for m in nesting]
        for name in ("MRL", "MRL-E")
    }
    knn["truncated"] = [knn_accuracy(zs_train, y_train, zs_test, y_test, m) for m in nesting]
    knn["FF"] = [
        knn_accuracy(embed(ff[m], x_train), y_train, embed(ff[m], x_test), y_test, m)
        for m in nesting
    ]
    return {"head": heads, "probe": probes, "knn": knn}


def retrieval_metrics(
    model: MatryoshkaNet,
    x_db: torch.Tensor,
    y_db: torch.Tensor,
    x_query: torch.Tensor,
    y_query: torch.Tensor,
    *,
    shortlist: int,
    k: int = 10,
) -> dict[str, list[float]]:
    """mAP@k of one model's embedding for retrieval (queries against the database), per nesting size:

    - ``prefix``: exhaustive search with the m-prefix alone;
    - ``adaptive``: shortlist ``shortlist`` candidates with the m-prefix, rerank with the full width
      (at the full width itself this is exhaustive search);
    - ``flops``: multiply-adds per query of the adaptive search (``retrieval_flops``).
    """
    nesting = model.nesting
    z_db, z_q = embed(model, x_db), embed(model, x_query)
    d = nesting[-1]
    prefix = [map_at_k(nearest(z_q, z_db, m, k), y_db, y_query, k) for m in nesting]
    adaptive = [
        map_at_k(adaptive_retrieval(z_q, z_db, m, shortlist, d, k), y_db, y_query, k)
        if m < d
        else prefix[-1]
        for m in nesting
    ]
    flops = [
        float(retrieval_flops(len(z_db), m, shortlist, d) if m < d else len(z_db) * d)
        for m in nesting
    ]
    return {"prefix": prefix, "adaptive": adaptive, "flops": flops}
