"""Claims of notebook 00 (masks and magnitude pruning), checked on what its default run measured.

The notebook's statement at this scale: on the MLP, magnitude pruning beats random pruning by a wide
margin at every sparsity of at least 80 %, and global pruning beats layer-wise pruning; on the tiny CNN the
replicates tell less. One-shot pruning with a short retraining keeps the dense accuracy at 50 % but not at
90 % (Han et al. prune iteratively). Every verdict is recomputed here from the stored replicate numbers
with the notebook's rule, and the scope behind "magnitude" must be the one the validation split chose.
"""

import pytest

from helpers import verdicts

CHOSEN = "magnitude (scope chosen on validation)"
MODELS = ("MLP", "1-D CNN")


def _row(results, start):
    """The one claims row whose claim text starts with ``start``."""
    (row,) = [row for row in results["claims"] if row["claim"].startswith(start)]
    return row


def _accs(results, name, method, s):
    i = results["sparsities"].index(s)
    return [r["test"][name][method][i] for r in results["replicates"]]


def _comparisons(results, name):
    t = results["thresholds"]
    high = results["claim_sparsities"]
    random = [
        verdicts.compare(
            "r",
            _accs(results, name, CHOSEN, s),
            _accs(results, name, "random", s),
            threshold=t["far_better"],
        )
        for s in high
    ]
    scope = [
        verdicts.compare(
            "s",
            _accs(results, name, "magnitude-global", s),
            _accs(results, name, "magnitude-layer", s),
            threshold=t["differ"],
            kind="differs",
        )
        for s in high
    ]
    return random, scope


def test_every_verdict_follows_from_the_stored_replicates(results):
    assert len(results["replicates"]) >= 3
    assert results["summary"] == results["claims"][0]
    assert results["claim_sparsities"] == [s for s in results["sparsities"] if s >= 0.8]
    for name in MODELS:
        random, scope = _comparisons(results, name)
        row = _row(results, f"magnitude ≫ random pruning, {name},")
        assert row["verdict"] == verdicts.combine(random)
        row = _row(results, f"global and layer-wise pruning differ in accuracy, {name} ")
        assert row["verdict"] == verdicts.combine(scope)
    dense = [r["dense"]["MLP"] for r in results["replicates"]]
    again = verdicts.compare(
        "k",
        _accs(results, "MLP", CHOSEN, 0.9),
        dense,
        threshold=results["thresholds"]["tolerance"],
        kind="matches",
    )
    row = _row(results, "pruning + retraining keeps the dense accuracy at 90 %")
    assert row["verdict"] == again.verdict
    assert row["difference"] == pytest.approx(again.difference)


def test_the_scope_behind_magnitude_was_chosen_on_validation(results):
    for r in results["replicates"]:
        for name in MODELS:
            val, test = r["val"][name], r["test"][name]
            for i, scope in enumerate(r["scope"][name]):
                glob, layer = val["magnitude-global"][i], val["magnitude-layer"][i]
                assert scope == ("global" if glob >= layer else "layer-wise")
                key = "magnitude-global" if scope == "global" else "magnitude-layer"
                assert test[CHOSEN][i] == test[key][i]


def test_magnitude_far_beats_random_on_the_mlp(results):
    assert _row(results, "magnitude ≫ random pruning, MLP,")["verdict"] == "holds"
    random, _ = _comparisons(results, "MLP")
    assert all(c.difference > 0.05 for c in random)
    gap_90 = random[results["claim_sparsities"].index(0.9)].difference
    assert gap_90 > 0.15


def test_global_beats_layer_wise_on_the_mlp_at_high_sparsity(results):
    assert _row(results, "global and layer-wise pruning differ in accuracy, MLP ")["verdict"] in (
        "holds",
        "partly",
    )
    for s in (0.9, 0.95):
        glob = _accs(results, "MLP", "magnitude-global", s)
        layer = _accs(results, "MLP", "magnitude-layer", s)
        assert sum(glob) / len(glob) - sum(layer) / len(layer) > 0.05


def test_one_shot_pruning_keeps_dense_accuracy_at_half_but_not_at_a_tenth(results):
    row = _row(results, "pruning + retraining keeps the dense accuracy at 90 %")
    assert row["verdict"] == "does not hold"
    assert row["difference"] < -0.04
    assert 0.5 in results["metrics"]["mlp_sparsities_matching_dense"]
    assert 0.9 not in results["metrics"]["mlp_sparsities_matching_dense"]


def test_the_cnn_collapses_at_90_percent_with_no_layer_wiped_out(results):
    for r in results["replicates"]:
        density = r["global_90_density"]["1-D CNN"]
        assert 0 < density["head.weight"] < 0.08  # pruned hardest (layer-wise: 0.10), not emptied
        assert min(density.values()) == density["head.weight"]
    for method in ("magnitude-global", "magnitude-layer"):
        accs = _accs(results, "1-D CNN", method, 0.9)
        assert sum(accs) / len(accs) < 0.35
    dense = [r["dense"]["1-D CNN"] for r in results["replicates"]]
    assert sum(dense) / len(dense) > 0.55


def test_mechanism_checks_pass(results):
    assert all(row["passed"] for row in results["mechanism"])
    m = results["metrics"]
    assert m["torch_prune_identical_layers"] == m["torch_prune_layers"] == 3


def test_masks_survive_the_optimizer_and_the_trap_is_real_in_size(results):
    trap, tau = results["metrics"]["trap"], results["metrics"]["trap_threshold_tau"]
    helpers_kept = trap["mask + re-zero (helpers)"]
    assert helpers_kept["stored_max"] == 0 and helpers_kept["effective_max"] == 0
    forward_only = trap["mask in forward only"]
    assert forward_only["effective_max"] == 0
    assert forward_only["stored_max"] >= 0.01 * tau
    assert trap["zero once"]["stored_max"] >= 0.3 * tau


def test_a_mask_alone_gives_theoretical_not_measured_speed(results):
    summary = results["metrics"]["summary_mlp_90"]
    assert abs(summary["sparsity"] - 0.9) < 1e-3
    assert summary["theoretical_speedup"] > 5
    assert summary["compression"] > 5
