"""ProSparse (helpers.papers.prosparse_activation_sparsity): the λ schedule of Algorithm 1, the stacked
gated-FFN LM, the L1 penalty through a forward hook, and the sparsity measures, on worked examples."""

import math

import pytest
import torch
import torch.nn.functional as F
from bad_input import assert_rejects

from helpers import data
from helpers.papers import prosparse_activation_sparsity as ps


@pytest.fixture(scope="module")
def corpus():
    return data.pydoc_corpus(max_chars=20000)


def _lm(models=2, activation="relu", seed=0, vocab=None):
    torch.manual_seed(seed)
    return ps.GatedFFNLM(models, vocab or 50, context=4, d_embed=4, d_model=8, d_ff=16,
                         activation=activation)  # fmt: skip


# ---------------------------------------------------------------- the schedule


def test_lambda_schedule_worked_example():
    # warm-up to step 2 at 0.1; ramp 0.1 -> 1 over steps 2..6; hold at 1 over 6..8
    ends, peaks = [2, 6, 8], [0.1, 1.0, 1.0]
    lam = [ps.prosparse_lambda(t, ends, peaks) for t in range(10)]
    assert lam[:3] == pytest.approx([0.1, 0.1, 0.1])  # warm-up, and the ramp starts flat (η = 0)
    assert lam[4] == pytest.approx(0.1 + 0.5 * 0.9)  # half-way: η = (sin 0 + 1) / 2 = 1/2
    assert lam[3] == pytest.approx(0.1 + 0.9 * (1 - math.cos(math.pi / 4)) / 2)
    assert lam[6:] == pytest.approx([1.0] * 4)  # hold, and the last peak after the end


def test_sine_ramp_is_flat_at_both_ends_unlike_a_linear_one():
    ends, peaks = [1, 1001], [0.0, 1.0]
    sine = [ps.prosparse_lambda(t, ends, peaks) for t in (1, 11, 991, 1000)]
    linear = [ps.prosparse_lambda(t, ends, peaks, shape="linear") for t in (1, 11, 991, 1000)]
    assert sine[1] - sine[0] < 1e-3 and 1 - sine[3] < 1e-4  # slope ≈ 0 near trough and peak
    assert linear[1] - linear[0] == pytest.approx(0.01)


def test_stage_plan_scales_fractions_to_steps():
    assert ps.stage_plan(100, [0.1, 0.4, 0.5], [0.1, 1, 1]) == [10, 50, 100]
    assert_rejects(lambda: ps.stage_plan(100, [0.5, 0.4], [1, 1]), "fractions", "sum to 1")
    assert_rejects(lambda: ps.stage_plan(3, [0.2, 0.2, 0.2, 0.2, 0.2], [1] * 5), "steps", "too few")
    assert_rejects(lambda: ps.prosparse_lambda(0, [1], [1.0], shape="cos"), "shape", "sine")


# ---------------------------------------------------------------- the model


def test_fatrelu_keeps_values_at_or_above_the_threshold():
    z = torch.tensor([-1.0, 0.0, 0.005, 0.01, 0.5])
    assert ps.FATReLU(0.01)(z).tolist() == pytest.approx([0.0, 0.0, 0.0, 0.01, 0.5])
    assert torch.equal(ps.FATReLU(0.0)(z), torch.relu(z))
    assert_rejects(lambda: ps.FATReLU(-0.1), "threshold", "[0.0, inf]")


def test_stacked_models_are_independent():
    lm = _lm(models=2)
    x = torch.randint(50, (2, 5, 4))
    out = lm(x)
    assert out.shape == (2, 5, 50)
    out[0].sum().backward()  # model 0's output must not depend on model 1's weights
    assert all(p.grad[1].abs().max() == 0 for p in lm.parameters() if p.grad is not None)


def test_select_copies_models_and_activation_swap_changes_only_the_gate():
    lm = _lm(models=2, activation="silu")
    copy = lm.select([1, 1, 0])
    x = torch.randint(50, (1, 5, 4))
    assert torch.allclose(copy(x.expand(3, -1, -1))[0], lm(x.expand(2, -1, -1))[1])
    relu = ps.set_activation(lm.select([0]), "relu")
    assert isinstance(relu.ffn.act, torch.nn.ReLU) and isinstance(lm.ffn.act, torch.nn.SiLU)
    copy.embed.data.zero_()  # a copy, not a view
    assert lm.embed.abs().sum() > 0


