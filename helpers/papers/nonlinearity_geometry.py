"""Notebook 12: Tanh against ReLU, and the geometry a one-hidden-layer network learns.

Alleman, Lindsey and Fusi, *Task structure and nonlinearity jointly determine learned representational
geometry*, ICLR 2024 (arXiv:2401.13558). No official code was released; the task generator and the
metric variants here are ours, following the standard definitions (Bernardi et al., Cell 2020).

- ``make_tasks``: conditions (clusters of noisy inputs) with binary labels: the paper's Fig. 1A task
  (random, unstructured cluster centres, a balanced random dichotomy of them) and our variants (centres
  on the corners of a cube embedded linearly, labelled by one corner bit or by an XOR of two).
- ``init_networks`` / ``forward`` / ``train``: many one-hidden-layer networks trained at once by
  full-batch gradient descent on the squared error, their weights stacked along a first model axis.
- ``parallelism_score``, ``ccgp``, ``shattering_dimensionality``: the geometry of the hidden layer;
  ``helpers.core.metrics.linear_cka`` aligns it with the input and the target kernels.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import torch

from helpers.core.metrics import linear_cka
from helpers.plumbing.params import check_choice, check_float, check_int, check_tensor

__all__ = [
    "ACTIVATIONS",
    "STRUCTURES",
    "READOUTS",
    "make_tasks",
    "init_networks",
    "forward",
    "train",
    "dichotomies",
    "ridge_accuracy",
    "parallelism_score",
    "ccgp",
    "shattering_dimensionality",
    "geometry",
    "METRICS",
    "NAMES",
    "LABELS",
    "history",
    "at_loss",
    "plot_history",
    "plot_final",
]

#: The nonlinearities compared; ``linear`` is the control whose geometry is a linear map of the input.
ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "tanh": torch.tanh,
    "relu": torch.relu,
    "linear": lambda z: z,
}
#: ``random``: the paper's unstructured inputs; ``cube`` with labels ``bit`` or ``xor``: our variants.
STRUCTURES = ("random", "cube-bit", "cube-xor")


def _centres(structure: str, n_conditions: int, dim: int, g: torch.Generator) -> torch.Tensor:
    if structure == "random":  # unstructured: every centre an independent Gaussian point, norm ≈ 1
        return torch.randn(n_conditions, dim, generator=g) / math.sqrt(dim)
    bits = torch.tensor(list(itertools.product([-1.0, 1.0], repeat=3)))  # (8, 3) cube corners
    basis, _ = torch.linalg.qr(torch.randn(dim, 3, generator=g))  # (dim, 3) orthonormal columns
    return bits @ basis.T / math.sqrt(3)  # (8, dim), every centre of norm 1


def _condition_labels(structure: str, n_conditions: int) -> torch.Tensor:
    if structure == "random":  # centres are independent, so a fixed split is as random as any
        return torch.cat([torch.ones(n_conditions // 2), -torch.ones(n_conditions // 2)])
    bits = torch.tensor(list(itertools.product([-1.0, 1.0], repeat=3)))
    return bits[:, 0] if structure == "cube-bit" else bits[:, 0] * bits[:, 1]  # XOR of two bits


def make_tasks(
    structure: str,
    seeds: list[int],
    n_conditions: int = 8,
    dim: int = 50,
    per_condition: int = 20,
    noise: float = 0.5,
    device: str | torch.device = "cpu",
) -> dict[str, torch.Tensor]:
    """One binary task per seed: noisy samples around one centre per condition, ±1 labels.

    ``random`` is the paper's Fig. 1A kind of task: unstructured inputs, every centre an independent
    Gaussian point of norm ≈ 1, half of the conditions labelled +1. ``cube-bit`` / ``cube-xor`` (our
    variants, 8 conditions): the centres are the corners of a cube embedded linearly in ``dim``
    dimensions, labelled by one corner bit (aligned with the input) or by the XOR of two.
    ``noise`` is the norm of the noise relative to a centre: Gaussian, sd ``noise / sqrt(dim)`` per
    coordinate. Returns ``condition_labels`` (C,), and for ``train`` and ``eval`` (independent
    samples of the same conditions) ``x`` (M, C·per_condition, dim), ``condition`` and ``y`` (n,),
    shared by the M tasks. The random numbers are drawn on the CPU and the tensors moved to
    ``device``, so a seed gives the same tasks on every device.
    """
    check_choice("structure", structure, STRUCTURES)
    n_conditions = check_int("n_conditions", n_conditions, 4)
    if n_conditions % 2:
        raise ValueError(f"n_conditions must be even (a balanced dichotomy), got {n_conditions}")
    if structure != "random" and n_conditions != 8:
        raise ValueError(f"structure {structure!r} has the 8 corners of a cube, got {n_conditions}")
    if not isinstance(seeds, (list, tuple)) or not seeds:
        raise ValueError(f"seeds must be a non-empty list of seeds, got {seeds!r}")
    seeds = [check_int("seed", s, 0) for s in seeds]
    dim = check_int("dim", dim, 3)
    per_condition = check_int("per_condition", per_condition, 2)
    noise = check_float("noise", noise, 0.0, finite=True)
    labels = _condition_labels(structure, n_conditions)
    condition = torch.arange(n_conditions).repeat_interleave(per_condition)
    task: dict = {"condition_labels": labels}
    generators = [torch.Generator().manual_seed(s) for s in seeds]
    centres = torch.stack([_centres(structure, n_conditions, dim, g) for g in generators])
    for split in ("train", "eval"):
        noises = torch.stack([torch.randn(len(condition), dim, generator=g) for g in generators])
        x = centres[:, condition] + noise / math.sqrt(dim) * noises  # (M, n, dim)
        task[split] = {"x": x, "condition": condition, "y": labels[condition]}
    task["centres"] = centres
    return _to(task, device)


def _to(tree, device: str | torch.device):  # noqa: ANN001, ANN202
    """Every tensor of a nested dict moved to ``device``."""
    if isinstance(tree, dict):
        return {k: _to(v, device) for k, v in tree.items()}
    return tree.to(device)


#: How the read-out weights start: ``gaussian`` (trained, like W1) or ``fixed`` (±1/hidden, not trained).
READOUTS = ("gaussian", "fixed")


def init_networks(
    n_models: int,
    dim: int,
    hidden: int,
    init_scale: float,
    seeds: list[int] | None = None,
    readout: str = "gaussian",
    device: str | torch.device = "cpu",
) -> dict[str, torch.Tensor]:
    """Stacked weights of ``n_models`` networks dim → hidden → 1, small for the rich regime.

    ``W1`` (M, dim, hidden) is Gaussian with sd ``init_scale / sqrt(dim)``: ``init_scale = 1`` is the
    usual (LeCun) scale, far below 1 the feature-learning ("rich") regime in which the hidden weights
    must move to solve the task. ``readout="gaussian"``: ``w2`` (M, hidden) is Gaussian in the same
    way (train it too); ``readout="fixed"``: half the units read out with +1/hidden, half with
    −1/hidden (train with ``train_readout=False``), so the output is a mean over the units and each
    unit must reach the range where its nonlinearity bends for the output to reach ±1. Biases start at
    zero. ``seeds[i]`` seeds model i, so networks that differ only in their nonlinearity can share
    their start; weights are drawn on the CPU, then moved to ``device``.
    """
    check_choice("readout", readout, READOUTS)
    n_models = check_int("n_models", n_models, 1)
    dim, hidden = check_int("dim", dim, 1), check_int("hidden", hidden, 1)
    init_scale = check_float("init_scale", init_scale, 0.0, low_open=True, finite=True)
    seeds = list(range(n_models)) if seeds is None else [check_int("seed", s, 0) for s in seeds]
    if len(seeds) != n_models:
        raise ValueError(f"seeds must give one seed per model ({n_models}), got {len(seeds)}")
    w1, w2 = [], []
    for s in seeds:
        g = torch.Generator().manual_seed(s)
        w1.append(torch.randn(dim, hidden, generator=g) * init_scale / math.sqrt(dim))
        w2.append(torch.randn(hidden, generator=g) * init_scale / math.sqrt(hidden))
    if readout == "fixed":
        signs = torch.cat([torch.ones(hidden - hidden // 2), -torch.ones(hidden // 2)])
        w2 = [signs / hidden] * n_models
    weights = {
        "W1": torch.stack(w1),
        "b1": torch.zeros(n_models, hidden),
        "w2": torch.stack(w2),
        "b2": torch.zeros(n_models),
    }
    return _to(weights, device)


def forward(
    params: dict[str, torch.Tensor], x: torch.Tensor, activation: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """Hidden layer h = φ(x W1 + b1), shape (M, n, hidden), and output h·w2 + b2, shape (M, n).

    ``x``: (n, dim) inputs shared by every model, or (M, n, dim), one input set per model.
    """
    phi = ACTIVATIONS[check_choice("activation", activation, tuple(ACTIVATIONS))]
    x = x.expand(len(params["W1"]), -1, -1) if x.dim() == 2 else x
    h = phi(x @ params["W1"] + params["b1"][:, None, :])  # (M, n, dim) @ (M, dim, hidden)
    return h, torch.einsum("mnh,mh->mn", h, params["w2"]) + params["b2"][:, None]


def train(
    params: dict[str, torch.Tensor],
    activation: str,
    x: torch.Tensor,
    y: torch.Tensor,
    steps: int,
    lr: float,
    record_every: int,
    on_record: Callable[[int, dict[str, torch.Tensor]], None] | None = None,
    train_readout: bool = True,
) -> dict[str, torch.Tensor]:
    """Full-batch gradient descent on the mean squared error ½(f(x) − y)², every model at once.

    Returns the trained weights (new tensors; ``params`` is left as it was) and calls
    ``on_record(step, weights)`` at step 0 and every ``record_every`` steps, and at the last step.
    The loss of each model is its own mean over the examples, so the models do not interact.
    """
    steps, record_every = check_int("steps", steps, 1), check_int("record_every", record_every, 1)
    lr = check_float("lr", lr, 0.0, low_open=True, finite=True)
    check_tensor("x", x, min_dim=2)
    check_tensor("y", y, min_dim=1)
    if x.dim() > 3 or y.shape not in (x.shape[-2:-1], x.shape[:-1]):
        raise ValueError(
            f"x (n, dim) or (M, n, dim) needs y (n,) or (M, n), got {x.shape}, {y.shape}"
        )
    weights = {k: v.detach().clone().requires_grad_(True) for k, v in params.items()}
    for step in range(steps + 1):
        if on_record is not None and (step % record_every == 0 or step == steps):
            on_record(step, {k: v.detach() for k, v in weights.items()})
        if step == steps:
            break
        _, out = forward(weights, x, activation)
        loss = 0.5 * (out - y).square().mean(-1).sum()  # summed over models: independent gradients
        grads = torch.autograd.grad(loss, list(weights.values()))
        with torch.no_grad():
            for (name, w), grad in zip(weights.items(), grads):
                if train_readout or name in ("W1", "b1"):
                    w -= lr * grad
    return {k: v.detach() for k, v in weights.items()}


def dichotomies(n_conditions: int) -> torch.Tensor:
    """Every balanced dichotomy of the conditions once, as ±1 rows: (C choose C/2) / 2 of them."""
    n_conditions = check_int("n_conditions", n_conditions, 2)
    rows = []
    for side in itertools.combinations(range(1, n_conditions), n_conditions // 2 - 1):
        row = -torch.ones(n_conditions)
        row[[0, *side]] = 1.0  # condition 0 is always on the + side: each split counted once
        rows.append(row)
    return torch.stack(rows)


def ridge_accuracy(
    h_train: torch.Tensor,
    t_train: torch.Tensor,
    h_test: torch.Tensor,
    t_test: torch.Tensor,
    ridge: float = 0.1,
) -> torch.Tensor:
    """Accuracy of linear decoders (ridge regression onto ±1 targets, then the sign) on test data.

    ``h_*``: (M, n, p) features of M models; ``t_*``: (n, K) ±1 targets of K decoders. Features are
    centred on the training data; the ridge penalty is ``ridge`` times the mean variance per feature
    (times n), so directions far weaker than the average cannot carry a decoder alone. Returns (M, K)
    accuracies. Closed form: a few hundred decoders cost one solve.
    """
    mean = h_train.mean(1, keepdim=True)
    a = torch.cat([h_train - mean, torch.ones_like(h_train[..., :1])], -1).double()
    b = torch.cat([h_test - mean, torch.ones_like(h_test[..., :1])], -1).double()
    p = h_train.shape[2]
    scale = (h_train - mean).double().square().sum((1, 2)) / p  # (M,) n · mean variance
    penalty = torch.eye(p + 1, dtype=a.dtype, device=a.device)
    penalty[-1, -1] = 0.0  # the bias is not penalised
    gram = a.transpose(1, 2) @ a + ridge * scale[:, None, None].clamp_min(1e-12) * penalty
    w = torch.linalg.solve(gram, a.transpose(1, 2) @ t_train.double())  # (M, p + 1, K)
    return ((b @ w).sign() == t_test.double()).double().mean(1).float()


def parallelism_score(means: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """PS of a dichotomy: the best pairing's mean cosine between its coding vectors.

    ``means``: (M, C, p) condition means of M models; ``labels``: (C,) ±1. Each pairing matches every
    + condition with a different − condition; its coding vectors are the differences of the paired
    means, and its score the mean cosine over all pairs of coding vectors. PS is the maximum over
    pairings (Bernardi et al. 2020): 1 when the dichotomy is coded along one shared direction.
    """
    pos, neg = (labels > 0).nonzero().flatten(), (labels < 0).nonzero().flatten()
    if len(pos) != len(neg) or len(pos) < 2:
        raise ValueError("parallelism_score needs a balanced dichotomy with at least 2 per side")
    best = torch.full(means.shape[:1], -1.0, device=means.device)
    i, j = torch.triu_indices(len(pos), len(pos), 1)
    for perm in itertools.permutations(neg.tolist()):
        coding = means[:, pos] - means[:, list(perm)]  # (M, C/2, p)
        unit = coding / coding.norm(dim=-1, keepdim=True).clamp_min(1e-12)
        cosines = (unit @ unit.transpose(1, 2))[:, i, j]  # (M, pairs of coding vectors)
        best = torch.maximum(best, cosines.mean(1))
    return best


def ccgp(h: torch.Tensor, condition: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Cross-condition generalisation of a dichotomy: train on some conditions, test on unseen ones.

    For every choice of one held-out condition per side (|+| · |−| splits), a linear decoder of the
    labels is fitted on the samples of the remaining conditions and tested on the two held-out ones;
    CCGP is the mean test accuracy, shape (M,). High CCGP means the label is coded in the same way
    across conditions: an abstract, disentangled variable.
    """
    pos, neg = (labels > 0).nonzero().flatten(), (labels < 0).nonzero().flatten()
    y = labels[condition][:, None]
    scores = []
    for a, b in itertools.product(pos.tolist(), neg.tolist()):
        held = (condition == a) | (condition == b)
        scores.append(ridge_accuracy(h[:, ~held], y[~held], h[:, held], y[held])[:, 0])
    return torch.stack(scores).mean(0)


