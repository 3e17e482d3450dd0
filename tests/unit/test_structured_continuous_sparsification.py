"""Structured gates (notebook 03): gate values, sampling, temperatures, FLOPs accounting, compaction."""

import copy
import itertools
import math

import pytest
import torch

from helpers import metrics
from helpers.papers import structured_continuous_sparsification as st


def _tiny(seed: int = 0, **kwargs) -> st.GatedResCNN1d:
    torch.manual_seed(seed)
    defaults = dict(length=12, channels=3, widths=(5, 4), num_classes=4)
    return st.GatedResCNN1d(**{**defaults, **kwargs})


def _random_logits_(model: st.GatedResCNN1d, seed: int = 0) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for gate in st.gates(model).values():
            gate.logits.copy_(torch.randn(gate.num_units, generator=g))
            gate.temperature.uniform_(1.0, 5.0, generator=g)


# --- the gate ----------------------------------------------------------------------------------
def test_gate_values_in_each_mode():
    gate = st.ChannelGate(4, init=[1.5, -0.5, 0.2, -2.0])
    gate.temperature.copy_(torch.tensor([1.0, 2.0, 3.0, 4.0]))
    p = torch.sigmoid(gate.temperature * gate.logits).detach()
    keep = torch.tensor([1.0, 0.0, 1.0, 0.0])
    gate.eval()
    assert torch.allclose(gate.gate(), p * keep)  # sigmoid(beta s) * H(s)
    gate.train()
    gate.sampling = False
    assert torch.allclose(gate.gate(), p)  # plain structured CS
    gate.fix_(torch.tensor([False, True, True, False]))
    assert torch.equal(gate.gate(), torch.tensor([0.0, 1.0, 1.0, 0.0]))
    assert not gate.logits.requires_grad


def test_gate_multiplies_dimension_one_and_a_layer_gate_scales_everything():
    x = torch.randn(2, 3, 7)
    gate = st.ChannelGate(3, init=[1.0, -1.0, 1.0]).eval()
    expected = x * gate.gate().view(1, 3, 1)
    assert torch.allclose(gate(x), expected)
    assert torch.allclose(gate(x)[:, 1], torch.zeros(2, 7))
    layer = st.ChannelGate(1, init=1.0).eval()
    assert torch.allclose(layer(x), x * torch.sigmoid(torch.tensor(1.0)))


def test_sampling_frequency_matches_the_probability():
    torch.manual_seed(0)
    gate = st.ChannelGate(3, init=[2.0, 0.0, -1.0])
    samples = []
    for _ in range(4000):
        gate.gate()
        samples.append(gate.last_sample.clone())
    freq = torch.stack(samples).mean(0)
    assert torch.allclose(freq, torch.sigmoid(gate.logits.detach()), atol=0.03)


def test_an_unsampled_unit_gets_no_task_gradient():
    torch.manual_seed(1)
    gate = st.ChannelGate(6, init=0.3)
    x = torch.randn(5, 6)
    gate(x).sum().backward()
    q = gate.last_sample
    p = torch.sigmoid(gate.logits.detach())
    # d/ds sum_n x_n * sigmoid(s) q = q * sigmoid'(s) * sum_n x_n   (beta = 1)
    assert torch.allclose(gate.logits.grad, q * p * (1 - p) * x.sum(0), atol=1e-6)
    assert 0 < q.sum() < 6  # both cases occurred with this seed


def test_anneal_heats_only_sampled_units():
    gate = st.ChannelGate(3, init=0.0)
    gate.last_sample.copy_(torch.tensor([1.0, 0.0, 1.0]))
    for _ in range(4):
        gate.anneal_(2.0)
    assert torch.equal(gate.temperature, torch.tensor([16.0, 1.0, 16.0]))  # beta_j = rate ** t_j
    assert math.isclose(st.anneal_rate(200.0, 50) ** 50, 200.0, rel_tol=1e-9)
    with pytest.raises(ValueError, match="rate"):
        gate.anneal_(0.5)


