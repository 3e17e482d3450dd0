"""The verdict rule on numbers a student can check by hand (helpers/plumbing/verdicts.py)."""

from __future__ import annotations

import math

import pytest

from helpers import results, verdicts


def test_summary_mean_and_sample_sd():
    s = verdicts.summarize([0.5, 0.6, 0.7])
    assert s.mean == pytest.approx(0.6)
    assert s.sd == pytest.approx(0.1)  # sqrt(((-0.1)² + 0 + 0.1²) / 2) = 0.1
    assert s.text() == "0.600 ± 0.100"
    assert verdicts.summarize([3.0]).sd == 0.0


def test_paired_difference_removes_the_spread_the_seeds_share():
    # Seeds move both conditions together: per seed the method is ahead by 0.05, 0.06, 0.04.
    method, baseline = [0.65, 0.76, 0.54], [0.60, 0.70, 0.50]
    c = verdicts.compare("m beats b", method, baseline, threshold=0.02)
    assert c.difference == pytest.approx(0.05)
    assert c.standard_error == pytest.approx(0.01 / math.sqrt(3))  # sd of (0.05, 0.06, 0.04) / √3
    assert c.verdict == "holds"
    # Unpaired, the same numbers cannot tell: the spread between seeds (about 0.11) swamps 0.05.
    unpaired = verdicts.compare("m beats b", method, baseline, threshold=0.02, paired=False)
    assert unpaired.verdict == "inconclusive at this scale"


@pytest.mark.parametrize(
    ("method", "verdict"),
    [
        ([0.70, 0.71, 0.72], "holds"),  # +0.10 ± 0.006: above the threshold and 2 SE
        ([0.60, 0.61, 0.59], "does not hold"),  # +0.00 ± 0.006: the interval lies below 0.02
        ([0.50, 0.51, 0.49], "does not hold"),  # −0.10: clearly worse
        ([0.58, 0.70, 0.64], "inconclusive at this scale"),  # +0.04 ± 0.035: cannot tell
    ],
)
def test_better_claims(method, verdict):
    c = verdicts.compare("m beats b", method, [0.60, 0.60, 0.60], threshold=0.02)
    assert c.verdict == verdict, c.measured


@pytest.mark.parametrize(
    ("method", "verdict"),
    [
        ([0.60, 0.59, 0.61], "holds"),  # 0.00 ± 0.006: within 0.02 even at −2 SE
        ([0.50, 0.49, 0.51], "does not hold"),  # −0.10: clearly worse than the tolerance
        ([0.50, 0.66, 0.60], "inconclusive at this scale"),  # −0.013 ± 0.046
    ],
)
def test_matches_claims(method, verdict):
    c = verdicts.compare("m matches b", method, [0.60] * 3, threshold=0.02, kind="matches")
    assert c.verdict == verdict, c.measured


def test_lower_is_better_flips_the_sign():
    # errors: the method's 0.10 against the baseline's 0.20 is a gain of +0.10
    c = verdicts.compare(
        "m has lower error", [0.10, 0.11, 0.09], [0.20] * 3, threshold=0.02, higher_is_better=False
    )
    assert c.difference == pytest.approx(0.10) and c.verdict == "holds"


def test_a_single_replicate_is_never_enough():
    c = verdicts.compare("m beats b", [0.9], [0.1], threshold=0.01)
    assert c.verdict == "inconclusive at this scale"
    assert c.row(paper="p")["standard_error"] is None


def test_a_fixed_baseline_is_compared_unpaired():
    c = verdicts.compare("above chance", [0.30, 0.32, 0.31], 0.10, threshold=0.05)
    assert c.baseline.n == 1 and c.verdict == "holds"
    assert c.n == 3 and c.measured.endswith("(n = 3)")  # the method's replicates count


