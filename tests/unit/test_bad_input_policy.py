"""Bad input to helpers.policy (notebook 06): building students, the reward, the REINFORCE search.

Every case goes through ``assert_rejects`` (bad_input.py): a ValueError/TypeError raised by helpers
code, a message naming the argument and what is allowed, and the teacher, the policy and the
generator left exactly as they were.
"""

from __future__ import annotations

import math

import torch
from bad_input import assert_rejects
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from helpers.core.models import MLP
from helpers.papers import n2n_rl_compression as policy

FEW = settings(max_examples=20, deadline=None)

NOT_A_LIST = st.one_of(st.integers(), st.text(min_size=1, max_size=3), st.none())
NOT_A_NUMBER = st.one_of(st.text(max_size=2), st.none(), st.booleans(), st.just([0.5]))


def teacher() -> MLP:
    torch.manual_seed(0)
    return MLP([4, 6, 6, 6, 3])  # Linear layers at 0, 2, 4, 6; removable: 2, 4


def layer_policy() -> policy.LayerPolicy:
    torch.manual_seed(0)
    return policy.LayerPolicy(4)


@FEW
@given(
    keep=st.one_of(NOT_A_LIST, st.lists(st.sampled_from([2, -1, "x", 0.5]), min_size=2, max_size=2))
)
def test_remove_layers_needs_a_list_of_0_1_choices(keep):
    model = teacher()
    error = assert_rejects(
        lambda: policy.remove_layers(model, keep), "keep", "0/1", unchanged=(model,)
    )
    assert "keep" in str(error)


@FEW
@given(
    positions=st.one_of(
        NOT_A_LIST.filter(lambda p: p is not None),
        st.lists(st.one_of(st.text(max_size=2), st.floats()), min_size=1, max_size=2),
    )
)
def test_layer_positions_must_be_lists_of_integers(positions):
    model = teacher()
    assert_rejects(lambda: policy.layer_descriptors(model, positions), "positions", "", (model,))
    assert_rejects(lambda: policy.remove_layers(model, [1], positions), "positions", "", (model,))


@FEW
@given(
    ratios=st.one_of(
        NOT_A_LIST,
        st.lists(
            st.one_of(st.floats(max_value=0.0), st.floats(min_value=1.0, exclude_min=True)),
            min_size=3,
            max_size=3,
        ),
        st.lists(NOT_A_NUMBER, min_size=3, max_size=3),
        st.lists(st.floats(0.1, 1.0), min_size=0, max_size=5).filter(lambda r: len(r) != 3),
    )
)
def test_shrink_ratios_must_be_one_number_in_0_1_per_hidden_layer(ratios):
    model = teacher()
    assert_rejects(lambda: policy.shrink_layers(model, ratios), "ratios", "", unchanged=(model,))


def test_models_without_linear_layers_are_rejected():
    for model in (nn.Sequential(nn.ReLU()), nn.Sequential()):
        assert_rejects(lambda m=model: policy.layer_descriptors(m, [0]), "model", "nn.Linear")
        assert_rejects(lambda m=model: policy.shrink_layers(m, []), "model", "nn.Linear")
    assert_rejects(lambda: policy.linear_layers("model"), "model", "nn.Sequential")
    assert_rejects(lambda: policy.layer_descriptors(teacher(), []), "positions", "at least one")


@FEW
@given(bad=st.one_of(NOT_A_NUMBER, st.just(math.nan)))
def test_rewards_and_compression_need_numbers(bad):
    for call, name in (
        (lambda: policy.compression(bad, 100), "student_params"),
        (lambda: policy.compression(10, bad), "teacher_params"),
        (lambda: policy.n2n_reward(bad, 0.9, 10, 100), "student_acc"),
        (lambda: policy.n2n_reward(0.9, bad, 10, 100), "teacher_acc"),
        (lambda: policy.MovingAverageBaseline(bad if bad is not None else "x"), "decay"),
    ):
        assert_rejects(call, name, "number")


