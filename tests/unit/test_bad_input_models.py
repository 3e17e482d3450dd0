"""Bad models: nothing to prune, not a module at all, or a snapshot of another architecture.

Same checks as test_bad_input.py (``assert_rejects``): ValueError/TypeError from helpers code, a
message naming the argument and what is allowed or needed, and nothing changed.
"""

from __future__ import annotations

import pytest
import torch
from bad_input import assert_rejects
from hypothesis import given, settings
from hypothesis import strategies as st
from test_bad_input import half_pruned
from torch import nn

from helpers import masks, prune
from helpers.core.models import MLP

# --- models with nothing to prune, and things that are not models ------------------------------

NOTHING_TO_MASK = [
    lambda: nn.Sequential(nn.ReLU()),
    nn.Identity,
    nn.Sequential,
    lambda: nn.Embedding(5, 3),
    lambda: nn.Sequential(nn.BatchNorm1d(3), nn.Tanh()),
]
NOT_CONVERTED = lambda: nn.Sequential(nn.Linear(3, 3))  # noqa: E731 - prunable, not masked yet


def _dummy_optimizer() -> torch.optim.Optimizer:
    return torch.optim.SGD([nn.Parameter(torch.zeros(2))], lr=0.1)


# (call on a model, what the message must say is allowed or needed)
NEEDS_MASKED_LAYERS = {
    "magnitude_prune": (lambda m: prune.magnitude_prune(m, 0.5), "to_masked"),
    "random_prune": (lambda m: prune.random_prune(m, 0.5), "to_masked"),
    "pruned_copy": (lambda m: prune.pruned_copy(m, "magnitude-layer", 0.5), "to_masked"),
    "prune_by_scores": (lambda m: prune.prune_by_scores(m, {}, 0.5), "to_masked"),
    "gradual": (lambda m: prune.GradualMagnitudePruning(m, 0.5, 0, 10), "to_masked"),
    "rewind": (lambda m: prune.rewind(m, prune.snapshot(m)), "to_masked"),
    "sparsity_report": (masks.sparsity_report, "to_masked"),
    "get_masks": (masks.get_masks, "to_masked"),
    "set_masks": (lambda m: masks.set_masks(m, {}), "to_masked"),
    "apply_masks_": (masks.apply_masks_, "to_masked"),
    "fold": (masks.fold, "to_masked"),
    "set_mask_temperature": (lambda m: masks.set_mask_temperature(m, 2.0), "to_masked"),
    "keep_masks_after_steps": (
        lambda m: masks.keep_masks_after_steps(_dummy_optimizer(), m),
        "to_masked",
    ),
}


@pytest.mark.parametrize("case", sorted(NEEDS_MASKED_LAYERS))
@settings(max_examples=10, deadline=None)
@given(make=st.sampled_from([*NOTHING_TO_MASK, NOT_CONVERTED]))
def test_models_without_masked_layers_are_rejected(case, make):
    call, allowed = NEEDS_MASKED_LAYERS[case]
    model = make()
    assert_rejects(lambda: call(model), "model", allowed, unchanged=(model,))


@settings(max_examples=10, deadline=None)
@given(make=st.sampled_from(NOTHING_TO_MASK))
def test_to_masked_rejects_a_model_with_nothing_to_mask(make):
    model = make()
    assert_rejects(lambda: masks.to_masked(model), "model", "allowed layers", unchanged=(model,))


def test_to_masked_rejects_skipping_everything_and_a_string_skip():
    model = nn.Sequential(nn.Linear(3, 3), nn.ReLU())
    assert_rejects(lambda: masks.to_masked(model, skip=["0"]), "model", "skip", (model,))
    assert_rejects(lambda: masks.to_masked(model, skip="0"), "skip", "list of module", (model,))


NOT_MODULES = st.one_of(
    st.text(max_size=3),
    st.integers(),
    st.none(),
    st.just(torch.zeros(3)),
    st.just([nn.Linear(2, 2)]),
    st.just({"0.weight": torch.ones(2, 2)}),
)

TAKES_A_MODEL = {
    "to_masked": masks.to_masked,
    "masked_layers": lambda m: list(masks.masked_layers(m)),
    "sparsity_report": masks.sparsity_report,
    "fold": masks.fold,
    "param_groups": masks.param_groups,
    "magnitude_prune": lambda m: prune.magnitude_prune(m, 0.5),
    "snapshot": prune.snapshot,
}


@pytest.mark.parametrize("case", sorted(TAKES_A_MODEL))
@settings(max_examples=10, deadline=None)
@given(thing=NOT_MODULES)
def test_non_modules_are_rejected_with_a_type_error(case, thing):
    error = assert_rejects(lambda: TAKES_A_MODEL[case](thing), "model", "torch.nn.Module")
    assert isinstance(error, TypeError)


def test_rewind_checks_everything_before_restoring_anything():
    model = half_pruned()
    other = masks.to_masked(MLP([6, 7, 4, 3]))  # same names, other shapes
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    no_optimizer = prune.snapshot(model)
    for call, name, allowed in (
        (lambda: prune.rewind(model, prune.snapshot(other)), "snap", "same architecture"),
        (lambda: prune.rewind(model, no_optimizer, opt), "optimizer", "optimizer=..."),
        (lambda: prune.rewind(model, {"step": 0}), "snap", "Snapshot"),
        (
            lambda: prune.iterative_magnitude_pruning(model, lambda _: 0.0, no_optimizer, 2, 0.2, optimizer=opt),
            "optimizer", "optimizer=...",
        ),
        (
            lambda: prune.iterative_magnitude_pruning(model, "train", no_optimizer, 2),
            "train", "function",
        ),
        (
            lambda: prune.iterative_magnitude_pruning(model, lambda _: 0.0, no_optimizer, 2, prune_step=0.5),
            "prune_step", "function",
        ),
        (
            lambda: prune.iterative_magnitude_pruning(model, lambda _: 0.0, no_optimizer, 2, desc=3),
            "desc", "string",
        ),
    ):  # fmt: skip
        assert_rejects(call, name, allowed, unchanged=(model, opt))
