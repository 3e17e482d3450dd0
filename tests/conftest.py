"""Test-suite wiring: notebooks run once under nbval, and their claim tests read what they wrote.

- Every notebook writes ``results.json`` into ``$SPARSITY_OUTPUT_ROOT/<notebook>/`` (see
  ``helpers.results.output_dir_for``). This file points that variable at ``runs/test`` and empties it
  at the start of a session, so a claim test can never read a stale result.
- ``tests/claims/test_<notebook>.py`` holds a notebook's claim tests; its ``results`` fixture loads
  that notebook's ``results.json``. With ``--results-root DIR`` (``make test-seeds``) the claim tests
  read DIR/<notebook>/results.json instead, from runs made by ``tools/notebooks.py run``.
- Under pytest-xdist (``--dist loadgroup``) a notebook's cells and its claim tests share one group,
  so they run on one worker, cells first.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TEST_OUTPUT_ROOT = ROOT / "runs" / "test"
os.environ.setdefault("SPARSITY_OUTPUT_ROOT", str(TEST_OUTPUT_ROOT))
os.environ.setdefault("SPARSITY_PROGRESS", "0")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--results-root",
        default=None,
        help="read claim-test results from DIR/<notebook>/results.json (default: this session's nbval run)",
    )


def pytest_configure(config: pytest.Config) -> None:
    is_controller = not hasattr(config, "workerinput")
    root = Path(os.environ["SPARSITY_OUTPUT_ROOT"])
    if is_controller and config.getoption("--results-root") is None and root == TEST_OUTPUT_ROOT:
        shutil.rmtree(root, ignore_errors=True)


def notebook_of(item: pytest.Item) -> str | None:
    """The notebook an item belongs to: an nbval cell of it, or a test in tests/claims/test_<nb>.py."""
    path = Path(str(item.fspath))
    if path.suffix == ".ipynb":
        return path.stem
    if path.parent.name == "claims" and path.stem.startswith("test_"):
        return path.stem[len("test_") :]
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        nb = notebook_of(item)
        if nb is not None:
            item.add_marker(pytest.mark.xdist_group(nb))
    # Within a notebook's group: its cells (in order) before its claim tests.
    position = {id(item): i for i, item in enumerate(items)}
    items.sort(key=lambda it: (Path(str(it.fspath)).parent.name == "claims", position[id(it)]))


@pytest.fixture
def results(request: pytest.FixtureRequest) -> dict:
    """The ``results.json`` of the notebook this claim-test module is named after."""
    import json

    nb = notebook_of(request.node)
    if nb is None:
        raise RuntimeError("the results fixture is for tests/claims/test_<notebook>.py")
    root = request.config.getoption("--results-root") or os.environ["SPARSITY_OUTPUT_ROOT"]
    path = Path(root) / nb / "results.json"
    if not path.exists():
        pytest.fail(
            f"no results at {path}: the claim tests read what the notebook wrote. Run them together "
            f"with the notebook (make test) or pass --results-root from `tools/notebooks.py run`."
        )
    return json.loads(path.read_text())
