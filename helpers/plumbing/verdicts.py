"""Verdicts a reader can trust: replicate measurements in, a verdict with its numbers out.

Introduced in notebook 00; every notebook reaches its verdicts here, by one rule fixed before looking
(the standard's *Verdicts a reader can trust*):

    a difference counts when it exceeds both the practical threshold stated in the notebook
    and twice its standard error across replicates (independent runs with their own seeds).

For a claim that a method is **better** than a baseline by at least ``threshold``:

- *holds*: the difference d (positive favours the method) has d > threshold and d > 2·SE;
- *does not hold*: the method is clearly worse (−d > threshold and −d > 2·SE), or clearly no better
  in practice (the whole interval d ± 2·SE lies below the threshold);
- *inconclusive at this scale*: the replicates cannot tell (anything else, or fewer than two runs).

For a claim that a method **matches** a baseline (is no worse by more than ``threshold``):

- *holds*: d − 2·SE ≥ −threshold (even the pessimistic end of the interval is within the tolerance);
- *does not hold*: −d > threshold and −d > 2·SE;
- *inconclusive at this scale*: anything else.

For a claim that two conditions **differ** (either may be the better one; global against layer-wise
pruning, say), the better condition on average takes the method's place and the *better* rule
applies: a two-sided test at the same level.

A claim made of several comparisons (at several sparsities, on two models) combines them with
``combine``: *partly* when some hold and some do not. Test-set noise alone is never the spread: the
standard error comes from the replicates, so a verdict that flips from seed to seed comes out
inconclusive instead of holds.

Usage::

    c = verdicts.compare("tickets beat random re-init", ticket_accs, reinit_accs,
                         threshold=0.02, method="ticket", baseline="re-init")
    c.verdict                      # 'holds'
    c.measured                     # 'ticket 0.612 ± 0.008 vs re-init 0.540 ± 0.010: +0.072 ± 0.006 SE (n = 3)'
    row = c.row(paper="re-init is far worse (Fig. 4)")   # a claims-table row with every number
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from helpers.plumbing.params import (
    ParameterTypeError,
    check_choice,
    check_float,
    check_list,
    check_type,
)

__all__ = [
    "VERDICTS",
    "Summary",
    "Comparison",
    "summarize",
    "compare",
    "combine",
    "combined_row",
    "mechanism_row",
]

#: Every verdict a claims table may show, from the strongest to the weakest.
VERDICTS = ("holds", "partly", "does not hold", "inconclusive at this scale")
INCONCLUSIVE = VERDICTS[3]
Kind = Literal["better", "matches", "differs"]


@dataclass(frozen=True)
class Summary:
    """Replicate measurements of one condition: mean, sample standard deviation, count."""

    values: tuple[float, ...]

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float:
        return sum(self.values) / self.n

    @property
    def sd(self) -> float:
        """Sample standard deviation (n − 1 in the denominator); 0.0 for a single value."""
        if self.n < 2:
            return 0.0
        return math.sqrt(sum((v - self.mean) ** 2 for v in self.values) / (self.n - 1))

    def text(self, digits: int = 3) -> str:
        """``'0.612 ± 0.008'``: mean ± standard deviation across replicates."""
        return f"{self.mean:.{digits}f} ± {self.sd:.{digits}f}"


def summarize(values: Iterable[float], name: str = "values") -> Summary:
    """Check ``values`` (one or more finite numbers) and summarise them.

    Raises ValueError/TypeError naming ``name`` for an empty list, a non-number, NaN or infinity.
    """
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise ParameterTypeError(
            f"{name} must be a list of replicate measurements (numbers), got {type(values).__name__}"
        )
    checked = tuple(check_float(f"{name}[{i}]", v, finite=True) for i, v in enumerate(values))
    if not checked:
        raise ValueError(f"{name} must hold at least one replicate measurement, got none")
    return Summary(checked)


@dataclass(frozen=True)
class Comparison:
    """A method against a baseline over replicates, the rule's numbers, and the verdict they give."""

    claim: str
    kind: Kind
    method_name: str
    baseline_name: str
    method: Summary
    baseline: Summary
    difference: float  # mean difference, signed so that a positive value favours the method
    standard_error: float  # of ``difference``, across replicates (inf with fewer than two)
    threshold: float
    verdict: str

    @property
    def n(self) -> int:
        """Replicates behind the verdict: the smaller of the two conditions, or the method's own
        count against a fixed baseline (a chance level or a paper's number)."""
        if self.baseline.n == 1:
            return self.method.n
        return min(self.method.n, self.baseline.n)

    @property
    def measured(self) -> str:
        """One line for the table's *we measured* column: both conditions, the difference, n."""
        return self.text()

    def text(self, digits: int = 3) -> str:
        """``measured`` with ``digits`` decimals (losses and FLOP ratios may want more or fewer)."""
        se = "n/a" if math.isinf(self.standard_error) else f"{self.standard_error:.{digits}f}"
        return (
            f"{self.method_name} {self.method.text(digits)} vs {self.baseline_name} "
            f"{self.baseline.text(digits)}: {self.difference:+.{digits}f} ± {se} SE (n = {self.n})"
        )

    def row(self, paper: str, measured: str | None = None) -> dict[str, Any]:
        """A claims-table row (claim / paper / measured / verdict) carrying every number behind it.

        ``results.json`` keeps the numbers, so a claim test can check them and the gallery can show
        the spread and the replicate count. ``measured`` overrides the default text.
        """
        return {
            "claim": self.claim,
            "paper": paper,
            "measured": self.measured if measured is None else measured,
            "verdict": self.verdict,
            "replicates": self.n,
            "method_mean": self.method.mean,
            "method_sd": self.method.sd,
            "baseline_mean": self.baseline.mean,
            "baseline_sd": self.baseline.sd,
            "difference": self.difference,
            "standard_error": None if math.isinf(self.standard_error) else self.standard_error,
            "threshold": self.threshold,
            "rule": self.kind,
        }


