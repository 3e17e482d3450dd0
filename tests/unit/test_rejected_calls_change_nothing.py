"""A rejected call changes nothing: every public helper that changes state, tried with bad arguments.

``ROWS`` has one row per public function, method or constructor that changes a model, an optimizer,
a generator (a ``torch.Generator``, a ``random.Random``, torch's, Python's or NumPy's global random
state) or a file: the call, a function that builds fresh *valid* keyword arguments, and bad values
for some of them. Each bad value is tried alone, every other argument valid, and the call must

1. raise a ValueError or TypeError from helpers code whose message names the argument
   (``bad_input.assert_rejects``); a value wrapped in ``Fails`` instead passes the checks and makes
   the model's own forward pass fail, where any error will do (torch's shape errors are fine);
2. leave everything as it was: every model, optimizer, generator, tensor and plain object among
   the arguments (a model's tensors, ``requires_grad`` flags, the train/eval mode of every
   submodule and its hooks), the global random states, torch's thread count, the registered data
   tasks, and every file and folder below the test's own folder (where outputs and caches go).

``test_valid_arguments_are_accepted`` runs each row once with its valid arguments, so a row cannot
pass by rejecting everything. A new public function that changes something needs one row here.
"""

from __future__ import annotations

import functools
import math
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import pytest
import torch
from bad_input import _same, _state, assert_rejects
from matplotlib.figure import Figure
from torch import nn

from helpers import (
    activations,
    checkpoints,
    data,
    distill,
    masks,
    metrics,
    models,
    notebook,
    prune,
    results,
    runtime,
    train,
)
from helpers.core.data import TensorLoader
from helpers.core.models import MLP
from helpers.papers import continuous_sparsification as continuous
from helpers.papers import modular_growth as modular
from helpers.papers import n2n_rl_compression as n2n
from helpers.papers import robust_sparse_training as robust
from helpers.papers import structured_continuous_sparsification as structured
from helpers.papers.geometric_sparsification import geometric, navigation
from helpers.papers.sparse_rnns import grammars, graphs


@dataclass(frozen=True)
class Row:
    """A public call, a builder of valid keyword arguments (given the test's folder), bad values."""

    call: Callable[..., Any]
    valid: Callable[[Path], dict[str, Any]]
    bad: dict[str, tuple[Any, ...]]


@dataclass(frozen=True)
class Fails:
    """A value that passes the checks but makes the model's own forward pass fail."""

    value: Any


@dataclass(frozen=True)
class From:
    """A bad value built from the row's valid arguments (a snapshot of another model, say)."""

    make: Callable[[dict[str, Any]], Any]


# --- small valid inputs -------------------------------------------------------------------------


def mlp(masked: bool = True, sizes: tuple[int, ...] = (6, 5, 3)) -> nn.Module:
    model = MLP(list(sizes))
    return masks.to_masked(model) if masked else model


def pruned() -> nn.Module:
    model = mlp()
    prune.magnitude_prune(model, 0.5)
    return model


def soft() -> nn.Module:
    model = pruned()
    continuous.enable_soft_masks(model)
    return model


def loader(n: int = 8, width: int = 6) -> TensorLoader:
    g = torch.Generator().manual_seed(0)
    return TensorLoader(torch.randn(n, width, generator=g), torch.randint(0, 3, (n,)), 4)


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def figure() -> Figure:
    fig = Figure(figsize=(1, 1))
    fig.add_subplot().plot([0, 1])
    return fig


def saved(folder: Path, model: nn.Module) -> Path:
    return checkpoints.save_checkpoint(model, folder / "in" / "model.pt", meta={"seed": 0})


def written(folder: Path, content: Any) -> Path:
    """A file that torch can load but that is not a usable checkpoint."""
    path = folder / "in" / "bad.pt"
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(content, path)
    return path


def trained_with_snapshot() -> dict[str, Any]:
    """A model, optimizer and scheduler one step past the snapshot ``snap`` taken of them."""
    model = pruned()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, 1)
    snap = prune.snapshot(model, optimizer, scheduler)
    model(torch.randn(4, 6)).sum().backward()
    optimizer.step()
    scheduler.step()
    return {"model": model, "snap": snap, "optimizer": optimizer, "scheduler": scheduler}


def eval_mode(model: nn.Module) -> nn.Module:
    """``model`` in eval mode, so a call that switches it to training must put the mode back."""
    return model.eval()


@functools.cache
def corpus() -> data.CharCorpus:
    return data.pydoc_corpus(max_chars=400)


def gated() -> structured.GatedResCNN1d:
    return structured.GatedResCNN1d(length=8, channels=2, widths=[3, 3])


def growing(strategy: str = "frozen") -> modular.ModularRNN | modular.MonolithicRNN:
    return modular.build_model(strategy, 3, 2, generator=gen())


def parity_eval() -> tuple[torch.Tensor, torch.Tensor]:
    return modular.nparity_batch(4, 5, [2], gen(1))


