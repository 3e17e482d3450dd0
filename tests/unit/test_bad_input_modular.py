"""Bad input to helpers.modular (notebook 09): parity data, growable RNNs, the curriculum, the curves.

Every case goes through ``assert_rejects`` (bad_input.py): a ValueError/TypeError raised by helpers
code, a message naming the argument and what is allowed, and the model, its trainable flags and
the generator left exactly as they were (no batch drawn before a check fails).
"""

from __future__ import annotations

import math

import torch
from bad_input import assert_rejects
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from helpers import verdicts
from helpers.papers import modular_growth as modular

FEW = settings(max_examples=20, deadline=None)

NOT_A_POSITIVE_INT = st.one_of(
    st.integers(max_value=0), st.floats(), st.booleans(), st.text(max_size=2), st.none()
)
NOT_A_GENERATOR = st.one_of(st.integers(), st.text(max_size=2), st.just(torch.zeros(1)))


def net(strategy: str = "frozen") -> modular.ModularRNN | modular.MonolithicRNN:
    return modular.build_model(strategy, 3, 2, generator=torch.Generator().manual_seed(0))


def eval_data() -> tuple[torch.Tensor, torch.Tensor]:
    return modular.nparity_batch(4, 5, [2], torch.Generator().manual_seed(1))


@FEW
@given(bad=NOT_A_POSITIVE_INT)
def test_sizes_and_counts_must_be_positive_integers(bad):
    g = torch.Generator().manual_seed(0)
    for call, name in (
        (lambda: modular.nparity_batch(bad, 5, [2], g), "batch_size"),
        (lambda: modular.nparity_batch(2, bad, [2], g), "length"),
        (lambda: modular.ModularRNN(bad, 2, generator=g), "module_size"),
        (lambda: modular.ModularRNN(3, bad, generator=g), "max_modules"),
        (lambda: modular.MonolithicRNN(3, bad, generator=g), "max_heads"),
        (lambda: modular.build_model("monolithic", bad, 2, g), "module_size"),
        (lambda: modular.build_model("frozen", 3, bad, g), "n_modules"),
        (lambda: modular.parity_labels(torch.zeros(2, 5), bad), "order"),
        (lambda: modular.checked_heads("frozen", bad), "stages"),
    ):
        assert_rejects(call, name, "integer", unchanged=(g,))


@FEW
@given(
    orders=st.one_of(
        st.integers(), st.text(min_size=1, max_size=2), st.just([]),
        st.lists(st.one_of(st.integers(max_value=0), st.floats(), st.text(max_size=1)), min_size=1, max_size=2),
    )
)  # fmt: skip
def test_orders_must_be_a_non_empty_list_of_positive_integers(orders):
    model, g = net(), torch.Generator().manual_seed(0)
    for call in (
        lambda: modular.nparity_batch(2, 5, orders, g),
        lambda: modular.train_stage(model, "frozen", orders, eval_data(), generator=g),
        lambda: modular.grow_curriculum(model, "frozen", orders, generator=g),
        lambda: modular.noise_curve(model, [0.1], orders, generator=g),
    ):
        assert_rejects(call, "orders", "list of positive integers", unchanged=(model, g))


@FEW
@given(generator=NOT_A_GENERATOR, device=st.sampled_from(["tpu", "cpu:1", "gpu"]))
def test_generators_and_devices_are_checked_before_drawing(generator, device):
    model, g = net(), torch.Generator().manual_seed(0)
    for call, name, allowed in (
        (lambda: modular.nparity_batch(2, 5, [2], generator), "generator", "torch.Generator"),
        (lambda: modular.nparity_batch(2, 5, [2], g, device=device), "device", "'cpu'"),
        (lambda: modular.nparity_batch(2, 5, [2], g, supervise="first"), "supervise", "'all'"),
        (lambda: modular.nparity_batch(2, 2, [3], g), "too short", "3-parity"),
        (lambda: modular.ModularRNN(3, 2, generator=generator), "generator", "torch.Generator"),
        (lambda: modular.perturbed_copy(model, 0.1, generator), "generator", "torch.Generator"),
    ):
        assert_rejects(call, name, allowed, unchanged=(model, g))


