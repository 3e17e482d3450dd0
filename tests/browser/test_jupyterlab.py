"""What a reader sees: notebook 00 run in a real JupyterLab, and the gallery that `make run` writes.

Both drive headless Chromium (see ``conftest.py``) and leave a screenshot in ``runs/browser/``.

- ``test_notebook_00_runs_in_jupyterlab`` opens a copy of notebook 00 in JupyterLab, clears its
  committed outputs, runs every cell through the Run menu, and checks that every code cell ran, no
  cell raised, and moving the explorer's slider redraws its one figure in place.
- ``test_gallery_shows_every_notebook`` opens ``index.html`` of a run folder (``$SPARSITY_GALLERY``,
  default ``runs/test/index.html``) and checks one complete row per notebook with results.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from helpers import verdicts

if TYPE_CHECKING:
    from playwright.sync_api import Page

    from .conftest import LabServer

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "notebooks" / "00_masks_and_magnitude_pruning.ipynb"
RUN_ALL_TIMEOUT_MS = 240_000  # the notebook takes ~40 s on an idle 2-core machine
KERNEL_TIMEOUT_MS = 90_000
VERDICTS = set(verdicts.VERDICTS)

# JavaScript run in the page. JupyterLab shows a code cell's prompt as "[ ]:" before it runs,
# "[*]:" while it waits or runs, and "[12]:" once it has run.
PROMPTS_JS = """() => Array.from(
    document.querySelectorAll('.jp-NotebookPanel .jp-CodeCell .jp-InputPrompt'),
    prompt => prompt.textContent.trim())"""
KERNEL_IDLE_JS = """() => {
    const status = document.querySelector('.jp-NotebookPanel .jp-Notebook-ExecutionIndicator');
    const kernel = document.querySelector('.jp-NotebookPanel .jp-KernelName');
    return status?.dataset.status === 'idle' && !!kernel && !/No Kernel/.test(kernel.textContent);
}"""
RUN_STARTED_JS = f"""() => ({PROMPTS_JS})().some(p => p !== '[ ]:')"""
RUN_FINISHED_JS = f"""() => ({KERNEL_IDLE_JS})() && !({PROMPTS_JS})().some(p => p.includes('*'))"""


def code_cells(path: Path) -> list[dict]:
    """The code cells of a notebook file, as saved."""
    return [cell for cell in json.loads(path.read_text())["cells"] if cell["cell_type"] == "code"]


def menu(page: Page, *names: str) -> None:
    """Click through JupyterLab's menu bar, e.g. ``menu(page, "Run", "Run All Cells")``."""
    for name in names:
        page.get_by_role("menuitem", name=name, exact=True).click()


def save(page: Page) -> None:
    """Save the notebook with Ctrl+S and wait until JupyterLab no longer marks its tab as changed."""
    page.keyboard.press("Control+s")
    page.wait_for_function(
        "() => !document.querySelector('.lm-TabBar-tab.jp-mod-dirty')", timeout=30_000
    )


def saved_errors(path: Path) -> dict[int, str]:
    """``{cell number: "ename: evalue"}`` for every error output in a saved notebook.

    Cells are numbered from 1, markdown included, as JupyterLab's status bar counts them.

    JupyterLab draws a traceback exactly like text written to stderr (a warning, say): both are
    ``application/vnd.jupyter.stderr`` with the same classes. Only the notebook model knows which
    outputs are errors, so the test saves the notebook and reads the file.
    """
    cells = json.loads(path.read_text())["cells"]
    return {
        number: f"{output['ename']}: {output['evalue']}"
        for number, cell in enumerate(cells, start=1)
        for output in cell.get("outputs", [])
        if output["output_type"] == "error"
    }


def clear_and_save(page: Page, notebook: Path, n_code: int) -> None:
    """Clear every output (Edit menu) and save, so all that follows comes from this run."""
    menu(page, "Edit", "Clear Outputs of All Cells")
    assert page.evaluate(PROMPTS_JS) == ["[ ]:"] * n_code
    assert page.locator(".jp-NotebookPanel .jp-OutputArea-child").count() == 0
    save(page)
    assert all(c["outputs"] == [] for c in code_cells(notebook)), "the cleared copy was not saved"


def run_all_and_save(page: Page) -> None:
    """Run → Run All Cells; wait until no cell is queued or running and the kernel is idle; save."""
    menu(page, "Run", "Run All Cells")
    page.wait_for_function(RUN_STARTED_JS, timeout=KERNEL_TIMEOUT_MS)
    page.wait_for_function(RUN_FINISHED_JS, timeout=RUN_ALL_TIMEOUT_MS)
    save(page)