def test_gate_rejects_bad_arguments():
    with pytest.raises(ValueError, match="num_units"):
        st.ChannelGate(0)
    with pytest.raises(ValueError, match="init"):
        st.ChannelGate(3, init=[1.0, 2.0])
    with pytest.raises(ValueError, match="units in dimension 1"):
        st.ChannelGate(3)(torch.randn(2, 4))
    with pytest.raises(ValueError, match="keep"):
        st.ChannelGate(3).fix_(torch.ones(4))


# --- the model ---------------------------------------------------------------------------------
def test_seed_architecture_from_initial_logits():
    model = _tiny(widths=(6, 6, 6), seed_width=2, seed_blocks=1)
    assert st.active_widths(model) == [2, 0, 0]
    units = st.hard_units(model)
    assert units["blocks.0.unit_gate"].tolist() == [1, 1, 0, 0, 0, 0]
    assert units["blocks.1.block_gate"].tolist() == [0]


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(widths=(4, 0)), "widths"),
        (dict(seed_blocks=3), "seed_blocks"),
        (dict(seed_logit=-1.0), "seed_logit"),
        (dict(channels=0), "channels"),
    ],
)
def test_model_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        _tiny(**kwargs)


def test_a_block_whose_gate_is_off_is_the_identity():
    model = _tiny().eval()
    x = torch.relu(torch.randn(2, 3, 6))
    st.fix_gates_(model, {"blocks.0.block_gate": torch.tensor([False])})
    assert torch.allclose(model.blocks[0](x), x)


# --- FLOPs -------------------------------------------------------------------------------------
def test_full_flops_match_torch_flop_counter():
    model = _tiny()
    example = torch.randn(7, 12)
    counted = metrics.count_flops(model, example)["dense"] / 7
    assert float(st.gated_flops(model, st.all_units(model))) == pytest.approx(counted)


def test_hard_flops_match_the_flop_counter_on_the_compact_network():
    model = _tiny(widths=(5, 4, 6))
    _random_logits_(model, seed=3)
    with torch.no_grad():
        st.gates(model)["blocks.2.block_gate"].logits.fill_(-1.0)  # one block off
    compacted = st.compact(model)
    example = torch.randn(4, 12)
    counted = metrics.count_flops(compacted, example)["dense"] / 4
    assert float(st.gated_flops(model)) == pytest.approx(counted)
    assert len(compacted.blocks) < len(model.blocks)


def test_flops_by_hand_for_one_block():
    model = _tiny(widths=(5,))  # length 12 -> 6 after the stem; 3 channels
    st.fix_gates_(model, {"blocks.0.unit_gate": torch.tensor([1, 1, 0, 0, 0])})
    n = 6
    by_hand = 2 * (
        5 * n * 1 * 3 + 3 * n * 3 * 2 + 3 * n * 2 * 3 + 3 * n * 4
    )  # stem, conv_a, conv_b, head
    assert float(st.gated_flops(model)) == by_hand


def test_expected_flops_are_the_exact_mean_over_all_samples_and_differentiable():
    model = _tiny(widths=(2, 2))
    _random_logits_(model, seed=1)
    probs = {n: p.detach() for n, p in st.expected_units(model).items()}
    names = list(probs)
    sizes = [probs[n].numel() for n in names]
    mean = 0.0
    for code in itertools.product([0.0, 1.0], repeat=sum(sizes)):  # every sampled sub-network
        q = torch.tensor(code).split(sizes)
        chance = math.prod(
            float(torch.where(qi == 1, probs[n], 1 - probs[n]).prod()) for n, qi in zip(names, q)
        )
        mean += chance * float(st.gated_flops(model, dict(zip(names, q))))
    expected = st.gated_flops(model, st.expected_units(model))
    assert float(expected.detach()) == pytest.approx(mean, rel=1e-5)
    expected.backward()
    grads = torch.cat([g.logits.grad for g in st.gates(model).values()])
    assert (grads > 0).all()  # more probability, more expected FLOPs


# --- compaction and the baseline ---------------------------------------------------------------
def test_compact_network_computes_what_the_gated_network_computes():
    model = _tiny(widths=(5, 4, 6))
    _random_logits_(model, seed=5)
    model.eval()
    x = torch.randn(8, 12)
    compacted = st.compact(model)
    assert not st.gates(compacted)
    assert torch.allclose(compacted(x), model(x), atol=1e-5)
    assert model.training is False


