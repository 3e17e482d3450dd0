"""Safe loading, checked over the whole code base (helpers, tools, tests, benchmarks, notebooks).

- every ``torch.load`` passes ``weights_only=True`` (a checkpoint cannot run code when loaded);
- nothing unpickles: no ``pickle.load(s)``, no ``np.load(..., allow_pickle=True)``;
- no shell: no ``os.system``/``os.popen``, no ``subprocess`` call with ``shell=True``, so no value
  (a papermill parameter, say) is ever parsed as a shell command.
New files are covered without edits; the test names the file and line of any offence.
"""

from __future__ import annotations

import ast
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ["helpers", "tools", "tests", "benchmarks"]


def python_sources() -> list[tuple[str, str]]:
    """(where, source) for every Python file and every notebook code cell of the project."""
    found = []
    for folder in SOURCES:
        for path in sorted((ROOT / folder).rglob("*.py")):
            found.append((str(path.relative_to(ROOT)), path.read_text()))
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        for i, cell in enumerate(nb.cells):
            if cell.cell_type == "code":
                lines = [
                    ln for ln in cell.source.splitlines() if not ln.lstrip().startswith(("%", "!"))
                ]
                found.append((f"{path.relative_to(ROOT)} cell {i}", "\n".join(lines)))
    return found


def dotted(node: ast.AST) -> str:
    """``torch.load`` for the call target ``torch.load``; '' when it is not a plain dotted name."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = dotted(node.value)
        return f"{base}.{node.attr}" if base else ""
    return ""


def keyword_is_true(call: ast.Call, name: str) -> bool:
    return any(
        k.arg == name and isinstance(k.value, ast.Constant) and k.value.value is True
        for k in call.keywords
    )


def offences(source: str) -> list[tuple[int, str]]:
    """(line, what is wrong) for each unsafe call in ``source``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module == "torch":
            if any(alias.name == "load" for alias in node.names):
                found.append(
                    (node.lineno, "bare torch.load import: call torch.load(..., weights_only=True)")
                )
        if not isinstance(node, ast.Call):
            continue
        name = dotted(node.func)
        if name.endswith("torch.load") and not keyword_is_true(node, "weights_only"):
            found.append((node.lineno, "torch.load without weights_only=True"))
        if name in ("pickle.load", "pickle.loads", "cPickle.load", "dill.load"):
            found.append((node.lineno, f"{name}: unpickling can run arbitrary code"))
        if name.endswith(("np.load", "numpy.load")) and keyword_is_true(node, "allow_pickle"):
            found.append((node.lineno, "np.load with allow_pickle=True"))
        if name in ("os.system", "os.popen"):
            found.append((node.lineno, f"{name} runs a shell command"))
        if name.startswith("subprocess.") and keyword_is_true(node, "shell"):
            found.append((node.lineno, f"{name} with shell=True"))
    return found


@pytest.mark.parametrize(
    ("where", "source"), python_sources(), ids=lambda v: v if len(v) < 80 else ""
)
def test_no_unsafe_loading_or_shell(where: str, source: str) -> None:
    bad = offences(source)
    assert not bad, "\n".join(f"{where}:{line}: {what}" for line, what in bad)


def test_the_checker_catches_what_it_looks_for() -> None:
    unsafe = """
import os, pickle, subprocess, torch, numpy as np
torch.load("x.pt")
torch.load("x.pt", weights_only=False)
pickle.loads(b"")
np.load("a.npy", allow_pickle=True)
os.system("ls " + name)
subprocess.run("ls " + name, shell=True)
"""
    assert [line for line, _ in offences(unsafe)] == [3, 4, 5, 6, 7, 8]
    safe = 'import torch, numpy as np\ntorch.load("x.pt", weights_only=True)\nnp.load("a.npz")\n'
    assert offences(safe) == []
