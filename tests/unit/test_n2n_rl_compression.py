"""N2N's pieces (helpers.policy): students, reward, baseline, REINFORCE, search; from first principles."""

import math

import pytest
import torch
from torch import nn

from helpers.core.models import MLP
from helpers.papers import n2n_rl_compression as policy


def _teacher(width=5, hidden=3):
    torch.manual_seed(0)
    return MLP([4, width] + [width] * hidden + [2])


# --- students -----------------------------------------------------------------------------------
def test_removable_layers_are_the_same_width_hidden_layers():
    teacher = _teacher()  # Linear layers at 0, 2, 4, 6, 8: 4→5, 5→5, 5→5, 5→5, 5→2
    assert policy.linear_layers(teacher) == [0, 2, 4, 6, 8]
    assert policy.removable_layers(teacher) == [2, 4, 6]
    square = nn.Sequential(nn.Linear(3, 3), nn.ReLU(), nn.Linear(3, 3))
    assert policy.removable_layers(square) == [0]
    # A Linear layer without its own activation after it is not removed (its pair would be wrong).
    chained = nn.Sequential(nn.Linear(3, 3), nn.Linear(3, 3), nn.ReLU(), nn.Linear(3, 2))
    assert policy.removable_layers(chained) == [1]


def test_removing_layers_drops_them_with_their_activation_and_keeps_the_rest_exactly():
    teacher = _teacher()
    student = policy.remove_layers(teacher, [policy.KEEP, policy.REMOVE, policy.KEEP])
    kept = [m for m in student.layers if isinstance(m, nn.Linear)]
    assert len(student.layers) == len(teacher.layers) - 2
    # The student's Linear layers are copies of the teacher's 0, 2, 6 and 8.
    for ours, theirs in zip(kept, [teacher.layers[i] for i in (0, 2, 6, 8)], strict=True):
        assert torch.equal(ours.weight, theirs.weight) and ours.weight is not theirs.weight
    # And it computes the teacher's function with layer 4 (and its ReLU) skipped.
    x = torch.randn(7, 4)
    t = teacher.layers
    expected = t[8](t[7](t[6](t[3](t[2](t[1](t[0](x)))))))
    assert torch.allclose(student(x), expected)


def test_removing_everything_and_nothing():
    teacher = _teacher()
    x = torch.randn(3, 4)
    assert torch.equal(policy.remove_layers(teacher, [1, 1, 1])(x), teacher(x))
    smallest = policy.remove_layers(teacher, [0, 0, 0])
    assert [type(m) for m in smallest.layers] == [nn.Linear, nn.ReLU, nn.Linear]


def test_remove_layers_refuses_bad_input():
    teacher = _teacher()
    with pytest.raises(ValueError, match="keep has 2 entries"):
        policy.remove_layers(teacher, [1, 0])
    with pytest.raises(ValueError, match="cannot be removed"):
        policy.remove_layers(teacher, [0, 1], positions=[0, 2])
    with pytest.raises(ValueError, match="nn.Sequential"):
        policy.remove_layers(nn.Linear(3, 3), [1])


def test_shrinking_keeps_the_strongest_units_and_their_outgoing_columns():
    layers = nn.Sequential(nn.Linear(2, 4), nn.ReLU(), nn.Linear(4, 3))
    with torch.no_grad():
        layers[0].weight.copy_(torch.tensor([[0.1, 0.0], [3.0, 0.0], [0.0, 0.2], [0.0, -2.0]]))
        layers[0].bias.copy_(torch.tensor([1.0, 2.0, 3.0, 4.0]))
        layers[2].weight.copy_(torch.arange(12.0).view(3, 4))
    small = policy.shrink_layers(layers, [0.5])  # keep 2 of 4 units: 1 and 3 (norms 3 and 2)
    assert torch.equal(small[0].weight, torch.tensor([[3.0, 0.0], [0.0, -2.0]]))
    assert torch.equal(small[0].bias, torch.tensor([2.0, 4.0]))
    assert torch.equal(small[2].weight, torch.arange(12.0).view(3, 4)[:, [1, 3]])
    assert torch.equal(small[2].bias, layers[2].bias)
    # With the other units' outgoing weights zeroed, the full network computes the same function.
    with torch.no_grad():
        layers[2].weight[:, [0, 2]] = 0
    x = torch.randn(5, 2)
    assert torch.allclose(small(x), layers(x))


