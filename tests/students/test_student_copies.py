"""Student copies (``make student``): solutions hidden, nothing else changed, and they run.

For every course notebook (new notebooks are covered without edits):

- the student copy is a valid notebook: each code solution became a stub that keeps the task's comment
  lines and raises NotImplementedError naming the exercise; markdown solutions are gone; cells tagged
  ``predict`` have no outputs; the exercises are kept word for word;
- ``fill`` (the solutions put back) gives the original notebook back, cell for cell: same types,
  sources and tags, same outputs except the hidden predicted ones. So the student copy changed
  nothing but the solutions;
- run as a student would, in a fresh kernel working in a fresh folder, the copy stops at its first
  stub with that stub's NotImplementedError, and every cell before it ran cleanly.

Does the filled copy reproduce the committed run? Running each filled copy to the end costs one more
run of every notebook (measured: the notebook's own run plus a kernel start; 130-190 s each for 00
and 02 while other jobs kept the 2 cores' load at 10-12, whose runs take 18-21 s unloaded; the runs
up to the first stub took 11-21 s each under the same load), which would double the notebook part
of `make test`. So by default the suite checks it in two steps that
together say the same: ``fill`` gives back every cell's source, in order (above), so executing the
filled copy executes exactly the code the nbval run of the original executes; and
``tests/runs/test_reproducible.py`` checks that this nbval run's ``results.json`` has the
fingerprint the committed notebook printed. ``make test-students`` (``SPARSITY_STUDENT_RUNS=full``)
runs the literal test: after the first stub stops it, each stub gets its solution and the copy runs
to the end in its own folder; its ``results.json`` must have the committed fingerprint.
``SPARSITY_STUDENT_RUNS=unfilled`` runs the copy to the end with every stub left unsolved (each must
stop with its own message): the results must still be the committed ones, since solution code may
not change the experiment (CONTRIBUTING.md, *Exercises, solutions and tags*).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import exercises  # tools/exercises.py, importable through tests/conftest.py
import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

import notebooks as tool  # tools/notebooks.py
from helpers.plumbing.results import fingerprint, load_results

COURSE = tool.course_notebooks()
PRINTED = re.compile(r"results fingerprint \(timing fields excluded\): ([0-9a-f]{16})")


def stub_positions(nb: nbformat.NotebookNode) -> list[int]:
    return [i for i, c in enumerate(nb.cells) if "stub" in exercises.tags(c)]


def printed_fingerprint(nb: nbformat.NotebookNode) -> str | None:
    """The results fingerprint a notebook's Save cell printed in its committed outputs."""
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            found = PRINTED.search(output.get("text", ""))
            if found:
                return found.group(1)
    return None


@pytest.mark.parametrize("path", COURSE, ids=[p.stem for p in COURSE])
def test_student_copy_is_valid_and_hides_solutions(path: Path) -> None:
    original = nbformat.read(path, as_version=4)
    copy = exercises.student_copy(path)
    nbformat.validate(copy)
    stubs = stub_positions(copy)
    assert stubs, f"{path.name}: no stub in the student copy (no code cell tagged 'solution')"
    solutions = {c.id: c for c in original.cells if "solution" in exercises.tags(c)}
    for i in stubs:
        stub = copy.cells[i]
        solution = solutions[stub.id].source
        number = exercises.solution_number(solutions[stub.id])
        assert stub.source.endswith(exercises.stub_line(number)) and not stub.outputs
        if number is not None:
            assert f"Exercise {number}:" in stub.source.splitlines()[-1]
        # The task comments stay; no line of code of the solution does.
        code = [line for line in solution.splitlines() if line and not line.startswith("#")]
        assert code and not any(line in stub.source.splitlines() for line in code)
    assert not any(
        c.cell_type == "markdown"
        and "solution" in exercises.tags(c)
        and not exercises.is_solutions_heading(c)
        for c in copy.cells
    ), f"{path.name}: a markdown solution is still in the student copy"
    kept = {c.id for c in copy.cells}
    for k, cell in enumerate(original.cells):  # the Solutions heading stays only above code stubs
        if exercises.is_solutions_heading(cell) and cell.id in kept:
            assert exercises.code_solutions_follow(original.cells, k), (
                f"{path.name}: the Solutions heading is kept with no code stub under it"
            )
    hidden = [c for c in copy.cells if "predict" in exercises.tags(c)]
    assert all(not c.outputs and c.execution_count is None for c in hidden)
    # Exercises are kept word for word.
    text = exercises.exercises_text(original)
    assert text and text == exercises.exercises_text(copy)


