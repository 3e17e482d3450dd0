"""Bad input to helpers.structured (notebook 03): gates, the gated CNN, FLOPs, the schedule.

Every case goes through ``assert_rejects`` (bad_input.py): a ValueError/TypeError raised by helpers
code, a message naming the argument and what is allowed, and the model left exactly as it was.
"""

from __future__ import annotations

import math

import pytest
import torch
from bad_input import assert_rejects
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from helpers.papers import structured_continuous_sparsification as structured

FEW = settings(max_examples=20, deadline=None)

NOT_A_POSITIVE_INT = st.one_of(
    st.integers(max_value=0), st.floats(), st.booleans(), st.text(max_size=2), st.none()
)
NOT_A_NUMBER = st.one_of(
    st.text(max_size=2), st.none(), st.booleans(), st.just([1.0]), st.just(math.nan)
)


def tiny(**kwargs: object) -> structured.GatedResCNN1d:
    torch.manual_seed(0)
    args = {"length": 12, "channels": 3, "widths": (4, 4), "num_classes": 3, **kwargs}
    return structured.GatedResCNN1d(**args)


@FEW
@given(bad=NOT_A_POSITIVE_INT)
def test_sizes_must_be_positive_integers(bad):
    for call, name in (
        (lambda: structured.ChannelGate(bad), "num_units"),
        (lambda: structured.GatedBlock(bad, 4), "channels"),
        (lambda: structured.GatedBlock(3, bad), "width"),
        (lambda: tiny(length=bad), "length"),
        (lambda: tiny(channels=bad), "channels"),
        (lambda: tiny(num_classes=bad), "num_classes"),
        (lambda: structured.anneal_rate(10.0, bad), "steps"),
    ):
        assert_rejects(call, name, "integer")


@FEW
@given(
    init=st.one_of(
        st.text(min_size=1, max_size=3),
        st.just(math.nan),
        st.just(math.inf),
        st.lists(st.floats(-1, 1), min_size=2, max_size=2),  # 2 numbers for 3 units
        st.just(torch.ones(3, dtype=torch.complex64)),
    )
)
def test_gate_init_must_be_finite_numbers_of_the_right_count(init):
    assert_rejects(lambda: structured.ChannelGate(3, init=init), "init", "number")


@FEW
@given(
    keep=st.one_of(
        st.lists(st.integers(0, 1), min_size=1, max_size=6).filter(lambda k: len(k) != 4),
        st.lists(st.floats(0.01, 0.99), min_size=4, max_size=4),  # not 0/1
        st.text(min_size=1, max_size=3),
    )
)
def test_fix_gates_checks_every_mask_before_freezing_any(keep):
    model = tiny()
    masks = {"blocks.0.unit_gate": torch.tensor([1, 0, 1, 1]), "blocks.1.unit_gate": keep}
    error = assert_rejects(
        lambda: structured.fix_gates_(model, masks), "keep['blocks.1.unit_gate']", "",
        unchanged=(model,),
    )  # fmt: skip
    assert "shape" in str(error) or "0 and 1" in str(error) or "zeros and ones" in str(error)
    assert not bool(model.blocks[0].unit_gate.fixed)  # the good first mask was not applied


def test_fix_gates_and_model_level_helpers_reject_unsupported_models():
    plain = tiny(gated=False)
    for call, name, allowed in (
        (lambda: structured.fix_gates_(nn.Linear(2, 2)), "model", "allowed"),
        (lambda: structured.fix_gates_(tiny(), ["blocks.0.unit_gate"]), "keep", "dict"),
        (lambda: structured.gates("model"), "model", "torch.nn.Module"),
        (lambda: structured.all_units(3), "model", "torch.nn.Module"),
        (lambda: structured.active_widths(nn.Linear(2, 2)), "model", "GatedResCNN1d"),
        (lambda: structured.active_widths(plain), "model", "gated=True"),
        (lambda: structured.compact(plain), "model", "gated=True"),
        (lambda: structured.compact(nn.Linear(2, 2)), "model", "GatedResCNN1d"),
        (lambda: structured.gated_flops(nn.Linear(2, 2)), "model", "GatedResCNN1d"),
        (lambda: structured.l1_channel_keep(nn.Linear(2, 2), [1]), "model", "GatedResCNN1d"),
        (lambda: structured.uniform_keep_for_flops(plain, 1e6), "model", "gated=True"),
        (lambda: structured.make_optimizer("model", 0.1, 10), "model", "torch.nn.Module"),
    ):
        assert_rejects(call, name, allowed, unchanged=(plain,))


@FEW
@given(drop=st.sets(st.sampled_from(["blocks.0.unit_gate", "blocks.1.block_gate"]), min_size=1))
def test_gated_flops_needs_every_gate_in_units(drop):
    model = tiny()
    units = {k: v for k, v in structured.all_units(model).items() if k not in drop}
    assert_rejects(lambda: structured.gated_flops(model, units), "units", "every gate")
    assert_rejects(lambda: structured.gated_flops(model, [1.0]), "units", "dict")