@FEW
@given(
    rewards=st.one_of(
        st.text(min_size=1, max_size=3),
        st.none(),
        st.lists(st.text(max_size=2), min_size=1, max_size=3),
    )
)
def test_rewards_must_be_a_sequence_of_numbers(rewards):
    baseline = policy.MovingAverageBaseline()
    assert_rejects(lambda: baseline.update(rewards), "rewards", "sequence of numbers")
    assert baseline.value is None and baseline.updates == 0
    log_probs = torch.zeros(3)
    assert_rejects(
        lambda: policy.reinforce_loss(log_probs, rewards), "rewards", "sequence of numbers"
    )
    assert_rejects(lambda: policy.reinforce_loss(log_probs, [1.0] * 3, "b"), "baseline", "number")
    assert_rejects(lambda: policy.reinforce_loss([0.0] * 3, [1.0] * 3), "log_probs", "torch.Tensor")


@FEW
@given(
    descriptors=st.one_of(
        st.tuples(st.integers(0, 3), st.integers(1, 6))
        .filter(lambda s: s[0] == 0 or s[1] != 4)
        .map(torch.zeros),
        st.just(torch.zeros(2, 4, dtype=torch.long)),
        st.just(torch.zeros(4)),
        st.just([[0.0] * 4]),
    )
)
def test_the_policy_rejects_descriptors_of_the_wrong_shape_or_type(descriptors):
    net = layer_policy()
    g = torch.Generator().manual_seed(0)
    assert_rejects(lambda: net(descriptors), "descriptors", "", unchanged=(net,))
    assert_rejects(lambda: net.sample(descriptors, 3, g), "descriptors", "", unchanged=(net, g))
    assert_rejects(
        lambda: policy.reinforce_search(net, descriptors, lambda c: {"reward": 1.0}, iterations=1, generator=g, progress=False),
        "descriptors", "", unchanged=(net, g),
    )  # fmt: skip


SEARCH_ARGUMENTS = {
    "iterations": (st.one_of(st.integers(max_value=0), st.floats(), st.text(max_size=2)), "integer"),
    "rollouts": (st.one_of(st.integers(max_value=0), st.booleans(), st.none()), "integer"),
    "lr": (st.one_of(st.floats(max_value=0.0), st.just(math.inf), st.text(max_size=2)), "(0.0, inf]"),
    "baseline": (st.one_of(st.floats(0, 1), st.text(max_size=2)), "MovingAverageBaseline"),
    "generator": (st.one_of(st.integers(), st.text(max_size=2)), "torch.Generator"),
    "cache_key": (st.one_of(st.integers(), st.text(max_size=2)), "function"),
    "progress": (st.one_of(st.integers(), st.text(max_size=2)), "True or False"),
}  # fmt: skip


@FEW
@given(data_=st.data())
def test_the_search_checks_every_argument_before_sampling(data_):
    argument = data_.draw(st.sampled_from(sorted(SEARCH_ARGUMENTS)))
    strategy, allowed = SEARCH_ARGUMENTS[argument]
    net, g = layer_policy(), torch.Generator().manual_seed(0)
    kwargs = {"iterations": 1, "generator": g, "progress": False, argument: data_.draw(strategy)}
    assert_rejects(
        lambda: policy.reinforce_search(net, torch.zeros(2, 4), lambda c: {"reward": 1.0}, **kwargs),
        argument, allowed, unchanged=(net, g),
    )  # fmt: skip


