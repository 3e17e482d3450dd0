"""The code hash that `make run` uses to reuse a finished run covers every helpers file, in every band."""

from __future__ import annotations

from pathlib import Path

import notebooks as runner  # tools/notebooks.py (tools/ is on sys.path, see tests/conftest.py)


def _tree(root: Path) -> Path:
    (root / "helpers" / "papers" / "some_paper").mkdir(parents=True)
    (root / "helpers" / "__init__.py").write_text("")
    (root / "helpers" / "papers" / "some_paper" / "method.py").write_text("x = 1\n")
    notebook = root / "nb.ipynb"
    notebook.write_text("{}")
    return notebook


def test_a_change_deep_in_a_subpackage_changes_the_hash(tmp_path, monkeypatch):
    notebook = _tree(tmp_path)
    monkeypatch.setattr(runner, "ROOT", tmp_path)
    before = runner.code_hash(notebook)
    (tmp_path / "helpers" / "papers" / "some_paper" / "method.py").write_text("x = 2\n")
    assert runner.code_hash(notebook) != before


def test_moving_a_module_changes_the_hash(tmp_path, monkeypatch):
    notebook = _tree(tmp_path)
    monkeypatch.setattr(runner, "ROOT", tmp_path)
    before = runner.code_hash(notebook)
    src = tmp_path / "helpers" / "papers" / "some_paper" / "method.py"
    src.rename(tmp_path / "helpers" / "papers" / "method.py")
    assert runner.code_hash(notebook) != before
