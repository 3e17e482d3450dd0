"""The two requirement sets: requirements.txt is enough to run every notebook (`make lab`), and the
test, lint, browser, site and sweep tools live in requirements-dev.txt, which includes it.

The imports are read from the code (helpers, the notebooks, the tools a learner uses), so a notebook
that starts importing a new package fails here until the package is added to requirements.txt.
"""

from __future__ import annotations

import ast
import json
import re
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LEARNER_CODE = [
    *sorted((ROOT / "helpers").rglob("*.py")),
    ROOT / "tools" / "notebooks.py",
    ROOT / "tools" / "exercises.py",
    ROOT / "tools" / "gallery.py",
]
DEV_ONLY = {"pytest", "pytest-xdist", "nbval", "hypothesis", "playwright", "ruff", "import-linter"}
DEV_ONLY |= {"sphinx", "myst-nb", "sphinx-book-theme", "dask"}


def requirement_names(path: Path) -> set[str]:
    """The distribution names a requirements file lists (normalised), ``-r`` includes followed."""
    names = set()
    for line in path.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line.startswith("-r"):
            names |= requirement_names(path.parent / line[2:].strip())
        elif line and not line.startswith("-"):
            names.add(normalise(re.split(r"[<>=!~\[; ]", line)[0]))
    return names


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def top_level_imports(source: str) -> set[str]:
    modules = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            modules |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules.add(node.module.split(".")[0])
    return modules


def learner_imports() -> set[str]:
    """Third-party modules imported by the helpers, the learner's tools and every notebook."""
    modules = set()
    for path in LEARNER_CODE:
        modules |= top_level_imports(path.read_text())
    for notebook in sorted((ROOT / "notebooks").glob("*.ipynb")):
        for cell in json.loads(notebook.read_text())["cells"]:
            if cell["cell_type"] == "code":
                source = "".join(cell["source"])
                source = "\n".join(line for line in source.splitlines() if not line.startswith("%"))
                modules |= top_level_imports(source)
    local = {"helpers", "gallery", "exercises", "notebooks"}
    return {m for m in modules - local if m not in sys.stdlib_module_names}


def test_requirements_txt_provides_every_import_a_notebook_needs() -> None:
    provided = requirement_names(ROOT / "requirements.txt")
    distributions = packages_distributions()
    # Packages that come with a listed one (IPython with ipykernel, cycler with matplotlib).
    provided |= {"ipython", "cycler"} if {"ipykernel", "matplotlib"} <= provided else set()
    missing = {}
    for module in sorted(learner_imports()):
        names = {normalise(d) for d in distributions.get(module, [module])}
        if not names & provided:
            missing[module] = sorted(names)
    assert not missing, f"imported at run time but not in requirements.txt: {missing}"


def test_the_learner_set_leaves_the_dev_tools_out() -> None:
    learner = requirement_names(ROOT / "requirements.txt")
    assert not learner & DEV_ONLY, f"dev tools in requirements.txt: {sorted(learner & DEV_ONLY)}"
    assert {"jupyterlab", "ipykernel", "papermill", "nbformat", "torch"} <= learner


def test_the_dev_set_includes_the_learner_set_and_the_tools() -> None:
    dev_file = ROOT / "requirements-dev.txt"
    assert "-r requirements.txt" in dev_file.read_text().splitlines()
    dev = requirement_names(dev_file)
    assert DEV_ONLY <= dev, f"missing from requirements-dev.txt: {sorted(DEV_ONLY - dev)}"
