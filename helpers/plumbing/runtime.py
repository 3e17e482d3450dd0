"""Runtime plumbing every notebook needs before it trains: the device, seeds, threads, progress bars,
and the train/eval mode of a model for the length of a block.

Introduced in notebook 00. These lived beside the trainer once; they sit here, in the bottom band, so
that data loading and the paper modules can resolve a device without importing ``train``.
"""

from __future__ import annotations

import contextlib
import os
import random
from collections.abc import Iterator

import numpy as np
import torch
from torch import nn

from helpers.plumbing.params import ParameterTypeError, check_bool, check_int

__all__ = ["resolve_device", "seed_everything", "set_threads", "progress_enabled", "model_mode"]


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """'auto' → cuda if available, else mps, else cpu; anything else is checked and returned.

    Raises ValueError naming the device when it does not exist on this machine.
    """
    if isinstance(device, torch.device):
        device = str(device)
    if not isinstance(device, str):
        raise ParameterTypeError(
            f"device must be a string such as 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps', "
            f"or a torch.device, got {device!r}"
        )
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        parsed = torch.device(device)
    except RuntimeError as err:
        raise ValueError(
            f"device {device!r} is not a device name; use 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'"
        ) from err
    if parsed.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device {device!r} was asked for, but CUDA is not available here; use 'auto' or 'cpu'"
        )
    if (
        parsed.type == "cuda"
        and parsed.index is not None
        and parsed.index >= torch.cuda.device_count()
    ):
        raise ValueError(
            f"device {device!r} does not exist: {torch.cuda.device_count()} CUDA device(s)"
        )
    if parsed.type == "mps" and not (
        getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()
    ):
        raise ValueError(
            f"device {device!r} was asked for, but MPS is not available here; use 'auto' or 'cpu'"
        )
    if parsed.type == "cpu" and parsed.index not in (None, 0):
        raise ValueError(f"device {device!r} does not exist: the CPU is 'cpu' (or 'cpu:0')")
    if parsed.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"device {device!r} is not supported; use 'auto', 'cpu', 'cuda' or 'mps'")
    return parsed


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch (CPU and CUDA); return a torch.Generator seeded the same way.

    Pass the generator to data shuffling and random masks so a run is reproducible bit for bit on CPU.
    """
    seed = check_int("seed", seed, 0)
    if seed >= 2**64:  # torch.manual_seed takes at most 64 bits
        raise ValueError(f"parameter seed must be an integer in [0, 2**64 - 1], got {seed!r}")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def set_threads(n: int | None = None) -> int:
    """Use ``n`` CPU threads for torch (default: $SPARSITY_THREADS, else 1).

    One thread is the default because the course's models are small: splitting a 256×256 product
    across threads costs more in synchronisation than it saves (notebook 00 ran in 38 s on one thread
    and 85 s on two, on an idle 2-core machine). Raise it for full-scale runs on a CPU.
    """
    if n is None:
        value = os.environ.get("SPARSITY_THREADS", "1")
        try:
            n = int(value)
        except ValueError:
            raise ValueError(
                f"$SPARSITY_THREADS must be a positive integer (a thread count), got {value!r}"
            ) from None
    else:
        n = check_int("n", n, 1)
    torch.set_num_threads(max(1, n))
    return torch.get_num_threads()


def progress_enabled(progress: bool | None = None) -> bool:
    """Progress bars are on unless switched off, or $SPARSITY_PROGRESS is '0' (as in CI)."""
    if progress is not None:
        return check_bool("progress", progress)
    return os.environ.get("SPARSITY_PROGRESS", "1") != "0"


def replicate_seeds(seed: int, replicates: int) -> list[int]:
    """The seeds of ``replicates`` independent runs that belong to a notebook run with ``seed``.

    Seed 0 gives 0, 1, 2, ...; seed 1 gives 1000, 1001, ...: every notebook seed has its own
    replicates, so ``make test-seeds`` runs replicates nobody has run before. Each replicate reseeds
    everything it uses (data order, initialisation, masks) from its own seed.
    """
    seed = check_int("seed", seed, 0)
    replicates = check_int("replicates", replicates, 1)
    if replicates > 1000:
        raise ValueError(f"parameter replicates must be at most 1000, got {replicates}")
    return [seed * 1000 + i for i in range(replicates)]


@contextlib.contextmanager
def model_mode(model: nn.Module, training: bool) -> Iterator[nn.Module]:
    """Run the ``with`` block with ``model`` in training (True) or eval (False) mode, then put back
    the mode every submodule had, also when the block raises.

    Evaluation needs eval mode (batch norm uses its running statistics, dropout is off), but a call
    that fails half-way must not leave the model switched. Each submodule gets its *own* mode back:
    ``model.train(was_training)`` would also switch a submodule that was deliberately in the other
    mode (a frozen batch norm in a training model).
    """
    modes = [(module, module.training) for module in model.modules()]
    model.train(training)
    try:
        yield model
    finally:
        for module, was_training in modes:
            module.training = was_training
