"""``make run`` (tools/notebooks.py run): killed, it leaves nothing half-written; rerun, it resumes.

Two tiny notebooks stand in for the course: ``quick`` saves its results at once, ``slow`` sleeps for
``$TEST_SLEEP`` seconds first. The run is stopped while ``slow`` runs, by SIGTERM to the runner or by
a Ctrl-C (SIGINT to the whole process group).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]
TOOL = ROOT / "tools" / "notebooks.py"

SAVE = """
from helpers import notebook, results
run = notebook.start("{name}", seed=seed, device="cpu", output_dir=output_dir)
run.save(results={{"summary": results.claim_row("c", "p", "m", "holds"), "value": seed}})
"""


def tiny_notebook(path: Path, sleep: bool) -> Path:
    cells = [
        nbformat.v4.new_code_cell(
            'seed = 0\noutput_dir = "auto"', metadata={"tags": ["parameters"]}
        ),
        nbformat.v4.new_code_cell(
            "import os, time\ntime.sleep(float(os.environ.get('TEST_SLEEP', '0')))"
            if sleep
            else "pass"
        ),
        nbformat.v4.new_code_cell(SAVE.format(name=path.stem)),
    ]
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, path)
    return path


def start_run(out: Path, notebooks: list[Path], sleep: float, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "TEST_SLEEP": str(sleep)}
    command = [sys.executable, str(TOOL), "run", "--jobs", "1", "--out", str(out), *extra]
    return subprocess.Popen(
        command + [str(p) for p in notebooks],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, so a Ctrl-C can be sent to it alone
    )


def wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.2)


def assert_nothing_half_written(out: Path) -> None:
    """Every file in the run folder is whole: JSON parses, notebooks validate, no temporary files."""
    leftovers = [p.name for p in out.rglob(".*") if p.is_file()]
    assert not leftovers, f"temporary files left behind: {leftovers}"
    for path in out.rglob("*.json"):
        json.loads(path.read_text())
    for path in out.rglob("*.ipynb"):
        nbformat.validate(nbformat.read(path, as_version=4))


def ctrl_c(process: subprocess.Popen) -> None:
    """What a terminal's Ctrl-C does: SIGINT to every process of the group (runner and children)."""
    os.killpg(process.pid, signal.SIGINT)


def sigterm(process: subprocess.Popen) -> None:
    """What a job scheduler or `kill` does: SIGTERM to the runner alone."""
    process.send_signal(signal.SIGTERM)


@pytest.mark.parametrize("stop", [sigterm, ctrl_c])
def test_killed_run_leaves_nothing_half_written_and_resumes(tmp_path: Path, stop) -> None:
    quick = tiny_notebook(tmp_path / "10_quick.ipynb", sleep=False)
    slow = tiny_notebook(tmp_path / "11_slow.ipynb", sleep=True)
    out = tmp_path / "run"

    # 1. Kill the run while the slow notebook is executing.
    process = start_run(out, [quick, slow], sleep=120)
    wait_for(lambda: (out / quick.stem / "run.json").exists(), 120, "the quick notebook to finish")
    wait_for(lambda: any((out / slow.stem).glob(".*.executing.ipynb")), 60, "the slow one to start")
    time.sleep(1.0)
    stop(process)
    process.communicate(timeout=60)
    assert process.returncode != 0
    assert_nothing_half_written(out)
    assert (out / quick.stem / "results.json").exists()
    assert not (out / slow.stem / "results.json").exists()
    assert not (out / slow.stem / slow.name).exists()
    assert not (out / "index.html").exists()
    finished_at = (out / quick.stem / "run.json").stat().st_mtime_ns

    # 2. Run again: the complete notebook is skipped, the interrupted one runs; the gallery appears.
    process = start_run(out, [quick, slow], sleep=0)
    log, _ = process.communicate(timeout=120)
    assert process.returncode == 0, log
    assert f"{quick.stem}: complete for these parameters, skipped" in log
    assert (out / quick.stem / "run.json").stat().st_mtime_ns == finished_at
    assert (out / slow.stem / "results.json").exists() and (out / slow.stem / slow.name).exists()
    assert (out / "index.html").exists() and (out / "index.md").exists()
    assert_nothing_half_written(out)

    # 3. Other parameters are another run: nothing is skipped.
    process = start_run(out, [quick], 0, "--seed", "3")
    log, _ = process.communicate(timeout=120)
    assert process.returncode == 0 and "skipped" not in log, log
    assert json.loads((out / quick.stem / "results.json").read_text())["value"] == 3


def test_a_failing_notebook_is_reported_and_kept_apart(tmp_path: Path) -> None:
    broken = tiny_notebook(tmp_path / "12_broken.ipynb", sleep=False)
    nb = nbformat.read(broken, as_version=4)
    nb.cells[1].source = "raise ValueError('parameter lr must lie in [0, 1], got 5')"
    nbformat.write(nb, broken)
    out = tmp_path / "run"
    process = start_run(out, [broken], 0)
    log, _ = process.communicate(timeout=120)
    assert process.returncode == 1
    assert "parameter lr must lie in [0, 1]" in log
    assert (out / broken.stem / f"{broken.stem}.failed.ipynb").exists()
    assert not (out / broken.stem / broken.name).exists()
    assert not (out / broken.stem / "run.json").exists()
    assert_nothing_half_written(out)
