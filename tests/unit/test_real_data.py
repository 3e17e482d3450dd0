"""CIFAR-10, the real-data option: read from the binary release on disk, never downloaded."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from helpers import data


def write_fake_release(folder: Path, per_batch: int = 4) -> None:
    """Batch files in CIFAR-10's binary format: label byte, then red, green, blue planes of 32×32."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    names = [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]
    for k, name in enumerate(names):
        records = np.zeros((per_batch, 3073), dtype=np.uint8)
        records[:, 0] = (np.arange(per_batch) + k) % 10
        records[:, 1:1025] = 200  # red plane
        records[:, 1025:2049] = rng.integers(0, 50, (per_batch, 1024))  # green
        records[:, 2049:] = 10  # blue
        records[0, 1] = 255  # the first red pixel of each batch's first image
        records.tofile(folder / name)


def test_missing_release_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError) as err:
        data.cifar10_files(tmp_path / "nowhere")
    message = str(err.value)
    assert "dataset='cifar10'" in message and "never downloads" in message
    assert data.CIFAR10_URL in message and "SPARSITY_CIFAR10" in message and "mnist1d" in message


def test_reads_the_binary_format(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "cifar-10-batches-bin"
    write_fake_release(folder)
    monkeypatch.setenv("SPARSITY_CIFAR10", str(folder))
    split = data.cifar10()
    assert split.x_train.shape == (20, 3, 32, 32) and split.x_test.shape == (4, 3, 32, 32)
    assert split.y_train[:4].tolist() == [0, 1, 2, 3] and split.y_train[4:8].tolist() == [
        1,
        2,
        3,
        4,
    ]
    assert split.y_test.tolist() == [5, 6, 7, 8] and split.num_classes == 10
    # Channels standardised on the training images: red is nearly constant, so its one bright pixel
    # stands far above the rest; green has mean 0 and std 1.
    assert split.x_train[0, 0, 0, 0] > 10 * split.x_train[0, 0, 0, 1].abs()
    green = split.x_train[:, 1]
    assert abs(green.mean().item()) < 1e-4 and abs(green.std(unbiased=False).item() - 1) < 1e-3
    flat = data.cifar10(n_train=6, n_test=2, flat=True)
    assert flat.x_train.shape == (6, 3072) and flat.x_test.shape == (2, 3072)
    assert flat.x_train.dtype == torch.float32


def test_truncated_file_is_an_error(tmp_path: Path) -> None:
    folder = tmp_path / "cifar"
    write_fake_release(folder)
    with open(folder / "test_batch.bin", "ab") as f:
        f.write(b"\x00\x01")
    with pytest.raises(ValueError, match="truncated"):
        data.cifar10(root=folder)


def test_bad_sizes_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="n_train"):
        data.cifar10(n_train=0, root=tmp_path)
