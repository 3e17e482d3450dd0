"""Offline datasets and loaders. Nothing here downloads: data are generated or ship with packages.

Introduced in notebook 00.

- ``mnist1d``: the MNIST-1D benchmark, *generated* locally with ``mnist1d.data.make_dataset``
  (never ``get_dataset``, which downloads) and cached under ``data/cache/``;
- ``digits``: scikit-learn's 8×8 digits (shipped with the package), standardised;
- ``pydoc_corpus``: the English text of CPython's ``pydoc_data.topics`` as characters;
- ``cifar10``: real images, an *option* for full-scale runs, never a default: read from the binary
  release already on disk (``$SPARSITY_CIFAR10`` or ``data/cifar10/cifar-10-batches-bin``), never
  downloaded; without it, ``cifar10_files`` says what to do;
- ``make_task``: a registry of synthetic tasks (``register_task`` adds one).

Datasets come back as a ``Split`` of tensors; ``TensorLoader`` serves shuffled mini-batches from
tensors already on the device, much faster than a DataLoader for data this small.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from helpers.plumbing.params import (
    check_bool,
    check_float,
    check_generator,
    check_int,
    check_tensor,
    check_type,
)
from helpers.plumbing.results import REPO_ROOT, atomic_write_bytes
from helpers.plumbing.runtime import resolve_device

__all__ = [
    "Split",
    "TensorLoader",
    "cache_dir",
    "mnist1d",
    "digits",
    "pydoc_corpus",
    "CharCorpus",
    "CIFAR10_URL",
    "cifar10_files",
    "cifar10",
    "register_task",
    "make_task",
    "TASKS",
]


def cache_dir() -> Path:
    """Where generated data are cached: ``$SPARSITY_DATA`` or ``<repo>/data/cache``."""
    path = Path(os.environ.get("SPARSITY_DATA", REPO_ROOT / "data" / "cache"))
    path.mkdir(parents=True, exist_ok=True)
    return path


@dataclass
class Split:
    """Train and test tensors of a classification dataset."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    num_classes: int

    def __post_init__(self) -> None:
        for part in ("train", "test"):
            x, y = getattr(self, f"x_{part}"), getattr(self, f"y_{part}")
            _check_pair(f"x_{part}", x, f"y_{part}", y)
        self.num_classes = check_int("num_classes", self.num_classes, 1)

    def to(self, device: torch.device | str) -> Split:
        """The same split with every tensor on ``device`` (checked by ``runtime.resolve_device``)."""
        device = resolve_device(device)
        return Split(
            self.x_train.to(device),
            self.y_train.to(device),
            self.x_test.to(device),
            self.y_test.to(device),
            self.num_classes,
        )

    def loaders(
        self,
        batch_size: int = 100,
        generator: torch.Generator | None = None,
        eval_batch_size: int = 1000,
    ) -> tuple[TensorLoader, TensorLoader]:
        """(shuffled train loader, ordered test loader)."""
        train = TensorLoader(
            self.x_train, self.y_train, batch_size, shuffle=True, generator=generator
        )
        test = TensorLoader(self.x_test, self.y_test, eval_batch_size, shuffle=False)
        return train, test


class TensorLoader:
    """Mini-batches ``(x, y)`` from two tensors, on whatever device the tensors are on.

    Shuffles with ``generator`` (on the CPU, so a seed gives the same order on every device).
    """

    def __init__(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        batch_size: int,
        shuffle: bool = False,
        generator: torch.Generator | None = None,
        drop_last: bool = False,
    ) -> None:
        _check_pair("x", x, "y", y)
        if x.device != y.device:
            raise ValueError(
                f"x and y must be on one device, got x on {x.device} and y on {y.device}"
            )
        batch_size = check_int("batch_size", batch_size, 1)
        check_bool("shuffle", shuffle)
        check_bool("drop_last", drop_last)
        check_generator("generator", generator)
        self.x, self.y, self.batch_size = x, y, batch_size
        self.shuffle, self.generator, self.drop_last = shuffle, generator, drop_last

    def __len__(self) -> int:
        n = len(self.x)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        n = len(self.x)
        if self.shuffle:
            order = torch.randperm(n, generator=self.generator).to(self.x.device)
        else:
            order = torch.arange(n, device=self.x.device)
        for i in range(len(self)):
            idx = order[i * self.batch_size : (i + 1) * self.batch_size]
            yield self.x[idx], self.y[idx]


