"""N2N: a recurrent policy, trained with REINFORCE, that compresses a teacher into a student.

Introduced in notebook 06 (Ashok, Rhinehart, Beainy & Kitani, "N2N Learning", ICLR 2018).

The compression is a decision per layer of the teacher. A bidirectional LSTM reads one descriptor per
layer (its sizes and depth) and outputs, for every layer, a distribution over a few choices:

- stage 1, *removal*: choices (remove, keep); a removed hidden layer and its activation are dropped;
- stage 2, *shrinkage*: a width ratio per layer from a lookup table.

Each sampled student is trained briefly by distillation (``helpers.core.distill``) and scored with the
paper's reward (``n2n_reward``)

    C = 1 − #params(student) / #params(teacher),   R_c = C (2 − C),   R_a = acc(student) / acc(teacher),
    R = R_c · R_a.

The policy follows REINFORCE with a baseline ``b`` (a moving average of past rewards):

    ∇_θ J ≈ (1/m) Σ_i (R_i − b) ∇_θ log π_θ(a_i)        (m rollouts, a_i all of rollout i's choices)

Rewards of students already seen are cached (the official code means to, but never stores them), so
the search only pays for new architectures.

Students come in two forms. ``removed_sizes`` and ``shrunk_sizes`` give the layer widths of a student
that starts from a fresh initialisation, as every student of the official code does (``resetModel``);
``remove_layers`` and ``shrink_layers`` instead build a student that keeps the teacher's weights. The
control that could prove the learning unnecessary is ``random_search``: the same choices drawn
uniformly (an untrained policy), for the same number of students (``EvaluationLog`` counts them).
"""

from __future__ import annotations

import copy
import math
import zlib
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from helpers.plumbing.params import (
    ParameterTypeError,
    check_callable,
    check_float,
    check_generator,
    check_int,
    check_list,
    check_module,
    check_tensor,
    check_type,
)
from helpers.plumbing.runtime import progress_enabled

__all__ = [
    "REMOVE",
    "KEEP",
    "SHRINK_RATIOS",
    "sequential_of",
    "removable_layers",
    "linear_layers",
    "layer_descriptors",
    "remove_layers",
    "shrink_layers",
    "compression",
    "n2n_reward",
    "MovingAverageBaseline",
    "LayerPolicy",
    "reinforce_loss",
    "SearchHistory",
    "reinforce_search",
    "removed_sizes",
    "shrunk_sizes",
    "stable_seed",
    "EvaluationLog",
    "best_so_far",
    "random_search",
    "BestValidationEpoch",
    "plot_band",
    "plot_students",
]

REMOVE, KEEP = 0, 1
"""The removal policy's two choices per layer."""

