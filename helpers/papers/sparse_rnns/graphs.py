"""Random graphs as recurrent connectivity: draw them, turn them into masks, measure them.

Introduced in notebook 07 (sparse RNNs). A recurrent layer of ``n`` hidden units has an ``n × n``
recurrent matrix ``W_hh``: entry ``(i, j)`` carries unit ``j``'s state at step ``t - 1`` into unit
``i`` at step ``t``. An undirected graph on the same ``n`` nodes says which of these connections
exist: the mask is the graph's adjacency matrix ``A`` (``A_ij = A_ji = 1`` for an edge), so

    h_t = f(W_ih x_t + (W_hh ⊙ A) h_{t-1} + b)

Gated cells stack one ``n × n`` block per gate (GRU: r, z, n; LSTM: i, f, g, o) in ``weight_hh``;
the same adjacency masks every block, so a missing edge is missing in every gate.

Three classic generators from networkx give graphs of one density but different shape:

- **Erdős–Rényi** ``G(n, p)``: every edge independently with probability ``p``;
- **Watts–Strogatz**: a ring lattice with ``k`` neighbours per node, each edge rewired with
  probability ``beta`` (small ``beta``: clustered, long paths; large ``beta``: close to random);
- **Barabási–Albert**: preferential attachment, ``m`` edges per new node (hubs, short paths).

:func:`graph_properties` measures what Darji's thesis relates accuracy to (density, clustering,
path length and a few more).
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Mapping
from typing import Any

import networkx as nx
import numpy as np
import torch
from torch import nn

from helpers.plumbing.params import (
    ParameterTypeError,
    check_bool,
    check_choice,
    check_float,
    check_int,
    check_type,
)

__all__ = [
    "GENERATORS",
    "random_graph",
    "graph_with_density",
    "graph_properties",
    "recurrent_mask",
    "apply_graph_mask",
    "rank_correlation",
    "loo_r2",
]

GENERATORS = ("erdos_renyi", "watts_strogatz", "barabasi_albert")


def _check_graph(graph: nx.Graph) -> int:
    """``graph`` must be an undirected networkx graph on nodes 0..n-1; returns n."""
    check_type("graph", graph, nx.Graph, "an undirected networkx.Graph")
    if graph.is_directed():
        raise ValueError("graph must be undirected (networkx.Graph), got a directed graph")
    n = graph.number_of_nodes()
    if set(graph.nodes) != set(range(n)):
        raise ValueError(
            "graph nodes must be labelled 0..n-1 (use nx.convert_node_labels_to_integers)"
        )
    return n


def random_graph(kind: str, n: int, seed: int, **params: float) -> nx.Graph:
    """A networkx graph on nodes ``0..n-1`` from generator ``kind`` with its own parameters.

    ``erdos_renyi``: ``p``; ``watts_strogatz``: ``k`` (even), ``beta``; ``barabasi_albert``: ``m``.
    """
    n = check_int("n", n, 4)  # the number of nodes = hidden units
    check_choice("kind", kind, GENERATORS)
    check_int("seed", seed)
    expected = {"erdos_renyi": {"p"}, "watts_strogatz": {"k", "beta"}, "barabasi_albert": {"m"}}
    if set(params) != expected[kind]:
        raise ValueError(f"{kind} takes parameters {sorted(expected[kind])}, got {sorted(params)}")
    for name in ("p", "beta"):
        if name in params:
            check_float(name, params[name], 0.0, 1.0)  # a probability
    if "k" in params:
        check_int("k", params["k"], 2, n - 1)  # ring neighbours (odd k acts as k - 1)
    if "m" in params:
        check_int("m", params["m"], 1, n - 1)  # edges per new node
    if kind == "erdos_renyi":
        return nx.gnp_random_graph(n, params["p"], seed=seed)
    if kind == "watts_strogatz":
        return nx.watts_strogatz_graph(n, int(params["k"]), params["beta"], seed=seed)
    return nx.barabasi_albert_graph(n, int(params["m"]), seed=seed)


def graph_with_density(
    kind: str, n: int, density: float, rng: random.Random
) -> tuple[nx.Graph, dict]:
    """A random ``kind`` graph on ``n`` nodes whose density is close to ``density``.

    Density is edges / (n (n-1) / 2). The generator's parameters are set from it:
    ER ``p = density``; WS ``k ≈ density (n-1)`` (even, at least 2) with rewiring ``beta`` drawn
    uniformly from [0, 1]; BA ``m`` solving ``m (n - m) = density · n (n-1) / 2``. WS and BA can
    only make certain densities, so the realised density is measured, never assumed.
    Returns the graph and the parameters used.
    """
    n = check_int("n", n, 4)  # the number of nodes = hidden units
    check_choice("kind", kind, GENERATORS)
    density = check_float("density", density, 0, 1, low_open=True)
    check_type("rng", rng, random.Random, "a random.Random (e.g. random.Random(0))")
    seed = rng.randrange(2**31)  # the first draw from rng: every check comes before it
    if kind == "erdos_renyi":
        params = {"p": density}
    elif kind == "watts_strogatz":
        k = max(2, 2 * round(density * (n - 1) / 2))  # an even number of ring neighbours
        params = {"k": min(k, n - 1 - (n - 1) % 2), "beta": rng.random()}
    elif kind == "barabasi_albert":
        edges = density * n * (n - 1) / 2
        # m (n - m) = edges  ->  m = (n - sqrt(n² - 4 edges)) / 2, the smaller root
        m = (n - math.sqrt(max(n * n - 4 * edges, 0.0))) / 2
        params = {"m": min(max(1, round(m)), n - 1)}
    else:
        raise ValueError(f"kind must be one of {GENERATORS}, got {kind!r}")
    return random_graph(kind, n, seed, **params), params


def graph_properties(graph: nx.Graph) -> dict[str, float]:
    """Density, clustering, path length and the shape of the degree distribution of ``graph``.

    - ``density``: edges / (n (n-1) / 2);
    - ``clustering``: mean local clustering coefficient (fraction of a node's neighbour pairs that
      are themselves linked);
    - ``path_length``: mean shortest-path length over the pairs of nodes that are connected
      (``nan`` without edges);
    - ``efficiency``: mean of 1 / distance over *all* pairs (0 for unconnected pairs), which unlike
      ``path_length`` also sees a graph falling apart;
    - ``largest_component``: fraction of nodes in the largest connected component;
    - ``isolated``: fraction of nodes without any edge;
    - ``degree_std``: standard deviation of the degrees (large for hub-dominated graphs).
    """
    check_type("graph", graph, nx.Graph, "an undirected networkx.Graph")
    if graph.is_directed():
        raise ValueError("graph must be undirected (networkx.Graph), got a directed graph")
    n = graph.number_of_nodes()
    if n < 2:
        raise ValueError(f"graph must have at least 2 nodes, got {n}")
    total = count = 0
    for _, lengths in nx.all_pairs_shortest_path_length(graph):
        for d in lengths.values():
            if d > 0:
                total += d
                count += 1
    degrees = np.array([d for _, d in graph.degree()], dtype=float)
    return {
        "density": nx.density(graph),
        "clustering": nx.average_clustering(graph),
        "path_length": total / count if count else float("nan"),
        "efficiency": nx.global_efficiency(graph),
        "largest_component": max(len(c) for c in nx.connected_components(graph)) / n,
        "isolated": float(np.mean(degrees == 0)),
        "degree_std": float(degrees.std()),
    }


def recurrent_mask(graph: nx.Graph, gates: int = 1, self_loops: bool = False) -> torch.Tensor:
    """The recurrent mask of ``graph``: its adjacency matrix, stacked once per gate.

    Returns a float tensor of shape (gates · n, n) with block ``g`` (rows ``g n .. (g+1) n - 1``)
    equal to the adjacency matrix, which is how PyTorch stacks the gates of ``weight_hh``.
    (Repeating each *row* ``gates`` times instead would scatter one unit's connections over
    several units.) ``self_loops=True`` also keeps every unit's connection to itself.
    Nodes must be labelled ``0..n-1``.
    """
    n = _check_graph(graph)
    if n == 0:
        raise ValueError("graph must have at least one node (one per hidden unit), got none")
    check_int("gates", gates, 1)  # 1 RNN, 3 GRU, 4 LSTM
    check_bool("self_loops", self_loops)
    adjacency = torch.zeros(n, n)
    for i, j in graph.edges:
        if i != j:
            adjacency[i, j] = adjacency[j, i] = 1.0  # undirected: unit i feeds j and j feeds i
    if self_loops:
        adjacency.fill_diagonal_(1.0)
    return adjacency.repeat(gates, 1)  # (n, n) -> (gates · n, n), one block per gate


def apply_graph_mask(rnn: nn.RNNBase, graph: nx.Graph, self_loops: bool = False) -> None:
    """Install ``graph`` as the mask of every recurrent matrix ``weight_hh_*`` of a masked RNN.

    ``rnn`` is a ``helpers.core.masked.MaskedRNN``/``MaskedGRU``/``MaskedLSTM`` whose ``hidden_size``
    equals the number of nodes. Input weights are left as they are. Without ``self_loops`` a
    unit of an RNN or LSTM gets no direct recurrent input from its own past output; a GRU unit
    still keeps its own state through the update gate, ``h_t = (1 - z) n + z h_{t-1}``.
    """
    if not hasattr(rnn, "set_mask") or not isinstance(rnn, nn.RNNBase):
        raise ValueError(
            f"rnn must be a masked recurrent layer (helpers.core.masked.MaskedRNN/GRU/LSTM), got {type(rnn).__name__}"
        )
    if getattr(rnn, "proj_size", 0):
        raise ValueError(
            "LSTMs with proj_size > 0 have a non-square recurrent matrix; not supported"
        )
    _check_graph(graph)
    check_bool("self_loops", self_loops)
    if graph.number_of_nodes() != rnn.hidden_size:
        raise ValueError(
            f"the graph has {graph.number_of_nodes()} nodes but the layer {rnn.hidden_size} hidden units"
        )
    for name in rnn.mask_names:
        if name.startswith("weight_hh"):
            gates = getattr(rnn, name).shape[0] // rnn.hidden_size
            rnn.set_mask(
                name, recurrent_mask(graph, gates, self_loops).to(getattr(rnn, name).device)
            )


def _ranks(values: np.ndarray) -> np.ndarray:
    """Average ranks (ties share the mean of their positions), 0-based."""
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(len(values))
    ranks[order] = np.arange(len(values), dtype=float)
    for v in np.unique(values):
        tied = values == v
        ranks[tied] = ranks[tied].mean()
    return ranks


def _numbers(name: str, values: Any) -> np.ndarray:
    """``values`` (an iterable of numbers) as a 1-D float array; else a clear error."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise ParameterTypeError(f"parameter {name} must be a sequence of numbers, got {values!r}")
    items = list(values)
    try:
        if any(isinstance(v, (str, bytes)) for v in items):
            raise TypeError("strings are not numbers")
        array = np.asarray(items, dtype=float)
    except (TypeError, ValueError) as err:
        raise ParameterTypeError(
            f"parameter {name} must be a sequence of numbers, got {values!r}"
        ) from err
    if array.ndim != 1:
        raise ValueError(f"parameter {name} must be a flat sequence of numbers, got {array.shape}")
    return array