def _check_pair(x_name: str, x: torch.Tensor, y_name: str, y: torch.Tensor) -> None:
    """Inputs and labels: two tensors with at least one dimension and the same number of rows."""
    check_tensor(x_name, x, min_dim=1)
    check_tensor(y_name, y, min_dim=1)
    if len(x) != len(y):
        raise ValueError(f"{x_name} has {len(x)} rows but {y_name} has {len(y)}; they must match")


def _load_or_make(
    name: str, params: dict, make: Callable[[], dict[str, np.ndarray]]
) -> dict[str, np.ndarray]:
    """Load ``name`` from the cache, or make it and save it atomically (keyed by its parameters)."""
    key = hashlib.sha1(json.dumps(params, sort_keys=True).encode()).hexdigest()[:10]
    path = cache_dir() / f"{name}-{key}.npz"
    if path.exists():
        with np.load(path) as f:
            return {k: f[k] for k in f.files}
    arrays = make()
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    atomic_write_bytes(path, buffer.getvalue())
    return arrays


def mnist1d(n_train: int = 4000, n_test: int = 1000, seed: int = 42) -> Split:
    """MNIST-1D (Greydanus 2020): 10 classes of 40-sample 1-D signals, generated locally.

    ``seed`` is the *dataset's* seed (42 is the benchmark's); ``n_train + n_test`` samples are made.
    """
    n_train, n_test = check_int("n_train", n_train, 1), check_int("n_test", n_test, 1)
    seed = check_int("seed", seed, 0, 2**32 - 1)  # NumPy's seed range

    def make() -> dict[str, np.ndarray]:
        from mnist1d.data import get_dataset_args, make_dataset

        args = get_dataset_args()
        args.num_samples = n_train + n_test
        args.train_split = n_train / (n_train + n_test)
        args.seed = seed
        data = make_dataset(args)
        return {"x": data["x"], "y": data["y"], "x_test": data["x_test"], "y_test": data["y_test"]}

    arrays = _load_or_make("mnist1d", {"n_train": n_train, "n_test": n_test, "seed": seed}, make)
    return Split(
        torch.tensor(arrays["x"], dtype=torch.float32),
        torch.tensor(arrays["y"], dtype=torch.long),
        torch.tensor(arrays["x_test"], dtype=torch.float32),
        torch.tensor(arrays["y_test"], dtype=torch.long),
        num_classes=10,
    )


def digits(test_fraction: float = 0.25, seed: int = 0, image: bool = False) -> Split:
    """scikit-learn's 8×8 digits, standardised with the training set's mean and std.

    ``image=True`` returns shape (N, 1, 8, 8) for 2-D CNNs; otherwise (N, 64).
    """
    test_fraction = check_float("test_fraction", test_fraction, 0, 1, low_open=True, high_open=True)
    seed = check_int("seed", seed, 0, 2**32 - 1)
    check_bool("image", image)
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=test_fraction, random_state=seed, stratify=y
    )
    mean, std = x_train.mean(0), x_train.std(0) + 1e-6
    x_train, x_test = (x_train - mean) / std, (x_test - mean) / std
    shape = (-1, 1, 8, 8) if image else (-1, 64)
    return Split(
        torch.tensor(x_train, dtype=torch.float32).reshape(shape),
        torch.tensor(y_train, dtype=torch.long),
        torch.tensor(x_test, dtype=torch.float32).reshape(shape),
        torch.tensor(y_test, dtype=torch.long),
        num_classes=10,
    )


CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"
_CIFAR10_RECORD = 1 + 3 * 32 * 32  # one label byte, then 1024 red, 1024 green, 1024 blue bytes
_CIFAR10_TRAIN = [f"data_batch_{i}.bin" for i in range(1, 6)]
_CIFAR10_TEST = ["test_batch.bin"]


