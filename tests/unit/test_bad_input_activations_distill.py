"""Bad input to helpers.activations (04), helpers.distill (06) and helpers.regularize (02).

Every case goes through ``assert_rejects`` (bad_input.py): a ValueError/TypeError raised by helpers
code, a message naming the argument and what is allowed, and nothing changed.
"""

from __future__ import annotations

import math

import torch
from bad_input import assert_rejects
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from helpers import activations, distill, regularize
from helpers.core.models import MLP

FEW = settings(max_examples=20, deadline=None)

NOT_A_POSITIVE_INT = st.one_of(
    st.integers(max_value=0), st.floats(), st.booleans(), st.text(max_size=2), st.none()
)
NOT_A_TENSOR = st.one_of(
    st.lists(st.floats(-1, 1), min_size=1, max_size=4), st.text(max_size=3), st.none()
)


def mlp() -> MLP:
    torch.manual_seed(0)
    return MLP([4, 5, 3])


# --- activations ------------------------------------------------------------------------------


@FEW
@given(batch_size=NOT_A_POSITIVE_INT, x=NOT_A_TENSOR)
def test_recording_needs_a_tensor_and_a_positive_batch_size(batch_size, x):
    model, inputs = mlp(), torch.randn(6, 4)
    for call, name, allowed in (
        (lambda: activations.record_activations(model, inputs, batch_size=batch_size), "batch_size", "integer"),
        (lambda: activations.dead_neuron_rate(model, inputs, batch_size=batch_size), "batch_size", "integer"),
        (lambda: activations.record_activations(model, x), "x", "torch.Tensor"),
        (lambda: activations.dead_neuron_rate(model, x), "x", "torch.Tensor"),
        (lambda: activations.zero_fraction(x), "activations", "torch.Tensor"),
        (lambda: activations.dead_unit_fraction(x), "activations", "torch.Tensor"),
    ):  # fmt: skip
        assert_rejects(call, name, allowed, unchanged=(model,))


def test_empty_inputs_and_unobservable_models_are_rejected():
    model = mlp()
    for call, name, allowed in (
        (lambda: activations.dead_neuron_rate(model, torch.randn(0, 4)), "x", "at least one"),
        (lambda: activations.record_activations(model, torch.randn(0, 4)), "x", "at least one"),
        (lambda: activations.zero_fraction(torch.zeros(0)), "zero_fraction", "undefined"),
        (lambda: activations.dead_unit_fraction(torch.zeros(3)), "activations", "(N, units...)"),
        (lambda: activations.activation_modules(nn.Linear(2, 2)), "ReLU", "nn.ReLU modules"),
        (lambda: activations.activation_modules(model, "ReLU"), "types", "module class"),
        (lambda: activations.activation_modules(model, (int,)), "types", "nn.Module classes"),
        (lambda: activations.DeadNeuronMonitor("model"), "model", "torch.nn.Module"),
        (lambda: activations.ActivationRecorder(model, 3), "modules", "list of submodule names"),
        (lambda: activations.ActivationRecorder(model, {"a": 3}), "modules['a']", "torch.nn.Module"),
        (lambda: activations.ActivationRecorder(model, {}), "modules", "at least one"),
        (lambda: activations.ActivationRecorder(model, ["nope"]), "nope", "not a submodule"),
        (lambda: activations.ActivationRecorder(model, reduce=3), "reduce", "function"),
    ):  # fmt: skip
        assert_rejects(call, name, allowed, unchanged=(model,))
    assert not model.layers[1]._forward_hooks  # no failing recorder left a hook behind


@FEW
@given(
    mode=st.one_of(st.text(max_size=5), st.none(), st.integers()).filter(
        lambda m: m not in ("eval", "train")
    )
)
def test_modes_and_layers_must_be_known(mode):
    model = mlp()
    assert_rejects(
        lambda: activations.dead_neuron_rate(model, torch.randn(6, 4), mode=mode), "mode", "'eval', 'train'",
        unchanged=(model,),
    )  # fmt: skip
    assert_rejects(lambda: activations.ActivationRecorder(model, when=mode), "when", "'always'")
    with activations.DeadNeuronMonitor(model) as monitor:
        monitor.on_epoch_end()
        assert_rejects(lambda: monitor.mean(mode), "layer", "'all'")


# --- distill ----------------------------------------------------------------------------------


