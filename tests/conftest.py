"""Test-suite wiring: notebooks run once under nbval, and their claim tests read what they wrote.

- Every notebook writes ``results.json`` into ``$SPARSITY_OUTPUT_ROOT/<notebook>/`` (see
  ``helpers.plumbing.results.output_dir_for``). This file points that variable at ``runs/test``. A session that
  executes a notebook first deletes that notebook's old results, so a claim test can never read a
  stale result of a notebook that failed.
- ``tests/claims/test_<notebook>.py`` holds a notebook's claim tests; its ``results`` fixture loads
  that notebook's ``results.json``. With ``--results-root DIR`` (``make test-seeds``) the claim tests
  read DIR/<notebook>/results.json instead, from runs made by ``tools/notebooks.py run``.
- ``make test`` runs two sessions: unit tests and nbval over the notebooks (two workers,
  ``--dist loadfile`` keeps a notebook's cells on one kernel), then the claim tests. In a single
  session the claim tests are ordered after every notebook.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest
from hypothesis import settings

# Property-based tests draw the same examples on every run (a red CI run can be rerun and debugged);
# HYPOTHESIS_PROFILE=explore draws new ones on every run, to look for cases no one has seen yet.
settings.register_profile("repeatable", derandomize=True, deadline=None)
settings.register_profile("explore", derandomize=False, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "repeatable"))

ROOT = Path(__file__).resolve().parent.parent
# The tools (tools/notebooks.py, ...) are scripts, not a package: tests import them as top-level modules.
sys.path.insert(0, str(ROOT / "tools"))
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
    if hasattr(config, "workerinput"):  # an xdist worker: the controller has done this
        return
    root = Path(os.environ["SPARSITY_OUTPUT_ROOT"])
    for arg in config.args:
        for notebook in Path(arg.split("::")[0]).parent.glob(Path(arg.split("::")[0]).name):
            if notebook.suffix == ".ipynb":
                shutil.rmtree(root / notebook.stem, ignore_errors=True)


def notebook_of(item: pytest.Item) -> str | None:
    """The notebook an item belongs to: an nbval cell of it, or a test in tests/claims/test_<nb>.py."""
    path = Path(str(item.fspath))
    if path.suffix == ".ipynb":
        return path.stem
    if path.parent.name == "claims" and path.stem.startswith("test_"):
        return path.stem[len("test_") :]
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # In one session, every notebook's cells (in order) come before any claim test.
    position = {id(item): i for i, item in enumerate(items)}
    items.sort(
        key=lambda it: (
            notebook_of(it) is not None and Path(str(it.fspath)).suffix != ".ipynb",
            position[id(it)],
        )
    )


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


@pytest.fixture
def rows(results: dict) -> dict[str, dict]:
    """The notebook's claim rows by their key (``results['claim_keys']`` names ``results['claims']``)."""
    return dict(zip(results["claim_keys"], results["claims"], strict=True))