def move_explorer_slider(page: Page) -> None:
    """Move the explorer's slider one stop: its figure must be redrawn in place, not added below.

    The explorer's cell shows one line of what to notice, one figure and the slider. Moving the
    slider makes the kernel draw a new figure and update that figure's display (an IPython display
    handle), so the cell still shows exactly one figure, now a different picture. The redraw
    proves the browser-kernel link works.
    """
    cell = page.locator(".jp-NotebookPanel .jp-CodeCell").filter(has=page.locator(".widget-slider"))
    cell.wait_for(state="visible", timeout=30_000)
    assert cell.count() == 1, "one explorer expected"
    figures = cell.locator(".jp-OutputArea-output[data-mime-type='image/png'] img")
    assert figures.count() == 1, f"the explorer shows {figures.count()} figures, want 1"
    shown = figures.first.get_attribute("src")
    readout = cell.locator(".widget-readout")
    before = readout.text_content()
    cell.locator(".noUi-handle").focus()
    page.keyboard.press("ArrowRight")
    page.wait_for_function(
        """([cell, src]) => {
            const img = cell.querySelector(".jp-OutputArea-output[data-mime-type='image/png'] img");
            return !!img && img.getAttribute("src") !== src;
        }""",
        arg=[cell.element_handle(), shown],
        timeout=60_000,
    )
    assert readout.text_content() != before, "the explorer's slider did not move"
    assert figures.count() == 1, "the redraw added a figure instead of replacing the one shown"
    cell.scroll_into_view_if_needed()


def test_notebook_00_runs_in_jupyterlab(page: Page, lab: LabServer, screenshots: Path) -> None:
    """Run All in JupyterLab: every cell runs, none raises, and the explorer redraws in place."""
    notebook = lab.root_dir / NOTEBOOK.name  # a copy: JupyterLab saves what it opens
    shutil.copy(NOTEBOOK, notebook)
    n_code = len(code_cells(notebook))
    try:
        page.goto(lab.notebook_url(notebook.name))
        page.wait_for_function(KERNEL_IDLE_JS, timeout=KERNEL_TIMEOUT_MS)
        assert len(page.evaluate(PROMPTS_JS)) == n_code, "JupyterLab should show every code cell"
        clear_and_save(page, notebook, n_code)
        run_all_and_save(page)

        errors = saved_errors(notebook)
        if errors:  # put the first traceback in the screenshot, then fail
            first = page.locator(".jp-NotebookPanel .jp-Cell").nth(min(errors) - 1)
            first.scroll_into_view_if_needed()
            pytest.fail(f"cells raised in JupyterLab (cell number: error): {errors}")
        ran = list(range(1, n_code + 1))
        prompts = page.evaluate(PROMPTS_JS)
        assert prompts == [f"[{i}]:" for i in ran], f"not every cell ran: {prompts}"
        assert [c["execution_count"] for c in code_cells(notebook)] == ran
        move_explorer_slider(page)
    finally:  # also on failure: the picture shows where it stopped
        page.screenshot(path=screenshots / "00_lab.png", full_page=True)


def gallery_path() -> Path:
    """The gallery to check: ``$SPARSITY_GALLERY``, else the one of the test run's folder."""
    return Path(os.environ.get("SPARSITY_GALLERY", ROOT / "runs" / "test" / "index.html"))


# One record per gallery row, read from the page as the browser rendered it.
GALLERY_ROWS_JS = """() => Array.from(document.querySelectorAll('tr.notebook'), row => {
    const img = row.querySelector('img.thumb');
    const text = name => row.querySelector('td.' + name)?.textContent.trim() ?? '';
    return {
        notebook: row.dataset.notebook ?? '',
        src: img?.getAttribute('src') ?? '',
        alt: img?.getAttribute('alt') ?? '',
        loaded: !!img && img.complete && img.naturalWidth > 0,
        claim: text('claim'),
        measured: text('measured'),
        verdict: text('verdict'),
        runtime: text('runtime'),
    };
})"""


def test_gallery_shows_every_notebook(page: Page, screenshots: Path) -> None:
    """The run's index.html: one row per results.json, each with a loaded thumbnail and its claim."""
    index = gallery_path()
    if not index.is_file():
        pytest.fail(
            f"no gallery at {index}: run `python tools/notebooks.py index {index.parent}` first "
            "(or set $SPARSITY_GALLERY to an index.html)"
        )
    expected = sorted(p.parent.name for p in index.parent.glob("*/results.json"))

    page.goto(index.resolve().as_uri())  # returns after the load event: images included
    rows = page.evaluate(GALLERY_ROWS_JS)
    page.screenshot(path=screenshots / "gallery.png", full_page=True)

    assert rows, f"{index} has no <tr class='notebook'> rows"
    assert sorted(row["notebook"] for row in rows) == expected, "one row per results.json"
    for row in rows:
        name = row["notebook"]
        assert row["src"], f"{name}: no thumbnail (<img class='thumb'>) in its row"
        assert row["src"].startswith(f"{name}/") and row["src"].endswith(".png"), row["src"]
        assert row["loaded"], f"{name}: thumbnail {row['src']} did not load"
        assert row["alt"], f"{name}: thumbnail has no alt text"
        assert row["claim"] and row["measured"], f"{name}: claim or measured value missing"
        assert row["verdict"] in VERDICTS, f"{name}: verdict {row['verdict']!r}"
        assert row["runtime"], f"{name}: runtime missing"
