"""Activation statistics from forward hooks: record what layers output, and the dead neuron rate.

Introduced in notebook 04 (the dynamic dead neuron rate of pruned ReLU networks). Later notebooks
add their own statistics of recorded activations here (activation sparsity, activation patterns).

Why hooks: a forward hook sees a module's output without touching the model's code, so every model
of ``helpers.models`` can be observed as it is, during training or after it.

The dynamic dead neuron rate (DNR) of Liu, Ghosh, Tan and Motani (TMLR 2023) counts, for a ReLU
layer with K units and N inputs, how often a unit outputs exactly zero:

    DNR = 1/(N K) * sum_n sum_k 1[ReLU(z_k(x_n)) = 0]

For a convolution every channel at every position is a unit. "Dynamic" because a unit counts as
dead *for the inputs where it is zero*; the classic dead neuron, zero for every input, is the
stricter ``dead_unit_fraction``. The DNR of several layers together weights each layer by its
number of units (it is the fraction of all unit-input pairs that are zero).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal

import torch
from torch import nn

from helpers.plumbing.params import (
    ParameterTypeError,
    check_callable,
    check_choice,
    check_int,
    check_module,
    check_tensor,
    check_type,
)
from helpers.plumbing.runtime import model_mode

__all__ = [
    "ALL",
    "activation_modules",
    "ActivationRecorder",
    "record_activations",
    "zero_fraction",
    "dead_unit_fraction",
    "dead_neuron_rate",
    "DeadNeuronMonitor",
    "redundancy_ratio",
    "hamming_knn",
]

#: The key under which per-layer results also report all layers together.
ALL = "all"

When = Literal["always", "train", "eval"]


def activation_modules(
    model: nn.Module, types: tuple[type[nn.Module], ...] = (nn.ReLU,)
) -> dict[str, nn.Module]:
    """The submodules of ``model`` of the given ``types`` (ReLUs by default), by name, in order.

    Raises ValueError when there is none: a model that applies ``torch.relu`` functionally has no
    module to hook, and its layers would silently go unobserved.
    """
    check_module("model", model)
    if isinstance(types, type):
        types = (types,)
    check_type("types", types, tuple, "a module class or a tuple of them (e.g. (nn.ReLU,))")
    if not types or not all(isinstance(t, type) and issubclass(t, nn.Module) for t in types):
        raise ValueError(
            f"types must be a non-empty tuple of nn.Module classes (e.g. (nn.ReLU,)), got {types!r}"
        )
    found = {name: m for name, m in model.named_modules() if isinstance(m, types) and name}
    if not found:
        names = ", ".join(t.__name__ for t in types)
        raise ValueError(
            f"the model has no {names} modules to observe; activations applied as functions "
            "(torch.relu) cannot be hooked: use nn.ReLU modules"
        )
    return found


def _resolve(
    model: nn.Module, modules: Mapping[str, nn.Module] | Iterable[str] | None
) -> dict[str, nn.Module]:
    """Turn ``None`` (all ReLUs), a list of module names or a name → module mapping into a dict."""
    check_module("model", model)
    if modules is None:
        return activation_modules(model)
    if isinstance(modules, Mapping):
        for name, module in modules.items():
            check_module(f"modules['{name}']", module)
        if not modules:
            raise ValueError("modules must name at least one submodule")
        return dict(modules)
    if isinstance(modules, (str, bytes)) or not isinstance(modules, Iterable):
        raise ParameterTypeError(
            "parameter modules must be None (every ReLU), a list of submodule names or a "
            f"dict name -> module, got {modules!r}"
        )
    named = dict(model.named_modules())
    chosen = {}
    for name in modules:
        if name not in named:
            raise ValueError(f"modules names '{name}', which is not a submodule of the model")
        chosen[name] = named[name]
    if not chosen:
        raise ValueError("modules must name at least one submodule")
    return chosen


class ActivationRecorder:
    """Forward hooks on chosen modules; each output goes through ``reduce`` into ``records``.

    ``records[name]`` is a list with one entry per forward pass of module ``name``. ``reduce`` turns
    an output tensor into what is kept (default: the detached tensor itself; a statistic such as a
    count of zeros keeps memory small). ``when`` limits recording to training-mode forwards
    (``'train'``, e.g. inside ``fit``, whose evaluation passes then go unrecorded), eval-mode ones
    (``'eval'``) or all (``'always'``). Use it as a context manager, or call ``remove()``.
    """

    def __init__(
        self,
        model: nn.Module,
        modules: Mapping[str, nn.Module] | Iterable[str] | None = None,
        reduce: Callable[[torch.Tensor], Any] | None = None,
        when: When = "always",
    ) -> None:
        check_choice("when", when, ("always", "train", "eval"))
        if reduce is not None:
            check_callable("reduce", reduce, "a function of one output tensor, or None")
        self.modules = _resolve(model, modules)
        self.reduce = reduce or (lambda output: output.detach())
        self.when = when
        self.records: dict[str, list[Any]] = {name: [] for name in self.modules}
        self._handles = [
            m.register_forward_hook(self._hook(name)) for name, m in self.modules.items()
        ]

    def _hook(self, name: str) -> Callable[..., None]:
        def record(module: nn.Module, _inputs: Any, output: torch.Tensor) -> None:
            if self.when == "train" and not module.training:
                return
            if self.when == "eval" and module.training:
                return
            self.records[name].append(self.reduce(output))

        return record

    def clear(self) -> None:
        """Forget what was recorded (the hooks stay)."""
        for values in self.records.values():
            values.clear()

    def remove(self) -> None:
        """Detach the hooks; the model runs as if never observed."""
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def __enter__(self) -> ActivationRecorder:
        return self

    def __exit__(self, *_: Any) -> None:
        self.remove()


def _check_inputs(x: torch.Tensor, batch_size: int) -> None:
    """``x`` a tensor with at least one row (an input per row), ``batch_size`` a positive int."""
    check_tensor("x", x, min_dim=1)
    if len(x) == 0:
        raise ValueError(f"x must hold at least one input (row), got shape {tuple(x.shape)}")
    check_int("batch_size", batch_size, 1)


def _batches(x: torch.Tensor, batch_size: int) -> Iterable[torch.Tensor]:
    for i in range(0, len(x), batch_size):
        yield x[i : i + batch_size]


Mode = Literal["eval", "train"]


@torch.no_grad()
def _run(model: nn.Module, x: torch.Tensor, batch_size: int, mode: Mode = "eval") -> None:
    """Forward ``x`` through ``model`` in batches, in eval or train mode; restore the mode after.

    Eval mode: batch norm uses its running statistics. Train mode: each batch is normalised with its
    own statistics, as during training (and the running statistics are updated, as they would be).
    """
    check_choice("mode", mode, ("eval", "train"))
    with model_mode(model, training=mode == "train"):
        for batch in _batches(x, batch_size):
            model(batch)


def record_activations(
    model: nn.Module,
    x: torch.Tensor,
    modules: Mapping[str, nn.Module] | Iterable[str] | None = None,
    batch_size: int = 1000,
) -> dict[str, torch.Tensor]:
    """The outputs of ``modules`` (all ReLUs by default) for the inputs ``x``, in eval mode.

    Returns ``{name: tensor of shape (len(x), *unit_shape)}``: all of ``x`` passes through in
    batches of ``batch_size`` and the batches are concatenated.
    """
    _check_inputs(x, batch_size)
    with ActivationRecorder(model, modules) as recorder:
        _run(model, x, batch_size)
    return {name: torch.cat(values) for name, values in recorder.records.items()}


def zero_fraction(activations: torch.Tensor) -> float:
    """Fraction of entries that are exactly zero: the DNR of one layer on one batch."""
    check_tensor("activations", activations)
    if activations.numel() == 0:
        raise ValueError("zero_fraction of an empty tensor is undefined")
    return (activations == 0).float().mean().item()


def dead_unit_fraction(activations: torch.Tensor) -> float:
    """Fraction of units that are zero for *every* input (the classic, static dead neuron).

    ``activations`` has shape (N, *unit_shape); a unit is one entry of ``unit_shape`` (for a
    convolution, one channel at one position).
    """
    check_tensor("activations", activations)
    if activations.dim() < 2 or activations.shape[0] == 0:
        raise ValueError(
            f"activations must have shape (N, units...) with N > 0, got {tuple(activations.shape)}"
        )
    per_unit = activations.reshape(activations.shape[0], -1)  # (N, K)
    return (per_unit == 0).all(dim=0).float().mean().item()


def _zero_count(output: torch.Tensor) -> tuple[torch.Tensor, int]:
    """(zeros, entries) of one output; the count stays on the output's device (no sync per step)."""
    return (output.detach() == 0).sum(), output.numel()


