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
    with pytest.raises(ValueError, match="teacher_acc must be positive"):
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
