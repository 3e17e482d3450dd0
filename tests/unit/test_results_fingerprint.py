"""Fingerprints of results: timing fields left out, everything else counted, bit for bit."""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from helpers import notebook, results  # noqa: E402


def sample() -> dict:
    return {
        "summary": results.claim_row("c", "p", "m", "holds"),
        "acc": [0.5, 0.25],
        "metrics": {"latency_s": 0.01, "search_seconds": [1.0, 2.0], "time_ratio": 3.0, "n": 4},
        "run": {"runtime_s": 12.5, "seed": 0},
    }


def test_timing_fields_are_left_out_at_any_depth() -> None:
    kept = results.without_timing(sample())
    assert kept["metrics"] == {"n": 4}
    assert kept["run"] == {"seed": 0}
    assert [results.is_timing_field(k) for k in ("runtime_s", "acc", "cs_seconds", "speedup")] == [
        True,
        False,
        True,
        False,
    ]


def test_fingerprint_ignores_timing_and_key_order_but_not_values() -> None:
    base = results.fingerprint(sample())
    slower = sample()
    slower["metrics"]["latency_s"] = 99.0
    slower["run"]["runtime_s"] = 1.0
    assert results.fingerprint(slower) == base
    reordered = dict(reversed(list(sample().items())))
    assert results.fingerprint(reordered) == base
    changed = sample()
    changed["acc"][1] = 0.25000000000000006  # one ulp away: bit for bit means bit for bit
    assert results.fingerprint(changed) != base


def test_saved_file_has_the_printed_fingerprint(tmp_path: Path, capsys) -> None:
    run = notebook.start("99_test", seed=0, device="cpu", output_dir=str(tmp_path))
    fig_a, _ = plt.subplots()
    fig_b, _ = plt.subplots()
    run.save(results=sample(), figures={"first": fig_a, "second": fig_b})
    printed = re.search(r"fingerprint \(timing fields excluded\): (\w+)", capsys.readouterr().out)
    saved = results.load_results(tmp_path)
    assert printed and printed.group(1) == results.fingerprint(saved)
    assert saved["run"]["key_figure"] == "first"
    assert (tmp_path / "first.png").exists() and (tmp_path / "second.png").exists()
    with pytest.raises(ValueError, match="key_figure must be one of"):
        run.save(results=sample(), figures={"first": fig_a}, key_figure="third")
    plt.close("all")