def test_shrink_ratio_one_is_the_identity_and_bad_ratios_raise():
    teacher = _teacher()
    x = torch.randn(3, 4)
    assert torch.allclose(policy.shrink_layers(teacher, [1.0] * 4)(x), teacher(x))
    tiny = policy.shrink_layers(teacher, [0.01] * 4)
    assert tiny.layers[0].out_features == 1  # every layer keeps at least one unit
    with pytest.raises(ValueError, match="one per hidden layer"):
        policy.shrink_layers(teacher, [0.5])
    with pytest.raises(ValueError, match=r"\(0, 1\]"):
        policy.shrink_layers(teacher, [0.5, 0.5, 0.0, 0.5])


def test_layer_descriptors_are_scaled_sizes_and_depth():
    teacher = MLP([4, 8, 8, 2])  # Linear 4→8 (40 params), 8→8 (72), 8→2 (18)
    d = policy.layer_descriptors(teacher, [0, 2, 4])
    expected = torch.tensor(
        [[4 / 8, 8 / 8, 40 / 72, 0.0], [1.0, 1.0, 1.0, 0.5], [1.0, 2 / 8, 18 / 72, 1.0]]
    )
    assert torch.allclose(d, expected)
    assert torch.allclose(policy.layer_descriptors(teacher, [2]), expected[1:2])
    with pytest.raises(ValueError, match="not Linear layers"):
        policy.layer_descriptors(teacher, [1])


# --- reward and baseline ------------------------------------------------------------------------
def test_reward_is_the_papers_product():
    # C = 1 − 250/1000 = 0.75; R_c = 0.75 · 1.25 = 0.9375; R_a = 0.9 / 0.95
    assert policy.compression(250, 1000) == pytest.approx(0.75)
    assert policy.n2n_reward(0.9, 0.95, 250, 1000) == pytest.approx(0.9375 * 0.9 / 0.95)
    assert policy.n2n_reward(0.9, 0.9, 1000, 1000) == 0.0  # no compression, no reward
    assert policy.n2n_reward(0.0, 0.9, 10, 1000) == 0.0  # useless student, no reward


def test_compression_term_is_concave_increasing_and_reaches_one():
    cs = [i / 100 for i in range(101)]
    rc = [c * (2 - c) for c in cs]
    assert all(b > a for a, b in zip(rc, rc[1:], strict=False))
    gains = [b - a for a, b in zip(rc, rc[1:], strict=False)]
    assert all(g2 < g1 for g1, g2 in zip(gains, gains[1:], strict=False))  # diminishing returns
    assert policy.n2n_reward(0.5, 0.5, 1, 10**9) == pytest.approx(1.0, abs=1e-8)


def test_reward_refuses_impossible_inputs():
    with pytest.raises(ValueError, match="student_acc"):
        policy.n2n_reward(1.2, 0.9, 10, 100)
    with pytest.raises(ValueError, match=r"teacher_acc must be a number in \(0, 1\]"):
        policy.n2n_reward(0.5, 0.0, 10, 100)
    with pytest.raises(ValueError, match="student_params"):
        policy.n2n_reward(0.5, 0.9, 200, 100)
    with pytest.raises(ValueError, match="teacher_params"):
        policy.compression(1, 0)


def test_baseline_is_an_exponential_or_plain_moving_average():
    ema = policy.MovingAverageBaseline(decay=0.5)
    assert ema.update([1.0, 3.0]) == 2.0  # first update: the mean
    assert ema.update([4.0]) == pytest.approx(0.5 * 2.0 + 0.5 * 4.0)
    plain = policy.MovingAverageBaseline(decay=None)
    for rewards in ([1.0], [2.0, 4.0], [6.0]):
        value = plain.update(rewards)
    assert value == pytest.approx((1.0 + 3.0 + 6.0) / 3)  # mean of the iteration means
    with pytest.raises(ValueError, match="decay"):
        policy.MovingAverageBaseline(decay=1.0)
    with pytest.raises(ValueError, match="non-empty"):
        policy.MovingAverageBaseline().update([])


