"""Manifold embeddings, distances and the moduli penalty (notebook 08), against first principles."""

import math

import matplotlib
import pytest
import torch
from torch import nn

from helpers import masks
from helpers.papers.geometric_sparsification import geometric as geo

matplotlib.use("Agg")


def _coords(manifold, n=12, seed=0):
    return geo.embed_neurons(n, manifold, torch.Generator().manual_seed(seed))


# --- embeddings and distances -----------------------------------------------------------------
@pytest.mark.parametrize("manifold", geo.MANIFOLDS)
def test_distances_are_a_metric(manifold):
    d = geo.manifold_distances(_coords(manifold), manifold)
    assert d.shape == (12, 12)
    assert torch.allclose(d, d.T, atol=1e-5)
    assert torch.allclose(d.diagonal(), torch.zeros(12), atol=1e-3)
    assert (d >= 0).all()
    # Triangle inequality d(a, c) <= d(a, b) + d(b, c) for every triple.
    assert (d.unsqueeze(1) <= d.unsqueeze(2) + d.unsqueeze(0) + 1e-4).all()


def test_embeddings_lie_on_their_manifolds():
    assert _coords("circle").shape == (12, 1)
    assert (_coords("circle") >= 0).all() and (_coords("circle") < 2 * math.pi).all()
    assert torch.allclose(_coords("sphere").norm(dim=1), torch.ones(12))
    for manifold, dim in (("torus", 2), ("torus6", 6), ("klein", 2)):
        c = _coords(manifold)
        assert c.shape == (12, dim) and (c >= 0).all() and (c < geo.SIDE).all()


def test_the_torus_wraps_around():
    a = torch.tensor([[0.5, 0.0], [0.0, 0.0]])
    b = torch.tensor([[9.5, 0.0], [5.0, 5.0]])
    d = geo.manifold_distances(a, "torus", b)
    assert d[0, 0].item() == pytest.approx(1.0)  # across the edge, not 9.0
    assert d[1, 1].item() == pytest.approx(5 * math.sqrt(2))  # the farthest point
    coords = _coords("torus", 20)
    shifted = (coords + torch.tensor([3.3, 7.1])) % geo.SIDE
    assert torch.allclose(
        geo.manifold_distances(coords, "torus"), geo.manifold_distances(shifted, "torus"), atol=1e-4
    )


def test_the_circle_measures_arc_length():
    angles = torch.tensor([[0.1], [2 * math.pi - 0.1], [math.pi + 0.1]])
    d = geo.manifold_distances(angles, "circle")
    assert d[0, 1].item() == pytest.approx(geo.RADIUS * 0.2, rel=1e-5)
    assert d[0, 2].item() == pytest.approx(geo.RADIUS * math.pi, rel=1e-5)


def test_the_sphere_measures_great_circle_arcs():
    points = torch.tensor([[1.0, 0, 0], [0, 1.0, 0], [-1.0, 0, 0]])
    d = geo.manifold_distances(points, "sphere")
    assert d[0, 1].item() == pytest.approx(geo.RADIUS * math.pi / 2, rel=1e-5)
    assert d[0, 2].item() == pytest.approx(geo.RADIUS * math.pi, rel=1e-5)


def test_the_klein_bottle_glues_with_a_flip():
    a = torch.tensor([[0.5, 3.0], [2.0, 0.5]])
    b = torch.tensor([[9.5, 7.0], [2.0, 9.5]])
    d = geo.manifold_distances(a, "klein", b)
    # (9.5, 7) is glued to (-0.5, 3): one unit from (0.5, 3), where the torus would say sqrt(17).
    assert d[0, 0].item() == pytest.approx(1.0)
    assert geo.manifold_distances(a, "torus", b)[0, 0].item() == pytest.approx(math.sqrt(17))
    assert d[1, 1].item() == pytest.approx(1.0)  # plain vertical wrap


def test_bad_manifold_arguments_raise():
    with pytest.raises(ValueError, match="manifold must be one of"):
        geo.embed_neurons(4, "cylinder")
    with pytest.raises(ValueError, match="n must be"):
        geo.embed_neurons(0, "torus")
    with pytest.raises(ValueError, match="shape"):
        geo.manifold_distances(torch.zeros(4, 3), "torus")


