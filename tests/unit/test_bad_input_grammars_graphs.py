"""Bad input to helpers.grammars and helpers.graphs (notebook 07).

Every case goes through ``assert_rejects`` (bad_input.py): a ValueError/TypeError raised by helpers
code (not from networkx or from a builtin called on the bad value), a message naming the argument
and what is allowed, and the random generators and the RNN's masks left exactly as they were.
"""

from __future__ import annotations

import math
import random

import networkx as nx
import torch
from bad_input import assert_rejects
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from helpers import masks
from helpers.papers.sparse_rnns import grammars, graphs

FEW = settings(max_examples=20, deadline=None)

NOT_A_RANDOM = st.one_of(st.integers(), st.none(), st.just(torch.Generator()))
NOT_AN_INT = st.one_of(st.floats(), st.text(max_size=2), st.none(), st.booleans())


# --- grammars ---------------------------------------------------------------------------------


@FEW
@given(rng=NOT_A_RANDOM)
def test_strings_need_a_random_random(rng):
    for call in (
        lambda: grammars.reber_string(rng),
        lambda: grammars.embedded_reber_string(rng),
        lambda: grammars.corrupt("BTXSE", rng),
    ):
        assert_rejects(call, "rng", "random.Random")


@FEW
@given(bad=NOT_AN_INT)
def test_lengths_sizes_and_seeds_must_be_integers(bad):
    rng = random.Random(0)
    for call, name in (
        (lambda: grammars.reber_string(rng, bad, 10), "min_length"),
        (lambda: grammars.reber_string(rng, 5, bad), "max_length"),
        (lambda: grammars.reber_task(4, 4, min_length="5" if bad is None else bad), "min_length"),
        (lambda: grammars.reber_task(bad, 4), "n_train"),
        (lambda: grammars.reber_task(4, bad), "n_test"),
        (lambda: grammars.reber_task(4, 4, seed=bad), "seed"),
        (lambda: grammars.encode(["BTXSE"], bad if bad is not None else "9"), "length"),
    ):
        assert_rejects(call, name, "integer", unchanged=(rng,))


@FEW
@given(
    strings=st.one_of(
        st.text(min_size=1, max_size=5),
        st.integers(),
        st.lists(st.one_of(st.integers(), st.none()), min_size=1, max_size=3),
    )
)
def test_encode_needs_a_list_of_strings(strings):
    assert_rejects(lambda: grammars.encode(strings), "strings", "")


def test_other_grammar_arguments():
    rng = random.Random(0)
    for call, name, allowed in (
        (lambda: grammars.is_reber(3), "s", "string"),
        (lambda: grammars.is_embedded_reber(["B", "E"]), "s", "string"),
        (lambda: grammars.corrupt(3, rng), "s", "string"),
        (lambda: grammars.corrupt("BTXSE", rng, is_valid=3), "is_valid", "function"),
        (lambda: grammars.corrupt("BTXSE", rng, alphabet=""), "alphabet", "non-empty"),
        (lambda: grammars.encode(["BTXSE"], alphabet="BTXSEE"), "alphabet", "distinct"),
        (lambda: grammars.reber_task(4, 4, embedded="yes"), "embedded", "True or False"),
    ):
        assert_rejects(call, name, allowed, unchanged=(rng,))


# --- graphs -----------------------------------------------------------------------------------


@FEW
@given(kind=st.one_of(st.text(max_size=5), st.none(), st.just(["erdos_renyi"])))
def test_a_bad_generator_kind_draws_nothing(kind):
    rng = random.Random(0)
    assert_rejects(
        lambda: graphs.graph_with_density(kind, 8, 0.5, rng), "kind", "'erdos_renyi'", (rng,)
    )
    assert_rejects(lambda: graphs.random_graph(kind, 8, 0, p=0.5), "kind", "'erdos_renyi'")