# --- the policy and REINFORCE -------------------------------------------------------------------
def test_untrained_policy_is_uniform_and_samples_have_the_right_log_probability():
    pol = policy.LayerPolicy(descriptor_size=4, num_choices=3)
    d = torch.rand(5, 4)
    assert torch.allclose(pol.probabilities(d), torch.full((5, 3), 1 / 3))
    choices, log_probs = pol.sample(d, n=7, generator=torch.Generator().manual_seed(0))
    assert choices.shape == (7, 5) and log_probs.shape == (7,)
    assert torch.allclose(log_probs, torch.full((7,), 5 * math.log(1 / 3)))
    # Log-probabilities of arbitrary choices, recomputed from the probabilities by hand.
    with torch.no_grad():
        pol.head.bias.copy_(torch.tensor([1.0, 0.0, -1.0]))
    choices, log_probs = pol.sample(d, n=4, generator=torch.Generator().manual_seed(1))
    probs = pol.probabilities(d)
    by_hand = torch.stack([probs[torch.arange(5), row].log().sum() for row in choices])
    assert torch.allclose(log_probs, by_hand, atol=1e-6)


def test_sampling_follows_the_probabilities_and_the_seed():
    pol = policy.LayerPolicy(descriptor_size=2, num_choices=2)
    with torch.no_grad():
        pol.head.bias.copy_(torch.tensor([0.0, math.log(3.0)]))  # keep with probability 3/4
    d = torch.rand(3, 2)
    a, _ = pol.sample(d, 4000, generator=torch.Generator().manual_seed(0))
    b, _ = pol.sample(d, 4000, generator=torch.Generator().manual_seed(0))
    assert torch.equal(a, b)
    assert a.float().mean().item() == pytest.approx(0.75, abs=0.03)


def test_policy_refuses_bad_shapes_and_sizes():
    pol = policy.LayerPolicy(descriptor_size=4)
    with pytest.raises(ValueError, match=r"shape \(layers, 4\)"):
        pol(torch.rand(3, 5))
    with pytest.raises(ValueError, match="n must be"):
        pol.sample(torch.rand(3, 4), 0)
    with pytest.raises(ValueError, match="num_choices"):
        policy.LayerPolicy(4, num_choices=1)


def test_reinforce_loss_is_minus_mean_advantage_times_log_prob():
    log_probs = torch.tensor([-1.0, -2.0, -0.5], requires_grad=True)
    loss = policy.reinforce_loss(log_probs, [1.0, 0.0, 0.5], baseline=0.5)
    # −(1/3)[(0.5)(−1) + (−0.5)(−2) + 0·(−0.5)] = −(1/3)(0.5)
    assert loss.item() == pytest.approx(-0.5 / 3)
    loss.backward()
    assert torch.allclose(log_probs.grad, torch.tensor([-0.5, 0.5, 0.0]) / 3)
    with pytest.raises(ValueError, match="same length"):
        policy.reinforce_loss(log_probs, [1.0, 2.0])


def test_reinforce_gradient_is_unbiased_for_a_bernoulli_policy():
    # For one Bernoulli(σ(θ)) action and reward R(a), dJ/dθ = σ(1 − σ)(R(1) − R(0)), whatever the baseline.
    theta = torch.tensor(0.3, requires_grad=True)
    p = torch.sigmoid(theta)
    g = torch.Generator().manual_seed(0)
    actions = (torch.rand(200_000, generator=g) < p.detach()).float()
    rewards = 2.0 * actions + 1.0  # R(1) = 3, R(0) = 1
    log_probs = actions * torch.log(p) + (1 - actions) * torch.log(1 - p)
    (-policy.reinforce_loss(log_probs, rewards, baseline=1.7)).backward()
    exact = (p * (1 - p) * 2.0).item()
    assert theta.grad.item() == pytest.approx(exact, rel=0.03)


def test_search_learns_the_best_choices_and_caches_scores():
    # Reward: the fraction of layers removed; the optimum is to remove all of them.
    calls = []

    def score(choices):
        calls.append(choices)
        return {"reward": 1.0 - sum(choices) / len(choices)}

    pol = policy.LayerPolicy(descriptor_size=4)
    d = torch.rand(4, 4)
    history = policy.reinforce_search(
        pol,
        d,
        score,
        iterations=40,
        rollouts=5,
        lr=0.05,
        generator=torch.Generator().manual_seed(0),
        progress=False,
    )
    assert len(history.rewards) == 40 and len(history.probabilities) == 40
    assert history.final_probabilities[:, policy.KEEP].max() < 0.2
    assert sum(history.mean_rewards()[-5:]) > sum(history.mean_rewards()[:5])
    assert len(calls) == len(set(calls)) == len(history.students)  # each student scored once
    assert history.best()[0] == (0, 0, 0, 0)


