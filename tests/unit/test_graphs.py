"""Random-graph recurrent masks (helpers.graphs), against graphs whose properties are known by hand."""

import math
import random

import networkx as nx
import numpy as np
import pytest
import torch

from helpers import masks
from helpers.core.masked import MaskedGRU, MaskedLSTM, MaskedRNN
from helpers.papers.sparse_rnns import graphs


def test_properties_of_a_ring():
    # A ring of 8: 8 edges of 28 pairs, no triangles; distances 1,1,2,2,3,3,4 from every node.
    p = graphs.graph_properties(nx.cycle_graph(8))
    assert p["density"] == pytest.approx(8 / 28)
    assert p["clustering"] == 0.0
    assert p["path_length"] == pytest.approx(16 / 7)
    assert p["efficiency"] == pytest.approx((2 * (1 + 1 / 2 + 1 / 3) + 1 / 4) / 7)
    assert p["largest_component"] == 1.0 and p["isolated"] == 0.0 and p["degree_std"] == 0.0


def test_properties_of_a_complete_graph_and_of_a_broken_one():
    full = graphs.graph_properties(nx.complete_graph(6))
    assert full["density"] == 1.0 and full["clustering"] == 1.0 and full["path_length"] == 1.0
    # Two triangles and two isolated nodes: paths only inside the triangles.
    g = nx.Graph([(0, 1), (1, 2), (2, 0), (3, 4), (4, 5), (5, 3)])
    g.add_nodes_from([6, 7])
    p = graphs.graph_properties(g)
    assert p["path_length"] == 1.0  # every connected pair is adjacent
    assert p["efficiency"] == pytest.approx(12 / 56)  # but most pairs are not connected at all
    assert p["largest_component"] == pytest.approx(3 / 8) and p["isolated"] == pytest.approx(2 / 8)
    assert math.isnan(graphs.graph_properties(nx.empty_graph(5))["path_length"])


def test_star_has_a_hub():
    p = graphs.graph_properties(nx.star_graph(9))  # one hub of degree 9, nine leaves of degree 1
    assert p["degree_std"] == pytest.approx(
        torch.tensor([9.0] + [1.0] * 9).std(unbiased=False).item()
    )


@pytest.mark.parametrize("gates", [1, 3, 4])
def test_mask_is_the_adjacency_stacked_per_gate_block(gates):
    g = nx.path_graph(5)  # 0-1-2-3-4
    mask = graphs.recurrent_mask(g, gates)
    adjacency = torch.tensor(nx.to_numpy_array(g, nodelist=range(5)), dtype=torch.float32)
    assert mask.shape == (gates * 5, 5)
    for block in mask.split(5):  # rows g·n .. (g+1)·n - 1 belong to gate g
        assert torch.equal(block, adjacency)
    assert torch.equal(graphs.recurrent_mask(g, 1, self_loops=True), adjacency + torch.eye(5))


def test_mask_rejects_bad_input():
    with pytest.raises(ValueError, match="0..n-1"):
        graphs.recurrent_mask(nx.relabel_nodes(nx.path_graph(3), {0: "a"}))
    with pytest.raises(ValueError, match="gates"):
        graphs.recurrent_mask(nx.path_graph(3), gates=0)


@pytest.mark.parametrize("layer_cls, gates", [(MaskedRNN, 1), (MaskedGRU, 3), (MaskedLSTM, 4)])
def test_missing_edges_cut_the_recurrence_between_units(layer_cls, gates):
    # Units 0..5 with a single edge 0-1: unit 2's past state must not reach unit 3 at all.
    torch.manual_seed(0)
    layer = layer_cls(2, 6, batch_first=True)
    g = nx.empty_graph(6)
    g.add_edge(0, 1)
    graphs.apply_graph_mask(layer, g)
    w = layer.effective("weight_hh_l0")
    assert w.shape == (gates * 6, 6)
    assert int((w != 0).sum()) == 2 * gates  # (0,1) and (1,0) in every gate block
    assert masks.sparsity_report(layer).rows[0][1] == 0  # input weights untouched
    # Unit 3 (no edges) never sees the past of unit 2; without a self-loop an RNN or LSTM unit
    # does not even see its own past output (a GRU keeps it through its update gate).
    h0 = torch.zeros(1, 1, 6, requires_grad=True)
    x = torch.randn(1, 3, 2)
    if layer_cls is MaskedLSTM:
        out, _ = layer(x, (h0, torch.zeros(1, 1, 6)))
    else:
        out, _ = layer(x, h0)
    (grad,) = torch.autograd.grad(out[0, -1, 3], h0)
    assert grad[0, 0, 2] == 0
    assert (grad[0, 0, 3] == 0) == (layer_cls is not MaskedGRU)