def _rates(counts: Mapping[str, tuple[float, float]]) -> dict[str, float]:
    """Per-layer zero fractions and, under ``ALL``, the fraction over all layers' entries."""
    rates = {name: zeros / total for name, (zeros, total) in counts.items() if total}
    zeros = sum(z for z, _ in counts.values())
    total = sum(t for _, t in counts.values())
    rates[ALL] = zeros / total if total else float("nan")
    return rates


def _summed(
    records: Mapping[str, list[tuple[torch.Tensor, int]]],
) -> dict[str, tuple[float, float]]:
    return {
        name: (
            float(sum(z for z, _ in values)) if values else 0.0,
            float(sum(t for _, t in values)),
        )
        for name, values in records.items()
    }


def dead_neuron_rate(
    model: nn.Module,
    x: torch.Tensor,
    modules: Mapping[str, nn.Module] | Iterable[str] | None = None,
    batch_size: int = 1000,
    mode: Mode = "eval",
) -> dict[str, float]:
    """The dynamic DNR of each observed layer on inputs ``x``, and under ``ALL`` all layers together.

    Layers are the ReLU modules by default (the hook sits *after* the ReLU: its zeros are the dead
    units; the output layer has none and is left out). Nothing is stored but counts of zeros.
    ``mode='train'`` normalises batch norm with each batch's statistics, as training does (it
    updates the running statistics: measure a copy if that matters).
    """
    _check_inputs(x, batch_size)
    check_choice("mode", mode, ("eval", "train"))
    with ActivationRecorder(model, modules, reduce=_zero_count) as recorder:
        _run(model, x, batch_size, mode)
    return _rates(_summed(recorder.records))