def _difference(
    method: Summary, baseline: Summary, paired: bool, sign: float
) -> tuple[float, float]:
    """Mean difference (method − baseline, times ``sign``) and its standard error."""
    if paired:
        diffs = Summary(
            tuple(sign * (m - b) for m, b in zip(method.values, baseline.values, strict=True))
        )
        se = diffs.sd / math.sqrt(diffs.n) if diffs.n >= 2 else math.inf
        return diffs.mean, se
    if method.n < 2 and baseline.n < 2:
        return sign * (method.mean - baseline.mean), math.inf
    var = (method.sd**2 / method.n if method.n >= 2 else 0.0) + (
        baseline.sd**2 / baseline.n if baseline.n >= 2 else 0.0
    )
    return sign * (method.mean - baseline.mean), math.sqrt(var)


def _rule(kind: Kind, d: float, se: float, threshold: float) -> str:
    """The verdict of the module docstring's rule for one difference ``d`` with standard error ``se``."""
    if math.isinf(se):
        return INCONCLUSIVE
    clearly_worse = -d > threshold and -d > 2 * se
    if clearly_worse:
        return "does not hold"
    if kind == "better":
        if d > threshold and d > 2 * se:
            return "holds"
        if d + 2 * se <= threshold:
            return "does not hold"  # confidently no practical gain
        return INCONCLUSIVE
    return "holds" if d - 2 * se >= -threshold else INCONCLUSIVE


