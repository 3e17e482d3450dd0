"""Bad input to helpers.navigation and helpers.geometric (notebook 08).

Every case goes through ``assert_rejects`` (bad_input.py): a ValueError/TypeError raised by helpers
code, a message naming the argument and what is allowed, and the models and the generator left
exactly as they were (nothing drawn before a check fails).
"""

from __future__ import annotations

import math

import matplotlib
import torch
from bad_input import assert_rejects
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from helpers.papers.geometric_sparsification import geometric, navigation

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 - after choosing the headless backend

FEW = settings(max_examples=20, deadline=None)

NOT_POSITIVE = st.one_of(
    st.floats(max_value=0.0), st.just(math.inf), st.text(max_size=2), st.none(), st.booleans()
)
NOT_A_GENERATOR = st.one_of(st.integers(), st.text(max_size=2))


def cells() -> navigation.PlaceCells:
    return navigation.PlaceCells(8, generator=torch.Generator().manual_seed(0))


def rnn(place_cells: navigation.PlaceCells) -> navigation.PathIntegrationRNN:
    torch.manual_seed(0)
    return navigation.PathIntegrationRNN(place_cells, 4)


# --- navigation -------------------------------------------------------------------------------


@FEW
@given(bad=NOT_POSITIVE)
def test_widths_lengths_and_speeds_must_be_positive_finite_numbers(bad):
    g = torch.Generator().manual_seed(0)
    for call, name in (
        (lambda: navigation.PlaceCells(8, sigma=bad, generator=g), "sigma"),
        (lambda: navigation.PlaceCells(8, box=bad, generator=g), "box"),
        (lambda: navigation.make_walks(3, box=bad, generator=g), "box"),
        (lambda: navigation.make_walks(3, dt=bad, generator=g), "dt"),
        (lambda: navigation.make_walks(3, speed_scale=bad, generator=g), "speed_scale"),
    ):
        assert_rejects(call, name, "(0.0, inf]", unchanged=(g,))


@FEW
@given(
    bad=st.one_of(st.integers(max_value=2), st.floats(), st.text(max_size=2), st.booleans()),
    generator=NOT_A_GENERATOR,
)
def test_counts_and_generators_are_checked_before_drawing(bad, generator):
    g = torch.Generator().manual_seed(0)
    for call, name, allowed in (
        (lambda: navigation.PlaceCells(bad, generator=g), "n_cells", "[3, inf]"),
        (lambda: navigation.PlaceCells(8, generator=generator), "generator", "torch.Generator"),
        (lambda: navigation.make_walks(3, generator=generator), "generator", "torch.Generator"),
        (lambda: navigation.make_walks(3, turn_sd=-1.0 if bad is None else str(bad), generator=g), "turn_sd", "[0.0, inf]"),
        (lambda: navigation.PathIntegrationRNN(cells(), hidden_size=str(bad)), "hidden_size", "integer"),
    ):  # fmt: skip
        assert_rejects(call, name, allowed, unchanged=(g,))


@FEW
@given(shape=st.lists(st.integers(1, 4), min_size=1, max_size=4).map(tuple))
def test_walks_positions_and_logits_of_the_wrong_shape(shape):
    pc = cells()
    model = rnn(pc)
    ensemble = navigation.PathIntegrationEnsemble([model, rnn(pc)])
    bad = torch.zeros(shape)
    if not (len(shape) == 3 and shape[-1] == 2 and shape[1] >= 2):
        assert_rejects(lambda: model(bad), "x", "(N, T + 1, 2)", unchanged=(model,))
        assert_rejects(lambda: ensemble(bad), "x", "(N, T + 1, 2)", unchanged=(ensemble,))
    if shape[-1] != 2:
        assert_rejects(lambda: pc(bad), "positions", "size 2", unchanged=(pc,))
    if shape[-1] != 8:
        assert_rejects(lambda: pc.decode(bad), "activity", "n_cells=8")
        assert_rejects(lambda: model.loss(bad, torch.zeros(2, 3, 2)), "logits", "n_cells=8")
    positions = torch.zeros(2, 3, 2)
    if shape[:-1] != (2, 3):  # logits of shape (*shape[:-1], 8) must not fit positions (2, 3, 2)
        assert_rejects(
            lambda: model.loss(torch.zeros(*shape[:-1], 8), positions), "positions", "(N, T, 2)"
        )
        assert_rejects(
            lambda: navigation.decoded_error(torch.zeros(*shape[:-1], 8), positions, pc),
            "positions",
            "(N, T, 2)",
        )
    if shape[:-1] != (2, 3):
        assert_rejects(
            lambda: ensemble.loss(torch.zeros(2, *shape[:-1], 8), positions),
            "positions",
            "(M, N, T, n_cells)",
        )