def test_apply_graph_mask_checks_the_layer():
    with pytest.raises(ValueError, match="masked recurrent layer"):
        graphs.apply_graph_mask(torch.nn.RNN(2, 4), nx.path_graph(4))
    with pytest.raises(ValueError, match="hidden units"):
        graphs.apply_graph_mask(MaskedRNN(2, 4), nx.path_graph(5))


@pytest.mark.parametrize("kind", graphs.GENERATORS)
def test_graph_with_density_lands_near_the_target(kind):
    rng = random.Random(0)
    for target in (0.1, 0.3):
        g, _ = graphs.graph_with_density(kind, 40, target, rng)
        assert g.number_of_nodes() == 40
        assert abs(nx.density(g) - target) < 0.06


def test_generators_differ_in_shape_at_equal_density():
    # A lattice-like Watts–Strogatz graph (beta = 0) is clustered with long paths; BA has hubs.
    ws = graphs.random_graph("watts_strogatz", 40, seed=0, k=4, beta=0.0)
    er = graphs.random_graph("erdos_renyi", 40, seed=0, p=nx.density(ws))
    ba = graphs.random_graph("barabasi_albert", 40, seed=0, m=2)
    p_ws, p_er, p_ba = (graphs.graph_properties(g) for g in (ws, er, ba))
    assert p_ws["clustering"] > 0.4 > p_er["clustering"]
    assert p_ws["path_length"] > 2 * p_er["path_length"] > 0
    assert p_ba["degree_std"] > 2 * p_ws["degree_std"] + 1


def test_random_graph_checks_its_arguments():
    with pytest.raises(ValueError, match="kind"):
        graphs.random_graph("small_world", 10, seed=0, p=0.1)
    with pytest.raises(ValueError, match="takes parameters"):
        graphs.random_graph("erdos_renyi", 10, seed=0, m=2)
    with pytest.raises(ValueError, match=r"n must be an integer in \[4, inf\]"):
        graphs.random_graph("erdos_renyi", 3, seed=0, p=0.1)
    with pytest.raises(ValueError, match="density"):
        graphs.graph_with_density("erdos_renyi", 10, 0.0, random.Random(0))


def test_rank_correlation_first_principles():
    assert graphs.rank_correlation([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert graphs.rank_correlation([1, 2, 3, 4], [1, 8, 27, 64]) == pytest.approx(1.0)  # monotone
    assert graphs.rank_correlation([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    # Ties share their mean rank: ranks (0.5, 0.5, 2) and (0, 1, 2) -> Pearson of the ranks.
    r = torch.corrcoef(torch.tensor([[0.5, 0.5, 2.0], [0.0, 1.0, 2.0]]))[0, 1].item()
    assert graphs.rank_correlation([1, 1, 2], [1, 2, 3]) == pytest.approx(r)
    assert graphs.rank_correlation([1, float("nan"), 2, 3], [1, 5, 2, 3]) == pytest.approx(1.0)
    assert math.isnan(graphs.rank_correlation([1, 1, 1], [1, 2, 3]))
    with pytest.raises(ValueError, match="same length"):
        graphs.rank_correlation([1, 2], [1, 2, 3])


def test_loo_r2_is_one_for_an_exact_linear_law_and_low_for_noise():
    rng = np.random.default_rng(0)
    x = rng.uniform(size=30)
    z = rng.uniform(size=30)
    assert graphs.loo_r2({"x": x, "z": z}, 3 * x - 2 * z + 1) == pytest.approx(1.0)
    assert graphs.loo_r2({"x": x}, rng.normal(size=30)) < 0.1  # nothing to predict
    # NaN rows are dropped, not propagated.
    x_nan = np.append(x, np.nan)
    assert graphs.loo_r2({"x": x_nan}, np.append(2 * x, 5.0)) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="complete rows"):
        graphs.loo_r2({"x": [1.0, 2.0]}, [1.0, 2.0])
