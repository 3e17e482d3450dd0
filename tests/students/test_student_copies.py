"""Student copies (``make student``): valid notebooks that run, cell by cell, up to their first stub.

Each course notebook is turned into its student copy (``tools/notebooks.py student_copy``); the test
executes the copy's cells up to and including the first stub in a fresh kernel and checks that every
cell before the stub ran cleanly and that the stub itself stops with NotImplementedError. New
notebooks are covered without edits.
"""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

import notebooks as tool  # tools/notebooks.py, importable through tests/conftest.py


COURSE = tool.course_notebooks()


def stub_positions(nb: nbformat.NotebookNode) -> list[int]:
    return [i for i, c in enumerate(nb.cells) if "stub" in c.metadata.get("tags", [])]


@pytest.mark.parametrize("path", COURSE, ids=[p.stem for p in COURSE])
def test_student_copy_is_valid_and_hides_solutions(path: Path) -> None:
    original = nbformat.read(path, as_version=4)
    copy = tool.student_copy(path)
    nbformat.validate(copy)
    stubs = stub_positions(copy)
    assert stubs, f"{path.name}: no stub in the student copy (no cell tagged 'solution')"
    assert len(copy.cells) == len(original.cells)
    for i in stubs:
        solution = original.cells[i].source
        stub = copy.cells[i].source
        assert stub.endswith(tool.STUB) and not copy.cells[i].outputs
        # The task comments stay; no line of code of the solution does.
        code = [line for line in solution.splitlines() if line and not line.startswith("#")]
        assert code and not any(line in stub.splitlines() for line in code)
    # Exercises are kept word for word.
    exercises = [c.source for c in original.cells if "## Exercises" in c.source]
    assert exercises and all(any(e == c.source for c in copy.cells) for e in exercises)


@pytest.mark.parametrize("path", COURSE, ids=[p.stem for p in COURSE])
def test_student_copy_runs_up_to_its_first_stub(path: Path, tmp_path: Path) -> None:
    copy = tool.student_copy(path)
    first = stub_positions(copy)[0]
    copy.cells = copy.cells[: first + 1]
    client = NotebookClient(
        copy,
        kernel_name="python3",
        timeout=300,
        resources={"metadata": {"path": str(tmp_path)}},
    )
    env = {"SPARSITY_OUTPUT_ROOT": str(tmp_path), "SPARSITY_PROGRESS": "0"}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        with pytest.raises(CellExecutionError) as stopped:
            client.execute()
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    assert stopped.value.ename == "NotImplementedError", (
        f"{path.name}: the student copy failed before its first stub (cell {first}): "
        f"{stopped.value.ename}: {stopped.value.evalue}"
    )
    code_before = [c for c in copy.cells[:first] if c.cell_type == "code"]
    assert all(c.execution_count is not None for c in code_before)
    assert not any(o.get("output_type") == "error" for c in code_before for o in c.outputs)