def test_state_dict_round_trip_keeps_temperatures_and_fixed_gates():
    model = _tiny()
    _random_logits_(model, seed=2)
    st.fix_gates_(model, {"blocks.1.unit_gate": torch.tensor([True, False, True, False])})
    fresh = _tiny(seed=9)
    fresh.load_state_dict(copy.deepcopy(model.state_dict()))
    x = torch.randn(3, 12)
    assert torch.allclose(fresh.eval()(x), model.eval()(x))
    assert bool(st.gates(fresh)["blocks.1.unit_gate"].fixed)


def test_l1_channel_keep_picks_the_largest_filters():
    model = _tiny(widths=(5,))
    with torch.no_grad():
        model.blocks[0].conv_a.weight.copy_(torch.arange(5.0).view(5, 1, 1).expand(5, 3, 3))
    keep = st.l1_channel_keep(model, [2])
    assert keep["blocks.0.unit_gate"].tolist() == [False, False, False, True, True]
    with pytest.raises(ValueError, match="widths"):
        st.l1_channel_keep(model, [6])


def test_uniform_keep_fits_the_budget_and_the_next_width_does_not():
    model = _tiny(widths=(8, 8))
    full = float(st.gated_flops(model, st.all_units(model)))
    widths = st.uniform_keep_for_flops(model, 0.6 * full)
    keep = st.l1_channel_keep(model, widths)
    st.fix_gates_(model, keep)
    assert float(st.gated_flops(model)) <= 0.6 * full
    bigger = _tiny(widths=(8, 8))
    st.fix_gates_(bigger, st.l1_channel_keep(bigger, [w + 1 for w in widths]))
    assert float(st.gated_flops(bigger)) > 0.6 * full
    with pytest.raises(ValueError, match="budget"):
        st.uniform_keep_for_flops(model, 1.0)


def test_fix_gates_rejects_unknown_names():
    with pytest.raises(ValueError, match="allowed"):
        st.fix_gates_(_tiny(), {"blocks.9.unit_gate": torch.ones(3)})


# --- the schedule ------------------------------------------------------------------------------
def test_budget_coefficient_flips_sign_at_the_budget():
    model = _tiny(widths=(6, 6), seed_width=2)
    hard = float(st.gated_flops(model))
    below = st.GrowPruneSchedule(
        model, target_flops=2 * hard, strength=1.0, rate=1.01, batch_size=4
    )
    above = st.GrowPruneSchedule(
        model, target_flops=hard / 2, strength=1.0, rate=1.01, batch_size=4
    )
    assert below.lam == pytest.approx(-0.5) and above.lam == pytest.approx(1.0)
    with pytest.raises(ValueError, match="target_flops"):
        st.GrowPruneSchedule(model, target_flops=0.0, strength=1.0, rate=1.01, batch_size=4)


def test_schedule_counts_three_forward_passes_of_the_sampled_network_per_example():
    torch.manual_seed(0)
    model = _tiny().train()
    schedule = st.GrowPruneSchedule(model, target_flops=1e6, strength=1.0, rate=2.0, batch_size=4)
    model(torch.randn(4, 12))
    sampled = float(st.gated_flops(model, st.sampled_units(model)))
    before = {n: g.temperature.clone() for n, g in st.gates(model).items()}
    schedule.on_step_end(step=1, model=model)
    assert schedule.train_flops == pytest.approx(3 * sampled * 4)
    for name, gate in st.gates(model).items():
        assert torch.equal(gate.temperature, before[name] * 2.0**gate.last_sample)
    assert schedule.history[0]["step"] == 1


