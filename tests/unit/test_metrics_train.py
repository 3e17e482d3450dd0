"""Metrics, training loop, devices and seeds."""

import pytest
import torch
from torch import nn

from helpers import masks, metrics, models, prune, runtime, train


def test_accuracy_first_principles():
    logits = torch.tensor([[2.0, 1.0], [0.0, 3.0], [5.0, -1.0]])
    assert metrics.accuracy(logits, torch.tensor([0, 1, 1])) == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="rows"):
        metrics.accuracy(logits, torch.tensor([0]))


def test_parameter_counts_and_compression():
    model = masks.to_masked(nn.Linear(10, 4))  # 40 weights + 4 biases
    prune.magnitude_prune(model, 0.5)
    counts = metrics.count_parameters(model)
    assert counts["total"] == 44
    assert counts["nonzero"] == 20 + int((model.bias != 0).sum())


def test_flops_dense_and_nonzero_for_linear_and_lstm():
    mlp = masks.to_masked(models.MLP([8, 16, 4]))
    x = torch.randn(5, 8)
    flops = metrics.count_flops(mlp, x)
    assert flops["dense"] == 2 * 5 * (8 * 16 + 16 * 4)  # 2 · batch · (in · out) per layer
    prune.magnitude_prune(mlp, 0.75)
    assert metrics.count_flops(mlp, x)["nonzero"] == pytest.approx(0.25 * flops["dense"])
    lstm = masks.to_masked(nn.LSTM(3, 6, batch_first=True))
    seq = torch.randn(2, 7, 3)
    assert metrics.count_flops(lstm, seq)["dense"] == 2 * 2 * 7 * (4 * 6 * 3 + 4 * 6 * 6)


def test_summary_line_names_the_three_kinds_of_sparse():
    model = masks.to_masked(models.MLP([8, 16, 4]))
    prune.magnitude_prune(model, 0.9)
    summary = metrics.summarize(model, torch.randn(4, 8), accuracy=0.5, dense_latency_s=1.0)
    line = str(summary)
    for word in (
        "sparsity 90.1%",
        "compression",
        "FLOPs",
        "theoretical speedup",
        "latency",
        "accuracy 0.500",
    ):
        assert word in line
    assert summary.theoretical_speedup == pytest.approx(
        192 / 19, rel=1e-6
    )  # 173 of 192 weights pruned


def test_resolve_device():
    assert runtime.resolve_device("cpu").type == "cpu"
    assert runtime.resolve_device("auto").type in ("cpu", "cuda", "mps")
    with pytest.raises(ValueError, match="not a device name"):
        runtime.resolve_device("gpu0")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            runtime.resolve_device("cuda")
    with pytest.raises(TypeError):
        runtime.resolve_device(3)


def test_seed_everything_makes_runs_identical():
    def run():
        gen = runtime.seed_everything(3)
        model = models.MLP([4, 8, 2])
        x, y = torch.randn(32, 4, generator=gen), torch.randint(0, 2, (32,), generator=gen)
        from helpers.core.data import TensorLoader

        train.fit(
            model,
            TensorLoader(x, y, 8, shuffle=True, generator=gen),
            epochs=2,
            device="cpu",
            progress=False,
        )
        return torch.cat([p.flatten() for p in model.parameters()])

    assert torch.equal(run(), run())
    with pytest.raises(ValueError, match="seed"):
        runtime.seed_everything(-1)


def test_fit_learns_records_history_and_calls_callbacks():
    gen = runtime.seed_everything(0)
    x = torch.randn(200, 2, generator=gen)
    y = (x[:, 0] > 0).long()
    from helpers.core.data import TensorLoader

    calls = {"step": 0, "epoch": 0, "extra": 0}

    class Probe:
        def extra_loss(self, model):
            calls["extra"] += 1
            return torch.zeros(())

        def on_step_end(self, step, **_):
            calls["step"] = step

        def on_epoch_end(self, epoch, **_):
            calls["epoch"] = epoch

    loader = TensorLoader(x, y, 20, shuffle=True, generator=gen)
    history = train.fit(
        models.MLP([2, 16, 2]),
        loader,
        epochs=5,
        lr=1e-2,
        val_loader=loader,
        callbacks=[Probe()],
        device="cpu",
    )
    assert history.last("val_acc") > 0.9
    assert calls == {"step": 50, "epoch": 5, "extra": 50}
    assert len(history.step_loss) == 50
    with pytest.raises(ValueError, match="epochs"):
        train.fit(models.MLP([2, 2]), loader, epochs=-1)


def test_fit_with_amp_on_cpu_runs():
    from helpers.core.data import TensorLoader

    x, y = torch.randn(16, 3), torch.randint(0, 2, (16,))
    history = train.fit(
        models.MLP([3, 4, 2]),
        TensorLoader(x, y, 8),
        epochs=1,
        amp=True,
        device="cpu",
        progress=False,
    )
    assert len(history.step_loss) == 2