def test_train_with_l1_equals_the_loss_written_out(corpus):
    vocab = len(corpus.vocab)
    helper, by_hand = _lm(1, vocab=vocab), _lm(1, vocab=vocab)
    ps.train(helper, corpus, 2, seeds=[3], lam=[[0.5, 2.0]], batch_size=8, progress=False)
    opt = torch.optim.AdamW(by_hand.parameters(), lr=3e-3, weight_decay=0.01)
    gen = torch.Generator().manual_seed(3)
    for lam in (0.5, 2.0):
        x, y = ps.windows(corpus, "train", 1, 8, 4, gen)
        h = F.layer_norm(
            by_hand.embed[0][x[0]].reshape(8, -1) @ by_hand.w_in[0] + by_hand.b_in[0], (8,)
        )
        x1 = torch.relu(h @ by_hand.ffn.w_gate[0]) * (h @ by_hand.ffn.w_up[0])
        h = F.layer_norm(h + x1 @ by_hand.ffn.w_down[0], (8,))
        loss = (
            F.cross_entropy(h @ by_hand.head[0] + by_hand.b_head[0], y[0]) + lam * x1.abs().mean()
        )
        opt.zero_grad()
        loss.backward()
        opt.step()
    for p, q in zip(helper.parameters(), by_hand.parameters()):
        assert torch.allclose(p, q, atol=1e-5)


def test_a_strong_l1_raises_activation_sparsity(corpus):
    vocab = len(corpus.vocab)
    lm = _lm(2, vocab=vocab)
    ps.train(lm, corpus, 80, seeds=[0, 0], lam=[[0.0] * 80, [30.0] * 80], batch_size=16,
             progress=False)  # fmt: skip
    found = ps.evaluate(lm, corpus, n=300)
    assert found["sparsity"][1] > found["sparsity"][0] + 0.1


def test_evaluate_counts_zero_units_per_token(corpus):
    lm = _lm(1, vocab=len(corpus.vocab))
    found = ps.evaluate(lm, corpus, n=200, seed=5, batch_size=64)
    x, _ = ps.windows(corpus, "val", 1, 200, 4, torch.Generator().manual_seed(5))
    zeros = []
    handle = lm.ffn.intermediate.register_forward_hook(
        lambda m, i, o: zeros.append((o == 0).float())
    )
    with torch.no_grad():
        lm(x)
    handle.remove()
    assert torch.allclose(found["per_token"][0], zeros[0][0].mean(1))
    assert found["sparsity"][0] == pytest.approx(zeros[0].mean().item(), abs=1e-6)
    silu = ps.evaluate(ps.set_activation(lm, "silu"), corpus, n=200)
    assert silu["sparsity"][0] == 0


# ---------------------------------------------------------------- measures and bad input


def test_skip_fraction_and_loss_at_sparsity_worked_examples():
    assert ps.ffn_skip_fraction(0.9) == pytest.approx(0.6)
    assert ps.ffn_skip_fraction(torch.tensor([0.0, 0.75])).tolist() == pytest.approx([0.0, 0.5])
    # halfway between 0.9 and 0.99 in −log(1 − p): 1 − sqrt(0.1 · 0.01)
    target = 1 - math.sqrt(0.1 * 0.01)
    assert ps.loss_at_sparsity([0.9, 0.99], [1.0, 2.0], target) == pytest.approx(1.5)
    assert math.isnan(ps.loss_at_sparsity([0.9, 0.99], [1.0, 2.0], 0.5))
    assert ps.loss_at_sparsity([0.9, 1.0], [1.0, 2.0], 1.0) == pytest.approx(2.0)
    assert_rejects(lambda: ps.ffn_skip_fraction(1.5), "sparsity", "[0.0, 1.0]")
    assert_rejects(lambda: ps.loss_at_sparsity([0.9], [1.0], 0.9), "sparsity and loss", "two")


def test_rejected_train_calls_change_nothing(corpus):
    lm = _lm(2, vocab=len(corpus.vocab))
    assert_rejects(lambda: ps.train(lm, corpus, 2, seeds=[0]), "seeds", "one entry per model",
                   unchanged=(lm,))  # fmt: skip
    assert_rejects(lambda: ps.train(lm, corpus, 2, seeds=[0, 1], lam=[[1.0]] * 2), "lam",
                   "shape (models, steps)", unchanged=(lm,))  # fmt: skip
    assert_rejects(lambda: ps.GatedFFNLM(2, 10, activation="gelu"), "activation", "relu")
    assert_rejects(lambda: ps.set_activation(lm, "tanh"), "activation", "fatrelu", unchanged=(lm,))