def run_of(folder: Path) -> notebook.Run:
    return notebook.Run("00_x", 0, torch.device("cpu"), gen(), folder / "out" / "run")


def summary() -> dict[str, Any]:
    return {"summary": [results.claim_row("c", "p", "m", "holds")]}


DENSE = From(lambda args: mlp(masked=False))  # prunable layers, none of them masked
NOTHING_TO_PRUNE = From(lambda args: nn.Sequential(nn.ReLU()))
NOT_A_FRACTION = (1.5, -0.1, "0.5", math.nan, None, 10**400)
NOT_A_GENERATOR = (3, "generator")

# --- the table ------------------------------------------------------------------------------------

ROWS: dict[str, Row] = {
    # plumbing: files, seeds, threads
    "results.atomic_write_bytes": Row(
        results.atomic_write_bytes,
        lambda d: {"path": d / "out" / "a.bin", "data": b"x"},
        {"path": (3, None), "data": ("text", 3, None)},
    ),
    "results.atomic_write_text": Row(
        results.atomic_write_text,
        lambda d: {"path": d / "out" / "a.txt", "text": "x"},
        {"path": (3,), "text": (b"x", 3)},
    ),
    "results.output_dir_for": Row(
        results.output_dir_for,
        lambda d: {"notebook": "00_x", "output_dir": None},
        {"notebook": ("../x", "a/b", "", "..", None, 3), "output_dir": (3, ["x"])},
    ),
    "results.save_results": Row(
        results.save_results,
        lambda d: {"output_dir": d / "out" / "run", "results": {"a": 1}, "name": "results.json"},
        {"output_dir": (3,), "results": ([1], 3), "name": ("../x.json", "a/x.json", "", "..", 3)},
    ),
    "results.save_figure": Row(
        results.save_figure,
        lambda d: {"fig": figure(), "path": d / "out" / "f.png", "dpi": 20},
        {"fig": (3, "figure"), "path": (3,), "dpi": (0, "100", 1.5)},
    ),
    "checkpoints.save_checkpoint": Row(
        checkpoints.save_checkpoint,
        lambda d: {"model": pruned(), "path": d / "out" / "m.pt", "meta": {"seed": 0}},
        {"model": ("model",), "path": (3,), "meta": (3, [1], {"f": object()}, {"f": {1, 2}})},
    ),
    "checkpoints.load_checkpoint": Row(
        checkpoints.load_checkpoint,
        lambda d: {"model": mlp(), "path": saved(d, pruned())},
        {
            "model": ("model", DENSE),
            "path": (
                3,
                From(lambda a: written(a["path"].parent, {"format": checkpoints.FORMAT})),
                From(
                    lambda a: written(
                        a["path"].parent,
                        {"format": checkpoints.FORMAT, "state_dict": mlp().state_dict()},
                    )
                ),  # no meta
                From(
                    lambda a: written(
                        a["path"].parent,
                        {"format": checkpoints.FORMAT, "state_dict": [1], "meta": {}},
                    )
                ),
                From(lambda a: saved(a["path"].parent.parent, mlp(sizes=(6, 7, 3)))),
                From(lambda a: written(a["path"].parent, {"weights": 1})),
            ),
        },
    ),
    "checkpoints.load_checkpoint (soft masks)": Row(
        checkpoints.load_checkpoint,
        lambda d: {"model": mlp(), "path": saved(d, soft())},
        {"model": (DENSE, From(lambda a: mlp(sizes=(6, 7, 3))))},
    ),
    "notebook.start": Row(
        notebook.start,
        lambda d: {"name": "00_x", "seed": 0, "device": "cpu", "output_dir": None},
        {
            "name": ("../x", "a/b", "", None, 3),
            "seed": (-1, "0", 2**64, 1.5, None),
            "device": ("tpu", 3),
            "output_dir": (3,),
        },
    ),
    "notebook.Run.save": Row(
        lambda run, **kwargs: run.save(**kwargs),
        lambda d: {
            "run": run_of(d),
            "results": summary(),
            "figures": {"a": figure()},
            "key_figure": None,
        },
        {
            "results": (3, {"a": 1}),
            "figures": (3, From(lambda a: {**a["figures"], "b": 3})),
            "key_figure": ("zzz", 3),
        },
    ),
    "runtime.seed_everything": Row(
        runtime.seed_everything, lambda d: {"seed": 0}, {"seed": (-1, "1", 1.5, 2**64, None)}
    ),
    "runtime.set_threads": Row(runtime.set_threads, lambda d: {"n": 1}, {"n": (0, "2", 1.5)}),
    # core: masks and masked layers
    "masks.to_masked": Row(
        masks.to_masked,
        lambda d: {"model": mlp(masked=False), "skip": ()},
        {"model": ("model", NOTHING_TO_PRUNE), "skip": ("0", ["nope"], 3)},
    ),
    "masks.set_masks": Row(
        masks.set_masks,
        lambda d: (lambda m: {"model": m, "masks": masks.get_masks(mlp())})(pruned()),
        {
            "model": ("model", DENSE),
            "masks": (
                {},
                3,
                From(lambda a: {k: torch.ones(2) for k in a["masks"]}),
                From(lambda a: {k: torch.full_like(v, 0.5) for k, v in a["masks"].items()}),
            ),
        },
    ),
    "masks.apply_masks_": Row(
        masks.apply_masks_, lambda d: {"model": pruned()}, {"model": ("model", DENSE)}
    ),
    "masks.set_mask_temperature": Row(
        masks.set_mask_temperature,
        lambda d: {"model": soft(), "beta": 2.0},
        {"model": ("model", DENSE), "beta": (0, -1.0, "2", math.nan, math.inf)},
    ),
    "MaskedMixin.set_mask": Row(
        lambda layer, **kwargs: layer.set_mask(**kwargs),
        lambda d: {"layer": pruned().layers[0], "name": "weight", "mask": torch.ones(5, 6)},
        {"name": ("bias", 3), "mask": ("x", torch.ones(2), torch.full((5, 6), 0.5))},
    ),
    "MaskedMixin.enable_soft_mask": Row(
        lambda layer, **kwargs: layer.enable_soft_mask(**kwargs),
        lambda d: {"layer": pruned().layers[0], "name": "weight", "init": -1.0},
        # below about -87, sigmoid(init) underflows in float32 and every output would be NaN
        {"name": ("bias",), "init": (-90.0, -200.0, "0", math.inf, math.nan, 10**400)},
    ),
    "MaskedMixin.harden_soft_mask": Row(
        lambda layer, **kwargs: layer.harden_soft_mask(**kwargs),
        lambda d: {"layer": soft().layers[0], "name": "weight"},
        {"name": ("bias", 3)},
    ),
    # core: pruning
    "prune.magnitude_prune": Row(
        prune.magnitude_prune,
        lambda d: {"model": pruned(), "sparsity": 0.7, "scope": "layer"},
        {"model": ("model", DENSE), "sparsity": NOT_A_FRACTION, "scope": ("x", None)},
    ),
    "prune.random_prune": Row(
        prune.random_prune,
        lambda d: {"model": pruned(), "sparsity": 0.7, "scope": "global", "generator": gen()},
        {
            "model": ("model", DENSE),
            "sparsity": NOT_A_FRACTION,
            "scope": ("x",),
            "generator": NOT_A_GENERATOR,
        },
    ),
    "prune.prune_by_scores": Row(
        prune.prune_by_scores,
        lambda d: (lambda m: {"model": m, "scores": masks.get_masks(m), "sparsity": 0.7})(pruned()),
        {
            "model": (DENSE,),
            "scores": ({}, 3, From(lambda a: {k: torch.ones(2) for k in a["scores"]})),
            "sparsity": (2,),
        },
    ),
    "prune.pruned_copy": Row(
        prune.pruned_copy,
        lambda d: {"model": pruned(), "method": "random", "sparsity": 0.7, "generator": gen()},
        {
            "model": ("model", DENSE),
            "method": ("x",),
            "sparsity": (2,),
            "generator": NOT_A_GENERATOR,
        },
    ),
    "prune.rewind": Row(
        prune.rewind,
        lambda d: trained_with_snapshot(),
        {
            "model": ("model", DENSE),
            "snap": (
                {"step": 0},
                From(lambda a: prune.snapshot(mlp(sizes=(6, 7, 3)))),
                From(lambda a: prune.snapshot(a["model"])),  # no optimizer state in it
            ),
            "optimizer": (
                "optimizer",
                From(lambda a: torch.optim.SGD(masks.param_groups(soft()), lr=0.1)),
            ),
            "scheduler": (3, "scheduler", From(lambda a: object())),
        },
    ),
    # core: training and measuring
    "train.fit": Row(
        train.fit,
        lambda d: (
            lambda m: {
                "model": eval_mode(m),
                "train_loader": loader(),
                "epochs": 1,
                "optimizer": torch.optim.Adam(m.parameters()),
                "val_loader": loader(),
                "device": "cpu",
                "progress": False,
            }
        )(pruned()),
        {
            "model": ("model",),
            "train_loader": (3, "abc", torch.zeros(4, 6), Fails(loader(width=5))),
            "epochs": (-1, "1", 1.5),
            "optimizer": ("adam",),
            "lr": (-1.0, "x", math.nan),
            "loss_fn": (3, Fails(lambda outputs, targets: "loss")),
            "val_loader": (3, [], torch.zeros(4, 6)),
            "callbacks": (3, "callback"),
            "scheduler": (3, "scheduler"),
            "device": ("tpu", 3),
            "amp": ("yes",),
            "compile": (1,),
            "keep_masks": (None,),
            "max_grad_norm": (0, -1.0, "1"),
            "progress": ("no",),
        },
    ),
    "train.predict": Row(
        train.predict,
        lambda d: {"model": pruned(), "loader": loader(), "device": "cpu"},
        {
            "model": ("model",),
            "loader": (3, torch.zeros(2, 6), [], Fails(loader(width=5))),
            "device": ("tpu",),
        },
    ),
    "train.evaluate": Row(
        train.evaluate,
        lambda d: {"model": pruned(), "loader": loader(), "device": "cpu"},
        {"loader": (3, Fails(loader(width=5))), "loss_fn": (3,)},
    ),
    "metrics.count_flops": Row(
        metrics.count_flops,
        lambda d: {"model": pruned(), "example": torch.randn(2, 6)},
        {"model": ("model",), "example": ("x", Fails(torch.randn(2, 5)))},
    ),
    "metrics.measure_latency": Row(
        metrics.measure_latency,
        lambda d: {"model": pruned(), "example": torch.randn(2, 6), "repeats": 2, "warmup": 0},
        {
            "model": ("model",),
            "example": ("x", Fails(torch.randn(2, 5))),
            "repeats": (0, "3"),
            "warmup": (-1, 1.5),
        },
    ),
    "metrics.summarize": Row(
        metrics.summarize,
        lambda d: {"model": pruned(), "example": torch.randn(2, 6), "accuracy": 0.5},
        {
            "model": ("model", DENSE),
            "example": ("x", Fails(torch.randn(2, 5))),
            "accuracy": (1.5, "x"),
            "dense_latency_s": (0, -1.0),
        },
    ),
    "activations.record_activations": Row(
        activations.record_activations,
        lambda d: {"model": mlp(), "x": torch.randn(4, 6), "modules": None, "batch_size": 2},
        {
            "model": ("model", From(lambda a: nn.Sequential(nn.Linear(6, 3)))),
            "x": ("x", torch.zeros(0, 6), Fails(torch.randn(4, 5))),
            "modules": ("x", ["nope"], []),
            "batch_size": (0, "2"),
        },
    ),
    "activations.dead_neuron_rate": Row(
        activations.dead_neuron_rate,
        lambda d: {"model": eval_mode(mlp()), "x": torch.randn(4, 6), "mode": "train"},
        {"x": (Fails(torch.randn(4, 5)),), "mode": ("x", None), "batch_size": (0,)},
    ),
    "activations.ActivationRecorder": Row(
        activations.ActivationRecorder,
        lambda d: {"model": mlp(), "modules": None, "reduce": None, "when": "always"},
        {"model": ("model",), "modules": ("x", ["nope"]), "reduce": (3,), "when": ("x",)},
    ),
    "activations.DeadNeuronMonitor": Row(
        activations.DeadNeuronMonitor,
        lambda d: {"model": mlp(), "modules": None},
        {"model": ("model",), "modules": ("x", ["nope"])},
    ),
    "distill.teacher_logits": Row(
        distill.teacher_logits,
        lambda d: {"teacher": mlp(masked=False), "x": torch.randn(4, 6), "batch_size": 2},
        {
            "teacher": ("teacher",),
            "x": ("x", torch.zeros(0, 6), Fails(torch.randn(4, 5))),
            "batch_size": (0,),
        },
    ),
    "distill.distill": Row(
        distill.distill,
        lambda d: {
            "student": eval_mode(mlp(sizes=(6, 4, 3))),
            "teacher": eval_mode(mlp(masked=False)),
            "x": torch.randn(8, 6),
            "epochs": 1,
            "batch_size": None,  # full batch: a failing forward pass comes before any shuffling
            "generator": gen(),
            "device": "cpu",
        },
        {
            "student": ("student", Fails(mlp(sizes=(5, 4, 3)))),
            "teacher": ("teacher",),
            "x": ("x", torch.zeros(0, 6), Fails(torch.randn(8, 5))),
            "epochs": (0, "1"),
            "lr": (0, "x"),
            "weight_decay": (-1.0,),
            "batch_size": (0, "4"),
            "loss": ("l1",),
            "generator": NOT_A_GENERATOR,
            "device": ("tpu",),
            "targets": ("t", torch.zeros(3, 3), Fails(torch.zeros(8, 4))),
        },
    ),
    # core: models and data
    "models.MLP": Row(
        MLP,
        lambda d: {"sizes": [6, 5, 3]},
        {"sizes": ([6, 0, 3], "63", [6], [6, 2.5, 3]), "activation": ("relu", int, 3)},
    ),
    "models.CNN1d": Row(
        models.CNN1d,
        lambda d: {"length": 8, "channels": 2},
        {"length": (2,), "channels": (0,), "num_classes": (0,)},
    ),
    "models.CNN2d": Row(models.CNN2d, lambda d: {"channels": 2}, {"channels": (0,)}),
    "models.RNNClassifier": Row(
        models.RNNClassifier,
        lambda d: {"input_size": 1, "hidden_size": 4, "num_classes": 2},
        {"cell": ("x",), "hidden_size": (0,)},
    ),
    "models.TinyGPT": Row(
        models.TinyGPT,
        lambda d: {"vocab_size": 11, "d_model": 8, "n_layers": 1, "n_heads": 2, "block_size": 8},
        {"n_heads": (3,), "d_model": (0,)},
    ),
    "models.build": Row(
        models.build,
        lambda d: {"model": mlp(masked=False), "masked": True},
        {"model": ("model",), "masked": ("yes",)},
    ),
    "data.CharCorpus.batch": Row(
        lambda corpus, **kwargs: corpus.batch(**kwargs),
        lambda d: {
            "corpus": corpus(),
            "split": "train",
            "batch_size": 2,
            "block_size": 8,
            "generator": gen(),
        },
        {
            "split": ("test",),
            "batch_size": (0,),
            "block_size": (0, 10**6),
            "generator": NOT_A_GENERATOR,
        },
    ),
    "data.mnist1d": Row(
        data.mnist1d,
        lambda d: {"n_train": 20, "n_test": 10, "seed": 0},
        {"n_train": (0,), "seed": (-1,)},
    ),
    # papers: continuous sparsification
    "continuous.enable_soft_masks": Row(
        continuous.enable_soft_masks,
        lambda d: {"model": pruned(), "init": 0.0},
        {
            "model": ("model", DENSE, From(lambda a: soft())),
            "init": (-200.0, "0", math.inf, 10**400),
        },
    ),
    "continuous.reset_logits_": Row(
        continuous.reset_logits_,
        lambda d: {"model": soft()},
        {"model": (DENSE, From(lambda a: pruned()))},
    ),
    "continuous.extract_ticket": Row(
        continuous.extract_ticket,
        lambda d: {"model": soft()},
        {"model": (DENSE, From(lambda a: pruned()))},
    ),
    "continuous.search": Row(
        continuous.search,
        lambda d: {
            "model": pruned(),
            "train_loader": loader(),
            "lam": 1e-4,
            "rounds": 1,
            "epochs": 1,
            "final_temp": 10.0,
            "device": "cpu",
            "progress": False,
        },
        {
            "model": ("model", DENSE, From(lambda a: soft())),
            "train_loader": (
                3,
                torch.zeros(4, 6),
                [],
                From(lambda a: loader(n=4)),  # one step: a temperature schedule needs two
                From(lambda a: (batch for batch in loader())),  # no len()
            ),
            "lam": (-1.0, "x"),
            "rounds": (0, "2", True),
            "epochs": (0, 1.5),
            "final_temp": (0.5, "x", math.inf),
            "init": (-200.0, "0"),
            "lr": (0, "x", math.nan),
            "mask_lr": (0, -1.0),
            "device": ("tpu",),
            "record_logits": ("yes",),
            "progress": ("no",),
        },
    ),
    "continuous.train_ticket": Row(
        continuous.train_ticket,
        lambda d: (
            lambda m: {
                "model": m,
                "rewind_to": prune.snapshot(m),
                "train_loader": loader(),
                "test_loader": loader(),
                "epochs": 1,
                "device": "cpu",
                "progress": False,
            }
        )(pruned()),
        {
            "model": ("model", DENSE, From(lambda a: soft())),
            "rewind_to": ({"step": 0}, From(lambda a: prune.snapshot(mlp(sizes=(6, 7, 3))))),
            "train_loader": (3,),
            "test_loader": (3, torch.zeros(2, 6)),
            "epochs": (0, "1"),
            "lr": (0, "x"),
            "device": ("tpu",),
            "progress": ("no",),
        },
    ),
    # papers: structured continuous sparsification
    "structured.fix_gates_": Row(
        structured.fix_gates_,
        lambda d: {"model": gated(), "keep": None},
        {
            "model": ("model", From(lambda a: nn.Linear(2, 2))),
            "keep": (
                3,
                {"nope": torch.ones(3)},
                {"blocks.1.unit_gate": torch.full((3,), 0.5)},
            ),
        },
    ),
    "structured.ChannelGate.fix_": Row(
        lambda gate, **kwargs: gate.fix_(**kwargs),
        lambda d: {"gate": structured.ChannelGate(3), "keep": torch.ones(3)},
        {"keep": (torch.ones(2), torch.full((3,), 0.5), "x")},
    ),
    "structured.ChannelGate.anneal_": Row(
        lambda gate, **kwargs: gate.anneal_(**kwargs),
        lambda d: {"gate": structured.ChannelGate(3), "rate": 1.1},
        {"rate": (0.5, "x", math.inf)},
    ),
    "structured.GatedBlock": Row(
        structured.GatedBlock,
        lambda d: {"channels": 2, "width": 3},
        {
            "channels": (0,),
            "unit_init": ("x", [1.0, 2.0]),
            "block_init": ("x", math.nan),
            "sampling": ("yes",),
            "gated": (1,),
        },
    ),
    "structured.GatedResCNN1d": Row(
        structured.GatedResCNN1d,
        lambda d: {"length": 8, "channels": 2, "widths": [3, 3]},
        {"length": (0,), "widths": (4, [3, 0]), "seed_logit": (-1.0,), "sampling": ("yes",)},
    ),
    # papers: robust sparse training
    "robust.QuantizedLinear": Row(
        robust.QuantizedLinear,
        lambda d: {"in_features": 3, "out_features": 2, "bits": 2},
        {
            "in_features": (0,),
            "bias": ("no",),
            "bits": (0, 1.5),
            "sparsity": (1.0, "x"),
            "method": ("x",),
            "lam": (-1.0,),
            "granularity": ("col",),
            "act_bits": (0,),
        },
    ),
    "robust.to_quantized": Row(
        robust.to_quantized,
        lambda d: {"model": mlp(masked=False), "bits": 2},
        {
            "model": ("model", nn.Linear(3, 2), nn.Sequential(nn.ReLU())),
            "float_first_input": ("no",),
            "bits": (0,),
            "sparsity": (1.0,),
            "method": ("x",),
            "bogus": (2,),
        },
    ),
    # papers: N2N
    "n2n.LayerPolicy": Row(
        n2n.LayerPolicy,
        lambda d: {"descriptor_size": 4},
        {"descriptor_size": (0, "4"), "num_choices": (1,), "hidden_size": (0,), "num_layers": (0,)},
    ),
    "n2n.LayerPolicy.sample": Row(
        lambda policy, **kwargs: policy.sample(**kwargs),
        lambda d: {
            "policy": n2n.LayerPolicy(4),
            "descriptors": torch.rand(2, 4),
            "n": 2,
            "generator": gen(),
        },
        {"descriptors": ("d", torch.zeros(2, 3)), "n": (0,), "generator": NOT_A_GENERATOR},
    ),
    "n2n.reinforce_search": Row(
        n2n.reinforce_search,
        lambda d: {
            "policy": n2n.LayerPolicy(4),
            "descriptors": torch.rand(2, 4),
            "score": lambda choices: {"reward": 0.5},
            "iterations": 1,
            "rollouts": 2,
            "generator": gen(),
            "progress": False,
        },
        {
            "policy": ("policy",),
            "descriptors": (torch.zeros(2, 3),),
            "score": (3,),
            "iterations": (0,),
            "rollouts": (0,),
            "lr": (0,),
            "baseline": (3,),
            "generator": NOT_A_GENERATOR,
            "cache_key": (3,),
            "progress": ("no",),
        },
    ),
    "n2n.MovingAverageBaseline.update": Row(
        lambda baseline, **kwargs: baseline.update(**kwargs),
        lambda d: {"baseline": n2n.MovingAverageBaseline(), "rewards": [0.5]},
        {"rewards": ("x", [], [1, "a"], None)},
    ),
    # papers: sparse RNNs
    "grammars.reber_string": Row(
        grammars.reber_string,
        lambda d: {"rng": random.Random(0), "min_length": 5, "max_length": 12},
        {"rng": (3, None), "min_length": ("5", 13), "max_length": (4, "x")},
    ),
    "grammars.embedded_reber_string": Row(
        grammars.embedded_reber_string,
        lambda d: {"rng": random.Random(0), "min_length": 9, "max_length": 14},
        {"rng": (3,), "max_length": (8,)},
    ),
    "grammars.corrupt": Row(
        grammars.corrupt,
        lambda d: {"s": "BTXSE", "rng": random.Random(0)},
        {
            "s": (3, "BE"),
            "rng": (3,),
            "is_valid": (3, lambda s: True),
            "alphabet": ("", "TT", 3),
        },
    ),
    "graphs.graph_with_density": Row(
        graphs.graph_with_density,
        lambda d: {"kind": "watts_strogatz", "n": 8, "density": 0.4, "rng": random.Random(0)},
        {"kind": ("x",), "n": (3, "8"), "density": (0.0, 1.5, "x"), "rng": (3,)},
    ),
    "graphs.apply_graph_mask": Row(
        graphs.apply_graph_mask,
        lambda d: {"rnn": masks.to_masked(nn.GRU(2, 6, num_layers=2)), "graph": nx.cycle_graph(6)},
        {
            "rnn": ("rnn", nn.RNN(2, 6)),
            "graph": (nx.cycle_graph(5), 3, nx.DiGraph(nx.cycle_graph(6))),
            "self_loops": ("yes",),
        },
    ),
    # papers: geometric sparsification
    "navigation.PlaceCells": Row(
        navigation.PlaceCells,
        lambda d: {"n_cells": 8, "generator": gen()},
        {"n_cells": (2,), "sigma": (0,), "generator": NOT_A_GENERATOR},
    ),
    "navigation.make_walks": Row(
        navigation.make_walks,
        lambda d: {"n": 3, "steps": 4, "generator": gen()},
        {"n": (0,), "dt": (0,), "turn_sd": (-1.0,), "generator": NOT_A_GENERATOR},
    ),
    "navigation.PathIntegrationRNN": Row(
        navigation.PathIntegrationRNN,
        lambda d: {"place_cells": navigation.PlaceCells(8, generator=gen()), "hidden_size": 4},
        {"place_cells": (3,), "hidden_size": (0,)},
    ),
    "navigation.decoded_errors": Row(
        navigation.decoded_errors,
        lambda d: {
            "model": navigation.PathIntegrationRNN(navigation.PlaceCells(8, generator=gen()), 4),
            "walks": navigation.make_walks(3, 4, generator=gen()),
            "batch_size": 2,
        },
        {
            "model": ("model", nn.Linear(2, 2)),
            "walks": (3, Fails(navigation.Walks(torch.zeros(3, 5, 3), torch.zeros(3, 4, 2), 0.1))),
            "batch_size": (0,),
        },
    ),
    "geometric.embed_neurons": Row(
        geometric.embed_neurons,
        lambda d: {"n": 5, "manifold": "torus", "generator": gen()},
        {"n": (0,), "manifold": ("cube", 3), "generator": NOT_A_GENERATOR},
    ),
    "geometric.make_geometry": Row(
        geometric.make_geometry,
        lambda d: {"n": 5, "manifold": "circle", "kind": "dog", "generator": gen()},
        {"n": (0,), "manifold": ("cube",), "kind": ("x",), "generator": NOT_A_GENERATOR},
    ),
    "geometric.permuted": Row(
        geometric.permuted,
        lambda d: {"coefficients": torch.rand(3, 3), "generator": gen()},
        {"coefficients": ("c",), "generator": NOT_A_GENERATOR},
    ),
    "geometric.make_conditions": Row(
        geometric.make_conditions,
        lambda d: {"names": ["torus", "random", "circle"], "n": 5, "generator": gen()},
        {"names": ("torus", ["cube"], [], ["torus", 3]), "n": (0,), "generator": NOT_A_GENERATOR},
    ),
    # papers: modular growth
    "modular.nparity_batch": Row(
        modular.nparity_batch,
        lambda d: {"batch_size": 2, "length": 5, "orders": [2], "generator": gen()},
        {
            "batch_size": (0,),
            "length": (1,),
            "orders": ([0], "2", []),
            "generator": NOT_A_GENERATOR,
            "device": ("tpu",),
            "supervise": ("x",),
        },
    ),
    "modular.ModularRNN": Row(
        modular.ModularRNN,
        lambda d: {"module_size": 3, "max_modules": 2, "generator": gen()},
        {
            "module_size": (0,),
            "max_modules": (0,),
            "activation": ("x",),
            "generator": NOT_A_GENERATOR,
        },
    ),
    "modular.MonolithicRNN": Row(
        modular.MonolithicRNN,
        lambda d: {"hidden_size": 3, "max_heads": 2, "generator": gen()},
        {"hidden_size": (0,), "max_heads": (0,), "activation": ("x",)},
    ),
    "modular.set_trainable": Row(
        modular.set_trainable,
        lambda d: {"model": growing(), "strategy": "frozen"},
        {"model": ("model",), "strategy": ("x", "monolithic")},
    ),
    "modular.train_stage": Row(
        modular.train_stage,
        lambda d: {
            "model": growing(),
            "strategy": "frozen",
            "orders": [2],
            "eval_data": parity_eval(),
            "max_steps": 2,
            "length": 5,
            "generator": gen(),
        },
        {
            "strategy": ("monolithic", "x"),
            "orders": ([2, 3], [0]),
            "eval_data": (3, (torch.zeros(4, 5, 1),)),
            "criterion": (0, 1.5),
            "max_steps": (0,),
            "length": (1,),
            "lr": (0,),
            "generator": NOT_A_GENERATOR,
            "supervise": ("x",),
        },
    ),
    "modular.grow_curriculum": Row(
        modular.grow_curriculum,
        lambda d: {
            "model": growing(),
            "strategy": "frozen",
            "orders": [2, 3],
            "eval_size": 4,
            "generator": gen(),
            "max_steps": 2,
            "length": 5,
        },
        {
            "strategy": ("monolithic",),
            "orders": ([2, 3, 4], [0]),
            "eval_size": (0,),
            "generator": NOT_A_GENERATOR,
            "progress": (3,),
            "criterion": (2.0,),
            "bogus": (1,),
        },
    ),
    "modular.perturbed_copy": Row(
        modular.perturbed_copy,
        lambda d: {"model": growing(), "sigma": 0.1, "generator": gen()},
        {"model": ("model",), "sigma": (-1.0,), "generator": NOT_A_GENERATOR},
    ),
    "modular.noise_curve": Row(
        modular.noise_curve,
        lambda d: {
            "model": growing(),
            "sigmas": [0.1],
            "orders": [2],
            "length": 5,
            "n": 4,
            "draws": 1,
            "generator": gen(),
        },
        {
            "sigmas": ("x", [-1.0]),
            "orders": ([2, 3],),
            "length": (1,),
            "n": (0,),
            "draws": (0,),
            "generator": NOT_A_GENERATOR,
        },
    ),
    "modular.ablation_curve": Row(
        modular.ablation_curve,
        lambda d: {
            "model": growing(),
            "fractions": [0.5],
            "orders": [2],
            "length": 5,
            "n": 4,
            "draws": 1,
            "generator": gen(),
        },
        {"fractions": ("x", [1.5]), "orders": ([2, 3],), "generator": NOT_A_GENERATOR},
    ),
    "modular.length_curve": Row(
        modular.length_curve,
        lambda d: {
            "model": growing(),
            "lengths": [12],
            "orders": [2],
            "n": 4,
            "generator": gen(),
        },
        {"lengths": ([3], "x"), "window": (0,), "generator": NOT_A_GENERATOR},
    ),
}

