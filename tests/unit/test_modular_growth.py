"""helpers.modular (notebook 09): N-parity labels, the two growable RNNs, freezing, training, robustness."""

import copy

import pytest
import torch
import torch.nn.functional as F

from helpers import verdicts
from helpers.papers import modular_growth as modular


def _brute_parity(bits, order):
    """Parity of the last `order` bits at each step, by an explicit loop (IGNORE before)."""
    out = []
    for t in range(len(bits)):
        out.append(modular.IGNORE if t < order - 1 else sum(bits[t - order + 1 : t + 1]) % 2)
    return out


@pytest.mark.parametrize("order", [1, 2, 3, 5])
def test_parity_labels_match_a_brute_force_count(order):
    bits = torch.randint(0, 2, (6, 11), generator=torch.Generator().manual_seed(order))
    labels = modular.parity_labels(bits, order)
    for row, expected in zip(bits.tolist(), labels.tolist(), strict=True):
        assert expected == _brute_parity(row, order)


def test_parity_obeys_the_xor_recursion_the_hierarchy_relies_on():
    # y^(N)_t = x_t XOR y^(N-1)_{t-1}
    bits = torch.randint(0, 2, (4, 30), generator=torch.Generator().manual_seed(0))
    for n in (2, 3, 4, 5):
        high, low = modular.parity_labels(bits, n), modular.parity_labels(bits, n - 1)
        assert torch.equal(high[:, n - 1 :], bits[:, n - 1 :] ^ low[:, n - 2 : -1])


def test_last_step_supervision_keeps_only_the_final_label():
    bits = torch.tensor([[1, 0, 1, 1]])
    assert modular.parity_labels(bits, 2, supervise="last").tolist() == [[modular.IGNORE] * 3 + [0]]


def test_nparity_batch_shapes_and_determinism():
    x, y = modular.nparity_batch(5, 9, [2, 3, 4], generator=torch.Generator().manual_seed(1))
    x2, y2 = modular.nparity_batch(5, 9, [2, 3, 4], generator=torch.Generator().manual_seed(1))
    assert x.shape == (5, 9, 1) and y.shape == (3, 5, 9)
    assert torch.equal(x, x2) and torch.equal(y, y2)
    assert set(x.unique().tolist()) <= {0.0, 1.0}


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"batch_size": 0, "length": 5, "orders": [2]}, "batch_size"),
        ({"batch_size": 2, "length": 5, "orders": []}, "orders"),
        ({"batch_size": 2, "length": 5, "orders": [0]}, "orders"),
        ({"batch_size": 2, "length": 3, "orders": [4]}, "too short"),
        ({"batch_size": 2, "length": 5, "orders": [2], "supervise": "first"}, "supervise"),
    ],
)
def test_bad_data_arguments_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        modular.nparity_batch(**kwargs)


def _grown(model, stages):
    for _ in range(stages - 1):
        model.grow()
    return model


def test_modular_recurrent_matrix_is_block_structured():
    m, k = 3, 4
    model = _grown(modular.ModularRNN(m, k, generator=torch.Generator().manual_seed(0)), k)
    w = model.recurrent_matrix()
    assert w.shape == (m * k, m * k)
    for row in range(k):
        for col in range(k):
            block = w[row * m : (row + 1) * m, col * m : (col + 1) * m]
            if row == col:
                assert torch.equal(block, model.w_hh[row])
            elif row == col + 1:  # module `row` hears module `row - 1`
                assert torch.equal(block, model.w_ff[col])
            else:
                assert torch.count_nonzero(block) == 0
    # (k diagonal + (k - 1) feed-forward blocks) of k^2 blocks are non-zero.
    assert torch.count_nonzero(w).item() == (2 * k - 1) * m * m


def test_modular_forward_equals_an_explicit_per_module_loop():
    # Module d at step t: phi(W_hh[d] h^d_{t-1} + W_ff[d-1] h^{d-1}_{t-1} + W_in[d] x_t + b[d]).
    m, k = 4, 3
    model = _grown(modular.ModularRNN(m, k, generator=torch.Generator().manual_seed(2)), k)
    x, _ = modular.nparity_batch(2, 6, [2, 3, 4], generator=torch.Generator().manual_seed(3))
    h = [torch.zeros(2, m) for _ in range(k)]
    expected = [[] for _ in range(k)]
    with torch.no_grad():
        for t in range(6):
            new = []
            for d in range(k):
                pre = h[d] @ model.w_hh[d].T + x[:, t] @ model.w_in[d].T + model.b[d]
                if d > 0:
                    pre = pre + h[d - 1] @ model.w_ff[d - 1].T
                new.append(F.leaky_relu(pre))
            h = new
            for d in range(k):
                expected[d].append(model.heads[d](h[d]))
        out = model(x)
    assert out.shape == (k, 2, 6, 2)
    for d in range(k):
        assert torch.allclose(out[d], torch.stack(expected[d], dim=1), atol=1e-6)


