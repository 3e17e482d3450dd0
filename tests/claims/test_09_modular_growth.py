"""Claim tests of notebook 09 (modular growth, in the spirit of Hamidi et al. 2024), from its results.json.

What the notebook states at this scale (N-parity N = 2 → 5; 4 modules of 10 units against monolithic
RNNs of equal units and of equal parameters; at least 3 replicates, paired by seed):

- "faster training" does not hold in optimizer steps: both monolithic RNNs need fewer;
- counted in parameter updates the frozen modular network is cheaper (holds or partly);
- "more robust" does not hold from matched clean accuracy: noise and silenced units cost the modular
  networks no less (does not hold or inconclusive, never a gain);
- "generalises better": trained on 32 streams, every network stays far from the ceiling on fresh
  streams, and the frozen modular network is not worse than the monolithic RNNs (on average better;
  with three replicates the verdict itself varies with the seed, so only its recomputation is checked);
- "fixed intra-module weights suffice" cannot fail on the paper's curriculum (W_hh = 0 above module 1
  reaches the criterion), and does not hold on the memory curriculum, where W_hh = 0 clearly fails.

Every verdict is recomputed here from the per-replicate numbers with ``verdicts.compare`` and the
notebook's rule, so a stored verdict that does not follow from its numbers fails.
"""

import numpy as np

from helpers import verdicts

MODULAR = ("frozen", "finetune")
BASELINES = ("monolithic", "monolithic_matched")
NOT_A_GAIN = ("does not hold", "inconclusive at this scale")


def _m(results):
    return results["metrics"]


def _drop(curve):
    return curve[0] - float(np.mean(curve[1:]))


def _versus(values, threshold, higher_is_better=True, relative=False, valid=None):
    found = []
    for m in MODULAR:
        for b in BASELINES:
            keep = [True] * len(values[m])
            if valid is not None:
                keep = [x and y for x, y in zip(valid[m], valid[b], strict=True)]
            mv = [v for v, k in zip(values[m], keep, strict=True) if k] if any(keep) else values[m]
            bv = [v for v, k in zip(values[b], keep, strict=True) if k] if any(keep) else values[b]
            if relative:
                mv, bv = [x / y for x, y in zip(mv, bv, strict=True)], [1.0] * len(bv)
            c = verdicts.compare(
                "c", mv, bv, threshold=threshold, higher_is_better=higher_is_better
            )
            found.append(c.verdict if any(keep) else verdicts.VERDICTS[3])
    return found


def _recomputed(results):
    """Every claim's comparisons, from the stored per-replicate numbers."""
    m = _m(results)
    return {
        "steps": _versus(
            {k: [sum(s) for s in v] for k, v in m["steps_per_stage"].items()}, 0.2, False, True
        ),
        "updates": _versus(m["parameter_updates"], 0.2, False, True),
        "noise": _versus(m["noise_drop"], 0.03, False, valid=m["reached_all"]),
        "ablation": _versus(m["ablation_drop"], 0.03, False, valid=m["reached_all"]),
        "generalisation": _versus(
            m["generalisation_test"], 0.03, valid=m["generalisation_reached"]
        ),
    }


def _last(results, name):
    return [accs[-1] for accs in _m(results)["memory_test"][name]]


def test_replicates_and_rows(results):
    m = _m(results)
    n = m["replicates"]
    assert n >= 3 and len(set(m["replicate_seeds"])) == n
    assert results["summary"]["replicates"] == n
    assert len(results["claims"]) == 6
    for row in results["claims"]:
        # robustness and generalisation pairs use the replicates where both networks reached the criterion
        assert 1 <= row["replicates"] <= n, row["claim"]
        assert row["verdict"] in verdicts.VERDICTS
    assert results["claims"][0]["replicates"] == n
    for per_network in (m["steps_per_stage"], m["noise_drop"], m["generalisation_test"]):
        assert all(len(v) == n for v in per_network.values())


def test_verdicts_follow_from_the_replicates(results):
    stored = _m(results)["verdicts"]
    for key, found in _recomputed(results).items():
        ceiling = (
            key == "generalisation"
            and max(np.mean(_m(results)["generalisation_test"][b]) for b in BASELINES) >= 0.99
        )
        expected = verdicts.VERDICTS[3] if ceiling else verdicts.combine(found)
        assert stored[key] == expected, key
    fixed = verdicts.compare(
        "c", _last(results, "fixed_intra"), _last(results, "frozen"), threshold=0.03, kind="matches"
    )
    control = verdicts.compare(
        "c", _last(results, "no_intra"), _last(results, "frozen"), threshold=0.03, kind="matches"
    )
    counts = control.verdict == "does not hold"
    assert stored["fixed_intra"] == (fixed.verdict if counts else verdicts.VERDICTS[3])
    rows = [row["verdict"] for row in results["claims"]]
    keys = ("steps", "updates", "noise", "ablation", "generalisation", "fixed_intra")
    assert rows == [stored[key] for key in keys]
    assert results["summary"]["verdict"] == verdicts.combine(rows) == "partly"


