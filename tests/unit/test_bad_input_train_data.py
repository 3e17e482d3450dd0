"""Bad input to training, metrics, data, devices and model constructors (see test_bad_input.py).

Each case goes through ``assert_rejects``: a ValueError/TypeError raised by helpers code, a message
naming the argument and what is allowed, and nothing changed (model, optimizer, RNG states).
"""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
import torch
from bad_input import assert_rejects
from hypothesis import given, settings
from hypothesis import strategies as st
from test_bad_input import masked_mlp
from torch import nn

from helpers import data, metrics, models, params, runtime, train
from helpers.core.data import Split, TensorLoader

FEW = settings(max_examples=25, deadline=None)


def _loader(n: int = 12) -> TensorLoader:
    g = torch.Generator().manual_seed(0)
    return TensorLoader(torch.randn(n, 6, generator=g), torch.randint(0, 3, (n,), generator=g), 4)


# --- devices ----------------------------------------------------------------------------------


def _usable(name: str) -> bool:
    """Whether ``name`` is a device this machine really has (then it is not bad input)."""
    try:
        device = torch.device(name)
    except RuntimeError:
        return False
    if device.type == "cpu":
        return device.index in (None, 0)
    if device.type == "cuda":
        return torch.cuda.is_available() and (device.index or 0) < torch.cuda.device_count()
    if device.type == "mps":
        return torch.backends.mps.is_available()
    return False


BAD_DEVICE_NAMES = st.one_of(
    st.sampled_from(["tpu", "gpu0", "", "CPU", "cuda", "cuda:7", "mps", "meta", "xla", "cpu:1"]),
    st.text(alphabet="acdglmpsux0123:", max_size=7),
).filter(lambda s: s != "auto" and not _usable(s))
BAD_DEVICE_TYPES = st.one_of(
    st.integers(), st.floats(), st.none(), st.just(["cpu"]), st.just(b"cpu")
)


@FEW
@given(device=BAD_DEVICE_NAMES)
def test_devices_that_do_not_exist_are_rejected(device):
    model = masked_mlp()
    opt = torch.optim.Adam(model.parameters())
    split = Split(torch.zeros(4, 6), torch.zeros(4, dtype=torch.long), torch.zeros(2, 6),
                  torch.zeros(2, dtype=torch.long), 3)  # fmt: skip
    for call in (
        lambda: runtime.resolve_device(device),
        lambda: train.fit(model, _loader(), optimizer=opt, device=device, progress=False),
        lambda: train.evaluate(model, _loader(), device=device),
        lambda: split.to(device),
    ):
        assert_rejects(call, "device", "'cpu'", unchanged=(model, opt))


@FEW
@given(device=BAD_DEVICE_TYPES)
def test_device_of_the_wrong_type_is_a_type_error(device):
    error = assert_rejects(lambda: runtime.resolve_device(device), "device", "torch.device")
    assert isinstance(error, TypeError)


# --- seeds, threads, progress -------------------------------------------------------------------


@FEW
@given(
    seed=st.one_of(
        st.integers(max_value=-1),
        st.integers(min_value=2**64),
        st.floats(),
        st.text(max_size=3),
        st.booleans(),
        st.none(),
    )
)
def test_bad_seeds_leave_every_random_state_alone(seed):
    python, numpy, torch_state = random.getstate(), np.random.get_state(), torch.get_rng_state()
    assert_rejects(lambda: runtime.seed_everything(seed), "seed", "integer")
    assert random.getstate() == python and torch.equal(torch.get_rng_state(), torch_state)
    assert all(np.array_equal(a, b) for a, b in zip(np.random.get_state(), numpy))


@FEW
@given(n=st.one_of(st.integers(max_value=0), st.floats(), st.text(max_size=2), st.booleans()))
def test_bad_thread_counts_change_nothing(n):
    threads = torch.get_num_threads()
    assert_rejects(lambda: runtime.set_threads(n), "n", "integer")
    assert torch.get_num_threads() == threads