def compare(
    claim: str,
    method: Sequence[float],
    baseline: Sequence[float] | float,
    *,
    threshold: float,
    kind: Kind = "better",
    higher_is_better: bool = True,
    paired: bool = True,
    method_name: str = "method",
    baseline_name: str = "baseline",
) -> Comparison:
    """Compare replicate measurements of a method with a baseline by the rule above.

    ``method`` and ``baseline``: one number per replicate (baseline may be a single fixed number, such
    as a paper's value or a chance level). ``paired``: replicate i of both conditions shares seed i
    (data, initialisation), so the differences are taken per replicate, which removes the spread they
    share. ``threshold``: the practical difference, in the measurement's units, stated in the
    notebook before the run. ``higher_is_better=False`` for losses, errors and costs.
    ``kind``: ``'better'`` (the method beats the baseline), ``'matches'`` (no worse by more than
    ``threshold``) or ``'differs'`` (either way; the winner is named first in ``measured``).
    """
    if not isinstance(claim, str) or not claim:
        raise ParameterTypeError(f"claim must be a non-empty string, got {claim!r}")
    for name, value in (("method_name", method_name), ("baseline_name", baseline_name)):
        if not isinstance(value, str) or not value:
            raise ParameterTypeError(f"{name} must be a non-empty string, got {value!r}")
    check_choice("kind", kind, ("better", "matches", "differs"))
    threshold = check_float("threshold", threshold, 0.0, finite=True)
    if not isinstance(higher_is_better, bool) or not isinstance(paired, bool):
        raise ParameterTypeError("higher_is_better and paired must be True or False")
    m = summarize(method, "method")
    fixed = isinstance(baseline, (int, float)) and not isinstance(baseline, bool)
    b = summarize([baseline] if fixed else baseline, "baseline")
    if fixed:
        paired = False
    if paired and m.n != b.n:
        raise ValueError(
            f"paired replicates need as many baseline values as method values, got {m.n} and "
            f"{b.n}; pass paired=False for independent runs"
        )
    sign = 1.0 if higher_is_better else -1.0
    if kind == "differs" and sign * (m.mean - b.mean) < 0:
        # two-sided: the better condition on average is named first, then the "better" rule
        m, b, method_name, baseline_name = b, m, baseline_name, method_name
    d, se = _difference(m, b, paired, sign)
    return Comparison(
        claim=claim,
        kind=kind,
        method_name=method_name,
        baseline_name=baseline_name,
        method=m,
        baseline=b,
        difference=d,
        standard_error=se,
        threshold=threshold,
        verdict=_rule("better" if kind == "differs" else kind, d, se, threshold),
    )


def combine(verdicts: Iterable[str | Comparison]) -> str:
    """One verdict for a claim made of several comparisons.

    All hold → *holds*; some hold and some do not (or cannot tell) → *partly*; none holds and at least
    one clearly does not → *does not hold*; none can tell → *inconclusive at this scale*.
    """
    found = [v.verdict if isinstance(v, Comparison) else v for v in verdicts]
    if not found:
        raise ValueError("combine needs at least one verdict")
    for v in found:
        check_choice("verdict", v, VERDICTS)
    if all(v == "holds" for v in found):
        return "holds"
    if any(v in ("holds", "partly") for v in found):
        return "partly"
    if any(v == "does not hold" for v in found):
        return "does not hold"
    return INCONCLUSIVE


def combined_row(
    claim: str,
    paper: str,
    comparisons: Sequence[Comparison],
    digits: int = 3,
    measured: str | None = None,
) -> dict[str, Any]:
    """A claims-table row for a claim tested by several comparisons (verdict: ``combine``).

    The *we measured* text lists every comparison by its own claim (its two conditions, difference,
    SE and n) unless
    ``measured`` gives a shorter one; the row keeps each comparison's own row under ``comparisons``,
    so ``results.json`` holds every number behind the verdict.
    """
    comparisons = check_list("comparisons", comparisons, "a non-empty list of Comparisons", 1)
    for i, c in enumerate(comparisons):
        check_type(f"comparisons[{i}]", c, Comparison, "a verdicts.Comparison")
    parts = (f"{c.claim}: {c.text(digits)}" for c in comparisons)
    text = "; ".join(parts) if measured is None else measured
    return {
        "claim": claim,
        "paper": paper,
        "measured": text,
        "verdict": combine(comparisons),
        "replicates": min(c.n for c in comparisons),
        "threshold": comparisons[0].threshold,
        "comparisons": [c.row(paper) for c in comparisons],
    }


def mechanism_row(check: str, measured: str, passed: bool) -> dict[str, Any]:
    """A row for the *mechanism checks* table: what holds by construction, shown apart from claims.

    A penalty enforcing what it measures, or a sweep designed to produce a trend, cannot fail as a
    claim; it can still fail as a check that the code does what the method says.
    """
    if not isinstance(check, str) or not isinstance(measured, str):
        raise ParameterTypeError("check and measured must be strings")
    if not isinstance(passed, bool):
        raise ParameterTypeError(f"passed must be True or False, got {passed!r}")
    return {"check": check, "measured": measured, "passed": passed}