CASES = [
    (row, argument, index)
    for row, spec in ROWS.items()
    for argument, values in spec.bad.items()
    for index in range(len(values))
]


# --- what a call could change ---------------------------------------------------------------------

STATEFUL = (nn.Module, torch.optim.Optimizer, torch.Generator, random.Random, torch.Tensor)


def _capture(value: Any, depth: int = 0) -> Any:
    """A comparable copy of whatever ``value`` holds that a call could change in place.

    Models, optimizers, generators and tensors as ``bad_input`` compares them; lists, dicts, LR
    schedulers and the helpers' own objects (a snapshot, a baseline, walks) entry by entry; numbers,
    strings, functions and other values by identity (a call cannot change them in place).
    """
    if isinstance(value, STATEFUL):
        return _state(value)
    if depth > 3:
        return id(value)
    if isinstance(value, dict):
        return {k: _capture(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_capture(v, depth + 1) for v in value]
    if hasattr(value, "state_dict") and callable(value.state_dict):  # an LR scheduler
        return _capture(value.state_dict(), depth + 1)
    if type(value).__module__.startswith("helpers.") and hasattr(value, "__dict__"):
        return {k: _capture(v, depth + 1) for k, v in vars(value).items()}
    return id(value)


def _world(folder: Path) -> list[Any]:
    """What a call could change outside its arguments: random states, threads, tasks, files."""
    numpy_state = np.random.get_state()
    files = sorted(
        (str(p.relative_to(folder)), p.read_bytes() if p.is_file() else b"<folder>")
        for p in folder.rglob("*")
    )
    return [
        torch.get_rng_state(),
        random.getstate(),
        (numpy_state[1].tolist(), numpy_state[2:]),
        torch.get_num_threads(),
        sorted(data.TASKS),
        files,
    ]


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Outputs and data caches go below ``tmp_path``; global state is put back after each test."""
    monkeypatch.setenv("SPARSITY_OUTPUT_ROOT", str(tmp_path / "out"))
    monkeypatch.setenv("SPARSITY_DATA", str(tmp_path / "data"))
    threads, rng = torch.get_num_threads(), torch.get_rng_state()
    torch.manual_seed(0)  # the models a row builds are the same in every run
    yield
    torch.set_num_threads(threads)
    torch.set_rng_state(rng)


def _arguments(row: Row, folder: Path, argument: str, bad: Any) -> tuple[dict[str, Any], bool]:
    """The row's valid arguments with ``argument`` replaced by ``bad``; and whether ``bad`` Fails."""
    args = row.valid(folder)
    if isinstance(bad, From):
        bad = bad.make(args)
    fails = isinstance(bad, Fails)
    args[argument] = bad.value if fails else bad
    return args, fails


@pytest.mark.parametrize(
    ("row", "argument", "index"), CASES, ids=[f"{r}:{a}{i}" for r, a, i in CASES]
)
def test_a_rejected_call_changes_nothing(row: str, argument: str, index: int, tmp_path: Path):
    spec = ROWS[row]
    args, fails = _arguments(spec, tmp_path, argument, spec.bad[argument][index])
    before, world = _capture(args), _world(tmp_path)
    if fails:  # the model's own forward pass fails: any error will do
        with pytest.raises(Exception):  # noqa: B017
            spec.call(**args)
    else:
        assert_rejects(lambda: spec.call(**args), argument, "")
    assert _same(before, _capture(args)), f"{row} changed its arguments before failing"
    assert _same(world, _world(tmp_path)), (
        f"{row} changed a random state, the thread count, the tasks or a file before failing"
    )


@pytest.mark.parametrize("row", sorted(ROWS))
def test_valid_arguments_are_accepted(row: str, tmp_path: Path):
    spec = ROWS[row]
    spec.call(**spec.valid(tmp_path))


def test_model_mode_puts_back_every_submodules_own_mode_also_after_an_error():
    model = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2), nn.Dropout())
    model[1].eval()  # a frozen batch norm inside a training model
    with pytest.raises(RuntimeError), runtime.model_mode(model, training=False):
        assert not any(m.training for m in model.modules())
        raise RuntimeError("the forward pass failed")
    assert [m.training for m in model.modules()] == [True, True, False, True]