@FEW
@given(
    temperature=st.one_of(
        st.floats(max_value=0.0), st.just(math.inf), st.text(max_size=2), st.none()
    )
)
def test_soft_target_temperature_must_be_positive_and_finite(temperature):
    s, t = torch.randn(4, 3), torch.randn(4, 3)
    assert_rejects(lambda: distill.soft_target_loss(s, t, temperature), "temperature", "(0.0, inf]")
    student, teacher = MLP([4, 3]), mlp()
    assert_rejects(
        lambda: distill.distill(student, teacher, torch.randn(6, 4), epochs=1, loss="kl", temperature=temperature),
        "temperature", "(0.0, inf]", unchanged=(student, teacher),
    )  # fmt: skip


@FEW
@given(logits=NOT_A_TENSOR)
def test_distillation_losses_need_float_tensors(logits):
    t = torch.randn(4, 3)
    assert_rejects(lambda: distill.logit_matching_loss(logits, t), "student_logits", "torch.Tensor")
    assert_rejects(lambda: distill.soft_target_loss(t, logits), "teacher_logits", "torch.Tensor")
    ints = torch.zeros(4, 3, dtype=torch.long)
    assert_rejects(
        lambda: distill.logit_matching_loss(ints, ints), "student_logits", "floating-point"
    )


DISTILL_ARGUMENTS = {
    "epochs": (NOT_A_POSITIVE_INT, "integer"),
    "lr": (st.one_of(st.floats(max_value=0.0), st.just(math.inf), st.text(max_size=2)), "(0.0, inf]"),
    "weight_decay": (st.one_of(st.floats(max_value=0.0, exclude_max=True), st.just(math.inf), st.text(max_size=2)), "[0.0, inf]"),
    "batch_size": (st.one_of(st.integers(max_value=0), st.floats(), st.booleans()), "integer"),
    "loss": (st.text(max_size=3), "'kl', 'mse'"),
    "generator": (st.one_of(st.integers(), st.text(max_size=2)), "torch.Generator"),
    "device": (st.sampled_from(["tpu", "gpu0", "cpu:1", "xla"]), "'cpu'"),
    "targets": (NOT_A_TENSOR.filter(lambda v: v is not None), "torch.Tensor"),
}  # fmt: skip


@FEW
@given(data_=st.data())
def test_distill_checks_every_argument_before_moving_or_training_anything(data_):
    argument = data_.draw(st.sampled_from(sorted(DISTILL_ARGUMENTS)))
    strategy, allowed = DISTILL_ARGUMENTS[argument]
    value = data_.draw(strategy)
    student, teacher = MLP([4, 3]), mlp()
    kwargs = {"epochs": 1, argument: value}
    assert_rejects(
        lambda: distill.distill(student, teacher, torch.randn(6, 4), **kwargs), argument, allowed,
        unchanged=(student, teacher),
    )  # fmt: skip


def test_distill_and_teacher_logits_reject_bad_models_and_inputs():
    student, teacher = MLP([4, 3]), mlp()
    for call, name, allowed in (
        (lambda: distill.distill("student", teacher, torch.randn(6, 4), epochs=1), "student", "torch.nn.Module"),
        (lambda: distill.distill(student, None, torch.randn(6, 4), epochs=1), "teacher", "torch.nn.Module"),
        (lambda: distill.distill(student, teacher, [[0.0] * 4], epochs=1), "x", "torch.Tensor"),
        (lambda: distill.distill(student, teacher, torch.randn(0, 4), epochs=1), "x", "at least one"),
        (lambda: distill.distill(student, teacher, torch.randn(6, 4), epochs=1, targets=torch.zeros(5, 3)), "targets", "rows"),
        (lambda: distill.teacher_logits(teacher, torch.randn(6, 4), batch_size=0), "batch_size", "[1, inf]"),
        (lambda: distill.teacher_logits("teacher", torch.randn(6, 4)), "teacher", "torch.nn.Module"),
        (lambda: distill.teacher_logits(teacher, torch.randn(0, 4)), "x", "at least one"),
    ):  # fmt: skip
        assert_rejects(call, name, allowed, unchanged=(student, teacher))


# --- regularize -------------------------------------------------------------------------------


@FEW
@given(
    lam=st.one_of(
        st.floats(max_value=0.0, exclude_max=True),
        st.just(math.inf),
        st.just(math.nan),
        st.text(max_size=2),
        st.none(),
        st.booleans(),
    )
)
def test_soft_mask_l1_strength_must_be_a_finite_non_negative_number(lam):
    assert_rejects(lambda: regularize.SoftMaskL1(lam), "lam", "[0.0, inf]")


def test_soft_mask_l1_needs_a_model_with_soft_masks():
    assert_rejects(lambda: regularize.soft_mask_l1("model"), "model", "torch.nn.Module")
    assert_rejects(lambda: regularize.soft_mask_l1(mlp()), "model", "to_masked")
    assert regularize.SoftMaskL1(torch.tensor(0.5)).lam == 0.5  # a 0-d tensor is a number
