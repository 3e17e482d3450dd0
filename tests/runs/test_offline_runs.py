"""Every notebook ran offline: the guard was in their kernels and saw no attempt to reach the network.

``make test`` runs the unit tests, nbval and the student copies with ``tools/offline`` on PYTHONPATH and
``SPARSITY_NETWORK_LOG`` pointing at a fresh log; this test reads that log afterwards.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import notebooks as tool  # tools/notebooks.py, importable through tests/conftest.py


@pytest.fixture
def network_log() -> list[str]:
    path = os.environ.get("SPARSITY_NETWORK_LOG")
    if not path:
        pytest.skip("SPARSITY_NETWORK_LOG is not set: run through `make test`, which cuts the network")
    if not Path(path).exists():
        pytest.fail(f"no network log at {path}: the offline guard never started (is tools/offline on PYTHONPATH?)")
    return Path(path).read_text().splitlines()


def test_guard_ran_in_a_kernel_for_every_notebook(network_log: list[str]) -> None:
    kernels = [line for line in network_log if "guard installed in python -m ipykernel_launcher" in line]
    assert len(kernels) >= len(tool.course_notebooks()), (
        f"the guard started in {len(kernels)} kernels, fewer than the {len(tool.course_notebooks())} notebooks"
    )


def test_no_notebook_tried_to_reach_the_network(network_log: list[str]) -> None:
    blocked = [line for line in network_log if "BLOCKED" in line]
    assert not blocked, "network access attempted while offline:\n" + "\n".join(blocked)
