"""The same seed on the CPU gives the same ``results.json``, bit for bit (timing fields excluded).

Two runs are compared without running anything again: the committed notebook (executed by
``make outputs``) printed its results' fingerprint in the Save cell; this session's nbval run wrote
``results.json``. Their fingerprints must match. New notebooks are covered without edits.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import nbformat
import pytest

import notebooks as tool  # tools/notebooks.py, importable through tests/conftest.py
from helpers.plumbing.results import fingerprint, load_results


PRINTED = re.compile(r"results fingerprint \(timing fields excluded\): ([0-9a-f]{16})")
COURSE = tool.course_notebooks()


def committed_fingerprint(path: Path) -> str:
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            found = PRINTED.search(output.get("text", ""))
            if found:
                return found.group(1)
    pytest.fail(
        f"{path.name} was committed without a results fingerprint in its Save cell's output: "
        f"refresh its outputs with `make outputs NB={path.stem[:2]}`"
    )


@pytest.mark.parametrize("path", COURSE, ids=[p.stem for p in COURSE])
def test_same_seed_same_results(path: Path, request: pytest.FixtureRequest) -> None:
    root = request.config.getoption("--results-root") or os.environ["SPARSITY_OUTPUT_ROOT"]
    results = load_results(Path(root) / path.stem)
    committed = committed_fingerprint(path)
    if results["run"]["seed"] != 0:
        pytest.skip(f"results of seed {results['run']['seed']}; the committed run used seed 0")
    assert fingerprint(results) == committed, (
        f"{path.name}: results.json differs from the committed run's (fingerprint "
        f"{fingerprint(results)} vs {committed}) with the same seed. Either something is not "
        f"seeded, a wall-clock value sits outside a timing field (helpers.results.TIMING_SUFFIXES), "
        f"or the numbers changed on purpose: then refresh with `make outputs NB={path.stem[:2]}`"
    )