def test_bad_thread_environment_and_progress(monkeypatch):
    monkeypatch.setenv("SPARSITY_THREADS", "two")
    assert_rejects(runtime.set_threads, "SPARSITY_THREADS", "positive integer")
    assert_rejects(lambda: runtime.progress_enabled("no"), "progress", "True or False")


# --- fit, predict, evaluate --------------------------------------------------------------------

FIT_ARGUMENTS = {
    "epochs": (
        st.one_of(st.integers(max_value=-1), st.floats(), st.booleans(), st.text(max_size=2)),
        "integer",
    ),
    "lr": (
        st.one_of(
            st.floats(max_value=0.0, exclude_max=True),
            st.just(math.inf),
            st.just(math.nan),
            st.text(),
        ),
        "[0.0, inf]",
    ),
    "max_grad_norm": (st.one_of(st.floats(max_value=0.0), st.text(max_size=2)), "(0.0, inf]"),
    "amp": (st.one_of(st.integers(), st.text(max_size=2), st.none()), "True or False"),
    "keep_masks": (st.one_of(st.integers(), st.none()), "True or False"),
    "optimizer": (st.one_of(st.text(max_size=2), st.just(nn.Linear(2, 2))), "torch.optim"),
    "loss_fn": (st.one_of(st.text(max_size=2), st.integers()), "function"),
    "callbacks": (st.one_of(st.integers(), st.just(object())), "list of callback"),
    "scheduler": (st.one_of(st.text(max_size=2), st.integers()), "LR scheduler"),
}


@pytest.mark.parametrize("argument", sorted(FIT_ARGUMENTS))
@settings(max_examples=15, deadline=None)
@given(data_=st.data())
def test_fit_rejects_bad_arguments_before_training(argument, data_):
    strategy, allowed = FIT_ARGUMENTS[argument]
    value = data_.draw(strategy)
    model = masked_mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    kwargs = {"optimizer": opt, "device": "cpu", "progress": False, argument: value}
    assert_rejects(
        lambda: train.fit(model, _loader(), **kwargs), argument, allowed, unchanged=(model, opt)
    )


@settings(max_examples=10, deadline=None)
@given(loader=st.one_of(st.integers(), st.none(), st.text(max_size=3), st.just(torch.tensor(1.0))))
def test_fit_predict_evaluate_reject_a_loader_that_is_not_one(loader):
    model = masked_mlp()
    calls = [
        (lambda: train.fit(model, loader, device="cpu", progress=False), "train_loader"),
        (lambda: train.predict(model, loader, device="cpu"), "loader"),
    ]
    if loader is not None:  # val_loader=None means "no validation"
        calls.append((lambda: train.fit(model, _loader(), val_loader=loader), "val_loader"))
    for call, name in calls:
        assert_rejects(call, name, "iterable", unchanged=(model,))


def test_predict_on_an_empty_loader_and_non_models():
    model = masked_mlp()
    assert_rejects(lambda: train.predict(model, [], device="cpu"), "loader", "at least one")
    assert_rejects(lambda: train.fit("model", _loader()), "model", "torch.nn.Module")
    assert_rejects(lambda: train.evaluate(model, _loader(), loss_fn=3), "loss_fn", "function")


# --- metrics ----------------------------------------------------------------------------------