def test_models_walks_and_place_cells_of_the_wrong_kind():
    pc = cells()
    model = rnn(pc)
    walks = navigation.make_walks(3, 4, generator=torch.Generator().manual_seed(0))
    for call, name, allowed in (
        (lambda: navigation.PathIntegrationRNN("cells"), "place_cells", "PlaceCells"),
        (lambda: navigation.PathIntegrationEnsemble(3), "members", "non-empty list"),
        (lambda: navigation.PathIntegrationEnsemble("ab"), "members", "non-empty list"),
        (lambda: navigation.PathIntegrationEnsemble([]), "members", "non-empty list"),
        (lambda: navigation.decoded_errors(nn.Linear(2, 2), walks), "model", "PathIntegrationRNN"),
        (lambda: navigation.decoded_errors(model, (walks.x, walks.y)), "walks", "Walks"),
        (lambda: navigation.decoded_errors(model, walks, batch_size=0), "batch_size", "[1, inf]"),
        (lambda: navigation.decoded_error(torch.zeros(3, 4, 8), walks.y, "cells"), "place_cells", "PlaceCells"),
        (lambda: navigation.decoded_error([0.0], walks.y, pc), "logits", "torch.Tensor"),
        (lambda: pc.decode(torch.zeros(2, 8), "3"), "k", "integer"),
        (lambda: pc([0.0, 0.0]), "positions", "torch.Tensor"),
        (lambda: walks.split(3), "n", "[1, 2]"),
        (lambda: walks.split(0), "n", "[1, 2]"),
        (lambda: walks.split(1.5), "n", "integer"),
    ):  # fmt: skip
        assert_rejects(call, name, allowed, unchanged=(model, walks.x))


# --- geometric --------------------------------------------------------------------------------


@FEW
@given(kind=st.text(max_size=5).filter(lambda k: k not in geometric.INHIBITORS))
def test_a_bad_inhibitor_is_rejected_before_any_neuron_is_drawn(kind):
    g = torch.Generator().manual_seed(0)
    assert_rejects(lambda: geometric.make_geometry(4, "torus", kind, g), "kind", "'dog'", (g,))
    assert_rejects(lambda: geometric.inhibitor(torch.zeros(3), kind), "kind", "'dog'")


@FEW
@given(
    names=st.one_of(
        st.text(min_size=1, max_size=5),
        st.integers(),
        st.just([]),
        st.lists(st.sampled_from(["torus", "cube", 3]), min_size=1, max_size=3).filter(
            lambda n: n != ["torus"] * len(n)
        ),
    )
)
def test_conditions_must_be_a_non_empty_list_of_known_names(names):
    g = torch.Generator().manual_seed(0)
    assert_rejects(lambda: geometric.make_conditions(names, 4, g), "names", "", unchanged=(g,))