@FEW
@given(
    density=st.one_of(
        st.floats(max_value=0.0),
        st.floats(min_value=1.0, exclude_min=True),
        st.text(max_size=2),
        st.none(),
    ),
    rng=NOT_A_RANDOM,
)
def test_density_and_rng_are_checked_before_drawing(density, rng):
    good = random.Random(0)
    assert_rejects(
        lambda: graphs.graph_with_density("erdos_renyi", 8, density, good), "density", "", (good,)
    )
    assert_rejects(
        lambda: graphs.graph_with_density("erdos_renyi", 8, 0.5, rng), "rng", "random.Random"
    )


@FEW
@given(
    case=st.sampled_from(["p", "beta", "k", "m"]),
    value=st.one_of(st.floats(-2, -0.01), st.floats(1.01, 20), st.integers(-3, -1), st.integers(8, 20), st.text(max_size=2)),
)  # fmt: skip
def test_generator_parameters_are_checked_by_helpers_not_networkx(case, value):
    params = {
        "p": {"p": value},
        "beta": {"k": 2, "beta": value},
        "k": {"k": value, "beta": 0.5},
        "m": {"m": value},
    }[case]
    kind = {
        "p": "erdos_renyi",
        "beta": "watts_strogatz",
        "k": "watts_strogatz",
        "m": "barabasi_albert",
    }[case]
    assert_rejects(lambda: graphs.random_graph(kind, 8, 0, **params), case, "")


def test_graphs_that_are_not_graphs_or_do_not_fit_the_layer():
    rnn = masks.to_masked(nn.RNN(2, 4))
    ring = nx.cycle_graph(4)
    for call, name, allowed in (
        (lambda: graphs.graph_properties("graph"), "graph", "networkx.Graph"),
        (lambda: graphs.graph_properties(nx.path_graph(4, create_using=nx.DiGraph)), "graph", "undirected"),
        (lambda: graphs.recurrent_mask("graph"), "graph", "networkx.Graph"),
        (lambda: graphs.recurrent_mask(nx.Graph()), "graph", "at least one node"),
        (lambda: graphs.recurrent_mask(ring, self_loops="no"), "self_loops", "True or False"),
        (lambda: graphs.apply_graph_mask(rnn, "graph"), "graph", "networkx.Graph"),
        (lambda: graphs.apply_graph_mask(rnn, nx.relabel_nodes(ring, {0: 9})), "graph", "0..n-1"),
        (lambda: graphs.apply_graph_mask(rnn, nx.cycle_graph(5)), "graph", "hidden units"),
        (lambda: graphs.apply_graph_mask(nn.RNN(2, 4), ring), "rnn", "masked recurrent layer"),
        (lambda: graphs.random_graph("erdos_renyi", 8, "seed", p=0.5), "seed", "integer"),
    ):  # fmt: skip
        assert_rejects(call, name, allowed, unchanged=(rnn,))


@FEW
@given(
    values=st.one_of(
        st.text(min_size=1, max_size=3),
        st.integers(),
        st.just([[1.0, 2.0], [3.0, 4.0]]),
        st.lists(st.text(min_size=1, max_size=1), min_size=1, max_size=3),
    )
)
def test_correlations_and_regressions_need_flat_sequences_of_numbers(values):
    good = [1.0, 2.0, 3.0, 4.0, 5.0]
    assert_rejects(lambda: graphs.rank_correlation(values, good), "x", "numbers")
    assert_rejects(lambda: graphs.rank_correlation(good, values), "y", "numbers")
    assert_rejects(lambda: graphs.loo_r2({"a": values}, good), "features['a']", "numbers")
    assert_rejects(lambda: graphs.loo_r2({"a": good}, values), "target", "numbers")
    assert_rejects(lambda: graphs.loo_r2([good], good), "features", "dict")
    assert math.isnan(graphs.rank_correlation([1.0, math.nan], [2.0, 3.0]))  # NaN pairs still skip