def shattering_dimensionality(
    h_train: torch.Tensor, c_train: torch.Tensor, h_eval: torch.Tensor, c_eval: torch.Tensor
) -> torch.Tensor:
    """SD: mean test accuracy of linear decoders over every balanced dichotomy of the conditions.

    Decoders are fitted on ``h_train`` and tested on fresh samples ``h_eval`` of the same conditions.
    High SD means many different dichotomies are linearly readable: a high-dimensional code.
    """
    rows = dichotomies(int(c_train.max()) + 1).T.to(h_train.device)  # (C, K)
    return ridge_accuracy(h_train, rows[c_train], h_eval, rows[c_eval]).mean(1)


def geometry(
    params: dict[str, torch.Tensor], activation: str, task: dict[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """Every geometry measure of the hidden layer, per model (M,), on the task's eval samples.

    ``cka_input`` / ``cka_target``: linear CKA of the hidden representation with the inputs and with
    the labels; ``ps`` / ``ccgp``: parallelism and cross-condition generalisation of the trained
    dichotomy; ``sd``: shattering dimensionality; ``loss`` / ``accuracy``: on the training samples;
    ``saturated`` / ``inactive``: whether the nonlinearity is engaged, the fraction of hidden
    pre-activations z (eval samples × units) with |z| > 1, where tanh bends away from the identity
    (tanh(1) = 0.76), and with z ≤ 0, where a ReLU unit is off.
    """
    train_set, eval_set = task["train"], task["eval"]
    with torch.no_grad():
        h_train, out = forward(params, train_set["x"], activation)
        h_eval, _ = forward(params, eval_set["x"], activation)
        z = forward(params, eval_set["x"], "linear")[0]  # the pre-activations, (M, n, hidden)
    labels, c_eval = task["condition_labels"], eval_set["condition"]
    means = torch.stack([h_eval[:, c_eval == c].mean(1) for c in range(len(labels))], 1)
    target = eval_set["y"][None, :, None].expand(len(h_eval), -1, 1)  # (M, n, 1)
    return {
        "cka_input": linear_cka(h_eval, eval_set["x"].expand(len(h_eval), -1, -1)),
        "cka_target": linear_cka(h_eval, target),
        "ps": parallelism_score(means, labels),
        "ccgp": ccgp(h_eval, c_eval, labels),
        "sd": shattering_dimensionality(h_train, train_set["condition"], h_eval, c_eval),
        "loss": 0.5 * (out - train_set["y"]).square().mean(1),
        "accuracy": (out.sign() == train_set["y"]).float().mean(1),
        "saturated": (z.abs() > 1).float().mean((1, 2)),
        "inactive": (z <= 0).float().mean((1, 2)),
    }


METRICS = ("cka_input", "cka_target", "ps", "ccgp", "sd")
NAMES = {"tanh": "Tanh", "relu": "ReLU", "linear": "linear"}  # how figures name the networks
LABELS = {
    "cka_input": "CKA with the input",
    "cka_target": "CKA with the target",
    "ps": "parallelism score",
    "ccgp": "CCGP",
    "sd": "shattering dimensionality",
    "loss": "training loss",
    "saturated": "fraction of pre-activations with |z| > 1",
    "inactive": "fraction of pre-activations with z <= 0",
}


def history(
    task: dict,
    activation: str,
    params: dict[str, torch.Tensor],
    steps: int,
    lr: float,
    record_every: int,
    train_readout: bool = True,
) -> dict[str, list]:
    """Train on ``task`` and record ``geometry`` along the way: ``step`` and, per measure, (T, M) lists.

    ``train_readout=False`` keeps the read-out fixed (for ``init_networks(..., readout="fixed")``).

    Also ``weight_change``: ‖W1 − W1(0)‖ / ‖W1(0)‖ per model at the end, the rich-regime check.
    """
    found: dict[str, list] = {"step": []}

    def record(step: int, weights: dict[str, torch.Tensor]) -> None:
        found["step"].append(step)
        for name, value in geometry(weights, activation, task).items():
            found.setdefault(name, []).append(value.tolist())

    final = train(params, activation, task["train"]["x"], task["train"]["y"], steps, lr,
                  record_every, record, train_readout)  # fmt: skip
    moved = (final["W1"] - params["W1"]).norm(dim=(1, 2)) / params["W1"].norm(dim=(1, 2))
    found["weight_change"] = moved.tolist()
    return found


def at_loss(found: dict[str, list], loss_target: float) -> dict[str, list]:
    """Each measure per model at the first recorded step whose training loss is ≤ ``loss_target``.

    Comparing networks at equal training loss, not equal steps, keeps a faster learner from looking
    more structured only because it has gone further. A model that never reaches the target gives its
    last recorded values; ``reached`` says which did, ``step`` when.
    """
    loss_target = check_float("loss_target", loss_target, 0.0, low_open=True, finite=True)
    loss = torch.tensor(found["loss"])  # (T, M)
    reached = (loss <= loss_target).any(0)
    index = torch.where(reached, (loss <= loss_target).float().argmax(0), len(loss) - 1)
    names = (*METRICS, "loss", *(m for m in ("saturated", "inactive") if m in found))
    out = {m: torch.tensor(found[m]).gather(0, index[None])[0].tolist() for m in names}
    out["step"] = [found["step"][i] for i in index.tolist()]
    out["reached"] = reached.tolist()
    return out


def plot_history(histories: dict[str, dict[str, list]], title: str):  # noqa: ANN201
    """Every measure against the training step, mean ± sd over the replicates, one line per network."""
    import matplotlib.pyplot as plt

    names = (*METRICS, "loss")
    fig, axes = plt.subplots(2, 3, figsize=(12, 6.5), sharex=True)
    for ax, name in zip(axes.flat, names):
        for label, found in histories.items():
            values = torch.tensor(found[name])  # (T, M)
            mean, sd = values.mean(1), values.std(1)
            ax.plot(
                found["step"], mean, label=NAMES.get(label, label), markevery=max(1, len(mean) // 6)
            )
            ax.fill_between(found["step"], mean - sd, mean + sd, alpha=0.2)
        ax.set(title=LABELS[name], xlabel="gradient step")
        ax.grid(alpha=0.3)
    axes.flat[-1].set_yscale("log")
    axes.flat[0].legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_final(finals: dict[str, dict[str, dict[str, list]]], title: str):  # noqa: ANN201
    """Bars: each measure at equal training loss, per task (panels) and network (bars), mean ± sd."""
    import matplotlib.pyplot as plt
    import numpy as np

    fig, axes = plt.subplots(1, len(finals), figsize=(4.2 * len(finals), 3.8), sharey=True)
    axes = np.atleast_1d(axes)
    for ax, (task, by_net) in zip(axes, finals.items()):
        width = 0.8 / len(by_net)
        for i, (net, values) in enumerate(by_net.items()):
            data = np.array([values[m] for m in METRICS])  # (metrics, replicates)
            ax.bar(np.arange(len(METRICS)) + i * width, data.mean(1), width, yerr=data.std(1),
                   capsize=2, label=NAMES.get(net, net), hatch=["", "//", ".."][i % 3])  # fmt: skip
        ax.set_xticks(np.arange(len(METRICS)) + width * (len(by_net) - 1) / 2,
                      ["CKA input", "CKA target", "PS", "CCGP", "SD"], rotation=30)  # fmt: skip
        ax.set(title=task, ylim=(-0.3, 1.05))
        ax.axhline(0, color="grey", lw=0.8)
        ax.grid(alpha=0.3, axis="y")
    axes[0].legend(fontsize=8)
    axes[0].set_ylabel("value at equal training loss")
    fig.suptitle(title)
    fig.tight_layout()
    return fig