def test_make_optimizer_puts_gates_in_their_own_constant_group():
    model = _tiny()
    opt, schedule = st.make_optimizer(model, lr=0.01, total_steps=10, gate_lr=0.1)
    assert len(opt.param_groups) == 2 and opt.param_groups[1]["lr"] == 0.1
    for _ in range(5):
        opt.step()
        schedule.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(0.005)  # half way down the cosine
    assert opt.param_groups[1]["lr"] == pytest.approx(0.1)
    st.fix_gates_(model)
    opt, _ = st.make_optimizer(model, lr=0.01, total_steps=10)
    assert len(opt.param_groups) == 1
    with pytest.raises(ValueError, match="gate_lr"):
        st.make_optimizer(_tiny(), lr=0.01, total_steps=10)


def test_l1_pruned_copy_leaves_the_original_dense():
    model = _tiny(widths=(8, 8))
    st.fix_gates_(model)
    full = float(st.gated_flops(model))
    pruned, widths = st.l1_pruned_copy(model, 0.5 * full)
    assert float(st.gated_flops(pruned)) <= 0.5 * full
    assert st.active_widths(pruned) == widths
    assert float(st.gated_flops(model)) == full


def test_schedule_rejects_bad_arguments():
    model = _tiny()
    with pytest.raises(ValueError, match="rate"):
        st.GrowPruneSchedule(model, target_flops=1e5, strength=1.0, rate=0.9, batch_size=4)
    with pytest.raises(ValueError, match="batch_size"):
        st.GrowPruneSchedule(model, target_flops=1e5, strength=1.0, rate=1.1, batch_size=0)


# --- the last step and fixed-step training -----------------------------------------------------
def test_project_to_budget_switches_off_the_weakest_units_until_the_network_fits():
    model = _tiny(widths=(6, 6))
    _random_logits_(model, seed=3)
    before = {n: g.logits.detach().clone() for n, g in st.gates(model).items()}
    budget = 0.6 * float(st.gated_flops(model))
    removed = st.project_to_budget_(model, budget)
    assert float(st.gated_flops(model)) <= budget and removed
    # The switched-off units had the smallest beta * s among the kept ones, in that order.
    kept = sorted(
        (float(g.temperature[j] * before[n][j]), n, int(j))
        for n, g in st.gates(model).items()
        for j in torch.nonzero(before[n] > 0).flatten()
    )
    assert removed == [(n, j) for _, n, j in kept[: len(removed)]]
    for name, j in removed:  # s -> -s: off, same magnitude
        assert st.gates(model)[name].logits[j] == -before[name][j]
    # Within the budget already: nothing changes.
    assert st.project_to_budget_(model, budget) == []


def test_project_to_budget_rejects_an_impossible_budget_before_changing_anything():
    model = _tiny()
    _random_logits_(model)
    before = copy.deepcopy(model.state_dict())
    no_units = {n: torch.zeros_like(u) for n, u in st.all_units(model).items()}
    floor = float(st.gated_flops(model, no_units))
    with pytest.raises(ValueError, match="budget"):
        st.project_to_budget_(model, floor / 2)
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key])
    st.project_to_budget_(model, floor)  # exactly the floor is reachable: every unit off
    assert st.active_widths(model) == [0, 0]


def test_fixed_steps_gives_exactly_n_batches_across_passes():
    x, y = torch.arange(10.0).view(5, 2), torch.arange(5)
    loader = [(x[i : i + 2], y[i : i + 2]) for i in range(0, 4, 2)]  # two batches per pass
    batches = list(st.FixedSteps(loader, 5))
    assert len(batches) == 5 == len(st.FixedSteps(loader, 5))
    assert [int(b[1][0]) for b in batches] == [0, 2, 0, 2, 0]
    with pytest.raises(ValueError, match="steps"):
        st.FixedSteps(loader, 0)
    with pytest.raises(ValueError, match="empty"):
        st.FixedSteps([], 3)


def test_a_fixed_gate_records_its_mask_as_the_units_that_ran():
    model = _tiny(widths=(4, 4)).train()
    keep = {"blocks.0.unit_gate": torch.tensor([1, 0, 1, 0])}
    st.fix_gates_(model, keep)
    model(torch.randn(2, 12))
    assert st.sampled_units(model)["blocks.0.unit_gate"].tolist() == [1.0, 0.0, 1.0, 0.0]
    assert float(st.gated_flops(model, st.sampled_units(model))) == float(st.gated_flops(model))