def test_row_carries_every_number_and_is_a_valid_claims_row():
    c = verdicts.compare(
        "tickets beat re-init",
        [0.65, 0.76, 0.54],
        [0.60, 0.70, 0.50],
        threshold=0.02,
        method_name="ticket",
        baseline_name="re-init",
    )
    row = c.row(paper="far worse (Fig. 4)")
    assert row["replicates"] == 3 and row["verdict"] == "holds"
    assert row["measured"] == c.measured
    assert row["measured"].startswith(
        "ticket 0.650 ± 0.110 vs re-init 0.600 ± 0.100: +0.050 ± 0.006"
    )
    assert row["measured"].endswith("(n = 3)")
    assert set(results.claim_row("c", "p", "m", row["verdict"])) <= set(row)


def test_combine():
    assert verdicts.combine(["holds", "holds"]) == "holds"
    assert verdicts.combine(["holds", "does not hold"]) == "partly"
    assert verdicts.combine(["holds", "inconclusive at this scale"]) == "partly"
    assert verdicts.combine(["does not hold", "inconclusive at this scale"]) == "does not hold"
    assert verdicts.combine(["inconclusive at this scale"] * 2) == "inconclusive at this scale"


@pytest.mark.parametrize(
    "call",
    [
        lambda: verdicts.compare("c", [], [0.1], threshold=0.1),
        lambda: verdicts.compare("c", [0.1, float("nan")], [0.1, 0.2], threshold=0.1),
        lambda: verdicts.compare("c", [0.1, 0.2], [0.1], threshold=0.1),  # paired, unequal
        lambda: verdicts.compare("c", [0.1], [0.1], threshold=-1),
        lambda: verdicts.compare("c", [0.1], [0.1], threshold=0.1, kind="bigger"),
        lambda: verdicts.compare("c", "0.1", [0.1], threshold=0.1),
        lambda: verdicts.combine(["holds", "maybe"]),
        lambda: verdicts.combine([]),
        lambda: results.claim_row("c", "p", "m", "probably"),
    ],
)
def test_bad_input_is_refused_with_a_clear_error(call):
    with pytest.raises((ValueError, TypeError)):
        call()


def test_replicate_seeds_are_distinct_across_notebook_seeds():
    from helpers import runtime

    assert runtime.replicate_seeds(0, 3) == [0, 1, 2]
    assert runtime.replicate_seeds(2, 3) == [2000, 2001, 2002]
    seen = {s for seed in range(6) for s in runtime.replicate_seeds(seed, 5)}
    assert len(seen) == 30
    with pytest.raises(ValueError):
        runtime.replicate_seeds(0, 0)


def test_differs_names_the_winner_and_agrees_with_compare():
    a, b = [0.50, 0.60, 0.70], [0.70, 0.81, 0.89]  # b better by 0.2 ± 0.006 SE
    c = verdicts.compare(
        "differ", a, b, threshold=0.05, kind="differs", method_name="global", baseline_name="layer"
    )
    assert (c.method_name, c.baseline_name) == ("layer", "global")
    assert c.verdict == "holds"
    assert c.difference == pytest.approx(0.2, abs=1e-9)
    same = verdicts.compare("differ", b, a, threshold=0.05)
    assert (c.difference, c.standard_error, c.verdict) == (
        same.difference,
        same.standard_error,
        same.verdict,
    )
    swapped = verdicts.compare(
        "differ", b, a, threshold=0.05, kind="differs", method_name="layer", baseline_name="global"
    )
    assert swapped.method_name == "layer" and swapped.verdict == "holds"


def test_differs_says_does_not_hold_only_when_confidently_equal():
    a = [0.600, 0.700, 0.800]
    tiny = [0.601, 0.699, 0.801]  # |d| + 2 SE far below 0.05
    assert verdicts.compare("d", a, tiny, threshold=0.05, kind="differs").verdict == "does not hold"
    noisy = [0.70, 0.60, 0.95]  # mean gap 0.05, huge spread
    assert verdicts.compare("d", a, noisy, threshold=0.03, kind="differs").verdict == (
        "inconclusive at this scale"
    )


def test_differs_rejects_unpaired_or_unnamed_input():
    with pytest.raises(ValueError):
        verdicts.compare("d", [0.1, 0.2], [0.1, 0.2, 0.3], threshold=0.05)
    with pytest.raises(ValueError):
        verdicts.compare(
            "d", [0.1, 0.2], [0.1, 0.2], threshold=0.05, kind="differs", method_name=""
        )