STAGE_ARGUMENTS = {
    "criterion": (st.one_of(st.floats(max_value=0.0), st.floats(min_value=1.0, exclude_min=True), st.text(max_size=2)), "criterion"),
    "max_steps": (NOT_A_POSITIVE_INT, "integer"),
    "batch_size": (NOT_A_POSITIVE_INT, "integer"),
    "eval_every": (NOT_A_POSITIVE_INT, "integer"),
    "lr": (st.one_of(st.floats(max_value=0.0), st.just(math.inf), st.text(max_size=2)), "(0.0, inf]"),
    "supervise": (st.text(max_size=4).filter(lambda s: s not in ("all", "last")), "['all', 'last']"),
    "strategy": (st.text(max_size=4), "one of"),
}  # fmt: skip


@FEW
@given(data_=st.data())
def test_stages_and_curricula_check_everything_before_changing_the_model(data_):
    argument = data_.draw(st.sampled_from(sorted(STAGE_ARGUMENTS)))
    strategy, allowed = STAGE_ARGUMENTS[argument]
    value = data_.draw(strategy)
    model, g = net(), torch.Generator().manual_seed(0)
    model.w_hh[0].requires_grad_(False)  # set_trainable would change this flag: it must not run
    stage = {"max_steps": 1, argument: value}
    stage_strategy = stage.pop("strategy", "frozen")
    assert_rejects(
        lambda: modular.train_stage(model, stage_strategy, [2], eval_data(), generator=g, **stage),
        argument, allowed, unchanged=(model, g),
    )  # fmt: skip
    assert_rejects(
        lambda: modular.grow_curriculum(model, stage_strategy, [2, 3], generator=g, **stage),
        argument, allowed, unchanged=(model, g),
    )  # fmt: skip


def test_models_eval_data_and_curriculum_arguments_that_do_not_fit():
    model, mono, g = net(), net("monolithic"), torch.Generator().manual_seed(0)
    x, y = eval_data()
    for call, name, allowed in (
        (lambda: modular.set_trainable(nn.Linear(2, 2), "frozen"), "model", "ModularRNN"),
        (lambda: modular.set_trainable(mono, "frozen"), "strategy", "for a MonolithicRNN"),
        (lambda: modular.train_stage(model, "frozen", [2], x), "eval_data", "tuple"),
        (lambda: modular.train_stage(model, "frozen", [2], (x, y[:, :2])), "eval_data[1]", "(heads=1"),
        (lambda: modular.train_stage(model, "frozen", [2], (x, y), length=1), "too short", "2-parity"),
        (lambda: modular.grow_curriculum(nn.Linear(2, 2), "frozen", [2]), "model", "ModularRNN"),
        (lambda: modular.grow_curriculum(model, "frozen", [2], bogus=1), "bogus", "allowed"),
        (lambda: modular.grow_curriculum(model, "frozen", [2], eval_size=0), "eval_size", "[1, inf]"),
        (lambda: modular.grow_curriculum(model, "frozen", [2], progress=3), "progress", "tqdm"),
        (lambda: modular.head_accuracies(model, x, y[:, :2]), "y", "(heads, batch, time)"),
        (lambda: model(torch.zeros(2, 5, 2)), "x", "(batch, time, 1)"),
        (lambda: model(x.long()), "x", "float tensor"),
        (lambda: model(x, unit_mask=[1.0] * 3), "unit_mask", "torch.Tensor"),
        (lambda: model.module_parameters("0"), "d", "integer in [0, 1]"),
    ):  # fmt: skip
        assert_rejects(call, name, allowed, unchanged=(model, mono, g))