def cifar10_files(root: str | Path | None = None) -> tuple[list[Path], list[Path]]:
    """The (train, test) batch files of CIFAR-10's binary release, or a clear error if absent.

    Nothing is downloaded at run time: the option ``dataset='cifar10'`` needs the files on disk.
    The binary release is read with NumPy alone (no pickle, so loading runs no code).
    """
    folder = Path(
        root
        or os.environ.get("SPARSITY_CIFAR10")
        or REPO_ROOT / "data/cifar10/cifar-10-batches-bin"
    )
    missing = [name for name in _CIFAR10_TRAIN + _CIFAR10_TEST if not (folder / name).exists()]
    if missing:
        raise FileNotFoundError(
            f"dataset='cifar10' reads CIFAR-10 from disk, and {folder} lacks {', '.join(missing)}. "
            "This project never downloads at run time. On a machine with internet, fetch the binary "
            f"release {CIFAR10_URL}, unpack it so that {folder}/data_batch_1.bin exists (or point "
            "$SPARSITY_CIFAR10 at its cifar-10-batches-bin folder), or keep the default "
            "dataset='mnist1d'."
        )
    return [folder / n for n in _CIFAR10_TRAIN], [folder / n for n in _CIFAR10_TEST]


def _read_cifar10(paths: list[Path], limit: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 3, 32, 32) as uint8 and labels (N,) from binary batch files, the first ``limit``."""
    records = np.concatenate([np.fromfile(p, dtype=np.uint8) for p in paths])
    if records.size % _CIFAR10_RECORD:
        raise ValueError(f"CIFAR-10 files {paths} are truncated: not a whole number of records")
    records = records.reshape(-1, _CIFAR10_RECORD)[:limit]
    return records[:, 1:].reshape(-1, 3, 32, 32), records[:, 0].astype(np.int64)


def cifar10(
    n_train: int | None = None,
    n_test: int | None = None,
    flat: bool = False,
    root: str | Path | None = None,
) -> Split:
    """CIFAR-10 (real images, 10 classes) from the binary release on disk; see ``cifar10_files``.

    Each channel is standardised with the training images' mean and std. The first ``n_train`` /
    ``n_test`` images (all by default); ``flat=True`` gives (N, 3072) vectors for an MLP, otherwise
    (N, 3, 32, 32).
    """
    for name, value in (("n_train", n_train), ("n_test", n_test)):
        if value is not None:
            check_int(name, value, 1)
    check_bool("flat", flat)
    train_files, test_files = cifar10_files(root)
    x_train, y_train = _read_cifar10(train_files, n_train)
    x_test, y_test = _read_cifar10(test_files, n_test)
    mean = x_train.mean(axis=(0, 2, 3), keepdims=True) / 255.0
    std = x_train.std(axis=(0, 2, 3), keepdims=True) / 255.0 + 1e-6
    shape = (-1, 3 * 32 * 32) if flat else (-1, 3, 32, 32)

    def tensor(x: np.ndarray) -> torch.Tensor:
        return torch.tensor((x / 255.0 - mean) / std, dtype=torch.float32).reshape(shape)

    return Split(
        tensor(x_train),
        torch.from_numpy(y_train),
        tensor(x_test),
        torch.from_numpy(y_test),
        num_classes=10,
    )


@dataclass
class CharCorpus:
    """A character-level corpus: the text, its vocabulary, and encoded train/validation tensors."""

    text: str
    vocab: list[str]
    train: torch.Tensor
    val: torch.Tensor

    def encode(self, s: str) -> torch.Tensor:
        check_type("s", s, str, "a string")
        index = {c: i for i, c in enumerate(self.vocab)}
        unknown = sorted(set(s) - set(index))
        if unknown:
            raise ValueError(f"characters not in the vocabulary: {unknown[:10]}")
        return torch.tensor([index[c] for c in s], dtype=torch.long)

    def decode(self, ids: torch.Tensor) -> str:
        return "".join(self.vocab[i] for i in ids.tolist())

    def batch(
        self, split: str, batch_size: int, block_size: int, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Random windows ``(x, y)`` of ``block_size`` characters; ``y`` is ``x`` shifted by one."""
        data = {"train": self.train, "val": self.val}.get(split)
        if data is None:
            raise ValueError(f"split must be 'train' or 'val', got {split!r}")
        batch_size = check_int("batch_size", batch_size, 1)
        block_size = check_int("block_size", block_size, 1)
        check_generator("generator", generator)
        if block_size >= len(data):
            raise ValueError(
                f"block_size {block_size} must be shorter than the {split} text ({len(data)})"
            )
        starts = torch.randint(len(data) - block_size, (batch_size,), generator=generator)
        x = torch.stack([data[s : s + block_size] for s in starts.tolist()])
        y = torch.stack([data[s + 1 : s + 1 + block_size] for s in starts.tolist()])
        return x, y