SHRINK_RATIOS = (0.25, 0.5, 0.5, 0.5, 0.5, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
"""The shrinkage stage's width ratios, as in the official code (0.5 is listed five times, which makes
it the most likely choice of an untrained policy)."""


# --- the teacher's layers ---------------------------------------------------------------------
def sequential_of(model: nn.Module) -> nn.Sequential:
    """The ``nn.Sequential`` of Linear layers and activations inside ``model``.

    Accepts an ``nn.Sequential`` itself or a module with one in ``.layers`` (``helpers.core.models.MLP``).
    """
    layers = model if isinstance(model, nn.Sequential) else getattr(model, "layers", None)
    if not isinstance(layers, nn.Sequential):
        raise ValueError(
            "model must be an nn.Sequential or have one in .layers (like helpers.core.models.MLP), "
            f"got {type(model).__name__}"
        )
    return layers


def linear_layers(model: nn.Module) -> list[int]:
    """Positions of the ``nn.Linear`` layers in ``sequential_of(model)``."""
    return [i for i, m in enumerate(sequential_of(model)) if isinstance(m, nn.Linear)]


def _some_linear_layers(model: nn.Module) -> list[int]:
    """``linear_layers(model)``, raising ValueError when there is none (nothing to describe)."""
    positions = linear_layers(model)
    if not positions:
        raise ValueError("model has no nn.Linear layers; allowed: an MLP or a Sequential of Linear")
    return positions


def _positions(name: str, positions: Any) -> list[int]:
    """A list of layer positions (integers), checked before anything is built from it."""
    positions = check_list(name, positions, "a list of layer positions (integers)")
    for i, p in enumerate(positions):
        check_int(f"{name}[{i}]", p, 0)
    return positions


def removable_layers(model: nn.Module) -> list[int]:
    """Positions of the Linear layers that can be removed without breaking shapes.

    A layer is removable when it maps a width to the same width (``in_features == out_features``),
    is not the output layer and is followed by its activation (any module that is not Linear, as in
    ``helpers.core.models.MLP``): dropping the pair leaves a valid network. This is why
    notebook 06's teacher has hidden layers of one width (the paper instead gives invalid
    architectures the reward −1).
    """
    layers = sequential_of(model)
    positions = linear_layers(model)
    return [
        i
        for i in positions[:-1]
        if layers[i].in_features == layers[i].out_features
        and not isinstance(layers[i + 1], nn.Linear)
    ]


def layer_descriptors(model: nn.Module, positions: Sequence[int]) -> torch.Tensor:
    """One row per layer at ``positions``: (in features, out features, parameters, depth), scaled to [0, 1].

    Sizes are divided by their largest value over the model's Linear layers and depth is the
    layer's rank among them, ``k / (n − 1)``. The paper's descriptor is (type, kernel, stride,
    padding, outputs) for convolutional networks; an MLP has only sizes and a depth.
    Returns shape (L, 4) on the model's device.
    """
    layers = sequential_of(model)
    all_linear = _some_linear_layers(model)
    positions = _positions("positions", positions)
    if not positions:
        raise ValueError("positions must name at least one Linear layer, got []")
    unknown = [p for p in positions if p not in all_linear]
    if unknown:
        raise ValueError(
            f"positions {unknown} are not Linear layers; Linear layers are at {all_linear}"
        )
    sizes = torch.tensor(
        [
            [
                layers[p].in_features,
                layers[p].out_features,
                layers[p].weight.numel() + layers[p].out_features,
            ]
            for p in all_linear
        ],
        dtype=torch.float32,
    )
    sizes = sizes / sizes.max(dim=0).values  # each column scaled to (0, 1]
    depth = torch.arange(len(all_linear), dtype=torch.float32) / max(len(all_linear) - 1, 1)
    rows = [all_linear.index(p) for p in positions]
    descriptors = torch.cat([sizes, depth[:, None]], dim=1)[rows]  # (L, 4)
    return descriptors.to(layers[all_linear[0]].weight.device)


# --- building students ------------------------------------------------------------------------
def remove_layers(
    model: nn.Module, keep: Sequence[int | bool], positions: Sequence[int] | None = None
) -> nn.Module:
    """A copy of ``model`` without the removable layers where ``keep`` is false (stage 1's student).

    ``positions`` are the layers the choices refer to (default ``removable_layers(model)``); each
    removed Linear layer takes its activation (the module after it) with it. The student inherits
    the teacher's weights for everything it keeps.
    """
    positions = removable_layers(model) if positions is None else _positions("positions", positions)
    if isinstance(keep, torch.Tensor):
        keep = keep.tolist()
    keep = check_list("keep", keep, "a list of 0/1 (REMOVE/KEEP) or booleans")
    if any(k not in (0, 1) for k in keep):
        raise ValueError(f"keep must hold only 0/1 or False/True (REMOVE/KEEP), got {keep!r}")
    if len(keep) != len(positions):
        raise ValueError(
            f"keep has {len(keep)} entries but there are {len(positions)} removable layers"
        )
    not_removable = set(positions) - set(removable_layers(model))
    if not_removable:
        raise ValueError(
            f"layers {sorted(not_removable)} cannot be removed (their in and out widths differ)"
        )
    layers = sequential_of(model)
    dropped = set()
    for position, k in zip(positions, keep, strict=True):
        if not bool(k):
            dropped.update({position, position + 1})  # the Linear layer and its activation
    student = copy.deepcopy(model)
    kept = [copy.deepcopy(m) for i, m in enumerate(layers) if i not in dropped]
    if isinstance(student, nn.Sequential):
        return nn.Sequential(*kept)
    student.layers = nn.Sequential(*kept)
    return student


def _ratios(ratios: Any, hidden_layers: int) -> list[float]:
    """``ratios`` checked: a list of one width ratio in (0, 1] per hidden layer."""
    ratios = check_list("ratios", ratios, "a list of width ratios in (0, 1]")
    for i, r in enumerate(ratios):
        check_float(f"ratios[{i}]", r)
    if len(ratios) != hidden_layers:
        raise ValueError(
            f"ratios has {len(ratios)} entries; want one per hidden layer ({hidden_layers})"
        )
    if any(not 0.0 < r <= 1.0 for r in ratios):
        raise ValueError(f"ratios must lie in (0, 1], got {list(ratios)}")
    return ratios


def shrink_layers(model: nn.Module, ratios: Sequence[float]) -> nn.Module:
    """A copy of ``model`` whose hidden Linear layers keep ``ratio`` of their units (stage 2's student).

    ``ratios`` has one entry per Linear layer except the output layer (the modules between Linear
    layers must act element-wise, like ReLU, so they fit any width). A layer keeps its
    ``max(1, round(ratio · width))`` units with the largest incoming weight norm ``‖W[j, :]‖₂``, and
    the next Linear layer keeps the matching input columns. (The official code truncates tensors
    instead; keeping the strongest units loses less of what the student inherits.)
    """
    positions = _some_linear_layers(model)
    ratios = _ratios(ratios, len(positions) - 1)
    student = copy.deepcopy(model)
    layers = sequential_of(student)
    with torch.no_grad():
        for position, next_position, ratio in zip(
            positions[:-1], positions[1:], ratios, strict=True
        ):
            layer, after = layers[position], layers[next_position]
            width = max(1, round(ratio * layer.out_features))
            strongest = layer.weight.norm(dim=1).topk(width).indices.sort().values  # (width,)
            layers[position] = _linear_from(
                layer.weight[strongest], layer.bias[strongest] if layer.bias is not None else None
            )
            layers[next_position] = _linear_from(after.weight[:, strongest], after.bias)
    return student


def _linear_from(weight: torch.Tensor, bias: torch.Tensor | None) -> nn.Linear:
    """An ``nn.Linear`` holding copies of ``weight`` (out, in) and ``bias``."""
    layer = nn.Linear(
        weight.shape[1],
        weight.shape[0],
        bias=bias is not None,
        device=weight.device,
        dtype=weight.dtype,
    )
    layer.weight.copy_(weight)
    if bias is not None:
        layer.bias.copy_(bias)
    return layer


# --- students described by their layer sizes (the official code re-initialises every student) ----
def _sizes(name: str, sizes: Any) -> list[int]:
    """``sizes`` as a list of positive layer widths ``[inputs, hidden..., outputs]``, checked."""
    sizes = check_list(name, sizes, "a list of layer widths [inputs, hidden..., outputs]", 2)
    return [check_int(f"{name}[{i}]", s, 1) for i, s in enumerate(sizes)]


def removed_sizes(sizes: Sequence[int], keep: Sequence[int | bool]) -> list[int]:
    """The widths of the MLP ``sizes`` after removing the hidden layers where ``keep`` is false.

    ``sizes = [inputs, h_1, ..., h_L, outputs]``; ``keep`` has one entry per hidden layer after the
    first (``h_2 ... h_L``): as in the official code, the first layer always stays. Removing the
    Linear layer that produces ``h_j`` (and its activation) joins ``h_{j-1}`` to the next layer,
    whose input width changes: a student built from these sizes is initialised afresh, as every
    student of the official code is (``resetModel``), so no weights need to fit.
    """
    sizes = _sizes("sizes", sizes)
    if isinstance(keep, torch.Tensor):
        keep = keep.tolist()
    keep = check_list("keep", keep, "a list of 0/1 (REMOVE/KEEP) or booleans")
    if any(k not in (0, 1) for k in keep):
        raise ValueError(f"keep must hold only 0/1 or False/True (REMOVE/KEEP), got {keep!r}")
    hidden = sizes[1:-1]
    if len(keep) != max(len(hidden) - 1, 0):
        raise ValueError(
            f"keep has {len(keep)} entries; want one per hidden layer after the first "
            f"({max(len(hidden) - 1, 0)} for sizes {sizes})"
        )
    kept = [h for h, k in zip(hidden[1:], keep, strict=True) if k]
    return [sizes[0], *hidden[:1], *kept, sizes[-1]]


def shrunk_sizes(sizes: Sequence[int], ratios: Sequence[float]) -> list[int]:
    """The widths of ``sizes`` with hidden layer ``j`` shrunk to ``max(1, round(ratios[j] · h_j))``.

    Stage 2's student for a freshly initialised network (``shrink_layers`` does the same for a
    network whose weights are kept). ``ratios`` has one entry per hidden layer, each in (0, 1].
    """
    sizes = _sizes("sizes", sizes)
    ratios = _ratios(ratios, len(sizes) - 2)
    hidden = [max(1, round(r * h)) for r, h in zip(ratios, sizes[1:-1], strict=True)]
    return [sizes[0], *hidden, sizes[-1]]


def stable_seed(*parts: Any) -> int:
    """A seed that depends only on ``parts`` (their ``repr``), the same in every Python process.

    Python's ``hash`` of a string changes from process to process; CRC-32 does not. Seeding a
    student with ``stable_seed(replicate_seed, sizes)`` makes its score a function of the
    architecture and the replicate, so two searches that try the same student get the same
    score (common random numbers) and can share one training.
    """
    return zlib.crc32(repr(parts).encode())


# --- the reward -------------------------------------------------------------------------------
def compression(student_params: int, teacher_params: int) -> float:
    """N2N's relative compression ``C = 1 − #params(student) / #params(teacher)`` (0: none, → 1: all)."""
    teacher_params = check_float("teacher_params", teacher_params, 0, low_open=True, finite=True)
    student_params = check_float("student_params", student_params, 0, teacher_params, low_open=True)
    return 1.0 - student_params / teacher_params


def n2n_reward(
    student_acc: float, teacher_acc: float, student_params: int, teacher_params: int
) -> float:
    """The paper's reward ``R = R_c · R_a`` with ``R_c = C(2 − C)`` and ``R_a = acc_s / acc_t``.

    ``R_c`` rises steeply for small compressions and flattens near C = 1, so the last few
    parameters removed earn little while any loss of accuracy costs in proportion: the product
    favours students that are small *and* nearly as accurate as the teacher.
    """
    student_acc = check_float("student_acc", student_acc, 0, 1)
    teacher_acc = check_float("teacher_acc", teacher_acc, 0, 1, low_open=True)
    c = compression(student_params, teacher_params)
    r_c = c * (2.0 - c)  # R_c = C (2 − C)
    r_a = student_acc / teacher_acc  # R_a = acc_s / acc_t
    return r_c * r_a  # R = R_c · R_a


class MovingAverageBaseline:
    """REINFORCE's baseline ``b``: an exponential moving average of the mean reward of each iteration.

    ``b ← decay · b + (1 − decay) · mean(R)``; the first update sets ``b = mean(R)``. With
    ``decay=None`` it is the plain mean of all past iterations' mean rewards (the official code's
    choice). Subtracting ``b`` leaves the policy gradient unbiased and lowers its variance.
    """

    def __init__(self, decay: float | None = 0.8) -> None:
        if decay is not None:  # None: the plain mean
            decay = check_float("decay", decay, 0, 1, high_open=True)
        self.decay = decay
        self.value: float | None = None
        self.updates = 0

    def update(self, rewards: Sequence[float] | torch.Tensor) -> float:
        """Fold in one iteration's rewards; return the new ``b``."""
        mean = float(_rewards(rewards, torch.float64).mean())
        if math.isnan(mean):
            raise ValueError("rewards must be a non-empty sequence of numbers")
        self.updates += 1
        if self.value is None:
            self.value = mean
        elif self.decay is None:
            self.value += (mean - self.value) / self.updates  # running mean of iteration means
        else:
            # b ← d·b + (1 − d)·mean(R)
            self.value = self.decay * self.value + (1.0 - self.decay) * mean
        return self.value


def _rewards(rewards: Any, dtype: torch.dtype, device: Any = None) -> torch.Tensor:
    """``rewards`` (a sequence of numbers or a tensor) as a tensor; else a clear error."""
    if isinstance(rewards, (str, bytes)) or (
        isinstance(rewards, Sequence) and any(isinstance(r, (str, bytes)) for r in rewards)
    ):
        raise ParameterTypeError(
            f"parameter rewards must be a sequence of numbers, got {rewards!r}"
        )
    try:
        return torch.as_tensor(rewards, dtype=dtype, device=device)
    except (TypeError, ValueError, RuntimeError) as err:
        raise ParameterTypeError(
            f"parameter rewards must be a sequence of numbers, got {rewards!r}"
        ) from err


# --- the policy -------------------------------------------------------------------------------
class LayerPolicy(nn.Module):
    """A bidirectional LSTM over layer descriptors; per layer a distribution over ``num_choices``.

    As in the paper's removal policy (2 layers, 30 hidden units per direction). The read-out starts
    at zero, so an untrained policy picks every choice with equal probability (keep = 0.5).
    Input (L, descriptor_size), output logits (L, num_choices).
    """

    def __init__(
        self, descriptor_size: int, num_choices: int = 2, hidden_size: int = 30, num_layers: int = 2
    ) -> None:
        super().__init__()
        for name, value, low in (
            ("descriptor_size", descriptor_size, 1),
            ("num_choices", num_choices, 2),
            ("hidden_size", hidden_size, 1),
            ("num_layers", num_layers, 1),
        ):
            check_int(name, value, low)
        self.lstm = nn.LSTM(
            descriptor_size, hidden_size, num_layers, batch_first=True, bidirectional=True
        )
        self.head = nn.Linear(2 * hidden_size, num_choices)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def check_descriptors(self, descriptors: torch.Tensor) -> None:
        """Raise ValueError unless ``descriptors`` is a float tensor (layers >= 1, descriptor_size)."""
        check_tensor("descriptors", descriptors)
        if (
            descriptors.dim() != 2
            or descriptors.shape[1] != self.lstm.input_size
            or descriptors.shape[0] == 0
        ):
            raise ValueError(
                f"descriptors must have shape (layers, {self.lstm.input_size}) with at least one "
                f"layer, got {tuple(descriptors.shape)}"
            )
        if not descriptors.is_floating_point():
            raise ValueError(f"descriptors must be floating point, got dtype {descriptors.dtype}")

    def forward(self, descriptors: torch.Tensor) -> torch.Tensor:
        self.check_descriptors(descriptors)
        hidden, _ = self.lstm(descriptors.unsqueeze(0))  # (1, L, 2H): both directions concatenated
        return self.head(hidden.squeeze(0))  # (L, num_choices)

    def probabilities(self, descriptors: torch.Tensor) -> torch.Tensor:
        """The policy's choice probabilities, shape (L, num_choices)."""
        return self(descriptors).softmax(dim=-1)

    def sample(
        self, descriptors: torch.Tensor, n: int, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``n`` rollouts: choices (n, L) and their log-probabilities ``log π(a_i) = Σ_l log π(a_il)`` (n,).

        Sampling uses ``generator`` on the CPU, so a seed gives the same rollouts on every device.
        """
        check_int("n", n, 1)
        check_generator("generator", generator)
        log_probs = self(descriptors).log_softmax(dim=-1)  # (L, C)
        choices = torch.multinomial(
            log_probs.detach().exp().cpu(), n, replacement=True, generator=generator
        )
        choices = choices.T.to(log_probs.device)  # (L, n) -> (n, L)
        picked = log_probs.gather(1, choices.T).T  # (n, L): log π(a_il)
        return choices, picked.sum(dim=1)


def reinforce_loss(
    log_probs: torch.Tensor, rewards: Sequence[float] | torch.Tensor, baseline: float = 0.0
) -> torch.Tensor:
    """The REINFORCE surrogate ``−(1/m) Σ_i (R_i − b) log π(a_i)``; its gradient is −∇J.

    Each rollout is reinforced with its *own* advantage ``R_i − b``. (The official code uses the
    iteration's mean reward for every rollout, which gives every sampled choice the same credit.)
    """
    check_tensor("log_probs", log_probs)
    check_float("baseline", baseline)
    rewards = _rewards(rewards, log_probs.dtype, log_probs.device)
    if log_probs.dim() != 1 or rewards.shape != log_probs.shape:
        raise ValueError(
            f"log_probs and rewards must be vectors of the same length, got {tuple(log_probs.shape)} "
            f"and {tuple(rewards.shape)}"
        )
    advantages = rewards - baseline  # R_i − b
    return -(advantages * log_probs).mean()  # −(1/m) Σ (R_i − b) log π(a_i)


def _scored(result: Any, choices: tuple[int, ...]) -> dict[str, Any]:
    """What ``score`` returned, as a dict; ValueError unless it holds a number under 'reward'."""
    if not isinstance(result, Mapping) or "reward" not in result:
        raise ValueError(
            f"score must return a mapping with a 'reward' number; for choices {choices} it "
            f"returned {result!r}"
        )
    check_float("score(...)['reward']", result["reward"])
    return dict(result)


# --- the search loop --------------------------------------------------------------------------
@dataclass
class SearchHistory:
    """What ``reinforce_search`` recorded, one entry per iteration (and the cache of all students)."""

    probabilities: list[torch.Tensor] = field(default_factory=list)  # (L, C) before the update
    choices: list[torch.Tensor] = field(default_factory=list)  # (m, L)
    rewards: list[list[float]] = field(default_factory=list)  # m rewards
    baselines: list[float] = field(default_factory=list)  # b used for the update
    students: dict[tuple[int, ...], dict[str, Any]] = field(default_factory=dict)  # choices → score
    final_probabilities: torch.Tensor | None = None  # (L, C) after the last update

    def mean_rewards(self) -> list[float]:
        """The mean reward of each iteration's rollouts."""
        return [sum(r) / len(r) for r in self.rewards]

    def best(self) -> tuple[tuple[int, ...], dict[str, Any]]:
        """The student with the highest reward seen: (its choices, its score dict)."""
        if not self.students:
            raise ValueError("no students were scored yet")
        return max(self.students.items(), key=lambda item: item[1]["reward"])


def reinforce_search(
    policy: LayerPolicy,
    descriptors: torch.Tensor,
    score: Callable[[tuple[int, ...]], Mapping[str, Any]],
    *,
    iterations: int,
    rollouts: int = 5,
    lr: float = 3e-3,
    baseline: MovingAverageBaseline | None = None,
    generator: torch.Generator | None = None,
    cache_key: Callable[[tuple[int, ...]], Hashable] | None = None,
    progress: bool | None = None,
    desc: str = "policy",
) -> SearchHistory:
    """Train ``policy`` with REINFORCE for ``iterations`` × ``rollouts`` sampled students.

    ``score(choices)`` builds, trains and evaluates the student for one tuple of choices and returns
    a mapping with at least ``'reward'`` (plus anything worth plotting: accuracy, parameters...).
    Scores are cached by choices (or by ``cache_key(choices)`` when two choices build the same
    student, as the repeated 0.5 in ``SHRINK_RATIOS`` does), so a student is trained once however
    often it is sampled; ``history.students`` maps choices to scores.
    Each iteration: sample ``rollouts`` students and score them; take one Adam step (``lr``) on
    ``reinforce_loss`` with advantages ``R_i − b``, where ``b`` summarises the *past* iterations (the
    first iteration uses its own mean reward); then fold this iteration's rewards into ``b``.
    """
    check_type("policy", policy, LayerPolicy, "a LayerPolicy")
    policy.check_descriptors(descriptors)
    check_callable("score", score, "a function of a choices tuple returning {'reward': ...}")
    for name, value in (("iterations", iterations), ("rollouts", rollouts)):
        check_int(name, value, 1)
    check_float("lr", lr, 0.0, low_open=True, finite=True)
    if baseline is not None:
        check_type("baseline", baseline, MovingAverageBaseline, "a MovingAverageBaseline or None")
    check_generator("generator", generator)
    if cache_key is not None:
        check_callable("cache_key", cache_key, "a function of a choices tuple, or None")
    baseline = baseline or MovingAverageBaseline()
    optimizer = torch.optim.Adam(policy.parameters(), lr=lr)
    history = SearchHistory()
    cache: dict[Hashable, dict[str, Any]] = {}
    for _ in tqdm(
        range(iterations), desc=desc, disable=not progress_enabled(progress), leave=False
    ):
        history.probabilities.append(policy.probabilities(descriptors).detach().cpu())
        choices, log_probs = policy.sample(descriptors, rollouts, generator)
        rewards = []
        for row in choices.tolist():
            key = tuple(row)
            if key not in history.students:
                shared = cache_key(key) if cache_key is not None else key
                if shared not in cache:
                    cache[shared] = _scored(score(key), key)
                history.students[key] = cache[shared]
            rewards.append(float(history.students[key]["reward"]))
        b = baseline.value if baseline.value is not None else sum(rewards) / len(rewards)
        loss = reinforce_loss(log_probs, rewards, b)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        baseline.update(rewards)
        history.choices.append(choices.cpu())
        history.rewards.append(rewards)
        history.baselines.append(b)
    history.final_probabilities = policy.probabilities(descriptors).detach().cpu()
    return history


# --- training the teacher well: the epoch chosen on the validation split -------------------------
class BestValidationEpoch:
    """A ``helpers.core.train.fit`` callback that keeps the weights of the best validation epoch.

    ``fit(..., val_loader=..., callbacks=[best])`` records ``val_acc`` after every epoch; ``best``
    copies the weights whenever it improves, and ``best.restore(model)`` loads them back. The
    epoch is chosen on the validation split, never on the test set.
    """

    def __init__(self, key: str = "val_acc") -> None:
        if not isinstance(key, str) or not key:
            raise ParameterTypeError(f"parameter key must be a metric name, got {key!r}")
        self.key = key
        self.value = -math.inf
        self.epoch = 0
        self.state: dict[str, torch.Tensor] | None = None

    def on_epoch_end(self, epoch: int, model: nn.Module, history: Any) -> None:
        value = history.epochs[-1].get(self.key) if history.epochs else None
        if value is None:
            raise ValueError(
                f"fit recorded no '{self.key}': pass val_loader to fit so every epoch is validated"
            )
        if value > self.value:
            self.value, self.epoch = float(value), int(epoch)
            self.state = {k: v.detach().clone() for k, v in model.state_dict().items()}

    def restore(self, model: nn.Module) -> nn.Module:
        """Load the best epoch's weights into ``model`` (the model that was trained); return it."""
        check_module("model", model)
        if self.state is None:
            raise ValueError("no epoch was validated yet: train with fit(..., callbacks=[this])")
        model.load_state_dict(self.state)
        return model


# --- the control: random search with the same number of students -------------------------------
class EvaluationLog:
    """A score function that records every call: the students a search paid for, in order.

    Wrap the ``score`` given to ``reinforce_search`` or ``random_search``; each search caches
    its scores, so every call is one new student trained, and ``len(log)`` is the search's cost.
    """

    def __init__(self, score: Callable[[tuple[int, ...]], Mapping[str, Any]]) -> None:
        self.score = check_callable("score", score, "a function of a choices tuple")
        self.choices: list[tuple[int, ...]] = []
        self.scores: list[dict[str, Any]] = []

    def __call__(self, choices: tuple[int, ...]) -> dict[str, Any]:
        key = tuple(choices)
        result = _scored(self.score(key), key)
        self.choices.append(key)
        self.scores.append(result)
        return result

    def __len__(self) -> int:
        return len(self.scores)

    def rewards(self) -> list[float]:
        """The reward of each student, in the order they were trained."""
        return [float(s["reward"]) for s in self.scores]

    def best(self) -> tuple[tuple[int, ...], dict[str, Any]]:
        """The student with the highest reward: (its choices, its score)."""
        if not self.scores:
            raise ValueError("no students were scored yet")
        i = max(range(len(self.scores)), key=lambda j: self.scores[j]["reward"])
        return self.choices[i], self.scores[i]


def best_so_far(rewards: Sequence[float]) -> list[float]:
    """The running maximum of ``rewards``: the best student found after 1, 2, ... evaluations."""
    rewards = check_list("rewards", rewards, "a sequence of numbers", 1)
    out, best = [], -math.inf
    for i, r in enumerate(rewards):
        best = max(best, check_float(f"rewards[{i}]", r))
        out.append(best)
    return out


def random_search(
    score: Callable[[tuple[int, ...]], Mapping[str, Any]],
    num_layers: int,
    num_choices: int,
    evaluations: int,
    *,
    generator: torch.Generator | None = None,
    cache_key: Callable[[tuple[int, ...]], Hashable] | None = None,
    max_draws: int | None = None,
) -> EvaluationLog:
    """Score ``evaluations`` distinct students whose choices are drawn uniformly at random.

    Every layer's choice is uniform over ``num_choices``, which is exactly what an untrained
    ``LayerPolicy`` samples: random search is the policy with learning switched off, the control
    that could prove the learning unnecessary. Draws that repeat a student already scored (the
    same ``cache_key``) cost nothing and are skipped; the search stops after ``evaluations``
    distinct students, or after ``max_draws`` draws (default ``100 · evaluations``) when the space
    holds fewer. Returns the ``EvaluationLog`` of the students scored.
    """
    check_callable("score", score, "a function of a choices tuple returning {'reward': ...}")
    check_int("num_layers", num_layers, 1)
    check_int("num_choices", num_choices, 2)
    check_int("evaluations", evaluations, 0)
    check_generator("generator", generator)
    if cache_key is not None:
        check_callable("cache_key", cache_key, "a function of a choices tuple, or None")
    max_draws = (
        100 * max(evaluations, 1) if max_draws is None else check_int("max_draws", max_draws, 1)
    )
    log = EvaluationLog(score)
    seen: set[Hashable] = set()
    for _ in range(max_draws):
        if len(log) >= evaluations:
            break
        choices = tuple(torch.randint(num_choices, (num_layers,), generator=generator).tolist())
        key = cache_key(choices) if cache_key is not None else choices
        if key not in seen:
            seen.add(key)
            log(choices)
    return log


# --- figures of notebook 06 ---------------------------------------------------------------------
def plot_band(
    ax: Any, curves: Sequence[Sequence[float]], label: str, color: str, marker: str, start: int = 1
) -> None:
    """Replicate curves of equal length as their mean (line and markers) with a ± sd band.

    ``curves``: one row per replicate (a list, array or tensor); x runs from ``start``. The legend label gets "(mean ± sd,
    n = ...)" so a reader sees how many replicates the band summarises.
    """
    if isinstance(curves, (torch.Tensor, np.ndarray)):
        curves = curves.tolist()
    rows = check_list("curves", curves, "a list of equally long curves (one per replicate)", 1)
    rows = [check_list(f"curves[{i}]", r, "a list of numbers", 1) for i, r in enumerate(rows)]
    if len({len(r) for r in rows}) != 1:
        raise ValueError(f"curves must be equally long, got lengths {[len(r) for r in rows]}")
    values = torch.tensor(rows, dtype=torch.float64)  # (replicates, points)
    x = torch.arange(values.shape[1]) + start
    mean = values.mean(0)
    sd = values.std(0) if len(values) > 1 else torch.zeros_like(mean)  # sample sd (n − 1)
    ax.plot(
        x, mean, color=color, marker=marker, ms=4, label=f"{label} (mean ± sd, n = {len(values)})"
    )
    ax.fill_between(x, mean - sd, mean + sd, color=color, alpha=0.2)


def plot_students(
    ax: Any,
    groups: Sequence[tuple[Sequence[Mapping[str, Any]], str, str, str]],
    teacher_params: int,
    teacher_acc: float,
    levels: Sequence[float] = (0.6, 0.7, 0.8),
) -> None:
    """Students as validation accuracy against compression, with the teacher and equal-reward curves.

    ``groups``: ``(scores, marker, color, label)`` with scores as ``score`` returns them (``params``,
    ``val_acc``); a ``label`` of ``None`` draws a highlight ring instead of a marker. The dashed
    curves solve ``R = C(2 − C) · acc / acc_T`` for ``acc`` at each reward in ``levels``.
    """
    check_int("teacher_params", teacher_params, 1)
    check_float("teacher_acc", teacher_acc, 0.0, 1.0, low_open=True)
    for scores, marker, color, label in check_list(
        "groups", groups, "a list of (scores, marker, color, label)"
    ):
        xy = [(teacher_params / s["params"], s["val_acc"]) for s in scores]
        if not xy:
            continue
        x, y = zip(*xy, strict=True)
        if label is None:
            ax.scatter(x, y, s=170, facecolor="none", edgecolor=color, lw=1.5)
        else:
            ax.scatter(
                x, y, marker=marker, s=45, facecolor="none", edgecolor=color, lw=1.2, label=label
            )
    ax.scatter(
        [1],
        [teacher_acc],
        marker="*",
        s=250,
        color="gold",
        edgecolor="k",
        label="teacher",
        zorder=5,
    )
    grid = torch.logspace(math.log10(1.01), math.log10(60), 400, dtype=torch.float64)
    c = 1 - 1 / grid
    for r in levels:
        # a reference curve, not data: no markers, whatever the style's marker cycle says
        ax.plot(grid, r * teacher_acc / (c * (2 - c)), color="grey", lw=0.8, ls="--", marker="")
        ax.annotate(f"R = {r}", (40, r * teacher_acc * 1.005), fontsize=7, color="grey")
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(lambda v, _: f"{v:g}×")
    ax.set_xlabel("compression: teacher parameters / student parameters")
    ax.set_ylabel("validation accuracy")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7, loc="lower left")
