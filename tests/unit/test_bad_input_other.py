"""Bad input to the main entry points of the later modules (continuous sparsification, AP).

Same checks as test_bad_input.py: ValueError/TypeError from helpers code, a message naming the
argument and what is allowed, and the model unchanged.
"""

from __future__ import annotations

import math

from bad_input import assert_rejects
from hypothesis import given, settings
from hypothesis import strategies as st
from test_bad_input import BAD_FRACTION, half_pruned

from helpers import prune
from helpers.papers import activating_while_pruning as activating
from helpers.papers import continuous_sparsification as continuous

FEW = settings(max_examples=20, deadline=None)


def test_enable_soft_masks_checks_every_weight_before_enabling_any():
    model = half_pruned()
    model.layers[4].enable_soft_mask("weight")  # the last layer already searches
    assert_rejects(
        lambda: continuous.enable_soft_masks(model), "layers.4.weight", "extract_ticket",
        unchanged=(model,),
    )  # fmt: skip
    assert not model.layers[0].has_soft_mask("weight")


@FEW
@given(
    final_temp=st.one_of(
        st.floats(max_value=1.0, exclude_max=True), st.just(math.inf), st.text(max_size=2)
    )
)
def test_temperature_schedule_rejects_bad_final_temperatures(final_temp):
    model = half_pruned()
    assert_rejects(
        lambda: continuous.TemperatureSchedule(model, 10, final_temp), "final_temp", "[1.0, inf]",
        unchanged=(model,),
    )  # fmt: skip
    assert_rejects(lambda: continuous.exponential_temperature("3", 10, 5.0), "step", "number")


@FEW
@given(value=BAD_FRACTION)
def test_activating_pruners_reject_bad_fractions(value):
    model = half_pruned()
    start = activating.current_weights(model)
    for call, name in (
        (lambda: activating.ap_prune(model, start, value), "sparsity"),
        (lambda: activating.prune_with_ap_share(model, start, value, 0.1), "target"),
        (lambda: activating.prune_with_ap_share(model, start, 0.6, value), "ap_share"),
        (
            lambda: activating.imp_with_ap(
                model, prune.snapshot(model), [], [], None, rounds=1, epochs=1, lr=0.1, rate=value
            ),
            "rate",
        ),
        (
            lambda: activating.ActivatingGradualPruning(model, 0.5, 0, 10, ap_share=value),
            "ap_share",
        ),
    ):
        assert_rejects(call, name, "[0.0, 1.0]", unchanged=(model,))