def test_monolithic_heads_read_all_units_and_grow_adds_heads():
    model = modular.MonolithicRNN(8, 3, generator=torch.Generator().manual_seed(0))
    x, _ = modular.nparity_batch(2, 5, [2], generator=torch.Generator().manual_seed(0))
    assert model(x).shape == (1, 2, 5, 2)
    model.grow()
    assert model(x).shape == (2, 2, 5, 2) and model.hidden_size == 8
    model.grow()
    with pytest.raises(ValueError, match="already has all 3"):
        model.grow()


def test_a_generator_fixes_the_weights_and_state_dict_keeps_the_growth():
    a = modular.ModularRNN(5, 3, generator=torch.Generator().manual_seed(7))
    b = modular.ModularRNN(5, 3, generator=torch.Generator().manual_seed(7))
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
    a.grow()
    fresh = modular.ModularRNN(5, 3)
    fresh.load_state_dict(a.state_dict())
    assert fresh.stages == 2 and copy.deepcopy(a).stages == 2


def test_unit_mask_silences_units():
    model = _grown(modular.ModularRNN(3, 2, generator=torch.Generator().manual_seed(0)), 2)
    x, _ = modular.nparity_batch(4, 6, [2, 3], generator=torch.Generator().manual_seed(0))
    mask = torch.tensor([1.0, 1.0, 1.0, 0.0, 0.0, 0.0])  # silence module 2 entirely
    out = model(x, unit_mask=mask)
    # Module 2's head then sees only zeros: its logits are its bias at every step.
    assert torch.allclose(out[1], model.heads[1].bias.expand_as(out[1]))
    assert torch.allclose(out[0], model(x)[0])  # module 1 does not hear module 2
    with pytest.raises(ValueError, match="unit_mask"):
        model(x, unit_mask=torch.ones(5))


def _trainable_names(model):
    return {n for n, p in model.named_parameters() if p.requires_grad}


def test_set_trainable_strategies():
    model = _grown(modular.ModularRNN(3, 3), 3)
    frozen = modular.set_trainable(model, "frozen")
    assert _trainable_names(model) == {
        "w_in.2",
        "w_hh.2",
        "w_ff.1",
        "b.2",
        "heads.2.weight",
        "heads.2.bias",
    }
    assert sum(p.numel() for p in frozen) == 3 + 9 + 9 + 3 + 6 + 2
    modular.set_trainable(model, "fixed_intra")
    assert _trainable_names(model) == {"w_in.2", "w_ff.1", "b.2", "heads.2.weight", "heads.2.bias"}
    modular.set_trainable(model, "finetune")
    every_module = {"w_hh.0", "w_hh.1", "w_hh.2", "w_ff.0", "w_ff.1", "heads.0.weight"}
    assert every_module <= _trainable_names(model)
    with pytest.raises(ValueError, match="does not fit"):
        modular.set_trainable(model, "monolithic")
    with pytest.raises(ValueError, match="strategy"):
        modular.set_trainable(model, "grow")


def test_frozen_modules_do_not_move_during_a_stage():
    g = torch.Generator().manual_seed(0)
    model = modular.ModularRNN(4, 2, generator=g)
    x_eval, y_eval = modular.nparity_batch(32, 8, [2, 3], generator=g)
    modular.train_stage(
        model, "frozen", [2], (x_eval, y_eval[:1]), max_steps=5, length=8, batch_size=8, generator=g
    )
    model.grow()
    old = {n: p.detach().clone() for n, p in model.named_parameters()}
    result = modular.train_stage(
        model,
        "fixed_intra",
        [2, 3],
        (x_eval, y_eval),
        max_steps=5,
        length=8,
        batch_size=8,
        generator=g,
        criterion=1.0,
    )
    assert result.steps == 5 and result.trainable == 4 + 16 + 4 + 10
    learners = {"w_in.1", "w_ff.0", "b.1", "heads.1.weight", "heads.1.bias"}
    for name, p in model.named_parameters():
        assert (not torch.equal(p, old[name])) == (name in learners), name


