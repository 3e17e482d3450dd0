"""Checkpoints round-trip masked models and refuse files that would run code or do not fit."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import torch
from torch import nn

from helpers import checkpoints, masks, models, prune


def pruned_mlp(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    model = masks.to_masked(models.MLP([8, 16, 4]))
    prune.magnitude_prune(model, 0.75)
    return model


def test_round_trip_restores_weights_and_masks(tmp_path: Path) -> None:
    source = pruned_mlp(0)
    path = checkpoints.save_checkpoint(source, tmp_path / "mlp.pt", meta={"seed": 0, "acc": 0.5})
    target = pruned_mlp(1)
    meta = checkpoints.load_checkpoint(target, path)
    assert meta == {"seed": 0, "acc": 0.5}
    for name, tensor in source.state_dict().items():
        assert torch.equal(tensor, target.state_dict()[name]), name
    assert masks.sparsity_report(target).sparsity == pytest.approx(0.75, abs=0.02)
    x = torch.randn(5, 8)
    assert torch.equal(source(x), target(x))


def test_a_file_that_would_run_code_is_refused_not_run(tmp_path: Path) -> None:
    class Exploit:
        def __reduce__(self):
            return (Path.touch, (tmp_path / "pwned",))

    path = tmp_path / "evil.pt"
    path.write_bytes(
        pickle.dumps({"format": checkpoints.FORMAT, "state_dict": Exploit()}, protocol=2)
    )
    with pytest.raises(ValueError, match="weights_only=True"):
        checkpoints.load_checkpoint(pruned_mlp(0), path)
    assert not (tmp_path / "pwned").exists()


def test_a_checkpoint_of_another_model_changes_nothing(tmp_path: Path) -> None:
    path = checkpoints.save_checkpoint(pruned_mlp(0), tmp_path / "mlp.pt")
    wider = masks.to_masked(models.MLP([8, 32, 4]))
    before = {k: v.clone() for k, v in wider.state_dict().items()}
    with pytest.raises(ValueError, match="other shapes"):
        checkpoints.load_checkpoint(wider, path)
    assert all(torch.equal(before[k], v) for k, v in wider.state_dict().items())
    with pytest.raises(ValueError, match="missing"):
        checkpoints.load_checkpoint(models.MLP([8, 16, 4]), path)  # dense: no mask buffers
    (tmp_path / "plain.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="loads safely"):
        checkpoints.load_checkpoint(wider, tmp_path / "plain.pt")
    with pytest.raises(FileNotFoundError):
        checkpoints.load_checkpoint(wider, tmp_path / "absent.pt")
    with pytest.raises(TypeError, match="model"):
        checkpoints.save_checkpoint("model", tmp_path / "x.pt")
