"""Reber grammars (helpers.grammars), checked against the automaton written out by hand."""

import random

import pytest
import torch

from helpers.papers.sparse_rnns import grammars

# Strings from the grammar diagram, traced by hand.
VALID = ["BTXSE", "BPVVE", "BTSSXSE", "BPTVVE", "BTXXVVE", "BPVPXVVE", "BTSXXTVPSE", "BPTTTVPSE"]
INVALID = [
    "",
    "BE",
    "TXSE",  # no B
    "BTXS",  # no E
    "BTXSEE",  # continues after the end
    "BTXXE",  # X X leads to state 2, which cannot end
    "BTVVE",  # V is not allowed after T at the start
    "BPVSE",  # S not allowed in state 4
    "BTXSSE",  # the path ends after X S
    "BAXSE",  # a foreign symbol
]


@pytest.mark.parametrize("s", VALID)
def test_hand_traced_strings_are_valid(s):
    assert grammars.is_reber(s)


@pytest.mark.parametrize("s", INVALID)
def test_hand_made_invalid_strings_are_rejected(s):
    assert not grammars.is_reber(s)


def test_embedded_grammar_needs_matching_second_and_second_last_symbols():
    assert grammars.is_embedded_reber("BTBTXSETE")
    assert grammars.is_embedded_reber("BPBPVVEPE")
    assert not grammars.is_embedded_reber("BTBTXSEPE")  # T ... P: the long-range mismatch
    assert not grammars.is_embedded_reber("BTBTXXETE")  # inner string invalid
    assert not grammars.is_embedded_reber("BTXSE")


def test_generated_strings_are_valid_and_respect_the_length_range():
    rng = random.Random(0)
    for _ in range(300):
        s = grammars.reber_string(rng, 8, 15)
        assert grammars.is_reber(s) and 8 <= len(s) <= 15
        e = grammars.embedded_reber_string(rng, 10, 20)
        assert grammars.is_embedded_reber(e) and 10 <= len(e) <= 20


def test_walk_takes_both_branches_equally_often():
    # From state 0 the automaton picks T or P with probability 1/2 each.
    rng = random.Random(1)
    second = [grammars.reber_string(rng, 5, 60)[1] for _ in range(4000)]
    assert abs(second.count("T") / len(second) - 0.5) < 0.03


def test_corrupt_changes_exactly_one_inner_symbol_and_is_invalid():
    rng = random.Random(2)
    for _ in range(300):
        s = grammars.reber_string(rng, 5, 25)
        bad = grammars.corrupt(s, rng)
        diff = [i for i, (a, b) in enumerate(zip(s, bad, strict=True)) if a != b]
        assert len(bad) == len(s) and len(diff) == 1 and 0 < diff[0] < len(s) - 1
        assert bad[diff[0]] in grammars.INNER_ALPHABET
        assert not grammars.is_reber(bad)


def test_corrupt_rejects_strings_it_cannot_spoil():
    with pytest.raises(ValueError, match="at least one symbol"):
        grammars.corrupt("BE", random.Random(0))
    with pytest.raises(ValueError, match="no single substitution"):
        grammars.corrupt("BTE", random.Random(0), is_valid=lambda s: True)


def test_encode_is_left_padded_one_hot():
    x = grammars.encode(["BTXSE", "BPVVE" + ""], length=7)
    assert x.shape == (2, 7, len(grammars.ALPHABET))
    assert torch.equal(x[:, :2], torch.zeros(2, 2, 7))  # two padding steps in front
    assert torch.equal(x[:, 2:].sum(-1), torch.ones(2, 5))  # exactly one symbol per real step
    decoded = "".join(grammars.ALPHABET[i] for i in x[0, 2:].argmax(-1).tolist())
    assert decoded == "BTXSE"