class DeadNeuronMonitor:
    """A ``helpers.core.train.fit`` callback: the dynamic DNR of every ReLU layer *during* training.

    Hooks count the zeros of each training-mode forward pass (``fit``'s evaluation passes run in
    eval mode and are not counted); at the end of each epoch the counts become one row of
    ``epochs``: ``{layer name: DNR, ALL: DNR of all layers}``. Call ``remove()`` when done, or use
    the monitor as a context manager.
    """

    def __init__(
        self, model: nn.Module, modules: Mapping[str, nn.Module] | Iterable[str] | None = None
    ) -> None:
        self.recorder = ActivationRecorder(model, modules, reduce=_zero_count, when="train")
        self.epochs: list[dict[str, float]] = []

    @property
    def layers(self) -> list[str]:
        """The names of the observed modules."""
        return list(self.recorder.modules)

    def on_epoch_end(self, **_: Any) -> None:
        """Close the epoch: turn the counts since the last call into one row of ``epochs``."""
        self.epochs.append(_rates(_summed(self.recorder.records)))
        self.recorder.clear()

    def mean(self, layer: str = ALL) -> float:
        """The DNR of ``layer`` (default: all layers) averaged over the recorded epochs."""
        if not self.epochs:
            raise ValueError(
                "no epoch recorded yet: pass the monitor to fit(..., callbacks=[monitor])"
            )
        check_choice("layer", layer, sorted(self.epochs[0]))
        return sum(row[layer] for row in self.epochs) / len(self.epochs)

    def remove(self) -> None:
        """Detach the hooks."""
        self.recorder.remove()

    def __enter__(self) -> DeadNeuronMonitor:
        return self

    def __exit__(self, *_: Any) -> None:
        self.remove()


# Activation patterns as codes (notebook 11, He et al. 2021: networks as hash encoders). The code of
# an input is the binary vector 1[z_k(x) > 0] over ReLU units k: which linear region it falls in.


def _check_codes(name: str, codes: torch.Tensor) -> torch.Tensor:
    check_tensor(name, codes)
    if codes.dim() != 2 or codes.shape[0] == 0:
        raise ValueError(f"{name} must have shape (N, units) with N > 0, got {tuple(codes.shape)}")
    if codes.dtype != torch.bool and not ((codes == 0) | (codes == 1)).all():
        raise ValueError(f"{name} must hold binary codes (bool, or only 0 and 1)")
    return codes.bool()


def redundancy_ratio(codes: torch.Tensor) -> float:
    """(N − number of distinct codes) / N for binary codes of shape (N, units).

    0 when every example has its own code (the network acts as a hash: "determinism"), close to 1
    when most examples share a code. Example: codes 110, 110, 011 give (3 − 2)/3 = 1/3.
    """
    codes = _check_codes("codes", codes)
    return (codes.shape[0] - torch.unique(codes, dim=0).shape[0]) / codes.shape[0]


def hamming_knn(
    train_codes: torch.Tensor, train_labels: torch.Tensor, query_codes: torch.Tensor, k: int = 9
) -> torch.Tensor:
    """Labels of ``query_codes`` by a majority vote of their k nearest training codes (Hamming).

    The Hamming distance of binary codes a, b is sum_k a_k (1 − b_k) + (1 − a_k) b_k, two matrix
    products. Equal distances are broken by the lower training index, tied votes by the lower label
    (as scikit-learn's ``KNeighborsClassifier(metric="hamming")`` does for the vote).
    """
    train = _check_codes("train_codes", train_codes).float()
    query = _check_codes("query_codes", query_codes).float()
    check_tensor("train_labels", train_labels)
    if train_labels.shape != (train.shape[0],) or train_labels.dtype != torch.long:
        raise ValueError(
            f"train_labels must be a long tensor of shape ({train.shape[0]},), got "
            f"{train_labels.dtype} {tuple(train_labels.shape)}"
        )
    if query.shape[1] != train.shape[1]:
        raise ValueError(
            f"query_codes have {query.shape[1]} units but train_codes {train.shape[1]}"
        )
    k = check_int("k", k, 1, train.shape[0])
    distance = query @ (1 - train).T + (1 - query) @ train.T  # (queries, train)
    nearest = torch.sort(distance, dim=1, stable=True).indices[:, :k]  # (queries, k)
    votes = torch.nn.functional.one_hot(train_labels[nearest], int(train_labels.max()) + 1)
    return votes.sum(1).argmax(1)  # argmax returns the first (lowest) label among tied votes