def rank_correlation(x: Iterable[float], y: Iterable[float]) -> float:
    """Spearman's rank correlation of ``x`` and ``y``, skipping pairs where either is NaN.

    rho = Pearson correlation of the ranks; robust to the curved, saturating relations between
    a graph property and accuracy. ``nan`` when fewer than 3 pairs remain or one side is constant.
    """
    x, y = _numbers("x", x), _numbers("y", y)
    if x.shape != y.shape:
        raise ValueError(f"x and y must have the same length, got {x.shape[0]} and {y.shape[0]}")
    keep = ~(np.isnan(x) | np.isnan(y))
    x, y = x[keep], y[keep]
    if len(x) < 3:
        return float("nan")
    rx, ry = _ranks(x), _ranks(y)
    if rx.std() == 0 or ry.std() == 0:
        return float("nan")
    return float(np.corrcoef(rx, ry)[0, 1])


def loo_r2(features: dict[str, Iterable[float]], target: Iterable[float]) -> float:
    """How well a linear fit on ``features`` predicts ``target`` for data it has not seen.

    Leave-one-out: each point is predicted by a least-squares fit on all the others, and
    R² = 1 - Σ (y - ŷ_loo)² / Σ (y - ȳ)². Unlike the in-sample R² it can be negative (worse than
    predicting the mean), so adding useless features does not inflate it. Rows with a NaN in any
    feature are left out. Darji reports the R² of regressors on held-out graphs; with a few dozen
    graphs, leave-one-out wastes the least data.
    """
    from sklearn.linear_model import LinearRegression
    from sklearn.model_selection import LeaveOneOut, cross_val_predict

    check_type("features", features, Mapping, "a dict property name -> values")
    if not features:
        raise ValueError("features must name at least one property")
    y = _numbers("target", target)
    columns = [_numbers(f"features['{k}']", v) for k, v in features.items()]
    if any(c.shape != y.shape for c in columns):
        raise ValueError("every feature needs one value per target value")
    x = np.column_stack(columns)  # (graphs, features)
    keep = ~np.isnan(x).any(axis=1) & ~np.isnan(y)
    x, y = x[keep], y[keep]
    if len(y) < len(columns) + 3:
        raise ValueError(
            f"need at least {len(columns) + 3} complete rows for {len(columns)} features, got {len(y)}"
        )
    predicted = cross_val_predict(LinearRegression(), x, y, cv=LeaveOneOut())
    return float(1.0 - ((y - predicted) ** 2).sum() / ((y - y.mean()) ** 2).sum())
