"""Bad input to helpers.quantize (notebook 05): quantizer stages, layers and model conversion.

Every case goes through ``assert_rejects`` (bad_input.py): a ValueError/TypeError raised by helpers
code, a message naming the argument and what is allowed, and the model (and torch's global random
state, which a new layer's initial weights come from) left exactly as they were.
"""

from __future__ import annotations

import math

import pytest
import torch
from bad_input import assert_rejects
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from helpers.core.models import MLP
from helpers.papers import robust_sparse_training as quantize

FEW = settings(max_examples=20, deadline=None)

BAD_BITS = st.one_of(
    st.integers(max_value=0),
    st.integers(min_value=17),
    st.floats(),
    st.booleans(),
    st.text(max_size=2),
)
BAD_SPARSITY = st.one_of(
    st.floats(max_value=0.0, exclude_max=True), st.floats(min_value=1.0), st.just(math.nan),
    st.text(max_size=2), st.booleans(), st.just(torch.tensor(0.5)),
)  # fmt: skip
NOT_A_TENSOR = st.one_of(
    st.lists(st.floats(-1, 1), min_size=1, max_size=3), st.text(max_size=2), st.none()
)


def mlp() -> MLP:
    torch.manual_seed(0)
    return MLP([3, 4, 2])


@FEW
@given(bits=BAD_BITS)
def test_bit_widths_must_be_integers_in_1_16(bits):
    x = torch.randn(3, 4)
    for call, name in (
        (lambda: quantize.grid_round(x, bits), "bits"),
        (lambda: quantize.noisy_round(x, bits), "bits"),
        (lambda: quantize.prequantize(x, bits), "bits"),
        (lambda: quantize.fake_quantize(x, bits), "bits"),
        (lambda: quantize.QuantizedLinear(3, 2, act_bits=bits), "act_bits"),
    ):
        assert_rejects(call, name, "integer in [1, 16]")
    assert_rejects(lambda: quantize.grid_round(x, None), "bits", "an integer in [1, 16]")


@FEW
@given(sparsity=BAD_SPARSITY)
def test_sparsities_must_be_plain_numbers_in_0_1(sparsity):
    x = torch.randn(3, 4)
    for call in (
        lambda: quantize.magnitude_mask(x, sparsity),
        lambda: quantize.sparsify(x, sparsity),
        lambda: quantize.fake_quantize(x, 2, sparsity),
    ):
        assert_rejects(call, "sparsity", "[0, 1)")


@FEW
@given(
    lam=st.one_of(st.floats(max_value=0.0, exclude_max=True), st.just(math.nan), st.text(max_size=2), st.none()),
    method=st.sampled_from(quantize.METHODS),
)  # fmt: skip
def test_lambda_is_checked_for_every_method_even_when_unused(lam, method):
    x = torch.randn(3, 4)
    assert_rejects(
        lambda: quantize.fake_quantize(x, 2, method=method, lam=lam), "lam", "[0.0, inf]"
    )
    assert_rejects(lambda: quantize.fake_quantize(x, None, 0.0, lam=lam), "lam", "[0.0, inf]")
    assert_rejects(lambda: quantize.ridge_dequantize(x, x, lam), "lam", "[0.0, inf]")


@FEW
@given(choice=st.one_of(st.text(max_size=5), st.none(), st.just(torch.tensor([1, 2]))))
def test_methods_and_granularities_must_be_known(choice):
    x = torch.randn(3, 4)
    if choice not in quantize.METHODS:
        assert_rejects(lambda: quantize.fake_quantize(x, 2, method=choice), "method", "'ste'")
    if choice not in quantize.GRANULARITIES:
        assert_rejects(lambda: quantize.magnitude_mask(x, 0.0, choice), "granularity", "'row'")
        assert_rejects(
            lambda: quantize.prequantize(x, 2, granularity=choice), "granularity", "'row'"
        )


@FEW
@given(
    x=st.one_of(
        NOT_A_TENSOR,
        st.just(torch.tensor(1.0)),
        st.just(torch.zeros(0, 4)),
        st.just(torch.zeros(3, 4, dtype=torch.long)),
    )
)
def test_quantizers_need_non_empty_float_tensors(x):
    for call in (
        lambda: quantize.fake_quantize(x, 2),
        lambda: quantize.fake_quantize(x, None, 0.5),
        lambda: quantize.magnitude_mask(x, 0.5),
        lambda: quantize.prequantize(x, 2),
        lambda: quantize.ridge_dequantize(torch.randn(3, 4), x),
    ):
        error = assert_rejects(call, "x", "")
        assert "tensor" in str(error).lower()  # a (non-empty, float, >= 1-d) tensor