# --- inhibitor functions and coefficients ------------------------------------------------------
def test_the_inverted_dog_frees_a_ring_of_neighbours():
    d = torch.linspace(0, 10, 100001)
    dog = geo.difference_of_gaussians(d)
    assert geo.DOG_MAX == pytest.approx(dog.max().item(), rel=1e-6)
    f = geo.inhibitor(d, "dog")
    assert (f >= -1e-4).all()
    assert f[0].item() == pytest.approx(geo.DOG_MAX)  # a neuron onto itself pays the most
    assert d[f.argmin()].item() == pytest.approx(0.888, abs=0.002)  # the free ring
    assert f[-1].item() == pytest.approx(geo.DOG_MAX, rel=1e-4)  # far neurons pay the most too
    assert f[5000].item() < 0.4 * geo.DOG_MAX  # d = 0.5: a near neighbour is cheap


def test_square_and_ripple_inhibitors():
    d = torch.tensor([0.0, 1.0, math.pi / 2])
    assert torch.allclose(geo.inhibitor(d, "square"), d**2)
    assert torch.allclose(geo.inhibitor(d, "ripple"), 50 + 50 * torch.cos(2 * d))
    with pytest.raises(ValueError, match="kind must be one of"):
        geo.inhibitor(d, "cube")


def test_geometry_bundles_consistent_pieces():
    g = geo.make_geometry(10, "torus", "dog", torch.Generator().manual_seed(0))
    assert torch.allclose(g.distances, geo.manifold_distances(g.coords, "torus"))
    assert torch.allclose(g.coefficients, geo.inhibitor(g.distances, "dog"))


def test_permuting_keeps_the_values_and_destroys_the_arrangement():
    r = geo.make_geometry(16, "torus", generator=torch.Generator().manual_seed(1)).coefficients
    p = geo.permuted(r, torch.Generator().manual_seed(2))
    assert torch.equal(p.flatten().sort().values, r.flatten().sort().values)
    assert not torch.equal(p, r)
    assert torch.equal(p, geo.permuted(r, torch.Generator().manual_seed(2)))


def test_uniform_coefficients_are_plain_l1():
    assert torch.equal(geo.uniform_coefficients(3, 2.5), torch.full((3, 3), 2.5))
    with pytest.raises(ValueError):
        geo.uniform_coefficients(3, 0.0)


def test_conditions_share_one_torus_and_build_the_controls_from_it():
    names = ["none", "l1", "random", "circle", "torus", "torus_square"]
    conditions = geo.make_conditions(names, 10, torch.Generator().manual_seed(4))
    torus = conditions["torus"].geometry
    assert conditions["none"].coefficients is None
    for name in ("none", "l1", "random", "torus_square"):
        assert torch.equal(conditions[name].geometry.coords, torus.coords)
    d = torus.distances
    # L1 is strength-matched: one constant, the torus penalty's mean coefficient (and the shuffled
    # torus has the same mean, being the same values).
    assert torch.allclose(conditions["l1"].coefficients, torus.coefficients.mean().expand(10, 10))
    assert conditions["random"].coefficients.mean().item() == pytest.approx(
        conditions["l1"].coefficients.mean().item(), rel=1e-5
    )
    assert torch.equal(
        conditions["random"].coefficients.flatten().sort().values,
        torus.coefficients.flatten().sort().values,
    )
    assert torch.allclose(conditions["torus_square"].coefficients, d**2)
    assert conditions["circle"].geometry.manifold == "circle"
    with pytest.raises(ValueError, match="unknown conditions"):
        geo.make_conditions(["torus", "moebius"], 10)


# --- the penalty ------------------------------------------------------------------------------
def test_penalty_is_lambda_times_the_mean_weighted_magnitude():
    torch.manual_seed(0)
    layer = nn.Linear(5, 5, bias=False)
    r = torch.rand(5, 5)
    penalty = geo.ModuliPenalty(layer, r, strength=0.3)
    expected = 0.3 * (r * layer.weight.abs()).mean()
    assert penalty.extra_loss(layer).item() == pytest.approx(expected.item())
    square = geo.ModuliPenalty(layer, r, strength=0.3, power=2)
    assert square.extra_loss(layer).item() == pytest.approx(
        (0.3 * (r * layer.weight**2).mean()).item()
    )


def test_penalty_gradient_is_lambda_r_sign_w_over_n_squared():
    torch.manual_seed(1)
    layer = nn.Linear(4, 4, bias=False)
    r = torch.rand(4, 4)
    geo.ModuliPenalty(layer, r, strength=2.0).extra_loss(layer).backward()
    assert torch.allclose(layer.weight.grad, 2.0 * r * layer.weight.sign() / 16)