def test_encode_rejects_bad_input():
    with pytest.raises(ValueError, match="shorter than the longest"):
        grammars.encode(["BTXSE"], length=3)
    with pytest.raises(ValueError, match="not in the alphabet"):
        grammars.encode(["BAXSE"])
    with pytest.raises(ValueError, match="empty"):
        grammars.encode([])


@pytest.mark.parametrize("embedded", [False, True])
def test_task_is_balanced_labelled_correctly_and_test_strings_are_new(embedded):
    split, strings = grammars.reber_task(200, 100, embedded=embedded, max_length=24, seed=3)
    check = grammars.is_embedded_reber if embedded else grammars.is_reber
    assert split.x_train.shape == (200, 24, 7) and split.x_test.shape == (100, 24, 7)
    assert int(split.y_train.sum()) == 100 and int(split.y_test.sum()) == 50
    for name, y in (("train", split.y_train), ("test", split.y_test)):
        assert [int(check(s)) for s in strings[name]] == y.tolist()
    assert not set(strings["test"]) & set(strings["train"])


def test_task_is_reproducible_from_its_seed():
    a, _ = grammars.reber_task(50, 20, seed=7)
    b, _ = grammars.reber_task(50, 20, seed=7)
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_test, b.y_test)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"n_train": 1}, "n_train"),
        ({"n_test": 0}, "n_test"),
        ({"min_length": 12, "max_length": 10}, "must not exceed"),
        ({"max_length": 4}, "at least 5"),
        ({"embedded": True, "max_length": 8}, "at least 9"),
    ],
)
def test_task_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        grammars.reber_task(**kwargs)


def test_validation_strings_are_new_balanced_and_leave_the_task_unchanged():
    split, strings = grammars.reber_task(200, 100, max_length=20, seed=5)
    x_val, y_val, val = grammars.reber_validation(strings, 60, max_length=20, seed=5)
    assert x_val.shape == (60, 20, 7) and int(y_val.sum()) == 30
    assert [int(grammars.is_reber(s)) for s in val] == y_val.tolist()
    assert not set(val) & (set(strings["train"]) | set(strings["test"]))
    again, _ = grammars.reber_task(200, 100, max_length=20, seed=5)
    assert torch.equal(
        split.x_test, again.x_test
    )  # drawing validation strings changes nothing else
    assert torch.equal(x_val, grammars.reber_validation(strings, 60, max_length=20, seed=5)[0])


def test_trigram_lookup_decides_plain_reber_and_bigram_does_not():
    train, labels = ["BTXSE", "BPVVE"], [1, 1]
    # BTXVE: every symbol and the bigrams BT, TX, VE were seen, but XV and the trigrams TXV, XVE were not.
    assert grammars.ngram_lookup_accuracy(3, train, labels, ["BTXSE", "BTXVE"], [1, 0]) == 1.0
    assert grammars.ngram_lookup_accuracy(1, train, labels, ["BTXVE"], [0]) == 0.0
    split, strings = grammars.reber_task(600, 300, max_length=16, seed=1)
    args = (strings["train"], split.y_train.tolist(), strings["test"], split.y_test.tolist())
    assert grammars.ngram_lookup_accuracy(3, *args) == 1.0
    assert 0.6 < grammars.ngram_lookup_accuracy(2, *args) < 0.97
    assert grammars.ngram_lookup_accuracy(1, *args) == 0.5  # negatives use the same symbols


def test_ngram_lookup_rejects_bad_arguments():
    with pytest.raises(ValueError, match="n"):
        grammars.ngram_lookup_accuracy(0, ["BTXSE"], [1], ["BTXSE"], [1])
    with pytest.raises(ValueError, match="one length"):
        grammars.ngram_lookup_accuracy(3, ["BTXSE"], [1, 0], ["BTXSE"], [1])
    with pytest.raises(ValueError, match="0 or 1"):
        grammars.ngram_lookup_accuracy(3, ["BTXSE"], [2], ["BTXSE"], [1])
    with pytest.raises(ValueError, match="train"):
        grammars.reber_validation({"test": []}, 10)
