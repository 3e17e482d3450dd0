"""Offline data, atomic results I/O and parameter checks."""

import json
import os

import pytest
import torch

from helpers import data, params, results


def test_mnist1d_is_generated_cached_and_deterministic(tmp_path, monkeypatch):
    monkeypatch.setenv("SPARSITY_DATA", str(tmp_path))
    a = data.mnist1d(n_train=300, n_test=100)
    assert a.x_train.shape == (300, 40) and a.x_test.shape == (100, 40) and a.num_classes == 10
    assert len(list(tmp_path.glob("mnist1d-*.npz"))) == 1
    b = data.mnist1d(n_train=300, n_test=100)  # from the cache
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_test, b.y_test)
    with pytest.raises(ValueError, match="n_train"):
        data.mnist1d(n_train=0)


def test_digits_standardised_and_image_shape():
    split = data.digits(image=True)
    assert split.x_train.shape[1:] == (1, 8, 8)
    flat = split.x_train.flatten(1)
    informative = flat.std(0) > 0.5
    assert flat.mean(0)[informative].abs().max() < 1e-4


def test_pydoc_corpus_roundtrip_and_batches():
    corpus = data.pydoc_corpus(max_chars=5000)
    assert corpus.decode(corpus.encode("def")) == "def"
    x, y = corpus.batch("train", 4, 16, generator=torch.Generator().manual_seed(0))
    assert x.shape == y.shape == (4, 16) and torch.equal(x[:, 1:], y[:, :-1])
    with pytest.raises(ValueError, match="split"):
        corpus.batch("test", 4, 16)


def test_tensor_loader_covers_every_row_once():
    x, y = torch.arange(10).float().unsqueeze(1), torch.arange(10)
    loader = data.TensorLoader(x, y, 3, shuffle=True, generator=torch.Generator().manual_seed(0))
    seen = torch.cat([yb for _, yb in loader])
    assert len(loader) == 4 and sorted(seen.tolist()) == list(range(10))
    with pytest.raises(ValueError, match="rows"):
        data.TensorLoader(x, y[:5], 3)


def test_task_registry():
    xor = data.make_task("xor", n_train=50, n_test=10)
    assert xor.x_train.shape == (50, 2)
    par = data.make_task("parity", n_bits=5, n_train=20, n_test=5)
    assert torch.equal(par.y_train, par.x_train.squeeze(-1).sum(1).long() % 2)
    with pytest.raises(ValueError, match="unknown task"):
        data.make_task("sudoku")


def test_atomic_results_leave_no_partial_file(tmp_path, monkeypatch):
    results.save_results(tmp_path, {"a": torch.tensor(1.5), "b": float("nan"), "summary": {}})
    assert json.loads((tmp_path / "results.json").read_text()) == {
        "a": 1.5,
        "b": None,
        "summary": {},
    }

    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError):
        results.save_results(tmp_path, {"a": 2})
    assert json.loads((tmp_path / "results.json").read_text())["a"] == 1.5  # the old file, whole
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]  # no temporary left


def test_output_dir_resolution(tmp_path, monkeypatch):
    monkeypatch.setenv("SPARSITY_OUTPUT_ROOT", str(tmp_path))
    assert results.output_dir_for("00_x") == tmp_path / "00_x"
    assert results.output_dir_for("00_x", str(tmp_path / "y")) == tmp_path / "y"


def test_claim_row_rejects_unknown_verdicts():
    with pytest.raises(ValueError, match="verdict"):
        results.claim_row("c", "p", "m", "maybe")


@pytest.mark.parametrize(
    "call",
    [
        lambda: params.check_int("epochs", 2.5),
        lambda: params.check_int("epochs", True),
        lambda: params.check_int("epochs", 0, low=1),
        lambda: params.check_float("lr", "fast"),
        lambda: params.check_float("lr", float("nan")),
        lambda: params.check_float("rate", 1.5, 0, 1),
        lambda: params.check_choice("scope", "net", ["layer", "global"]),
        lambda: params.check_fractions("sparsities", [0.5, 1.2]),
        lambda: params.check_fractions("sparsities", [0.9, 0.5], increasing=True),
        lambda: params.check_fractions("sparsities", "0.5"),
        lambda: params.check_bool("amp", "yes"),
        lambda: params.check_choices("cells", "gru", ["gru", "lstm"]),
        lambda: params.check_choices("cells", [], ["gru", "lstm"]),
        lambda: params.check_choices("cells", ["gru", "rnn"], ["gru", "lstm"]),
        lambda: params.check_choices("cells", ["gru", "gru"], ["gru", "lstm"]),
    ],
)
def test_bad_parameters_raise_value_error_naming_them(call):
    with pytest.raises(ValueError, match="parameter"):
        call()


def test_check_choices_returns_the_options_as_a_list():
    assert params.check_choices("cells", ("lstm", "gru"), ["gru", "lstm"]) == ["lstm", "gru"]


def test_notebook_start_rejects_bad_seed_and_device(tmp_path):
    from helpers import notebook

    with pytest.raises(ValueError, match="seed"):
        notebook.start("00_x", seed=-3, output_dir=str(tmp_path))
    with pytest.raises(ValueError, match="device"):
        notebook.start("00_x", seed=0, device="tpu", output_dir=str(tmp_path))


def test_repo_root_is_the_checkout_so_caches_and_runs_land_at_the_top():
    # Moving a module deeper must not move data/cache or runs/ into helpers/.
    from helpers.plumbing.results import REPO_ROOT

    assert (REPO_ROOT / "pyproject.toml").is_file() and (REPO_ROOT / "helpers").is_dir()
    assert (
        data.cache_dir().resolve().is_relative_to(REPO_ROOT / "data")
        or "SPARSITY_DATA" in os.environ
    )
