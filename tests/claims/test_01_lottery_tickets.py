"""Claims of notebook 01, checked on what its default run measured (results.json)."""


def test_imp_reaches_high_sparsity(results):
    assert results["metrics"]["remaining_last"] < 0.06
    sparsity = results["sparsity"]
    assert sparsity == sorted(sparsity)


def test_tickets_beat_random_reinit_at_the_last_round(results):
    assert results["metrics"]["ticket_minus_reinit_last"] > 0.05


def test_tickets_beat_random_masks_at_the_last_round(results):
    assert results["metrics"]["ticket_minus_random_mask_last"] > 0.05


def test_tickets_match_dense_at_moderate_sparsity(results):
    # The honest statement at our scale: tickets match the dense net down to at most half the weights.
    assert results["metrics"]["sparsest_matching_remaining"] <= 0.5