def test_stage_functions_reject_mismatched_and_wrong_type_arguments():
    x = torch.randn(3, 4)
    for call, name, allowed in (
        (lambda: quantize.straight_through(x, torch.zeros(2, 2)), "x_hat", "shape of x"),
        (lambda: quantize.straight_through([1.0], x), "x", "torch.Tensor"),
        (lambda: quantize.grid_round([0.5], 2), "v", "torch.Tensor"),
        (lambda: quantize.ridge_dequantize(torch.randn(2, 4), x), "q", "shape"),
        (lambda: quantize.ridge_dequantize(x, x, affine="no"), "affine", "True or False"),
        (lambda: quantize.prequantize(x, 2, affine=None), "affine", "True or False"),
        (lambda: quantize.inverse_prequantize([1.0], x, x), "q", "torch.Tensor"),
    ):
        assert_rejects(call, name, allowed)


@pytest.mark.parametrize(
    ("spec", "name", "allowed"),
    [
        ({"bits": 0}, "bits", "[1, 16]"),
        ({"bits": 2, "sparsity": 1.0}, "sparsity", "[0, 1)"),
        ({"bits": 2, "method": "round"}, "method", "'ridge'"),
        ({"bits": 2, "lam": -1.0}, "lam", "[0.0, inf]"),
        ({"bits": 2, "granularity": "column"}, "granularity", "'tensor'"),
        ({"bits": 2, "act_bits": 1.5}, "act_bits", "[1, 16]"),
        ({"bogus": 2}, "bogus", "allowed: ('bits'"),
    ],
)
def test_to_quantized_checks_the_spec_before_replacing_any_layer(spec, name, allowed):
    model = mlp()
    rng = torch.get_rng_state()
    assert_rejects(lambda: quantize.to_quantized(model, **spec), name, allowed, unchanged=(model,))
    assert torch.equal(torch.get_rng_state(), rng)  # no layer was built: no initial weights drawn
    assert not quantize.quantized_layers(model)


@FEW
@given(size=st.one_of(st.integers(max_value=0), st.floats(), st.text(max_size=2), st.booleans()))
def test_a_failing_layer_draws_no_initial_weights(size):
    rng = torch.get_rng_state()
    assert_rejects(lambda: quantize.QuantizedLinear(size, 2, bits=2), "in_features", "integer")
    assert_rejects(
        lambda: quantize.QuantizedLinear(3, 2, bits=2, bias="no"), "bias", "True or False"
    )
    assert_rejects(lambda: quantize.QuantizedLinear(3, 2, bits=0), "bits", "[1, 16]")
    assert torch.equal(torch.get_rng_state(), rng)


def test_models_that_cannot_be_quantized_and_inputs_that_do_not_fit():
    layer = quantize.QuantizedLinear(3, 2, bits=2)
    for call, name, allowed in (
        (lambda: quantize.to_quantized("model", bits=2), "model", "torch.nn.Module"),
        (lambda: quantize.to_quantized(nn.Sequential(nn.ReLU()), bits=2), "model", "no nn.Linear"),
        (lambda: quantize.to_quantized(nn.Linear(3, 2), bits=2), "model", "contains Linear layers"),
        (lambda: quantize.to_quantized(mlp(), float_first_input="no", bits=2), "float_first_input", "True or False"),
        (lambda: quantize.quantized_layers(None), "model", "torch.nn.Module"),
        (lambda: layer(torch.zeros(2, 4)), "x", "in_features=3"),
        (lambda: layer([[0.0] * 3]), "x", "torch.Tensor"),
    ):  # fmt: skip
        assert_rejects(call, name, allowed, unchanged=(layer,))


def test_the_binary_baseline_the_binary_mlp_and_the_validation_split_reject_bad_input():
    from helpers.core.data import Split

    x = torch.randn(3, 4)
    split = Split(
        torch.randn(10, 2), torch.zeros(10, dtype=torch.long), x[:, :2], x[:, 0].long(), 2
    )
    rng = torch.get_rng_state()
    for call, name, allowed in (
        (lambda: quantize.clipped_sign(x, clip=0.0), "clip", "(0.0, inf]"),
        (lambda: quantize.clipped_sign([1.0], 1.0), "x", "torch.Tensor"),
        (lambda: quantize.fake_quantize(x, 2, method="ste_clipped"), "bits", "must be 1"),
        (lambda: quantize.QuantizedLinear(4, 2, bits=1, act_bits=4, method="ste_clipped"), "act_bits", "None or 1"),
        (lambda: quantize.binary_mlp([4], bits=1), "sizes", "at least two positive integers"),
        (lambda: quantize.binary_mlp([4, 2], norm="yes", bits=1), "norm", "True or False"),
        (lambda: quantize.binary_mlp([4, 2], bits=1, depth=2), "depth", "allowed: ('bits'"),
        (lambda: quantize.carve_validation(split, 0), "n_val", "[1, 9]"),
        (lambda: quantize.carve_validation("split", 2), "split", "Split"),
        (lambda: quantize.carve_validation(split, 2, seed=-1), "seed", "[0"),
    ):  # fmt: skip
        assert_rejects(call, name, allowed, unchanged=(split.x_train, split.y_train))
    assert torch.equal(torch.get_rng_state(), rng)  # no binary MLP was built: no weights drawn
