"""Bad input to the pruning helpers: a clear ValueError/TypeError from helpers code, nothing changed.

Property-based (hypothesis): sparsities outside [0, 1] or of the wrong type, masks and scores that
do not match the model, models with nothing to prune, and arguments that are not modules. Every
case goes through ``assert_rejects`` (in ``bad_input.py``), which checks four things at once:

1. the exception is a ValueError or TypeError;
2. its message names the argument and says what is allowed;
3. it is raised by ``helpers`` code (the innermost traceback frame lies under ``helpers/``), not
   from deep inside torch;
4. the model, masks, optimizer and generator given in ``unchanged`` are bit-for-bit as before.

``test_bad_input_models.py`` covers models with nothing to prune and non-modules,
``test_bad_input_train_data.py`` training, metrics, data, devices and model constructors,
``test_bad_input_other.py`` the later modules (continuous sparsification, AP).
"""

from __future__ import annotations

import math

import pytest
import torch
from bad_input import assert_rejects
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from helpers import masks, prune
from helpers.core.models import MLP

FEW = settings(max_examples=25, deadline=None)

# --- the one assertion (shared by every bad-input test, in bad_input.py) -----------------------


def test_assert_rejects_can_fail():
    """The checker itself: a torch error, a vague message and an in-place change are all caught."""
    with pytest.raises(AssertionError, match="not helpers"):
        assert_rejects(lambda: nn.functional.softmax(torch.zeros(2), dim="x"), "", "")
    with pytest.raises(AssertionError, match="does not name"):
        assert_rejects(lambda: prune.check_sparsity(2.0), "amount", "[0.0, 1.0]")
    layer = masks.to_masked(nn.Linear(3, 2))

    def mutate_then_fail() -> None:
        layer.weight_mask.zero_()
        prune.check_sparsity(2.0)

    with pytest.raises(AssertionError, match="was changed"):
        assert_rejects(mutate_then_fail, "sparsity", "[0.0, 1.0]", unchanged=(layer,))


# --- shared inputs ----------------------------------------------------------------------------


