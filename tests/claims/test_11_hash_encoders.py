"""Claims of notebook 11 (neural networks as hash encoders), checked on what its default run measured.

The notebook's statement at this scale: on the 8×8 digits, a wide ReLU layer gives every example its own
code, train and test, but so does the same layer untrained; determinism grows with width; training
makes the train redundancy of a narrow layer jump after the first epoch and then fall; simple
classifiers on codes come within a few points of the network; training improves them clearly for a
narrow layer; a 9-NN vote on the raw inputs is not beaten by one on the codes; more distinct training
examples give somewhat better codes for 9-NN. Every verdict is recomputed here from the stored replicate numbers with the
notebook's rule; the bands below fail if the effects behind them vanish. Across seeds, the wide
layer's gain from training, the classifiers' closeness to the network and the sample-size gain are at
the edge of what three replicates can confirm: their verdicts may differ from seed to seed, as the rule
allows, while their bands hold.
"""

import numpy as np
import pytest

from helpers import verdicts


def _fast(results, key, width, checkpoint):
    """Replicate values of a per-checkpoint metric at a width and a checkpoint epoch."""
    i, c = results["widths"].index(width), results["checkpoints"].index(checkpoint)
    return results["fast"][key][i][c]


def _comparisons(results):
    """Every comparison behind every claim row: (method, baseline, threshold, kind, higher_is_better)."""
    t, widths, tw = results["thresholds"], results["widths"], results["time_width"]
    wide, narrow, last = widths[-1], widths[0], results["checkpoints"][-1]
    red, knn = "redundancy_train", "knn"
    size = results["by_size"]
    logistic = results["slow"]["final"]["logistic"][-1]
    return {
        "determinism": [
            (_fast(results, key, wide, last), 0.0, t["determinism"], "matches", False)
            for key in ("redundancy_train", "redundancy_test")
        ],
        "width": [
            (
                _fast(results, red, wide, last),
                _fast(results, red, narrow, last),
                t["width_drop"],
                "better",
                False,
            )
        ],  # fmt: skip
        "no_training": [
            (
                _fast(results, red, wide, last),
                _fast(results, red, wide, 0),
                t["determinism"],
                "matches",
                False,
            )
        ],  # fmt: skip
        "rise_fall": [
            (_fast(results, red, tw, 1), _fast(results, red, tw, 0), t["rise"], "better", True),
            (_fast(results, red, tw, last), _fast(results, red, tw, 1), t["fall"], "better", False),
        ],
        "categorization": [
            (values, _fast(results, "network", wide, last), t["close"], "matches", True)
            for values in (_fast(results, knn, wide, last), logistic)
        ],
        "training_helps": [
            (_fast(results, knn, w, last), _fast(results, knn, w, 0), t["better"], "better", True)
            for w in sorted({tw, wide})
        ],
        "raw_control": [
            (_fast(results, knn, wide, last), results["raw_knn"], t["better"], "better", True)
        ],
        "sample_size": [
            (size["knn"][-1], size["knn"][0], t["better"], "better", True),
            (size["redundancy_test"][-1], size["redundancy_test"][0], t["better"], "better", False),
        ],
    }


def test_every_verdict_follows_from_the_stored_replicates(results, rows):
    parts = _comparisons(results)
    assert sorted(rows) == sorted(parts)
    assert results["summary"] == results["claims"][0]
    for key, row in rows.items():
        again = [
            verdicts.compare(key, m, b, threshold=th, kind=kind, higher_is_better=hib)
            for m, b, th, kind, hib in parts[key]
        ]
        assert verdicts.combine(again) == row["verdict"], row["claim"]
        stored = [c["difference"] for c in row["comparisons"]]
        assert stored == pytest.approx([c.difference for c in again])
        assert row["replicates"] >= 3


def test_thresholds_are_the_ones_stated_before_the_run(results):
    assert results["thresholds"] == {
        "determinism": 0.01,
        "width_drop": 0.1,
        "rise": 0.05,
        "fall": 0.02,
        "close": 0.05,
        "better": 0.02,
    }


def test_a_wide_layer_hashes_every_example_apart_trained_or_not(results, rows):
    wide, last = results["widths"][-1], results["checkpoints"][-1]
    assert rows["determinism"]["verdict"] == "holds"
    assert rows["no_training"]["verdict"] == "holds"
    assert np.mean(_fast(results, "redundancy_train", wide, last)) < 0.01
    assert np.mean(_fast(results, "redundancy_train", wide, 0)) < 0.01
    # the narrowest layer (5 units: at most 32 codes) cannot hash 1347 images apart
    narrow = results["widths"][0]
    assert np.mean(_fast(results, "redundancy_train", narrow, last)) > 0.5
    assert rows["width"]["verdict"] == "holds"


def test_redundancy_jumps_after_the_first_epoch_then_falls(results, rows):
    tw, last = results["time_width"], results["checkpoints"][-1]
    rise = np.array(_fast(results, "redundancy_train", tw, 1)) - _fast(
        results, "redundancy_train", tw, 0
    )
    assert rise.mean() > 0.1 and (rise > 0).all()
    assert rows["rise_fall"]["comparisons"][0]["verdict"] == "holds"
    fall = np.array(_fast(results, "redundancy_train", tw, 1)) - _fast(
        results, "redundancy_train", tw, last
    )
    assert fall.mean() > 0.0  # the fall may be too small for the rule on a new seed, not reversed
    assert rows["rise_fall"]["verdict"] in ("holds", "partly")


def test_codes_classify_close_to_the_network_and_training_helps_narrow_layers(results, rows):
    wide, tw, last = results["widths"][-1], results["time_width"], results["checkpoints"][-1]
    knn = np.mean(_fast(results, "knn", wide, last))
    network = np.mean(_fast(results, "network", wide, last))
    assert knn > 0.9 and network - knn < 0.06
    assert np.mean(results["slow"]["final"]["logistic"][-1]) > 0.88
    assert rows["categorization"]["verdict"] != "does not hold"
    gain = np.mean(_fast(results, "knn", tw, last)) - np.mean(_fast(results, "knn", tw, 0))
    assert gain > 0.03
    assert rows["training_helps"]["comparisons"][0]["verdict"] == "holds"


def test_codes_do_not_beat_the_raw_inputs_for_nearest_neighbours(results, rows):
    knn = np.mean(_fast(results, "knn", results["widths"][-1], results["checkpoints"][-1]))
    assert knn < results["raw_knn"] + 0.01
    assert rows["raw_control"]["verdict"] in ("does not hold", verdicts.INCONCLUSIVE)


def test_more_examples_give_better_codes(results, rows):
    # Tiled to the same number of steps, more distinct images make the network clearly better and its
    # codes a few points better for 9-NN: with three replicates the rule may or may not confirm the
    # code gain (its verdict is recomputed above), but the gain must be there. The test redundancy of
    # a width-20 layer does not fall with sample size at this scale, so it is not asserted.
    size = results["by_size"]
    gain = np.mean(size["knn"][-1]) - np.mean(size["knn"][0])
    assert gain > 0.02
    assert np.mean(size["network"][-1]) - np.mean(size["network"][0]) > 0.1
    assert rows["sample_size"]["comparisons"][0]["verdict"] != "does not hold"
