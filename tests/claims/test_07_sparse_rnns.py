"""Claim tests of notebook 07 (Darji, sparse RNNs), read from its results.json.

What the notebook states, at this scale: the dense cells learn the Reber task; pruning costs accuracy at
once well before the thesis's 60–80 %, but one retraining epoch regains it up to 40–80 %; at 90 %
no cell regains it in one epoch (the thesis's "one epoch even at 90 %" does not reproduce, the catalogue's
expectation does); random-graph RNNs are more accurate the denser their recurrence and the shorter its
paths.
"""

import pytest


def _metrics(results):
    return results["metrics"]


def _at(m, cell, key, fraction):
    return m[key][cell][m["prune_fractions"].index(fraction)]


def test_dense_cells_learn_the_grammar(results):
    m = _metrics(results)
    assert set(m["cells"]) == {"rnn_tanh", "rnn_relu", "gru", "lstm"}
    for cell in m["cells"]:
        assert m["base_acc"][cell] >= 0.85, cell


def test_light_pruning_costs_little_without_retraining(results):
    m = _metrics(results)
    for cell in m["cells"]:
        assert _at(m, cell, "acc_after_pruning", 0.1) >= m["base_acc"][cell] - 0.05, cell


def test_ninety_percent_pruning_drops_every_cell_to_near_chance(results):
    m = _metrics(results)
    for cell in m["cells"]:
        assert _at(m, cell, "acc_after_pruning", 0.9) <= 0.65, cell


def test_one_retraining_epoch_regains_moderate_pruning(results):
    m = _metrics(results)
    until = m["regained_in_one_epoch_until"]
    assert sum(until.values()) / len(until) >= 0.5
    for cell in m["cells"]:
        assert until[cell] >= 0.4, cell
        # Retraining extends the usable range beyond what survives pruning untouched.
        held = m["holds_without_retraining_until"][cell]
        assert m["regained_in_one_epoch_until"][cell] > held, cell


def test_ninety_percent_is_not_regained_in_one_epoch(results):
    # The thesis reports recovery after one epoch at 90 %; at this scale no cell gets close.
    m = _metrics(results)
    for cell in m["cells"]:
        assert not m["regained_in_one_epoch_at_90"][cell], cell
        assert _at(m, cell, "acc_after_one_epoch", 0.9) < m["base_acc"][cell] - 0.05, cell


def test_epochs_to_regain_agree_with_the_curves(results):
    m = _metrics(results)
    tol = m["tolerance"]
    for cell in m["cells"]:
        pairs = zip(m["retrain_curves"][cell], m["epochs_to_regain"][cell], strict=True)
        for curve, epochs in pairs:
            regained = [k for k, acc in enumerate(curve) if acc >= m["base_acc"][cell] - tol]
            assert epochs == (regained[0] if regained else None)
            assert len(curve) <= m["retrain_epochs"] + 1


def test_random_graph_accuracy_rises_with_density_and_falls_with_path_length(results):
    m = _metrics(results)
    rho = m["graph_rank_correlation"]
    accs = [r["acc"] for r in m["graph_runs"]]
    assert len(accs) >= 12
    assert max(accs) - min(accs) >= 0.15  # the graphs make a real difference
    assert rho["density"] >= 0.4
    assert rho["path_length"] <= -0.2


def test_graph_properties_predict_held_out_accuracy(results):
    m = _metrics(results)
    assert m["graph_loo_r2_density"] > 0.2


def test_verdicts_follow_the_measurements(results):
    m = _metrics(results)
    claims = {row["claim"]: row["verdict"] for row in results["claims"]}
    recovery = claims["one retraining epoch regains the accuracy up to 90 % pruning"]
    assert recovery == "partly"  # one epoch regains what pruning lost, but not at 90 %
    assert results["summary"]["verdict"] == recovery
    holding = claims["accuracy holds right after pruning up to a threshold"]
    thesis = {"rnn_tanh": 0.8, "rnn_relu": 0.7, "gru": 0.8, "lstm": 0.6}
    shortfall = max(thesis[c] - m["holds_without_retraining_until"][c] for c in m["cells"])
    assert holding == ("holds" if shortfall <= 0.1 + 1e-9 else "partly")


@pytest.mark.parametrize("key", ["density", "clustering", "path_length"])
def test_graph_properties_are_recorded_for_every_graph(results, key):
    generators = ("erdos_renyi", "watts_strogatz", "barabasi_albert")
    for run in _metrics(results)["graph_runs"]:
        assert key in run["properties"] and run["kind"] in generators