@FEW
@given(rows=st.integers(1, 6), other=st.integers(0, 6), classes=st.integers(1, 4))
def test_accuracy_rejects_mismatched_predictions_and_labels(rows, other, classes):
    outputs = torch.randn(rows, classes)
    if other != rows:
        assert_rejects(
            lambda: metrics.accuracy(outputs, torch.zeros(other, dtype=torch.long)), "targets", "rows"
        )  # fmt: skip
    # (N, 1) labels would broadcast against the (N,) arg-max into an (N, N) comparison.
    labels = torch.zeros(rows, 1, dtype=torch.long)
    assert_rejects(lambda: metrics.accuracy(outputs, labels), "targets", "outputs.shape[:-1]")
    floats = torch.zeros(rows)
    assert_rejects(lambda: metrics.accuracy(outputs, floats), "targets", "integer class ids")
    flat = torch.randn(rows)
    assert_rejects(lambda: metrics.accuracy(flat, torch.zeros(rows).long()), "outputs", "dimension")
    assert_rejects(lambda: metrics.accuracy(outputs.tolist(), labels), "outputs", "torch.Tensor")


def test_accuracy_still_counts_correct_rows():
    outputs = torch.tensor([[2.0, 1.0], [0.0, 3.0], [1.0, 0.0]])
    assert metrics.accuracy(outputs, torch.tensor([0, 1, 1])) == pytest.approx(2 / 3)


def test_latency_and_summary_arguments():
    model, example = masked_mlp(), torch.randn(2, 6)
    for call, name, allowed in (
        (lambda: metrics.measure_latency(model, example, repeats=0), "repeats", "[1, inf]"),
        (lambda: metrics.measure_latency(model, example, warmup=-1), "warmup", "[0, inf]"),
        (lambda: metrics.measure_latency(model, [1.0] * 6), "example", "torch.Tensor"),
        (lambda: metrics.summarize(model, example, accuracy=1.5), "accuracy", "[0.0, 1.0]"),
        (lambda: metrics.summarize(model, example, dense_latency_s=0), "dense_latency_s", "(0.0"),
        (lambda: metrics.summarize(nn.Linear(6, 2), example), "model", "to_masked"),
        (lambda: metrics.count_flops(model, "x"), "example", "torch.Tensor"),
        (lambda: metrics.count_parameters(None), "model", "torch.nn.Module"),
    ):
        assert_rejects(call, name, allowed, unchanged=(model,))


# --- data -------------------------------------------------------------------------------------


@FEW
@given(n=st.integers(1, 8), m=st.integers(1, 8), batch=st.integers(-3, 0))
def test_tensor_loader_and_split_reject_mismatched_or_empty_sizes(n, m, batch):
    x, y = torch.randn(n, 2), torch.zeros(m, dtype=torch.long)
    if n != m:
        assert_rejects(lambda: TensorLoader(x, y, 2), "y", "must match")
        assert_rejects(lambda: Split(x, y, x, x[:, 0].long(), 2), "y_train", "must match")
    y = torch.zeros(n, dtype=torch.long)
    assert_rejects(lambda: TensorLoader(x, y, batch), "batch_size", "[1, inf]")
    assert_rejects(lambda: TensorLoader(x, y, 2.0), "batch_size", "integer")
    assert_rejects(lambda: Split(x, y, x, y, num_classes=batch), "num_classes", "[1, inf]")
    split = Split(x, y, x, y, 2)
    assert_rejects(lambda: split.loaders(batch_size=batch), "batch_size", "[1, inf]")


def test_tensor_loader_rejects_non_tensors_scalars_and_split_devices():
    x, y = torch.randn(4, 2), torch.zeros(4, dtype=torch.long)
    assert_rejects(lambda: TensorLoader(x.tolist(), y, 2), "x", "torch.Tensor")
    assert_rejects(lambda: TensorLoader(torch.tensor(1.0), y, 2), "x", "dimension")
    assert_rejects(lambda: TensorLoader(x.to("meta"), y, 2), "device", "one device")
    assert_rejects(lambda: TensorLoader(x, y, 2, shuffle="yes"), "shuffle", "True or False")
    assert_rejects(lambda: TensorLoader(x, y, 2, generator=0), "generator", "torch.Generator")


