"""Bad papermill parameters stop each notebook in its validation cell with a clear message.

For every parameter of every course notebook (read from its ``parameters`` cell), wrong values are
injected the way papermill does (a cell after the parameters cell), and the notebook's next code
cell, its validation cell, must raise ValueError or TypeError naming the parameter. The values are
wrong for any notebook: a string where a number is expected, a negative count, a number where a
list is expected, an unknown option. New notebooks are covered without edits.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import nbformat
import papermill
import pytest

import notebooks as tool  # tools/notebooks.py, importable through tests/conftest.py

COURSE = tool.course_notebooks()
FREE_TEXT = {"output_dir"}  # any path is a valid output folder


@functools.cache  # read each notebook once, not once per case
def parameters_and_validation(path: Path) -> tuple[str, str]:
    """The source of the notebook's parameters cell and of the code cell right after it."""
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    index = next(i for i, c in enumerate(code) if "parameters" in c.metadata.get("tags", []))
    return code[index].source, code[index + 1].source


def defaults(source: str) -> dict[str, object]:
    """The parameters cell's ``name = literal`` assignments."""
    values = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            values[node.targets[0].id] = ast.literal_eval(node.value)
    return values


def bad_values(name: str, default: object) -> list[object]:
    """Values that are wrong for a parameter whose default is ``default``, whatever the notebook."""
    if isinstance(default, bool):
        return ["yes", 1]
    if isinstance(default, int):
        return ["ten", -5, 2.5]
    if isinstance(default, float):
        return ["fast", float("nan")]
    if isinstance(default, (list, tuple)):
        return [7, "a, b"]
    if isinstance(default, str) and name not in FREE_TEXT:
        return ["no-such-option", 3]
    return []


def cases() -> list[pytest.param]:
    found = []
    for path in COURSE:
        params, _ = parameters_and_validation(path)
        for name, default in defaults(params).items():
            for value in bad_values(name, default):
                found.append(
                    pytest.param(path, name, value, id=f"{path.stem[:2]}-{name}={value!r}")
                )
    return found


@pytest.mark.parametrize(("path", "name", "value"), cases())
def test_bad_parameter_fails_in_the_validation_cell(
    path: Path, name: str, value: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SPARSITY_OUTPUT_ROOT", str(tmp_path))
    params, validation = parameters_and_validation(path)
    namespace: dict[str, object] = {}
    exec(compile(params, f"{path.stem} parameters", "exec"), namespace)
    namespace[name] = value  # what papermill's injected-parameters cell does
    with pytest.raises((ValueError, TypeError)) as err:
        exec(compile(validation, f"{path.stem} validation cell", "exec"), namespace)
    message = str(err.value)
    assert name in message, f"the error does not name the parameter {name!r}: {message}"
    assert any(word in message for word in ("must", "allowed", "one of", "use ")), (
        f"the error does not say what is allowed: {message}"
    )


@pytest.mark.parametrize("path", COURSE, ids=[p.stem for p in COURSE])
def test_papermill_reports_a_bad_parameter(
    path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # End to end, in a real kernel: papermill -p seed minus-one stops in the validation cell.
    monkeypatch.setenv("SPARSITY_OUTPUT_ROOT", str(tmp_path))
    with pytest.raises(papermill.PapermillExecutionError) as err:
        papermill.execute_notebook(
            str(path),
            str(tmp_path / path.name),
            parameters={"seed": "minus-one"},
            kernel_name="python3",
            progress_bar=False,
            cwd=str(tmp_path),
        )
    # ParameterTypeError (helpers.params) is both a TypeError and a ValueError.
    assert err.value.ename in ("ValueError", "TypeError", "ParameterTypeError")
    assert "seed" in err.value.evalue
    executed = nbformat.read(tmp_path / path.name, as_version=4)
    code = [c for c in executed.cells if c.cell_type == "code"]
    failing = next(
        i for i, c in enumerate(code) if any(o.output_type == "error" for o in c.outputs)
    )
    injected = next(
        i for i, c in enumerate(code) if "injected-parameters" in c.metadata.get("tags", [])
    )
    assert failing == injected + 1, "the error came later than the validation cell"


REAL_DATA = ["cifar10"]  # options that read real data from disk (helpers.data), never downloaded


def real_data_cases() -> list[pytest.param]:
    found = []
    for path in COURSE:
        params, _ = parameters_and_validation(path)
        if "dataset" in defaults(params):
            found += [
                pytest.param(path, option, id=f"{path.stem[:2]}-{option}") for option in REAL_DATA
            ]
    return found


@pytest.mark.parametrize(("path", "option"), real_data_cases())
def test_real_data_option_fails_offline_with_what_to_do(
    path: Path, option: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The data are not on this machine (an empty folder), as on any fresh clone: the validation cell
    # must stop at once and say which option needs what, instead of trying to download.
    monkeypatch.setenv("SPARSITY_OUTPUT_ROOT", str(tmp_path))
    monkeypatch.setenv("SPARSITY_CIFAR10", str(tmp_path / "empty"))
    params, validation = parameters_and_validation(path)
    namespace: dict[str, object] = {}
    exec(compile(params, f"{path.stem} parameters", "exec"), namespace)
    namespace["dataset"] = option
    with pytest.raises(FileNotFoundError) as err:
        exec(compile(validation, f"{path.stem} validation cell", "exec"), namespace)
    assert f"dataset='{option}'" in str(err.value) and "never downloads" in str(err.value)