def test_search_shares_scores_between_choices_with_one_cache_key():
    calls = []

    def score(choices):
        calls.append(choices)
        return {"reward": 0.0}

    pol = policy.LayerPolicy(descriptor_size=4, num_choices=3)
    history = policy.reinforce_search(
        pol,
        torch.rand(2, 4),
        score,
        iterations=10,
        rollouts=4,
        cache_key=lambda c: tuple(min(x, 1) for x in c),
        generator=torch.Generator().manual_seed(0),
        progress=False,
    )
    assert len(calls) <= 4  # choices 1 and 2 are one student: at most 2 × 2 keys
    assert len(history.students) > len(calls)


def test_search_refuses_bad_budgets():
    pol = policy.LayerPolicy(descriptor_size=4)
    with pytest.raises(ValueError, match="iterations"):
        policy.reinforce_search(pol, torch.rand(2, 4), lambda c: {"reward": 0.0}, iterations=0)
    with pytest.raises(ValueError, match="no students"):
        policy.SearchHistory().best()


# --- fresh students by their sizes, the random-search control, the validated epoch ----------------
def test_removed_sizes_drop_the_hidden_widths_not_kept_and_always_keep_the_first():
    sizes = [40, 256, 128, 64, 10]
    assert policy.removed_sizes(sizes, [1, 1]) == sizes
    assert policy.removed_sizes(sizes, [0, 1]) == [40, 256, 64, 10]
    assert policy.removed_sizes(sizes, [1, 0]) == [40, 256, 128, 10]
    assert policy.removed_sizes(sizes, torch.tensor([0, 0])) == [40, 256, 10]
    # A same-width teacher: the widths agree with the student that keeps the teacher's weights.
    teacher = _teacher()
    student = policy.remove_layers(teacher, [1, 0, 1])
    widths = [teacher.layers[0].in_features] + [
        m.out_features for m in student.layers if isinstance(m, nn.Linear)
    ]
    assert policy.removed_sizes([4, 5, 5, 5, 5, 2], [1, 0, 1]) == widths
    with pytest.raises(ValueError, match="keep has 1 entries"):
        policy.removed_sizes(sizes, [1])


def test_shrunk_sizes_scale_every_hidden_width_and_round():
    assert policy.shrunk_sizes([40, 256, 64, 10], [0.5, 0.25]) == [40, 128, 16, 10]
    assert policy.shrunk_sizes([40, 256, 64, 10], [1.0, 1.0]) == [40, 256, 64, 10]
    assert policy.shrunk_sizes([40, 3, 10], [0.1]) == [40, 1, 10]  # never below one unit
    # The same widths as the weight-keeping shrink_layers.
    student = policy.shrink_layers(_teacher(width=8, hidden=1), [0.5, 0.25])
    assert [m.out_features for m in student.layers if isinstance(m, nn.Linear)][:-1] == [4, 2]
    assert policy.shrunk_sizes([4, 8, 8, 2], [0.5, 0.25]) == [4, 4, 2, 2]
    with pytest.raises(ValueError, match="one per hidden layer"):
        policy.shrunk_sizes([40, 256, 64, 10], [0.5])
    with pytest.raises(ValueError, match=r"\(0, 1\]"):
        policy.shrunk_sizes([40, 256, 10], [1.5])


def test_stable_seed_depends_only_on_its_parts():
    assert policy.stable_seed(0, (40, 256, 10)) == policy.stable_seed(0, (40, 256, 10))
    assert policy.stable_seed(0, (40, 256, 10)) != policy.stable_seed(1, (40, 256, 10))
    assert policy.stable_seed(0, (40, 256, 10)) != policy.stable_seed(0, (40, 128, 10))
    assert policy.stable_seed("x") == 3252092472  # CRC-32 of "('x',)": the same in every process


def test_evaluation_log_records_each_call_and_the_best():
    log = policy.EvaluationLog(lambda c: {"reward": float(sum(c))})
    assert log((0, 1)) == {"reward": 1.0}
    log((1, 1))
    log((0, 0))
    assert len(log) == 3 and log.rewards() == [1.0, 2.0, 0.0]
    assert log.best() == ((1, 1), {"reward": 2.0})
    with pytest.raises(ValueError, match="no students"):
        policy.EvaluationLog(lambda c: {"reward": 0.0}).best()