@FEW
@given(
    shape=st.one_of(
        st.tuples(st.integers(1, 3), st.integers(1, 20).filter(lambda n: n != 12)),
        st.tuples(st.integers(1, 3), st.integers(2, 3), st.just(12)),
        st.tuples(st.integers(1, 2), st.just(1), st.just(1), st.just(12)),
    )
)
def test_the_gated_network_rejects_inputs_of_the_wrong_shape(shape):
    model = tiny()
    assert_rejects(lambda: model(torch.zeros(shape)), "x", "(N, 12)", unchanged=(model,))
    assert_rejects(lambda: model(torch.zeros(12).tolist()), "x", "torch.Tensor")


@FEW
@given(rate=st.one_of(st.floats(max_value=1.0, exclude_max=True), st.just(math.inf), NOT_A_NUMBER))
def test_temperature_rates_must_be_finite_and_at_least_one(rate):
    model = tiny()
    gate = model.blocks[0].unit_gate
    allowed = "[1.0, inf]"
    assert_rejects(lambda: gate.anneal_(rate), "rate", allowed, unchanged=(model,))
    assert_rejects(lambda: structured.anneal_rate(rate, 10), "final_temperature", allowed)
    assert_rejects(
        lambda: structured.GrowPruneSchedule(model, 1e5, 1.0, rate, 4), "rate", allowed,
        unchanged=(model,),
    )  # fmt: skip


@FEW
@given(bad=st.one_of(st.floats(max_value=0.0), st.just(math.inf), NOT_A_NUMBER))
def test_learning_rates_and_budgets_must_be_positive_finite_numbers(bad):
    model = tiny()
    for call, name in (
        (lambda: structured.make_optimizer(model, bad, 10, 0.1), "lr"),
        (lambda: structured.make_optimizer(model, 0.1, 10, bad), "gate_lr"),
        (lambda: structured.GrowPruneSchedule(model, bad, 1.0, 1.1, 4), "target_flops"),
    ):
        assert_rejects(call, name, "(0.0, inf]", unchanged=(model,))


@FEW
@given(bad=st.one_of(st.floats(max_value=0.0, exclude_max=True), st.just(math.inf), NOT_A_NUMBER))
def test_schedule_strength_must_be_a_finite_non_negative_number(bad):
    model = tiny()
    assert_rejects(
        lambda: structured.GrowPruneSchedule(model, 1e5, bad, 1.1, 4), "strength", "[0.0, inf]",
        unchanged=(model,),
    )  # fmt: skip


@pytest.mark.parametrize(
    ("kwargs", "name", "allowed"),
    [
        ({"widths": 4}, "widths", "list of positive integers"),
        ({"widths": "44"}, "widths", "list of positive integers"),
        ({"seed_width": "2"}, "seed_width", "integer"),
        ({"seed_blocks": 1.5}, "seed_blocks", "integer in [0, 2]"),
        ({"seed_logit": "2"}, "seed_logit", "number"),
        ({"grow_logit": math.nan}, "grow_logit", "number"),
        ({"sampling": "yes"}, "sampling", "True or False"),
        ({"gated": 1}, "gated", "True or False"),
    ],
)
def test_the_gated_network_rejects_bad_constructor_arguments(kwargs, name, allowed):
    assert_rejects(lambda: tiny(**kwargs), name, allowed)


@FEW
@given(budget=st.one_of(st.text(max_size=2), st.none(), st.just(math.nan), st.just([1e6])))
def test_filter_pruning_budgets_must_be_numbers_and_widths_a_list(budget):
    model = tiny()
    assert_rejects(lambda: structured.uniform_keep_for_flops(model, budget), "budget", "number")
    assert_rejects(
        lambda: structured.l1_pruned_copy(model, budget), "budget", "number", unchanged=(model,)
    )
    assert_rejects(lambda: structured.l1_channel_keep(model, 3), "widths", "list")
    assert_rejects(lambda: structured.l1_channel_keep(model, [2, 9]), "widths[1]", "[0, 4]")


def test_valid_calls_still_work():
    """The checks must not reject what notebook 03 does: lists for init and keep, a fixed net."""
    gate = structured.ChannelGate(4, init=[2.0, 0.5, -0.5, -2.0])
    gate.fix_([True, False, True, False])
    assert gate.keep().tolist() == [True, False, True, False]
    model = tiny()
    structured.fix_gates_(model)
    optimizer, _ = structured.make_optimizer(model, 0.1, 10)  # no trainable gates: no gate_lr
    assert len(optimizer.param_groups) == 1
    assert model(torch.zeros(2, 12)).shape == (2, 3)


@FEW
@given(budget=st.one_of(st.floats(max_value=0.0), st.just(math.inf), NOT_A_NUMBER))
def test_the_last_step_needs_a_positive_finite_budget(budget):
    model = tiny()
    assert_rejects(
        lambda: structured.project_to_budget_(model, budget), "budget", "(0.0, inf]",
        unchanged=(model,),
    )  # fmt: skip
    assert_rejects(
        lambda: structured.project_to_budget_(nn.Linear(2, 2), 1e5), "model", "GatedResCNN1d"
    )


@FEW
@given(steps=NOT_A_POSITIVE_INT)
def test_fixed_steps_needs_a_loader_and_a_positive_step_count(steps):
    assert_rejects(lambda: structured.FixedSteps([(1, 2)], steps), "steps", "integer")
    assert_rejects(lambda: structured.FixedSteps(7, 3), "loader", "loader")