def test_checked_heads():
    assert modular.checked_heads("frozen", 3) == [2]
    assert modular.checked_heads("fixed_intra", 3) == [2]
    assert modular.checked_heads("finetune", 3) == [0, 1, 2]
    assert modular.checked_heads("monolithic", 2) == [0, 1]


def test_curriculum_learns_two_bit_parity_and_stops_at_the_criterion():
    g = torch.Generator().manual_seed(0)
    model = modular.build_model("monolithic", 8, 2, generator=g)
    stages = modular.grow_curriculum(
        model, "monolithic", [2, 3], generator=g, max_steps=150, lr=1e-2, length=10
    )
    assert [s.order for s in stages] == [2, 3]
    assert stages[0].reached and min(stages[0].accuracies) >= 0.95
    # It stopped at a held-out check (every 5 steps), before the budget ran out.
    assert stages[0].steps % 5 == 0 and stages[0].steps < 150
    assert all(p.requires_grad for p in model.parameters())
    with pytest.raises(ValueError, match="start with 1 active stage"):
        modular.grow_curriculum(model, "monolithic", [2, 3], generator=g)


def test_perturbed_copy_has_the_requested_relative_norm_and_keeps_zero_blocks():
    model = _grown(modular.ModularRNN(4, 3, generator=torch.Generator().manual_seed(0)), 3)
    noisy = modular.perturbed_copy(model, 0.3, generator=torch.Generator().manual_seed(1))
    for w, v in zip(model.recurrent_weights(), noisy.recurrent_weights(), strict=True):
        assert (v - w).norm().item() == pytest.approx(0.3 * w.norm().item(), rel=1e-5)
    structure = model.recurrent_matrix() != 0
    assert torch.equal(noisy.recurrent_matrix() != 0, structure)
    assert torch.equal(
        modular.perturbed_copy(model, 0.0).recurrent_matrix(), model.recurrent_matrix()
    )
    with pytest.raises(ValueError, match="sigma"):
        modular.perturbed_copy(model, -0.1)


def test_robustness_curves_start_at_the_clean_accuracy_and_an_all_silenced_net_is_at_chance():
    model = modular.MonolithicRNN(6, 1, generator=torch.Generator().manual_seed(0))
    x, y = modular.nparity_batch(256, 20, [2], generator=torch.Generator().manual_seed(5))
    clean = modular.head_accuracies(model, x, y)[-1]
    noise = modular.noise_curve(
        model, [0.0], [2], n=256, draws=1, generator=torch.Generator().manual_seed(5)
    )
    assert noise[0] == pytest.approx(clean)
    ablation = modular.ablation_curve(
        model, [0.0, 1.0], [2], n=256, draws=1, generator=torch.Generator().manual_seed(5)
    )
    assert ablation[0] == pytest.approx(clean)
    # All units silent: one constant prediction, so accuracy is the share of one label (about 1/2).
    assert 0.4 < ablation[1] < 0.6
    with pytest.raises(ValueError, match="fractions"):
        modular.ablation_curve(model, [1.5], [2])


def test_length_curve_scores_only_the_final_window():
    model = modular.MonolithicRNN(6, 1, generator=torch.Generator().manual_seed(0))
    curve = modular.length_curve(
        model, [10, 30], [2], window=10, n=64, generator=torch.Generator().manual_seed(0)
    )
    assert len(curve) == 2 and all(0.0 <= a <= 1.0 for a in curve)
    with pytest.raises(ValueError, match="lengths"):
        modular.length_curve(model, [5], [2], window=10)
    with pytest.raises(ValueError, match="1 active heads"):
        modular.noise_curve(model, [0.1], [2, 3])
    with pytest.raises(ValueError, match="draws"):
        modular.ablation_curve(model, [0.1], [2], draws=0)


def test_constructor_arguments_are_checked():
    with pytest.raises(ValueError, match="module_size"):
        modular.ModularRNN(0, 3)
    with pytest.raises(ValueError, match="activation"):
        modular.MonolithicRNN(4, 2, activation="gelu")
    with pytest.raises(ValueError, match="strategy"):
        modular.build_model("random", 4, 2)