def test_best_so_far_is_the_running_maximum():
    assert policy.best_so_far([0.2, 0.1, 0.5, 0.3]) == [0.2, 0.2, 0.5, 0.5]
    with pytest.raises(ValueError, match="rewards"):
        policy.best_so_far([])


def test_random_search_scores_distinct_students_uniformly_and_stops_at_the_budget():
    calls = []

    def score(choices):
        calls.append(choices)
        return {"reward": float(sum(choices))}

    log = policy.random_search(score, 6, 2, 10, generator=torch.Generator().manual_seed(0))
    assert len(log) == 10 == len(calls) == len(set(calls))  # 10 distinct students, each scored once
    assert all(len(c) == 6 and set(c) <= {0, 1} for c in calls)
    # Students with one cache key count once: only 3 distinct sums of two binary choices exist.
    log = policy.random_search(
        score, 2, 2, 5, generator=torch.Generator().manual_seed(0), cache_key=sum, max_draws=200
    )
    assert len(log) == 3
    # Uniform choices: every layer's mean choice is close to (num_choices − 1) / 2.
    draws = policy.random_search(
        lambda c: {"reward": 0.0}, 3, 11, 500, generator=torch.Generator().manual_seed(1)
    )
    assert torch.tensor(draws.choices).float().mean().item() == pytest.approx(5.0, abs=0.3)
    # The same generator seed gives the same students.
    again = policy.random_search(
        lambda c: {"reward": 0.0}, 3, 11, 500, generator=torch.Generator().manual_seed(1)
    )
    assert again.choices == draws.choices


def test_best_validation_epoch_keeps_and_restores_the_best_weights():
    from helpers.core.data import TensorLoader
    from helpers.core.train import fit

    torch.manual_seed(0)
    x, y = torch.randn(64, 4), torch.randint(0, 2, (64,))
    model = MLP([4, 8, 2])
    best = policy.BestValidationEpoch()
    history = fit(model, TensorLoader(x, y, 16), epochs=5, lr=0.05, val_loader=TensorLoader(x, y, 64),
                  callbacks=[best], progress=False)  # fmt: skip
    accs = [row["val_acc"] for row in history.epochs]
    assert best.value == max(accs) and best.epoch == accs.index(max(accs)) + 1
    weights = {k: v.clone() for k, v in best.state.items()}
    with torch.no_grad():
        model.layers[0].weight.add_(1.0)
    best.restore(model)
    assert all(torch.equal(model.state_dict()[k], v) for k, v in weights.items())
    with pytest.raises(ValueError, match="val_loader"):
        fit(MLP([4, 8, 2]), TensorLoader(x, y, 16), epochs=1, callbacks=[policy.BestValidationEpoch()],
            progress=False)  # fmt: skip
    with pytest.raises(ValueError, match="no epoch"):
        policy.BestValidationEpoch().restore(model)


def test_figures_draw_the_mean_band_and_the_students():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    policy.plot_band(ax, [[1.0, 2.0, 3.0], [3.0, 4.0, 5.0]], "runs", "C0", "o", start=0)
    line = ax.lines[0]
    assert list(line.get_xdata()) == [0, 1, 2] and list(line.get_ydata()) == [2.0, 3.0, 4.0]
    assert "n = 2" in line.get_label()
    with pytest.raises(ValueError, match="equally long"):
        policy.plot_band(ax, [[1.0], [1.0, 2.0]], "runs", "C0", "o")
    students = [{"params": 10, "val_acc": 0.5}, {"params": 50, "val_acc": 0.6}]
    policy.plot_students(ax, [(students, "o", "C1", "students"), ([], "o", "red", None)], 100, 0.7)
    assert ax.get_xscale() == "log"
    plt.close(fig)


def test_equal_reward_curves_carry_no_markers_under_a_marker_cycle():
    # The course style cycles markers with colours; 400-point reference curves must stay plain lines.
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from cycler import cycler

    with matplotlib.rc_context(
        {"axes.prop_cycle": cycler(color=["#0072B2", "#E69F00"], marker=["o", "s"])}
    ):
        fig, ax = plt.subplots()
        policy.plot_students(ax, [], 100, 0.7, levels=(0.6, 0.7))
        curves = [line for line in ax.lines if len(line.get_xdata()) > 2]
        assert len(curves) == 2 and all(line.get_marker() in ("", "None") for line in curves)
        plt.close(fig)