@FEW
@given(bad=NOT_POSITIVE, generator=NOT_A_GENERATOR)
def test_coefficients_penalties_and_generators(bad, generator):
    layer = nn.Linear(4, 4)
    g = torch.Generator().manual_seed(0)
    for call, name, allowed in (
        (lambda: geometric.uniform_coefficients(4, bad), "value", "(0.0, inf]"),
        (lambda: geometric.embed_neurons(4, "torus", generator), "generator", "torch.Generator"),
        (lambda: geometric.permuted(torch.ones(4, 4), generator), "generator", "torch.Generator"),
        (lambda: geometric.make_conditions(["torus"], 4, generator), "generator", "torch.Generator"),
        (lambda: geometric.ModuliPenalty(layer, torch.ones(4, 4), -1.0 if bad is None else bad), "strength", "[0.0, inf]"),
        (lambda: geometric.ModuliPenalty(layer, torch.ones(4, 4), 1.0, power=str(bad)), "power", "integer in [1, 2]"),
    ):  # fmt: skip
        if name == "strength" and isinstance(bad, float) and bad == 0.0:
            continue  # strength 0 is allowed: no penalty
        assert_rejects(call, name, allowed, unchanged=(layer, g))


def test_tensors_shapes_modules_and_drawings():
    layer = nn.Linear(4, 4)
    geometry = geometric.make_geometry(4, "torus", generator=torch.Generator().manual_seed(0))
    figures = plt.get_fignums()
    for call, name, allowed in (
        (lambda: geometric.manifold_distances([[0.0, 0.0]], "torus"), "a", "torch.Tensor"),
        (lambda: geometric.manifold_distances(torch.zeros(2, 3, dtype=torch.long), "sphere"), "a", "floating-point"),
        (lambda: geometric.manifold_distances(torch.zeros(2, 2), "torus", torch.zeros(3, 3)), "b", "(n, 2)"),
        (lambda: geometric.inhibitor([1.0]), "d", "torch.Tensor"),
        (lambda: geometric.permuted([1.0, 2.0]), "coefficients", "torch.Tensor"),
        (lambda: geometric.ModuliPenalty("layer", torch.ones(4, 4), 1.0), "module", "torch.nn.Module"),
        (lambda: geometric.ModuliPenalty(layer, [[1.0] * 4] * 4, 1.0), "coefficients", "torch.Tensor"),
        (lambda: geometric.ModuliPenalty(layer, torch.ones(3, 3), 1.0), "coefficients", "shape"),
        (lambda: geometric.ModuliPenalty(layer, torch.ones(4, 4), 1.0, name=3), "name", "string"),
        (lambda: geometric.kept_distances(torch.ones(3), torch.zeros(3)), "mask", "2 dimension"),
        (lambda: geometric.kept_distances(torch.ones(2, 3), torch.zeros(2, 3)), "distances", "square"),
        (lambda: geometric.locality_ratio(torch.ones(3), torch.zeros(3, 3)), "mask", "2 dimension"),
        (lambda: geometric.locality_ratio(torch.ones(2, 2), torch.zeros(3, 3)), "mask", "differ in shape"),
        (lambda: geometric.cheapest_share(torch.ones(3, 3), torch.ones(2, 2)), "coefficients", "differ in shape"),
        (lambda: geometric.cheapest_share(torch.ones(3, 3), [[1.0]]), "coefficients", "torch.Tensor"),
        (lambda: geometric.draw_connections(torch.ones(3, 3), geometry), "mask", "(4, 4)"),
        (lambda: geometric.draw_connections(torch.ones(4, 4), geometry, neurons=[7]), "neurons[0]", "[0, 3]"),
        (lambda: geometric.draw_connections(torch.ones(4, 4), geometry, neurons=2), "neurons", "list"),
        (lambda: geometric.draw_connections(torch.ones(4, 4), "torus"), "geometry", "Geometry"),
        (lambda: geometric.draw_connections(torch.ones(4, 4), geometric.make_geometry(4, "sphere")), "sphere", "the circle, the torus"),
    ):  # fmt: skip
        assert_rejects(call, name, allowed, unchanged=(layer, geometry.coords))
    assert plt.get_fignums() == figures  # no failing call left a figure behind