def test_no_intra_control_has_no_module_memory_above_the_first_module():
    g = torch.Generator().manual_seed(0)
    model = modular.build_model("no_intra", 4, 3, generator=g)
    assert all(not w.any() for w in model.w_hh[1:]) and model.w_hh[0].any()
    assert modular.checked_heads("no_intra", 3) == [2]
    x_eval, y_eval = modular.nparity_batch(16, 8, [2, 3, 4], generator=g)
    stages = modular.grow_curriculum(
        model, "no_intra", [2, 3, 4], generator=g, max_steps=5, length=8, batch_size=8
    )
    assert [s.trainable for s in stages] == [4 + 16 + 4 + 10] * 3
    assert all(not w.any() for w in model.w_hh[1:])  # never trained, still zero
    # A W_hh above module 1 that is not zero is refused: that network is not the control.
    with torch.no_grad():
        model.w_hh[2].fill_(0.1)
    with pytest.raises(ValueError, match="no_intra"):
        modular.train_stage(model, "no_intra", [2, 3, 4], (x_eval, y_eval), max_steps=1, length=8)


def test_build_model_sizes_and_the_parameter_matched_monolithic_rnn():
    units = modular.matched_hidden_size(10, 4)
    modular_params = sum(p.numel() for p in modular.ModularRNN(10, 4).parameters())
    mono = [
        sum(p.numel() for p in modular.MonolithicRNN(h, 4).parameters())
        for h in (units - 1, units, units + 1)
    ]
    # the closest monolithic RNN: no other size is nearer to the modular parameter count
    assert abs(mono[1] - modular_params) <= min(abs(m - modular_params) for m in mono)
    assert units == 25 and modular.matched_hidden_size(24, 4) == 62
    assert modular.build_model("monolithic", 10, 4, hidden_size=units).hidden_size == 25
    assert modular.build_model("monolithic", 10, 4).w_hh.shape == (40, 40)
    with pytest.raises(ValueError, match="hidden_size"):
        modular.build_model("frozen", 10, 4, hidden_size=25)


def test_a_fixed_training_set_is_trained_on_full_batch_and_decides_the_stage():
    g = torch.Generator().manual_seed(0)
    model = modular.build_model("monolithic", 6, 2, generator=g)
    stages = modular.grow_curriculum(
        model, "monolithic", [2, 3], train_streams=4, generator=g, max_steps=400, lr=2e-2, length=6
    )
    # Four streams are easy to memorise: the training accuracy reaches the criterion quickly.
    assert all(s.reached for s in stages) and min(stages[-1].accuracies) >= 0.95
    # The same generator state as drawing the four streams itself, then nothing else.
    g2 = torch.Generator().manual_seed(0)
    modular.build_model("monolithic", 6, 2, generator=g2)
    x, y = modular.nparity_batch(4, 6, [2, 3], generator=g2)
    assert modular.head_accuracies(model, x, y) == stages[-1].accuracies
    assert torch.equal(torch.rand(3, generator=g), torch.rand(3, generator=g2))


def test_pairwise_comparisons_and_their_combined_row():
    values = {"a": [1.0, 2.0, 3.0], "b": [2.0, 4.0, 6.0], "c": [1.0, 2.0, 3.0]}
    found = modular.pairwise_comparisons(
        "cost",
        values,
        ["a"],
        ["b", "c"],
        threshold=0.2,
        higher_is_better=False,
        relative=True,
        names={"a": "A"},
    )
    assert [c.method_name for c in found] == ["A", "A"] and [c.baseline_name for c in found] == [
        "b",
        "c",
    ]
    assert (
        found[0].method.values == (0.5, 0.5, 0.5) and found[0].verdict == "holds"
    )  # half the cost
    assert found[1].method.values == (1.0, 1.0, 1.0) and found[1].verdict == "does not hold"
    row = verdicts.combined_row("claim", "paper", found)
    assert row["verdict"] == "partly" and row["replicates"] == 3 and len(row["comparisons"]) == 2
    assert row["measured"].count("(n = 3)") == 2
    with pytest.raises(ValueError, match="no values for 'd'"):
        modular.pairwise_comparisons("cost", values, ["d"], ["b"], threshold=0.1)
    with pytest.raises(TypeError, match="comparisons"):
        verdicts.combined_row("claim", "paper", ["holds"])