def test_penalty_sees_the_masked_weight():
    torch.manual_seed(2)
    layer = masks.to_masked(nn.Linear(4, 4, bias=False))
    mask = torch.ones(4, 4)
    mask[:, 0] = 0
    layer.set_mask("weight", mask)
    r = torch.ones(4, 4)
    value = geo.ModuliPenalty(layer, r, strength=1.0).extra_loss(layer).item()
    assert value == pytest.approx((layer.weight * mask).abs().mean().item())
    assert geo.ModuliPenalty(layer, r, strength=0.0).extra_loss(layer).item() == 0.0


def test_penalty_rejects_bad_arguments():
    layer = nn.Linear(4, 4, bias=False)
    with pytest.raises(ValueError, match="shape"):
        geo.ModuliPenalty(layer, torch.ones(3, 3), 0.1)
    with pytest.raises(ValueError, match="strength"):
        geo.ModuliPenalty(layer, torch.ones(4, 4), -1.0)
    with pytest.raises(ValueError, match="power"):
        geo.ModuliPenalty(layer, torch.ones(4, 4), 0.1, power=3)
    with pytest.raises(ValueError, match="no weight named"):
        geo.ModuliPenalty(layer, torch.ones(4, 4), 0.1, name="kernel")


def test_kept_distances_pick_the_surviving_off_diagonal_connections():
    d = torch.arange(9.0).view(3, 3)
    mask = torch.tensor([[1.0, 0, 1], [0, 1, 0], [1, 1, 0]])
    assert sorted(geo.kept_distances(mask, d).tolist()) == [2.0, 6.0, 7.0]
    with_self = geo.kept_distances(mask, d, include_self=True)
    assert sorted(with_self.tolist()) == [0.0, 2.0, 4.0, 6.0, 7.0]


def test_locality_ratio_compares_kept_distances_with_all_pairs():
    d = torch.tensor([[0.0, 1, 3], [1, 0, 2], [3, 2, 0]])  # pairs: 1, 3, 2 (mean 2)
    near = torch.tensor([[1.0, 1, 0], [1, 1, 0], [0, 0, 1]])  # keeps only the pair at distance 1
    assert geo.locality_ratio(near, d) == pytest.approx(0.5)
    assert geo.locality_ratio(torch.ones(3, 3), d) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="no connection"):
        geo.locality_ratio(torch.eye(3), d)


def test_cheapest_share_counts_survivors_among_the_k_cheapest():
    r = torch.tensor([[5.0, 1], [2, 9]])  # cheapest two entries: (0, 1) and (1, 0)
    assert geo.cheapest_share(torch.tensor([[0.0, 1], [1, 0]]), r) == 1.0
    assert geo.cheapest_share(torch.tensor([[1.0, 1], [0, 0]]), r) == 0.5
    assert geo.cheapest_share(torch.tensor([[1.0, 0], [0, 1]]), r) == 0.0
    with pytest.raises(ValueError, match="no connection"):
        geo.cheapest_share(torch.zeros(2, 2), r)


def test_draw_connections_draws_the_circle_and_the_torus():
    g = geo.make_geometry(10, "circle", generator=torch.Generator().manual_seed(3))
    ax = geo.draw_connections(torch.ones(10, 10), g, neurons=[0, 1], title="circle")
    assert ax.get_title() == "circle" and len(ax.lines) == 18  # 9 senders for each neuron
    # On the torus a connection across an edge is drawn twice, once from each side.
    torus = geo.Geometry("torus", torch.tensor([[0.5, 5.0], [9.5, 5.0], [3.0, 5.0]]), None, None)
    mask = torch.tensor([[1.0, 1, 1], [0, 0, 0], [0, 0, 0]])
    ax = geo.draw_connections(mask, torus, neurons=[0])
    assert len(ax.lines) == 3
    ends = sorted(float(line.get_xdata()[1]) for line in ax.lines)
    assert ends == pytest.approx([-0.5, 3.0, 9.5])  # to the copy at -0.5, and back in from 10.5
    sphere = geo.make_geometry(5, "sphere", generator=torch.Generator().manual_seed(3))
    with pytest.raises(ValueError):
        geo.draw_connections(torch.ones(5, 5), sphere)