def masked_mlp(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return masks.to_masked(MLP([6, 5, 4, 3]))


def half_pruned(seed: int = 0) -> nn.Module:
    """A masked MLP already pruned to 50 %: a failing call must keep these masks as they are."""
    model = masked_mlp(seed)
    prune.magnitude_prune(model, 0.5)
    return model


OUT_OF_RANGE = st.one_of(
    st.floats(max_value=0.0, exclude_max=True),  # -inf included
    st.floats(min_value=1.0, exclude_min=True),  # inf included
    st.integers(max_value=-1),
    st.integers(min_value=2),
    st.just(math.nan),
)
WRONG_TYPE = st.one_of(
    st.text(max_size=4),
    st.none(),
    st.booleans(),
    st.complex_numbers(max_magnitude=1, allow_nan=False).filter(lambda z: z.imag != 0),
    st.lists(st.floats(0, 1), min_size=1, max_size=3),
    st.integers(2, 5).map(lambda n: torch.full((n,), 0.5)),  # a tensor of several values
)
BAD_FRACTION = st.one_of(OUT_OF_RANGE, WRONG_TYPE)


def _snap(model: nn.Module) -> prune.Snapshot:
    return prune.snapshot(model)


# Every helper that takes a sparsity or an amount, as (argument name, call(model, generator, value)).
SPARSITY_CALLS = {
    "check_sparsity": ("sparsity", lambda m, g, v: prune.check_sparsity(v)),
    "magnitude-layer": ("sparsity", lambda m, g, v: prune.magnitude_prune(m, v, "layer")),
    "magnitude-global": ("sparsity", lambda m, g, v: prune.magnitude_prune(m, v, "global")),
    "random": ("sparsity", lambda m, g, v: prune.random_prune(m, v, generator=g)),
    "prune_by_scores": (
        "sparsity",
        lambda m, g, v: prune.prune_by_scores(m, masks.get_masks(m), v),
    ),
    "pruned_copy": ("sparsity", lambda m, g, v: prune.pruned_copy(m, "random", v, generator=g)),
    "cubic final": ("final", lambda m, g, v: prune.cubic_sparsity(5, v, 0, 10)),
    "cubic initial": ("initial", lambda m, g, v: prune.cubic_sparsity(5, 0.9, 0, 10, initial=v)),
    "imp_sparsities": ("rate", lambda m, g, v: prune.imp_sparsities(3, v)),
    "imp": (
        "rate",
        lambda m, g, v: prune.iterative_magnitude_pruning(m, lambda _: 0.0, _snap(m), 2, v),
    ),
    "gradual": ("final", lambda m, g, v: prune.GradualMagnitudePruning(m, v, 0, 10)),
}


@pytest.mark.parametrize("case", sorted(SPARSITY_CALLS))
@FEW
@given(value=BAD_FRACTION)
def test_bad_sparsity_is_rejected_and_changes_nothing(case, value):
    name, call = SPARSITY_CALLS[case]
    model, generator = half_pruned(), torch.Generator().manual_seed(1)
    assert_rejects(
        lambda: call(model, generator, value), name, "[0.0, 1.0]", unchanged=(model, generator)
    )


@FEW
@given(value=st.floats(0.0, 1.0))
def test_valid_sparsities_still_prune_exactly(value):
    """The checks must not reject or alter valid calls: k = round(s * n) weights pruned per layer."""
    model = masked_mlp()
    prune.magnitude_prune(model, value, "layer")
    for _, zeros, total in masks.sparsity_report(model).rows:
        assert zeros == round(value * total)


@FEW
@given(
    scope=st.one_of(st.text(max_size=6), st.none(), st.integers()).filter(
        lambda s: s not in ("layer", "global")
    )
)
def test_bad_scope_is_rejected(scope):
    model = half_pruned()
    for call in (
        lambda: prune.magnitude_prune(model, 0.5, scope),
        lambda: prune.random_prune(model, 0.5, scope),
        lambda: prune.GradualMagnitudePruning(model, 0.5, 0, 10, scope=scope),
    ):
        assert_rejects(call, "scope", "'layer', 'global'", unchanged=(model,))


def test_bad_counts_of_rounds_steps_and_methods():
    model = half_pruned()
    for rounds in (0, -2, 1.5, True, "3", None):
        assert_rejects(lambda r=rounds: prune.imp_sparsities(r), "rounds", "integer")
    assert_rejects(
        lambda: prune.GradualMagnitudePruning(model, 0.5, 0, 10, every=0), "every", "[1, inf]"
    )
    assert_rejects(lambda: prune.GradualMagnitudePruning(model, 0.5, 10, 10), "end", "after")
    assert_rejects(lambda: prune.cubic_sparsity("5", 0.5, 0, 10), "step", "number")
    assert_rejects(lambda: prune.pruned_copy(model, "magnitude", 0.5), "method", "magnitude-global")
    assert_rejects(
        lambda: prune.random_prune(model, 0.5, generator=3), "generator", "torch.Generator"
    )


# --- masks that do not match --------------------------------------------------------------------

NAMES = ["layers.0.weight", "layers.2.weight", "layers.4.weight"]


@FEW
@given(drop=st.sets(st.sampled_from(NAMES), min_size=1), extra=st.sets(st.text(max_size=5)))
def test_set_masks_needs_exactly_the_models_weights(drop, extra):
    model = half_pruned()
    new = {k: torch.ones_like(v) for k, v in masks.get_masks(model).items() if k not in drop}
    new.update({name: torch.ones(2) for name in extra if name not in NAMES})
    assert_rejects(
        lambda: masks.set_masks(model, new), "masks", "exactly the model's", unchanged=(model,)
    )


@FEW
@given(shape=st.lists(st.integers(1, 6), min_size=1, max_size=3).map(tuple))
def test_set_masks_rejects_a_wrong_shape(shape):
    model = half_pruned()
    new = {k: torch.ones_like(v) for k, v in masks.get_masks(model).items()}
    if shape == tuple(new[NAMES[1]].shape):
        shape = (*shape, 1)
    new[NAMES[1]] = torch.ones(shape)  # the first mask is fine: it must not be written either
    assert_rejects(
        lambda: masks.set_masks(model, new), NAMES[1], "the weight has shape", unchanged=(model,)
    )


@FEW
@given(
    bad=st.floats().filter(lambda v: v not in (0.0, 1.0)),
    where=st.integers(0, 19),
    dtype=st.sampled_from([torch.float32, torch.float64, torch.float16]),
)
def test_set_masks_rejects_values_other_than_0_and_1(bad, where, dtype):
    model = half_pruned()
    new = {k: torch.ones_like(v, dtype=torch.float64) for k, v in masks.get_masks(model).items()}
    new[NAMES[1]].view(-1)[where] = bad
    new = {k: v.to(dtype) for k, v in new.items()}  # float16 may round bad to inf, 0 or 1
    if new[NAMES[1]].view(-1)[where] in (0, 1):
        return
    assert_rejects(lambda: masks.set_masks(model, new), "mask", "only 0 and 1", unchanged=(model,))


@FEW
@given(
    bad=st.one_of(
        st.text(max_size=3),
        st.none(),
        st.just(object()),
        st.just(torch.ones(4, 5, dtype=torch.complex64)),
    )
)
def test_set_masks_and_set_mask_reject_a_wrong_type(bad):
    model = half_pruned()
    new = {k: torch.ones_like(v) for k, v in masks.get_masks(model).items()}
    new[NAMES[1]] = bad
    assert_rejects(
        lambda: masks.set_masks(model, new), "mask", "tensor of 0 and 1", unchanged=(model,)
    )
    assert_rejects(
        lambda: model.layers[2].set_mask("weight", bad), "mask", "tensor of 0 and 1",
        unchanged=(model,),
    )  # fmt: skip
    assert_rejects(lambda: masks.set_masks(model, [bad]), "masks", "dict", unchanged=(model,))


def test_set_masks_accepts_bool_int_and_float_masks():
    model = half_pruned()
    wanted = masks.get_masks(masked_mlp(seed=3))
    for convert in (lambda m: m.bool(), lambda m: m.long(), lambda m: m.double()):
        masks.set_masks(model, {k: convert(v) for k, v in wanted.items()})
    assert all(torch.equal(masks.get_masks(model)[k], v) for k, v in wanted.items())


@FEW
@given(
    shape=st.lists(st.integers(1, 6), min_size=1, max_size=3).map(tuple),
    extra=st.text(min_size=1, max_size=5).filter(lambda s: s not in NAMES),
)
def test_prune_by_scores_rejects_scores_that_do_not_match(shape, extra):
    model = half_pruned()
    scores = {k: torch.rand(v.shape) for k, v in masks.get_masks(model).items()}
    wrong_shape = {**scores, NAMES[2]: torch.rand(shape)}
    if shape != tuple(scores[NAMES[2]].shape):
        assert_rejects(
            lambda: prune.prune_by_scores(model, wrong_shape, 0.7), NAMES[2], "expected",
            unchanged=(model,),
        )  # fmt: skip
    missing = {k: v for k, v in scores.items() if k != NAMES[0]}
    for bad in (missing, {**scores, extra: torch.rand(3)}):
        assert_rejects(
            lambda b=bad: prune.prune_by_scores(model, b, 0.7), "scores", "exactly the model's",
            unchanged=(model,),
        )  # fmt: skip
    not_tensor = {**scores, NAMES[1]: scores[NAMES[1]].tolist()}
    assert_rejects(
        lambda: prune.prune_by_scores(model, not_tensor, 0.7), NAMES[1], "torch.Tensor",
        unchanged=(model,),
    )  # fmt: skip


def test_soft_mask_calls_reject_bad_names_and_values():
    model = half_pruned()
    layer = model.layers[0]
    for call, name, allowed in (
        (lambda: layer.harden_soft_mask("weight"), "weight", "enable_soft_mask"),
        (lambda: layer.soft_gate("bias"), "bias", "allowed: weight"),
        (lambda: layer.enable_soft_mask("weight", init="0.5"), "init", "number"),
        (lambda: layer.enable_soft_mask("weight", init=math.inf), "init", "finite"),
        (lambda: masks.set_mask_temperature(model, 0.0), "beta", "(0.0, inf]"),
        (lambda: masks.set_mask_temperature(model, "hot"), "beta", "number"),
        (lambda: masks.to_sparse_csr(layer, "bias"), "bias", "allowed: weight"),
        (lambda: masks.param_groups(model, weight_decay=-1), "weight_decay", "[0.0, inf]"),
    ):
        assert_rejects(call, name, allowed, unchanged=(model,))