def test_monolithic_rnns_need_fewer_optimizer_steps(results):
    m = _m(results)
    total = {k: [sum(s) for s in v] for k, v in m["steps_per_stage"].items()}
    for mod in MODULAR:
        for base in BASELINES:  # no pair shows the claimed speed-up of a fifth
            ratios = [a / b for a, b in zip(total[mod], total[base], strict=True)]
            assert np.mean(ratios) > 0.8, (mod, base)
    for base in BASELINES:  # the frozen network is clearly slower than both
        assert np.mean(total["frozen"]) > 1.2 * np.mean(total[base]), base
    assert m["verdicts"]["steps"] == "does not hold"


def test_frozen_growth_needs_fewer_parameter_updates(results):
    m = _m(results)
    updates = m["parameter_updates"]
    for base in BASELINES:
        ratios = [f / b for f, b in zip(updates["frozen"], updates[base], strict=True)]
        assert np.mean(ratios) < 0.7, base
    assert m["verdicts"]["updates"] in ("holds", "partly")


def test_no_robustness_gain_from_matched_clean_accuracy(results):
    m = _m(results)
    reached = m["reached_all"]
    clean = {
        k: [curve[0] for curve, ok in zip(v, reached[k], strict=True) if ok]
        for k, v in m["noise_accuracy"].items()
    }
    means = [np.mean(v) for v in clean.values() if v]
    assert max(means) - min(means) <= 0.03  # the compared networks start level
    assert min(means) >= 0.95
    for key in ("noise", "ablation"):
        assert m["verdicts"][key] in NOT_A_GAIN, key
        for name, curves in m[f"{key}_accuracy"].items():  # the perturbations bite
            strongest, none = np.mean([c[-1] for c in curves]), np.mean([c[0] for c in curves])
            assert strongest < none - 0.1, (key, name)
        for mod in MODULAR:  # no clear gain over the equal-parameter RNN on the matched replicates
            pairs = [
                (a, b)
                for a, b, x, y in zip(
                    m[f"{key}_drop"][mod],
                    m[f"{key}_drop"]["monolithic_matched"],
                    reached[mod],
                    reached["monolithic_matched"],
                    strict=True,
                )
                if x and y
            ]
            if pairs:
                assert np.mean([b - a for a, b in pairs]) < 0.06, (mod, key)


def test_generalisation_test_is_off_the_ceiling_and_the_frozen_network_is_not_worse(results):
    # With three replicates the verdict can change with the seed (the frozen network's replicates
    # scatter widely), so it is recomputed in test_verdicts_follow_from_the_replicates and only the
    # robust statements are checked here.
    m = _m(results)
    test = {k: np.mean(v) for k, v in m["generalisation_test"].items()}
    for base in BASELINES:
        assert test[base] < 0.85, base  # far from the ceiling: the test can tell networks apart
        assert test["frozen"] > test[base] - 0.05, base
    assert max(test.values()) < 0.99
    fitted = sum(sum(v) for v in m["generalisation_reached"].values())
    assert fitted >= 0.75 * len(MODULAR + BASELINES) * m["replicates"]


def test_fixed_intra_module_weights_cannot_fail_on_the_paper_curriculum_and_fail_where_memory_is_needed(
    results,
):
    m = _m(results)
    assert all(m["reached_all"]["no_intra"])  # no module memory needed on N = 2 → 5
    trained, fixed, none = (
        np.mean(_last(results, n)) for n in ("frozen", "fixed_intra", "no_intra")
    )
    assert none < trained - 0.1  # the memory curriculum needs module memory
    assert fixed < trained - 0.03
    assert none < 0.7
    assert m["verdicts"]["fixed_intra"] in NOT_A_GAIN


def test_longer_streams_are_a_ceiling(results):
    m = _m(results)
    assert m["lengths"][-1] >= 100 * m["lengths"][0]
    for name, per_replicate in m["length_accuracy"].items():
        for curve in per_replicate:
            assert max(abs(curve[0] - a) for a in curve[1:]) <= 0.05, name


def test_parameter_counts(results):
    p = _m(results)["parameters"]
    assert p["frozen"] == p["finetune"]
    assert abs(p["monolithic_matched"] / p["frozen"] - 1) <= 0.05
    assert p["monolithic"] > 2 * p["frozen"]