@pytest.mark.parametrize("path", COURSE, ids=[p.stem for p in COURSE])
def test_filling_the_student_copy_gives_the_original_back(path: Path) -> None:
    original = nbformat.read(path, as_version=4)
    filled = exercises.fill(exercises.student_copy(path), original)
    assert len(filled.cells) == len(original.cells)
    for k, (mine, theirs) in enumerate(zip(filled.cells, original.cells, strict=True)):
        where = f"{path.name}, cell {k}"
        assert mine.cell_type == theirs.cell_type, where
        assert mine.source == theirs.source, where
        assert exercises.tags(mine) == exercises.tags(theirs), where
        if "predict" not in exercises.tags(theirs):
            assert mine.get("outputs") == theirs.get("outputs"), where


MODES = ("first-stub", "full", "unfilled")


def stops_with_its_message(client: NotebookClient, cell: nbformat.NotebookNode, index: int) -> None:
    """Run a stub: it must raise NotImplementedError naming its exercise, and nothing else."""
    with pytest.raises(CellExecutionError) as stopped:
        client.execute_cell(cell, index)
    assert stopped.value.ename == "NotImplementedError", (
        f"cell {index} failed before its stub could stop it: "
        f"{stopped.value.ename}: {stopped.value.evalue}"
    )
    number = exercises.solution_number(cell)  # the stub keeps "# Exercise N"
    if number is not None:
        assert f"Exercise {number}" in stopped.value.evalue


def run_as_a_student(
    copy: nbformat.NotebookNode, original: nbformat.NotebookNode, folder: Path, mode: str
) -> None:
    """Execute ``copy`` cell by cell in a fresh kernel working in ``folder``, as a student would.

    The first stub must stop with its NotImplementedError. Then ``mode`` says what happens:
    ``first-stub`` ends there; ``full`` gives every stub its solution (the filled copy) and runs to
    the end; ``unfilled`` runs to the end leaving every stub unsolved (each must stop with its own
    message), which shows that the experiment does not depend on the solutions.
    """
    solutions = {c.id: c.source for c in original.cells if "solution" in exercises.tags(c)}
    first = stub_positions(copy)[0]
    client = NotebookClient(
        copy, kernel_name="python3", timeout=600, resources={"metadata": {"path": str(folder)}}
    )
    with client.setup_kernel():
        for index, cell in enumerate(copy.cells):
            if cell.cell_type != "code":
                continue
            stub = "stub" in exercises.tags(cell)
            if index == first or (stub and mode == "unfilled"):
                stops_with_its_message(client, cell, index)
                if mode == "first-stub":
                    return
                if mode == "unfilled":
                    continue
            if stub:
                cell.source, cell.outputs = solutions[cell.id], []
            try:
                client.execute_cell(cell, index)
            except CellExecutionError as err:
                hint = " (does it need a solution's names?)" if mode == "unfilled" else ""
                pytest.fail(f"cell {index} raised{hint}: {err.ename}: {err.evalue}")


@pytest.mark.parametrize("path", COURSE, ids=[p.stem for p in COURSE])
def test_student_copy_stops_at_its_first_stub(path: Path, tmp_path: Path) -> None:
    """Stops at the first stub; with SPARSITY_STUDENT_RUNS=full (filled) or unfilled it runs on to the
    end and must reproduce the committed run's results."""
    mode = os.environ.get("SPARSITY_STUDENT_RUNS", "first-stub")
    assert mode in MODES, f"SPARSITY_STUDENT_RUNS must be one of {MODES}, got {mode!r}"
    original = nbformat.read(path, as_version=4)
    committed = printed_fingerprint(original)
    if mode != "first-stub" and committed is None:
        pytest.fail(f"{path.name} was committed without a results fingerprint in its Save cell")
    env = {
        "SPARSITY_OUTPUT_ROOT": str(tmp_path / "runs"),  # a fresh output folder
        "SPARSITY_PROGRESS": "0",
        "SPARSITY_THREADS": "1",  # as `tools/notebooks.py outputs` ran the committed notebook
    }
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)  # the kernel inherits the environment when it starts
    try:
        run_as_a_student(exercises.student_copy(path), original, tmp_path, mode)
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    if mode == "first-stub":
        return
    written = list((tmp_path / "runs").glob("*/results.json"))
    assert len(written) == 1, f"{path.name}: the {mode} copy wrote {len(written)} results.json"
    measured = fingerprint(load_results(written[0].parent))
    assert measured == committed, (
        f"{path.name}: the {mode} student copy's results (fingerprint {measured}) differ from the "
        f"committed run's ({committed}). Either a solution changes the experiment (its random draws "
        f"must use torch.random.fork_rng() or a fresh generator), or the committed outputs are "
        f"stale: refresh them with `make outputs NB={path.stem[:2]}`"
    )