def test_the_search_rejects_a_bad_policy_score_or_reward():
    net, g = layer_policy(), torch.Generator().manual_seed(0)
    d = torch.zeros(2, 4)
    for call, name, allowed in (
        (lambda: policy.reinforce_search("policy", d, lambda c: {"reward": 1.0}, iterations=1), "policy", "LayerPolicy"),
        (lambda: policy.reinforce_search(net, d, 3, iterations=1, generator=g), "score", "function"),
        (lambda: policy.reinforce_search(net, d, lambda c: {"acc": 1.0}, iterations=1, progress=False), "score", "'reward' number"),
        (lambda: policy.reinforce_search(net, d, lambda c: {"reward": "hi"}, iterations=1, progress=False), "reward", "number"),
        (lambda: net.sample(d, 3, generator=3), "generator", "torch.Generator"),
        (lambda: policy.LayerPolicy("4"), "descriptor_size", "integer"),
    ):  # fmt: skip
        assert_rejects(call, name, allowed, unchanged=(net,))


# --- fresh students by their sizes, random search, the validated epoch --------------------------
@FEW
@given(
    sizes=st.one_of(
        NOT_A_LIST,
        st.lists(st.integers(max_value=0), min_size=3, max_size=4),
        st.lists(st.sampled_from(["8", 2.5, None]), min_size=3, max_size=4),
    )
)
def test_student_sizes_must_be_lists_of_positive_widths(sizes):
    assert_rejects(lambda: policy.removed_sizes(sizes, [1]), "sizes", "")
    assert_rejects(lambda: policy.shrunk_sizes(sizes, [0.5]), "sizes", "")


def test_removed_and_shrunk_sizes_need_one_valid_choice_per_layer():
    sizes = [40, 32, 16, 10]
    for call, name, allowed in (
        (lambda: policy.removed_sizes(sizes, "1"), "keep", "list of 0/1"),
        (lambda: policy.removed_sizes(sizes, [2]), "keep", "0/1"),
        (lambda: policy.removed_sizes(sizes, [1, 1]), "keep", "one per hidden layer after the first"),
        (lambda: policy.shrunk_sizes(sizes, 0.5), "ratios", "list of width ratios"),
        (lambda: policy.shrunk_sizes(sizes, ["half", 1.0]), "ratios[0]", "number"),
        (lambda: policy.shrunk_sizes(sizes, [0.0, 1.0]), "ratios", "(0, 1]"),
        (lambda: policy.shrunk_sizes(sizes, [1.0]), "ratios", "one per hidden layer"),
    ):  # fmt: skip
        assert_rejects(call, name, allowed)


def test_random_search_checks_its_budget_and_functions_before_drawing():
    g = torch.Generator().manual_seed(0)
    score = lambda c: {"reward": 1.0}  # noqa: E731
    for call, name, allowed in (
        (lambda: policy.random_search(3, 2, 2, 4, generator=g), "score", "function"),
        (lambda: policy.random_search(score, 0, 2, 4, generator=g), "num_layers", "integer"),
        (lambda: policy.random_search(score, 2, 1, 4, generator=g), "num_choices", "integer"),
        (lambda: policy.random_search(score, 2, 2, -1, generator=g), "evaluations", "integer"),
        (lambda: policy.random_search(score, 2, 2, 4, generator=3), "generator", "torch.Generator"),
        (lambda: policy.random_search(score, 2, 2, 4, generator=g, cache_key=3), "cache_key", "function"),
        (lambda: policy.random_search(score, 2, 2, 4, generator=g, max_draws=0), "max_draws", "integer"),
        (lambda: policy.random_search(lambda c: {"acc": 1.0}, 2, 2, 4, generator=g), "score", "'reward' number"),
        (lambda: policy.EvaluationLog("score"), "score", "function"),
        (lambda: policy.best_so_far("0.5"), "rewards", "sequence of numbers"),
        (lambda: policy.best_so_far([0.5, "x"]), "rewards[1]", "number"),
    ):  # fmt: skip
        assert_rejects(call, name, allowed, unchanged=(g,) if name != "score" else ())


def test_best_validation_epoch_refuses_a_bad_key_or_model():
    best = policy.BestValidationEpoch()
    assert_rejects(lambda: policy.BestValidationEpoch(3), "key", "metric name")
    assert_rejects(lambda: best.restore("model"), "model", "torch.nn.Module")
