"""Claims of notebook 00, checked on what its default run measured (results.json)."""


def test_magnitude_beats_random_at_high_sparsity(results):
    m = results["metrics"]
    assert m["mlp_magnitude_acc_at_90"] - m["mlp_random_acc_at_90"] > 0.1
    assert m["mlp_min_gap_above_80"] > 0.0


def test_pruned_and_retrained_mlp_keeps_dense_accuracy_at_moderate_sparsity(results):
    assert results["metrics"]["mlp_highest_sparsity_within_1pt"] >= 0.5


def test_global_pruning_spreads_sparsity_across_tensors(results):
    per_tensor = results["metrics"]["global_90_per_tensor_sparsity"].values()
    assert max(per_tensor) - min(per_tensor) > 0.05


def test_masks_survive_the_optimizer_and_the_trap_is_real(results):
    trap = results["metrics"]["trap"]
    assert trap["mask + re-zero (helpers)"]["revived_stored"] == 0
    assert trap["mask in forward only"]["revived_effective"] == 0
    assert (
        trap["mask in forward only"]["revived_stored"]
        > 0.5 * trap["mask in forward only"]["pruned"]
    )
    assert trap["zero once"]["revived_effective"] > 0.5 * trap["zero once"]["pruned"]


def test_our_masks_equal_torch_prune(results):
    m = results["metrics"]
    assert m["torch_prune_identical_layers"] == m["torch_prune_layers"] == 3


def test_a_mask_alone_gives_theoretical_not_measured_speed(results):
    summary = results["metrics"]["summary_mlp_90"]
    assert abs(summary["sparsity"] - 0.9) < 1e-3
    assert summary["theoretical_speedup"] > 5
    assert summary["compression"] > 5