@FEW
@given(size=st.one_of(st.integers(max_value=0), st.floats(), st.booleans(), st.none()))
def test_dataset_sizes_must_be_positive_integers(size):
    for call, name in (
        (lambda: data.mnist1d(n_train=size), "n_train"),
        (lambda: data.mnist1d(n_test=size), "n_test"),
        (lambda: data.make_task("xor", n_train=size), "n_train"),
        (lambda: data.make_task("parity", n_bits=size), "n_bits"),
    ):
        assert_rejects(call, name, "integer")


@FEW
@given(fraction=st.one_of(st.floats(max_value=0.0), st.floats(min_value=1.0), st.text(max_size=2)))
def test_fractions_of_a_dataset_must_lie_strictly_inside_0_1(fraction):
    assert_rejects(lambda: data.digits(test_fraction=fraction), "test_fraction", "(0, 1)")
    assert_rejects(lambda: data.pydoc_corpus(val_fraction=fraction), "val_fraction", "(0, 1)")


def test_corpus_and_task_arguments():
    corpus = data.pydoc_corpus(max_chars=400)
    for call, name, allowed in (
        (lambda: corpus.batch("train", 0, 8), "batch_size", "[1, inf]"),
        (lambda: corpus.batch("train", 2, 0), "block_size", "[1, inf]"),
        (lambda: corpus.batch("train", 2, 1000), "block_size", "shorter"),
        (lambda: corpus.encode(3), "s", "string"),
        (lambda: data.pydoc_corpus(max_chars=1), "max_chars", "[2, inf]"),
        (lambda: data.make_task("xnor"), "xnor", "registered"),
        (lambda: data.make_task("xor", noise=-0.1), "noise", "[0.0, inf]"),
    ):
        assert_rejects(call, name, allowed)


# --- model constructors -------------------------------------------------------------------------

NOT_A_SIZE = st.one_of(
    st.integers(max_value=0), st.floats(), st.booleans(), st.text(max_size=2), st.none()
)


@FEW
@given(bad=NOT_A_SIZE)
def test_model_sizes_must_be_positive_integers(bad):
    for call, name in (
        (lambda: models.MLP([4, bad, 2]), "sizes"),
        (lambda: models.CNN1d(channels=bad), "channels"),
        (lambda: models.CNN1d(num_classes=bad), "num_classes"),
        (lambda: models.CNN2d(channels=bad), "channels"),
        (lambda: models.RNNClassifier(bad, 4, 2), "input_size"),
        (lambda: models.RNNClassifier(1, bad, 2), "hidden_size"),
        (lambda: models.TinyGPT(bad), "vocab_size"),
        (lambda: models.TinyGPT(10, n_heads=bad), "n_heads"),
        (lambda: models.TinyGPT(10, block_size=bad), "block_size"),
    ):
        assert_rejects(call, name, "positive integers" if name == "sizes" else "integer")


def test_other_model_arguments():
    gpt = models.TinyGPT(11, d_model=8, n_layers=1, n_heads=2, block_size=8)
    for call, name, allowed in (
        (lambda: models.MLP(40), "sizes", "at least two"),
        (lambda: models.MLP("40"), "sizes", "at least two"),
        (lambda: models.MLP([4, 2], activation="relu"), "activation", "nn.ReLU"),
        (lambda: models.CNN1d(length=2), "length", "[3, inf]"),
        (lambda: models.build(nn.Linear(2, 2), masked="yes"), "masked", "True or False"),
        (lambda: gpt(torch.zeros(8, dtype=torch.long)), "idx", "2-D"),
        (lambda: gpt(torch.zeros(1, 4)), "idx", "token ids"),
    ):
        assert_rejects(call, name, allowed, unchanged=(gpt,))


def test_wrong_types_are_type_errors_that_value_error_also_catches():
    """Notebooks catch ValueError for every bad parameter; the type errors are both kinds."""
    with pytest.raises(ValueError):
        params.check_int("epochs", "3")
    with pytest.raises(TypeError):
        params.check_float("lr", None)