@FEW
@given(
    sigma=st.one_of(
        st.floats(max_value=0.0, exclude_max=True),
        st.just(math.inf),
        st.just(math.nan),
        st.text(max_size=2),
    )
)
def test_noise_levels_and_fractions_are_checked_before_any_batch_is_drawn(sigma):
    model, g = net(), torch.Generator().manual_seed(0)
    for call, name, allowed in (
        (lambda: modular.perturbed_copy(model, sigma, g), "sigma", "[0.0, inf]"),
        (lambda: modular.noise_curve(model, [0.0, sigma], [2], n=2, draws=1, generator=g), "sigmas[1]", "[0.0, inf]"),
        (lambda: modular.noise_curve(model, sigma, [2], generator=g), "sigmas", "list"),
        (lambda: modular.ablation_curve(model, [0.0, sigma], [2], n=2, draws=1, generator=g), "fractions[1]", "[0.0, 1.0]"),
        (lambda: modular.ablation_curve(model, [0.5, 1.5], [2], generator=g), "fractions[1]", "[0.0, 1.0]"),
        (lambda: modular.length_curve(model, [30, sigma], [2], window=5, n=2, generator=g), "lengths[1]", "integer"),
        (lambda: modular.length_curve(model, [30, 4], [2], window=5, n=2, generator=g), "lengths", "at least window=5"),
        (lambda: modular.noise_curve(model, [0.1], [2], n=0, generator=g), "n", "[1, inf]"),
        (lambda: modular.noise_curve(model, [0.1], [2, 3], generator=g), "orders", "1 active heads"),
    ):  # fmt: skip
        assert_rejects(call, name, allowed, unchanged=(model, g))


def test_valid_bits_of_any_integer_or_float_dtype_still_give_parity_labels():
    bits = torch.tensor([[1, 0, 1, 1]])
    for converted in (bits, bits.float(), bits.bool()):
        assert modular.parity_labels(converted, 2).tolist() == [[-100, 1, 1, 0]]
    assert_rejects(lambda: modular.parity_labels(bits * 2, 2), "bits", "0 and 1")
    assert_rejects(lambda: modular.parity_labels(bits.tolist(), 2), "bits", "torch.Tensor")


def test_controls_matched_sizes_fixed_training_sets_and_comparisons_check_their_arguments():
    model, g = net(), torch.Generator().manual_seed(0)
    x, y = eval_data()
    model.grow()  # module 2 has random W_hh: not a no-memory control
    c = modular.pairwise_comparisons(
        "c", {"a": [1.0, 2.0], "b": [1.0, 1.5]}, ["a"], ["b"], threshold=0.1
    )
    for call, name, allowed in (
        (lambda: modular.set_trainable(model, "no_intra"), "no_intra", "W_hh = 0"),
        (lambda: modular.build_model("frozen", 3, 2, hidden_size=4), "hidden_size", "'monolithic' only"),
        (lambda: modular.build_model("monolithic", 3, 2, hidden_size=0), "hidden_size", "[1, inf]"),
        (lambda: modular.matched_hidden_size(0, 2), "module_size", "[1, inf]"),
        (lambda: modular.grow_curriculum(net(), "frozen", [2], train_streams=0), "train_streams", "[1, inf]"),
        (lambda: modular.train_stage(net(), "frozen", [2], (x, y), train_data=x), "train_data", "tuple"),
        (lambda: modular.pairwise_comparisons("c", [1.0], ["a"], ["b"], threshold=0.1), "values", "dict"),
        (lambda: modular.pairwise_comparisons("c", {"a": [1.0]}, ["a"], ["b"], threshold=0.1), "'b'", "values has"),
        (lambda: verdicts.combined_row("c", "p", []), "comparisons", "at least 1"),
        (lambda: verdicts.combined_row("c", "p", [c[0], "holds"]), "comparisons[1]", "Comparison"),
    ):  # fmt: skip
        assert_rejects(call, name, allowed, unchanged=(model, g))
