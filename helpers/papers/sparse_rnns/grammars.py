"""Reber grammars: generate valid and corrupted strings, check them, and encode them as tensors.

Introduced in notebook 07 (sparse RNNs), whose task is Darji's: *is this string a valid Reber
string?* The Reber grammar (Reber 1967; used by Hochreiter & Schmidhuber 1997 for the LSTM) is a
finite automaton. A string starts with ``B``, walks from state 0 along the transitions below (taking
either of the two with probability 1/2) until it leaves through an ``end`` transition, then gets ``E``:

    state 0:  T -> 1    P -> 2
    state 1:  S -> 1    X -> 3          (S may repeat)
    state 2:  T -> 2    V -> 4          (T may repeat)
    state 3:  X -> 2    S -> end
    state 4:  P -> 3    V -> end

so ``BTXSE``, ``BPVVE`` and ``BTSSXXTVVE`` are valid, ``BTXXE`` and ``BTSE`` are not.

The *embedded* Reber grammar wraps a Reber string as ``B T <reber> T E`` or ``B P <reber> P E``:
telling it apart from ``B T <reber> P E`` needs a memory across the whole inner string (the long
time lag the LSTM paper used it for).

Negative examples are made by :func:`corrupt`: one inner symbol replaced by another of T, P, S, X,
V, re-checked with the automaton so that every negative is truly invalid. Such a
negative differs from a valid string in a single position, so a classifier must follow the
automaton; strings over letters outside the alphabet would be detectable by a single glance.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

import torch

from helpers.core.data import Split
from helpers.plumbing.params import check_bool, check_callable, check_int, check_list, check_type

__all__ = [
    "REBER_TRANSITIONS",
    "ALPHABET",
    "INNER_ALPHABET",
    "reber_string",
    "embedded_reber_string",
    "is_reber",
    "is_embedded_reber",
    "corrupt",
    "encode",
    "reber_task",
    "reber_validation",
    "ngram_lookup_accuracy",
]

#: state -> [(symbol, next state)]; ``None`` is the accepting state just before ``E``.
REBER_TRANSITIONS: dict[int, list[tuple[str, int | None]]] = {
    0: [("T", 1), ("P", 2)],
    1: [("S", 1), ("X", 3)],
    2: [("T", 2), ("V", 4)],
    3: [("X", 2), ("S", None)],
    4: [("P", 3), ("V", None)],
}

#: The symbols of both grammars, in the order of the one-hot code.
ALPHABET = "BTPSXVE"
#: The symbols that may stand between ``B`` and ``E``: what :func:`corrupt` substitutes with.
INNER_ALPHABET = "TPSXV"


def _check_rng(rng: random.Random) -> None:
    check_type("rng", rng, random.Random, "a random.Random (e.g. random.Random(0))")


def _check_string(name: str, s: str) -> None:
    check_type(name, s, str, "a string")


def _check_lengths(min_length: int, max_length: int, shortest: int) -> None:
    for name, value in (("min_length", min_length), ("max_length", max_length)):
        check_int(name, value)
    if max_length < shortest:
        raise ValueError(
            f"max_length must be at least {shortest} (the shortest string), got {max_length}"
        )
    if min_length > max_length:
        raise ValueError(f"min_length ({min_length}) must not exceed max_length ({max_length})")


def _reber_core(rng: random.Random) -> str:
    """The symbols between ``B`` and ``E`` of one random walk through the automaton."""
    state: int | None = 0
    symbols = []
    while state is not None:
        symbol, state = rng.choice(REBER_TRANSITIONS[state])
        symbols.append(symbol)
    return "".join(symbols)


def _sample(make: Callable[[], str], min_length: int, max_length: int) -> str:
    """Draw strings with ``make`` until one has ``min_length <= len <= max_length`` (rejection)."""
    for _ in range(100_000):
        s = make()
        if min_length <= len(s) <= max_length:
            return s
    raise ValueError(
        f"no string of length {min_length}..{max_length} in 100000 draws; widen the range"
    )


def reber_string(rng: random.Random, min_length: int = 5, max_length: int = 30) -> str:
    """A random valid Reber string ``B...E`` whose length lies in [min_length, max_length].

    Lengths come from the grammar's own random walk, restricted to the range by rejection; the
    shortest Reber strings (``BTXSE``, ``BPVVE``) have 5 symbols.
    """
    _check_rng(rng)
    _check_lengths(min_length, max_length, shortest=5)
    return _sample(lambda: "B" + _reber_core(rng) + "E", min_length, max_length)


def embedded_reber_string(rng: random.Random, min_length: int = 9, max_length: int = 34) -> str:
    """A random valid embedded Reber string ``B a <reber> a E`` with ``a`` in {T, P}."""
    _check_rng(rng)
    _check_lengths(min_length, max_length, shortest=9)

    def make() -> str:
        a = rng.choice("TP")
        return "B" + a + "B" + _reber_core(rng) + "E" + a + "E"

    return _sample(make, min_length, max_length)


def is_reber(s: str) -> bool:
    """Whether ``s`` is accepted by the Reber automaton (``B``, a path through it, ``E``)."""
    _check_string("s", s)
    if len(s) < 2 or s[0] != "B" or s[-1] != "E":
        return False
    state: int | None = 0
    for symbol in s[1:-1]:
        if state is None:  # the path ended before the string did
            return False
        moves = dict(REBER_TRANSITIONS[state])
        if symbol not in moves:
            return False
        state = moves[symbol]
    return state is None


def is_embedded_reber(s: str) -> bool:
    """Whether ``s`` is ``B a <reber> a E`` with ``a`` in {T, P} and a valid inner Reber string."""
    _check_string("s", s)
    return (
        len(s) >= 9
        and s[0] == "B"
        and s[-1] == "E"
        and s[1] in "TP"
        and s[1] == s[-2]
        and is_reber(s[2:-2])
    )


def corrupt(
    s: str,
    rng: random.Random,
    is_valid: Callable[[str], bool] = is_reber,
    alphabet: str = INNER_ALPHABET,
) -> str:
    """``s`` with one symbol (not the first or last) replaced by another symbol of ``alphabet``.

    The position and the new symbol are drawn at random until ``is_valid`` rejects the result, so
    the returned string is always invalid. The default alphabet holds only the symbols that occur
    inside Reber strings, so a corrupted string never gives itself away by a stray ``B`` or ``E``.
    Raises ValueError if no single substitution can make ``s`` invalid (or ``s`` is too short to
    have an inner symbol).
    """
    _check_string("s", s)
    _check_rng(rng)
    check_callable("is_valid", is_valid, "a function str -> bool (e.g. is_reber)")
    _check_alphabet(alphabet)
    if len(s) < 3:
        raise ValueError(f"s must have at least one symbol between its first and last, got {s!r}")
    candidates = [(i, c) for i in range(1, len(s) - 1) for c in alphabet if c != s[i]]
    state = rng.getstate()
    rng.shuffle(candidates)
    for i, c in candidates:
        bad = s[:i] + c + s[i + 1 :]
        if not is_valid(bad):
            return bad
    rng.setstate(state)  # a rejected call draws nothing
    raise ValueError(f"no single substitution makes s = {s!r} invalid for is_valid")


def _check_alphabet(alphabet: str) -> None:
    check_type("alphabet", alphabet, str, "a string of distinct symbols")
    if not alphabet or len(set(alphabet)) != len(alphabet):
        raise ValueError(
            f"alphabet must be a non-empty string of distinct symbols, got {alphabet!r}"
        )


def encode(
    strings: Sequence[str], length: int | None = None, alphabet: str = ALPHABET
) -> torch.Tensor:
    """One-hot code of ``strings``, left-padded with zero vectors to a common ``length``.

    Returns a float tensor of shape (N, length, len(alphabet)). Padding goes on the *left* so that
    every string ends at the last time step, where ``models.RNNClassifier`` reads its output; a
    padded step is an all-zero input. ``length`` defaults to the longest string.
    """
    strings = check_list("strings", strings, "a list of strings")
    if len(strings) == 0:
        raise ValueError("strings must not be empty")
    for i, s in enumerate(strings):
        _check_string(f"strings[{i}]", s)
    _check_alphabet(alphabet)
    longest = max(len(s) for s in strings)
    length = longest if length is None else check_int("length", length, 1)
    if length < longest:
        raise ValueError(f"length {length} is shorter than the longest string ({longest} symbols)")
    index = {c: i for i, c in enumerate(alphabet)}
    unknown = sorted({c for s in strings for c in s} - set(index))
    if unknown:
        raise ValueError(f"symbols {unknown} are not in the alphabet {alphabet!r}")
    codes = torch.zeros(len(strings), length, len(alphabet))  # (N, T, A)
    for n, s in enumerate(strings):
        start = length - len(s)
        for t, c in enumerate(s):
            codes[n, start + t, index[c]] = 1.0
    return codes


def _balanced(
    n: int,
    rng: random.Random,
    make: Callable[[], str],
    is_valid: Callable[[str], bool],
    avoid: set[str],
) -> tuple[list[str], list[int]]:
    """``n`` shuffled (string, label) pairs, half valid and half corrupted, none of them in ``avoid``."""
    strings, labels = [], []
    for _ in range(100 * n):
        if len(strings) == n:
            break
        valid = make()
        label = len(strings) % 2  # alternate, so the classes are balanced
        s = valid if label == 1 else corrupt(valid, rng, is_valid)
        if s in avoid:
            continue
        strings.append(s)
        labels.append(label)
    if len(strings) < n:
        raise ValueError(
            f"could not draw {n} new strings; allow longer strings (max_length) or ask for fewer"
        )
    order = list(range(n))
    rng.shuffle(order)
    return [strings[i] for i in order], [labels[i] for i in order]


def _grammar(
    rng: random.Random, embedded: bool, min_length: int, max_length: int
) -> tuple[Callable[[], str], Callable[[str], bool]]:
    """A sampler of valid strings drawing from ``rng`` and the validity check of the grammar."""
    if embedded:
        return lambda: embedded_reber_string(rng, min_length, max_length), is_embedded_reber
    return lambda: reber_string(rng, min_length, max_length), is_reber


def reber_task(
    n_train: int = 2000,
    n_test: int = 1000,
    embedded: bool = False,
    min_length: int | None = None,
    max_length: int = 20,
    seed: int = 0,
) -> tuple[Split, dict[str, list[str]]]:
    """The balanced classification task *valid (1) or corrupted (0) Reber string?*, as a ``Split``.

    Half the strings are valid (plain or ``embedded`` Reber), half are valid strings with one
    symbol substituted (:func:`corrupt`). No test string occurs in the training set, so the test
    accuracy measures the grammar learned, not strings memorised. Inputs are one-hot codes of
    shape (N, max_length, 7), left-padded (:func:`encode`); labels are 0/1.

    Returns the split and the raw strings (``{'train': [...], 'test': [...]}``) for inspection.
    """
    for name, value in (("n_train", n_train), ("n_test", n_test)):
        check_int(name, value, 2)
    check_bool("embedded", embedded)
    check_int("seed", seed)
    shortest = 9 if embedded else 5
    min_length = shortest if min_length is None else min_length
    _check_lengths(min_length, max_length, shortest)
    rng = random.Random(seed)
    make, is_valid = _grammar(rng, embedded, min_length, max_length)
    train_strings, train_labels = _balanced(n_train, rng, make, is_valid, avoid=set())
    test_strings, test_labels = _balanced(n_test, rng, make, is_valid, avoid=set(train_strings))
    split = Split(
        encode(train_strings, max_length),
        torch.tensor(train_labels, dtype=torch.long),
        encode(test_strings, max_length),
        torch.tensor(test_labels, dtype=torch.long),
        num_classes=2,
    )
    return split, {"train": train_strings, "test": test_strings}


def reber_validation(
    strings: dict[str, list[str]],
    n_val: int,
    embedded: bool = False,
    min_length: int | None = None,
    max_length: int = 20,
    seed: int = 0,
) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """A validation set for a :func:`reber_task` split: ``n_val`` new strings, half valid.

    Anything chosen during training (the epoch to stop at) is chosen on these strings, never on the
    test set. They come from their own random stream (so the train and test sets of ``reber_task``
    stay what they were) and occur in neither ``strings['train']`` nor ``strings['test']``. Pass the
    grammar arguments given to ``reber_task``. Returns one-hot inputs (n_val, max_length, 7), labels
    and the strings.
    """
    check_type("strings", strings, dict, "the strings returned by reber_task")
    if not {"train", "test"} <= set(strings):
        raise ValueError("strings must hold the 'train' and 'test' strings returned by reber_task")
    check_int("n_val", n_val, 2)
    check_bool("embedded", embedded)
    check_int("seed", seed)
    shortest = 9 if embedded else 5
    min_length = shortest if min_length is None else min_length
    _check_lengths(min_length, max_length, shortest)
    rng = random.Random(f"reber-validation-{seed}")  # a str seed is hashed deterministically
    make, is_valid = _grammar(rng, embedded, min_length, max_length)
    seen = set(strings["train"]) | set(strings["test"])
    val_strings, val_labels = _balanced(n_val, rng, make, is_valid, avoid=seen)
    return encode(val_strings, max_length), torch.tensor(val_labels, dtype=torch.long), val_strings


def _windows(s: str, n: int) -> set[str]:
    """Every window of ``n`` consecutive symbols of ``s`` (the whole string if it is shorter)."""
    return {s[i : i + n] for i in range(max(1, len(s) - n + 1))}


def ngram_lookup_accuracy(
    n: int,
    train_strings: Sequence[str],
    train_labels: Sequence[int],
    test_strings: Sequence[str],
    test_labels: Sequence[int],
) -> float:
    """Accuracy of the n-gram lookup: *valid iff every n-symbol window occurs in a valid training string*.

    The baseline that needs no recurrent network: it remembers which windows of ``n`` symbols
    (``B`` and ``E`` included) the valid training strings contain. In the plain Reber grammar the
    last two symbols fix the automaton's state, so with every valid trigram seen in training the
    trigram lookup (``n = 3``) decides validity exactly; the bigram lookup cannot (``X`` after ``T``
    and ``X`` after ``X`` lead to different states). Labels are 1 (valid) and 0 (invalid).
    """
    check_int("n", n, 1)
    train_strings = check_list("train_strings", train_strings, "a list of strings")
    test_strings = check_list("test_strings", test_strings, "a list of strings")
    for name, values, labels in (
        ("train", train_strings, train_labels),
        ("test", test_strings, test_labels),
    ):
        labels = check_list(f"{name}_labels", labels, "a list of 0/1 labels")
        if len(labels) != len(values) or not values:
            raise ValueError(
                f"{name}_strings and {name}_labels must be non-empty and of one length, "
                f"got {len(values)} and {len(labels)}"
            )
        for i, (s, y) in enumerate(zip(values, labels, strict=True)):
            _check_string(f"{name}_strings[{i}]", s)
            if y not in (0, 1) or isinstance(y, bool):
                raise ValueError(f"{name}_labels[{i}] must be 0 or 1, got {y!r}")
    seen: set[str] = set()
    for s, y in zip(train_strings, train_labels, strict=True):
        if y == 1:
            seen |= _windows(s, n)
    correct = sum(
        int(_windows(s, n) <= seen) == y for s, y in zip(test_strings, test_labels, strict=True)
    )
    return correct / len(test_strings)
