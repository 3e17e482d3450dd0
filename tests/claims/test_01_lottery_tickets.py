"""Claims of notebook 01 (lottery tickets), checked on what its default run measured (results.json).

The notebook's statement at this scale: IMP tickets (the paper's per-layer rates, with the small first
layer at half rate too) beat random re-initialisation and a random mask of the same per-layer densities
by a wide margin, match the dense network at a fifth (and, within noise, a tenth) of the weights, and
reach their lowest validation loss far sooner than the re-initialised mask; sooner than the dense
network on average, but three replicates do not always tell. Pruning the first or the output layer at
the middle layer's rate costs the last ticket accuracy. Every verdict is recomputed here from the stored
replicate numbers with the notebook's rule.
"""

import pytest

from helpers import verdicts


@pytest.fixture
def claims(results):
    return {row["claim"]: row for row in results["claims"]}


def _row(claims, start):
    found = [row for claim, row in claims.items() if claim.startswith(start)]
    assert len(found) == 1, f"expected one claim starting {start!r}, found {len(found)}"
    return found[0]


def _replicate_values(results):
    """The per-replicate numbers behind each claim row, by the row's key, as the notebook compared them."""
    reps = results["replicates"]
    rounds = results["rounds_of_claims"]
    ticket = {key: [r["ticket"][i] for r in reps] for key, i in rounds.items()}
    stop = {k: [r["early_stop"][k] for r in reps] for k in ("ticket", "dense", "reinit")}
    values = {
        f"{name}_{k}": (ticket[k], [r[f"{control}_{k}"] for r in reps])
        for name, control in (("reinit", "reinit"), ("mask", "random_mask"))
        for k in ("sparsest", "moderate")
    }
    values |= {f"match_{k}": (ticket[k], [r["dense"] for r in reps]) for k in ("moderate", "tenth")}
    values |= {f"faster_than_{k}": (stop["ticket"], stop[k]) for k in ("reinit", "dense")}
    values |= {
        f"{layer}_layer": (ticket["sparsest"], [r[f"{layer}_at_middle_rate"] for r in reps])
        for layer in ("first", "output")
    }
    return values


def test_every_verdict_follows_from_the_stored_replicates(results):
    assert len(results["replicates"]) >= 3
    rows = results["claims"]
    assert results["summary"] == rows[0]
    values = _replicate_values(results)
    assert sorted(results["claim_keys"]) == sorted(values)
    for key, row in zip(results["claim_keys"], rows, strict=True):
        method, baseline = values[key]
        again = verdicts.compare(
            row["claim"],
            method,
            baseline,
            threshold=row["threshold"],
            kind=row["rule"],
            higher_is_better=not key.startswith("faster"),
        )
        assert again.verdict == row["verdict"], row["claim"]
        assert again.difference == pytest.approx(row["difference"])
        assert row["replicates"] == len(results["replicates"])


def test_thresholds_are_the_ones_stated_before_the_run(results):
    assert results["thresholds"]["better"] == 0.03
    assert results["thresholds"]["tolerance"] == 0.02
    assert results["thresholds"]["faster_steps"] == round(0.1 * results["long_run_steps"])


def test_imp_reaches_high_sparsity_on_its_per_layer_schedule(results):
    remaining = results["remaining"]
    assert remaining == sorted(remaining, reverse=True)
    assert remaining[-1] < 0.08
    for m in results["mechanism"][:2]:  # per-layer schedule, masks only shrink
        assert m["passed"], m["check"]


def test_tickets_beat_random_reinitialisation(claims):
    for claim, row in claims.items():
        if claim.startswith("tickets beat random re-initialisation"):
            assert row["verdict"] == "holds", claim
            assert row["difference"] > 0.07, claim  # measured 0.10-0.19


def test_tickets_beat_random_masks_of_the_same_layer_densities(claims):
    for claim, row in claims.items():
        if claim.startswith("the mask matters"):
            assert row["verdict"] == "holds", claim
            assert row["difference"] > 0.09, claim  # measured 0.13-0.25


def test_tickets_match_the_dense_network(results, claims):
    rows = [row for claim, row in claims.items() if claim.startswith("tickets match the dense")]
    assert len(rows) == 2
    for row in rows:
        # never clearly worse than dense; the tenth can be inconclusive near the tolerance
        assert row["verdict"] in ("holds", verdicts.INCONCLUSIVE), row["claim"]
        assert row["difference"] > -0.015, row["claim"]
    assert any(row["verdict"] == "holds" for row in rows)
    assert results["metrics"]["sparsest_matching_remaining"] < 0.25


def test_tickets_learn_faster_than_the_reinitialised_mask(claims):
    rows = [r for c, r in claims.items() if "learn faster than the same mask" in c]
    assert len(rows) == 1
    row = rows[0]
    assert row["verdict"] == "holds"
    assert row["difference"] > 150  # steps; measured 310-370 of an 800-step run


def test_tickets_learn_faster_than_dense_on_average_at_least(results, claims):
    rows = [r for c, r in claims.items() if "learn faster than the dense" in c]
    assert len(rows) == 1
    row = rows[0]
    # Earlier on average on every seed tried, but three replicates do not always separate it.
    assert row["verdict"] in ("holds", verdicts.INCONCLUSIVE)
    assert row["difference"] > 0
    end = results["long_run_steps"]
    assert all(r["early_stop"]["ticket"] < end for r in results["replicates"])


def test_first_and_output_layers_need_their_half_rate(claims):
    first = _row(claims, "the 40-input first layer")
    assert first["verdict"] == "holds"
    assert first["difference"] > 0.08  # measured 0.14-0.17
    output = _row(claims, "the output layer")
    assert output["verdict"] in ("holds", verdicts.INCONCLUSIVE)
    assert output["difference"] > 0.03  # measured 0.06-0.07
