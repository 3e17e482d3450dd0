"""Claims of notebook 15 (ReLU-KAN and AF-KAN), checked on what its default run measured.

The notebook's statement at this scale (digits, about 5000 parameters, an MLP with linear logits tuned
like every other model on a validation split): AF-KAN does not beat the MLP; it is ahead of ReLU-KAN,
which the budget squeezes to a few hidden units (holds, or inconclusive when an AF-KAN run trains
poorly); it needs more FLOPs per training step (counted by hand, the same on every run); and AF-KAN
without its basis functions is as accurate as AF-KAN. The time per step, measured on the clock, is
several times the MLP's: it is stored beside the claims under timing keys, out of the fingerprint. ReLU-KAN fits a smooth 1-D
function orders of magnitude more precisely than a matched MLP. Every verdict is recomputed from the
stored replicate numbers with the notebook's rule; the bands fail if the effects behind them vanish.
"""

import numpy as np
import pytest

from helpers import verdicts
from helpers.plumbing.results import without_timing


def _values(results, kind, key):
    return [rep[kind][key] for rep in results["replicates"]]


def _parts(results):
    t = results["thresholds"]
    af = _values(results, "AF-KAN", "test")
    return {
        "beats_mlp": (af, _values(results, "MLP", "test"), t["accuracy"]),
        "beats_relu_kan": (af, _values(results, "ReLU-KAN", "test"), t["accuracy"]),
        "basis_matters": (af, _values(results, "AF-KAN, no basis", "test"), t["accuracy"]),
    }


def test_every_verdict_follows_from_the_stored_replicates(results, rows):
    assert len(results["replicates"]) >= 3
    assert results["summary"] == rows["summary"]
    again = {
        key: verdicts.compare(key, m, b, threshold=th)
        for key, (m, b, th) in _parts(results).items()
    }
    for key, c in again.items():
        assert rows[key]["verdict"] == c.verdict, key
        assert rows[key]["difference"] == pytest.approx(c.difference)
    f = results["train_step_flops"]
    ratio = f["AF-KAN"] / f["MLP"]
    assert rows["costs_flops"]["ratio"] == pytest.approx(ratio)
    flops_verdict = "holds" if ratio >= results["thresholds"]["cost_ratio"] else "does not hold"
    assert rows["costs_flops"]["verdict"] == flops_verdict
    summary = [again["beats_mlp"], again["beats_relu_kan"], flops_verdict]
    assert rows["summary"]["verdict"] == verdicts.combine(summary)
    timed = verdicts.compare("t", _values(results, "AF-KAN", "time_ratio"), 1.0,
                             threshold=results["thresholds"]["cost_ratio"] - 1.0)  # fmt: skip
    assert results["step_time_ratio"]["verdict"] == timed.verdict
    assert results["step_time_ratio"]["difference"] == pytest.approx(timed.difference)
    mse = results["fit_1d_mse"]
    fit = verdicts.compare("fit", [-np.log10(m) for m in mse["ReLU-KAN"]],
                           [-np.log10(m) for m in mse["MLP"]], threshold=0.5)  # fmt: skip
    assert results["fit_1d"]["verdict"] == fit.verdict


def test_thresholds_are_the_ones_stated_before_the_run(results):
    assert results["thresholds"] == {"accuracy": 0.01, "cost_ratio": 1.25, "fit_1d_log10": 0.5}


def test_no_clock_reading_among_the_claims(results):
    # Every claim must repeat bit for bit with the same seed: no timing field, no measured time in text.
    assert without_timing(results["claims"]) == results["claims"]
    for row in results["claims"]:
        assert "time" not in row["measured"].lower() and "second" not in row["measured"], row[
            "claim"
        ]
    assert "step_time_ratio" not in without_timing(results)  # the measured time sits beside them


def test_parameters_are_matched_and_flops_ordered(results):
    n = results["parameters"]
    assert (max(n.values()) - min(n.values())) / np.mean(list(n.values())) < 0.03
    f = results["flops"]
    assert f["AF-KAN"] > 1.8 * f["MLP"]  # the bumps and the gate cost operations per input
    step = results["train_step_flops"]
    assert all(step[kd] > 3 * f[kd] for kd in f)  # forward, backward and the update, per batch
    assert all(row["passed"] for row in results["mechanism"])


def test_af_kan_does_not_beat_a_fair_mlp(results, rows):
    # The paper's headline against the MLP does not survive a fair baseline at this scale: AF-KAN is
    # at best level with the MLP. If AF-KAN came out clearly ahead, this test would fail.
    assert rows["beats_mlp"]["verdict"] in ("does not hold", "inconclusive at this scale")
    assert rows["beats_mlp"]["difference"] < 0.01
    assert rows["summary"]["verdict"] == "partly"  # the FLOPs part holds, the MLP part does not
    assert np.mean(_values(results, "MLP", "test")) > 0.93  # a working baseline


def test_af_kan_is_ahead_of_relu_kan_at_this_budget(results, rows):
    # ReLU-KAN is squeezed to a few hidden units by the budget, so AF-KAN is ahead on average; an
    # AF-KAN run that trains poorly (it happens) can make the replicates unable to tell, which the
    # rule reports as inconclusive. AF-KAN clearly behind would fail here.
    assert rows["beats_relu_kan"]["verdict"] in ("holds", "inconclusive at this scale")
    assert rows["beats_relu_kan"]["difference"] > 0.0


def test_af_kan_costs_flops_and_time(results, rows):
    # Counted: AF-KAN's bumps and gate more than double the MLP's operations per training step.
    assert rows["costs_flops"]["verdict"] == "holds"
    assert rows["costs_flops"]["ratio"] > 1.8
    # Measured on the clock (beside the claims): the step takes clearly longer than the MLP's.
    assert results["step_time_ratio"]["verdict"] == "holds"
    assert min(_values(results, "AF-KAN", "time_ratio")) > 1.5


def test_the_basis_is_not_what_makes_af_kan_work_here(results, rows):
    assert rows["basis_matters"]["verdict"] in ("does not hold", "inconclusive at this scale")
    assert rows["basis_matters"]["difference"] < 0.01


def test_relu_kan_fits_the_1d_function_far_better(results):
    assert results["fit_1d"]["verdict"] == "holds"
    mse = results["fit_1d_mse"]
    assert np.median(mse["ReLU-KAN"]) * 5 < np.median(mse["MLP"])
    assert max(mse["ReLU-KAN"]) < 1e-4