def pydoc_corpus(val_fraction: float = 0.1, max_chars: int | None = None) -> CharCorpus:
    """CPython's ``pydoc_data.topics`` (about 465k characters of English), split by position.

    The last ``val_fraction`` of the text is the validation set. ``max_chars`` truncates the text.
    """
    val_fraction = check_float("val_fraction", val_fraction, 0, 1, low_open=True, high_open=True)
    if max_chars is not None:
        max_chars = check_int("max_chars", max_chars, 2)
    from pydoc_data.topics import topics

    text = "\n\n".join(topics[k] for k in sorted(topics))
    if max_chars is not None:
        text = text[:max_chars]
    vocab = sorted(set(text))
    index = {c: i for i, c in enumerate(vocab)}
    ids = torch.tensor([index[c] for c in text], dtype=torch.long)
    cut = int(len(ids) * (1.0 - val_fraction))
    if cut == 0 or cut == len(ids):
        raise ValueError(
            f"max_chars={max_chars} and val_fraction={val_fraction} leave an empty train or "
            "validation text; allow more characters"
        )
    return CharCorpus(text=text, vocab=vocab, train=ids[:cut], val=ids[cut:])


# --- synthetic tasks --------------------------------------------------------------------------
TASKS: dict[str, Callable[..., Split]] = {}


def register_task(name: str) -> Callable[[Callable[..., Split]], Callable[..., Split]]:
    """Decorator: make a synthetic task available as ``make_task(name, **kwargs)``."""

    check_type("name", name, str, "a string")

    def add(fn: Callable[..., Split]) -> Callable[..., Split]:
        if name in TASKS:
            raise ValueError(f"task '{name}' is registered twice")
        TASKS[name] = fn
        return fn

    return add


def make_task(name: str, **kwargs) -> Split:  # noqa: ANN003
    """Build the synthetic task ``name`` (see ``TASKS`` for the names)."""
    if not isinstance(name, str) or name not in TASKS:
        raise ValueError(f"unknown task {name!r}; registered: {sorted(TASKS)}")
    return TASKS[name](**kwargs)


@register_task("xor")
def xor_task(n_train: int = 400, n_test: int = 400, noise: float = 0.1, seed: int = 0) -> Split:
    """Two-dimensional XOR: the label is 1 where the signs of x1 and x2 differ."""
    n_train, n_test = check_int("n_train", n_train, 1), check_int("n_test", n_test, 1)
    check_float("noise", noise, 0.0, finite=True)
    check_int("seed", seed)
    g = torch.Generator().manual_seed(seed)

    def sample(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        corners = torch.randint(0, 2, (n, 2), generator=g).float() * 2 - 1
        x = corners + noise * torch.randn(n, 2, generator=g)
        return x, (corners[:, 0] != corners[:, 1]).long()

    return Split(*sample(n_train), *sample(n_test), num_classes=2)


@register_task("parity")
def parity_task(n_bits: int = 4, n_train: int = 1000, n_test: int = 500, seed: int = 0) -> Split:
    """Sequences of ``n_bits`` random bits shaped (N, n_bits, 1); the label is their parity."""
    check_int("n_bits", n_bits, 1)
    n_train, n_test = check_int("n_train", n_train, 1), check_int("n_test", n_test, 1)
    check_int("seed", seed)
    g = torch.Generator().manual_seed(seed)

    def sample(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        bits = torch.randint(0, 2, (n, n_bits), generator=g)
        return bits.float().unsqueeze(-1), bits.sum(1) % 2

    return Split(*sample(n_train), *sample(n_test), num_classes=2)
