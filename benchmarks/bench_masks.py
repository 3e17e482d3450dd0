"""What a mask costs and what a sparse format buys: ratios measured in one run.

    python benchmarks/bench_masks.py [--repeats 200] [--threads 2]

1. Training-step time (forward, backward, Adam step, mask upkeep) relative to the dense model, for our
   masked layers and for ``torch.nn.utils.prune``, both at 80 % global sparsity: the MNIST-1D MLP
   40-100-100-10 and 1-D CNN at batch 100, and an LSTM classifier (128 hidden, 40 steps). The three
   models are timed in turns (dense, ours, torch.prune, dense, ...), so a change in the machine's load
   during the run slows all three alike and cancels out of the ratios.
   Where the small MLP's extra time goes (one thread, 2-core AMD EPYC, torch 2.13): Adam steps ~6 %
   slower once pruned gradients are exactly 0 (its sqrt of all-zero second moments is slow on this
   CPU; ``torch.nn.utils.prune`` pays it too), re-zeroing after each step ~3 %, and the mask
   multiply in forward and backward ~5 %. Larger layers (the CNN, the LSTM) hide most of it.
2. Inference of a 4096×4096 masked linear layer, exported to CSR, relative to the dense product at
   batch 64, at 90 / 95 / 99 % sparsity (notebook 31 builds on this).

Ratios, not absolute times, are what carry from one machine to another.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn
from torch.nn.utils import prune as torch_prune

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from helpers import masks, models, prune  # noqa: E402
from helpers.core.masked import MaskedMixin  # noqa: E402


def median_time(fn: Callable[[], object], repeats: int, warmup: int = 10) -> float:
    """Median seconds of ``fn()`` over ``repeats`` calls, after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def median_times_in_turns(
    fns: dict[str, Callable[[], object]], repeats: int, warmup: int = 10
) -> dict[str, float]:
    """Median seconds of each ``fn()`` over ``repeats`` rounds that call every ``fn`` once, in turn.

    Timing in turns rather than one after the other keeps a busy neighbour on a shared machine from
    slowing one model's measurement and not the others'.
    """
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def train_step(model: nn.Module, x: torch.Tensor, y: torch.Tensor):
    """One Adam step on (x, y), with the mask upkeep ``helpers.core.train.fit`` uses for masked models."""
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    if any(isinstance(m, MaskedMixin) for m in model.modules()):
        masks.keep_masks_after_steps(optimizer, model)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()

    return step


def torch_pruned(dense: nn.Module, sparsity: float) -> nn.Module:
    """A copy pruned with torch.nn.utils.prune (forward-pre-hook, weight_orig * weight_mask)."""
    model = copy.deepcopy(dense)
    targets = [
        (m, name)
        for m in model.modules()
        if isinstance(m, (nn.Linear, nn.Conv1d, nn.LSTM))
        for name, _ in m.named_parameters(recurse=False)
        if name.startswith("weight")
    ]
    torch_prune.global_unstructured(
        targets, pruning_method=torch_prune.L1Unstructured, amount=sparsity
    )
    return model


def training_ratios(repeats: int) -> list[tuple[str, float, float]]:
    torch.manual_seed(0)
    cases = {
        "MLP 40-100-100-10": (lambda: models.MLP([40, 100, 100, 10]), torch.randn(100, 40)),
        "1-D CNN": (lambda: models.CNN1d(), torch.randn(100, 40)),
        "LSTM 128, 40 steps": (
            lambda: models.RNNClassifier(1, 128, 10, "lstm"),
            torch.randn(100, 40),
        ),
    }
    rows = []
    for name, (make, x) in cases.items():
        y = torch.randint(0, 10, (x.shape[0],))
        dense = make()
        ours = masks.to_masked(copy.deepcopy(dense))
        prune.magnitude_prune(ours, 0.8, scope="global")
        theirs = torch_pruned(dense, 0.8)
        t = median_times_in_turns(
            {
                "dense": train_step(dense, x, y),
                "ours": train_step(ours, x, y),
                "theirs": train_step(theirs, x, y),
            },
            repeats,
        )
        rows.append((name, t["ours"] / t["dense"], t["theirs"] / t["dense"]))
    return rows


def inference_ratios(repeats: int) -> list[tuple[float, float, float]]:
    torch.manual_seed(0)
    x = torch.randn(4096, 64)
    rows = []
    for sparsity in (0.9, 0.95, 0.99):
        layer = masks.to_masked(nn.Linear(4096, 4096, bias=False))
        prune.magnitude_prune(layer, sparsity)
        dense_w = layer.effective("weight").detach().clone()
        csr = masks.to_sparse_csr(layer)
        with torch.no_grad():
            t_dense = median_time(lambda w=dense_w: w @ x, repeats // 4 or 1, warmup=3)
            t_csr = median_time(lambda w=csr: w @ x, repeats // 4 or 1, warmup=3)
        rows.append((sparsity, t_dense / t_csr, 1 / (1 - sparsity)))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    if args.repeats < 4 or args.threads < 1:
        raise SystemExit("--repeats must be at least 4 and --threads at least 1")
    torch.set_num_threads(args.threads)
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, median of {args.repeats} steps\n"
    )
    print("Training-step time relative to dense (80 % global sparsity; target for ours: <= 1.05x)")
    print(f"{'model':<22} {'ours / dense':>13} {'torch.prune / dense':>20}")
    for name, ours, theirs in training_ratios(args.repeats):
        print(f"{name:<22} {ours:>12.2f}x {theirs:>19.2f}x")
    print(
        "\nInference, 4096x4096 weight @ (4096 x 64): dense time / CSR time (speedup of the sparse export)"
    )
    print(f"{'sparsity':>9} {'CSR speedup':>12} {'ideal 1/density':>16}")
    for sparsity, speedup, ideal in inference_ratios(args.repeats):
        print(f"{sparsity:>9.0%} {speedup:>11.2f}x {ideal:>15.0f}x")


if __name__ == "__main__":
    main()
