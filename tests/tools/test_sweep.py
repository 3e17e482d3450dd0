"""``make sweep`` (tools/sweep.py): specs are checked before anything runs, points run locally or on a
Dask LocalCluster with the same table, a failing point does not stop the others, a killed sweep
resumes, and the gathered table is what the points' own results.json say.

A tiny notebook stands in for the course: ``width`` is checked by its validation cell, ``fail``
makes a point raise, and ``$TEST_SLEEP`` makes points with ``width >= 2`` slow (to kill a sweep
midway). Each point takes a few seconds (a kernel start and ``import torch``).
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
import sweep  # tools/sweep.py (tools/ is on sys.path, see tests/conftest.py)
from test_run_resume import assert_nothing_half_written, wait_for

ROOT = Path(__file__).resolve().parents[2]
TOOL = ROOT / "tools" / "sweep.py"

PARAMETERS = (
    'seed = 0\nwidth = 2  # checked: 1 to 10\nfail = False\nscale = 1.0\noutput_dir = "auto"'
)
# Plain Python, no torch: a point costs little more than a kernel start.
VALIDATE = """
import json, os, time
if not 1 <= width <= 10:
    raise ValueError(f"parameter width must lie in [1, 10], got {width}")
if not isinstance(scale, float):
    raise TypeError(f"parameter scale must be a float, got {scale!r}")
"""
WORK = """
time.sleep(float(os.environ.get("TEST_SLEEP", "0")) if width >= 2 else 0)
if fail:
    raise RuntimeError(f"this point fails on purpose (width {width})")
"""
SAVE = """
results = {"summary": {"claim": "c", "measured": f"score {width * 10 + seed}", "verdict": "holds"},
           "metrics": {"score": width * 10 + seed, "half": width / 2, "none": None, "scale": scale},
           "curve": [seed, width], "label": f"w{width}", "ok": True, "run": {"seed": seed}}
os.makedirs(output_dir, exist_ok=True)
with open(os.path.join(output_dir, "results.json"), "w") as f:
    json.dump(results, f)
"""


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("nb") / "20_tiny.ipynb"
    cells = [nbformat.v4.new_code_cell(PARAMETERS, metadata={"tags": ["parameters"]})]
    cells += [nbformat.v4.new_code_cell(src) for src in (VALIDATE, WORK, SAVE)]
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, path)
    return path


def spec_for(tiny: Path, out: Path, **entries) -> dict:
    return {"notebook": str(tiny), "out": str(out), "seeds": [0, 1], **entries}


# A point that fails (fail: true) beside four that do not.
MIXED = {
    "fixed": {"scale": 1e-5},  # JSON would write 1e-05, which papermill's YAML reads as a string
    "points": [{"width": 1}, {"width": 3}, {"width": 2, "fail": True}],
    "plot": ["metrics.score", "metrics.half"],
}


def read_table(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def without_timing(rows: list[dict[str, str]], *ignore: str) -> list[dict[str, str]]:
    """The rows without timing fields (wall-clock seconds differ run to run) and ``ignore``."""
    return [
        {k: v for k, v in r.items() if not sweep.is_timing_column(k) and k not in ignore}
        for r in rows
    ]


# --- 1. a bad spec fails before anything runs, naming the entry -----------------------------------


@pytest.mark.parametrize(
    "entries, named",
    [
        ({"notebook": "99_no_such"}, "notebook: no single course notebook matches '99_no_such'"),
        ({"grid": {"depth": [1, 2]}}, "grid.depth: 20_tiny has no parameter 'depth'"),
        ({"fixed": {"depht": 3}, "grid": {"width": [1]}}, "fixed.depht: 20_tiny has no parameter"),
        ({"grid": {"seed": [1, 2]}}, "grid.seed: seed is set by the sweep"),
        ({"grid": {"width": 3}}, "grid.width: must be a non-empty list"),
        ({"seeds": [0, -1]}, "seeds: every seed must be an integer >= 0"),
        ({"grdi": {"width": [1]}}, "grdi: not a spec entry"),
    ],
)
def test_a_bad_spec_names_its_entry(tiny: Path, tmp_path: Path, entries: dict, named: str) -> None:
    out = tmp_path / "sweep"
    with pytest.raises(sweep.SpecError, match=named.replace("(", r"\(").replace("[", r"\[")):
        sweep.run_sweep(spec_for(tiny, out, **entries), progress=False)
    assert not out.exists()


@pytest.mark.parametrize("address", ["local:0", "local:x", "tcp://no-port", 8786])
def test_a_bad_dask_address_is_refused_before_anything_runs(tiny, tmp_path, address) -> None:
    with pytest.raises(ValueError, match="dask must be 'local', 'local:N' or a scheduler address"):
        sweep.run_sweep(spec_for(tiny, tmp_path / "sweep"), dask=address, progress=False)
    assert not (tmp_path / "sweep").exists()


def test_a_value_the_notebook_rejects_fails_before_anything_runs(
    tiny: Path, tmp_path: Path
) -> None:
    out = tmp_path / "sweep"
    spec = spec_for(tiny, out, grid={"width": [2, 50, 0]})
    with pytest.raises(sweep.SpecError) as err:
        sweep.run_sweep(spec, progress=False)
    message = str(err.value)
    # Every rejected point is named with the notebook's own message; the good one is not.
    assert "rejects 4 point(s)" in message
    assert "point width=50, seed=0: ValueError: parameter width must" in message
    assert "point width=0, seed=1" in message and "width=2" not in message
    assert not out.exists()
    # A string where the notebook wants a float: caught the same way, with the notebook's message.
    with pytest.raises(sweep.SpecError, match="TypeError: parameter scale must be a float"):
        sweep.run_sweep(spec_for(tiny, out, fixed={"scale": "1e-5"}), progress=False)
    assert not out.exists()


def test_a_yaml_spec_reads_numbers_as_a_person_writes_them(tiny: Path, tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(
        f"notebook: {tiny}\nseeds: [0]\ngrid:\n  width: [1, 2]\nplot: [metrics.score]\n"
    )
    spec = sweep.load_spec(path, out=tmp_path / "o")
    assert spec.swept == ["width"] and [p.label for p in spec.points] == [
        "width=1, seed=0",
        "width=2, seed=0",
    ]
    assert yaml_number("1e-5") == 1e-5 and yaml_number("3") == 3


def yaml_number(text: str):
    return sweep.yaml.load(text, Loader=sweep._Loader)


# --- 2. local run: table = the points' results.json, failures reported, rerun reuses -------------


@pytest.fixture(scope="module")
def local_sweep(tiny: Path, tmp_path_factory):
    out = tmp_path_factory.mktemp("local") / "sweep"
    started = time.perf_counter()
    result = sweep.run_sweep(spec_for(tiny, out, **MIXED), jobs=2, progress=False)
    print(f"local sweep of 6 points: {time.perf_counter() - started:.1f} s")
    return result


def test_the_table_holds_every_scalar_of_each_points_results(local_sweep) -> None:
    rows = read_table(local_sweep.table)
    assert len(rows) == 6
    ok = [r for r in rows if r["status"] == "ok"]
    assert len(ok) == 4
    for row in ok:
        results = json.loads(
            (local_sweep.out / "points" / row["point"] / "results.json").read_text()
        )
        flat = sweep.flatten(results)
        assert flat["metrics.score"] == int(row["width"]) * 10 + int(row["seed"])
        for key, value in flat.items():  # every scalar, written so that it reads back exactly
            assert row[key] == ("" if value is None else str(value)), key
        assert row["run.seed"] == row["seed"]  # the point really ran with its seed
        assert row["metrics.scale"] == row["scale"] == "1e-05"  # and with its float
    assert {r["width"] for r in ok} == {"1", "3"} and {r["seed"] for r in ok} == {"0", "1"}


def test_a_failing_point_is_reported_and_the_others_finish(local_sweep) -> None:
    failed = local_sweep.failed
    assert [(r["width"], r["fail"], r["seed"]) for r in failed] == [(2, True, 0), (2, True, 1)]
    for row in failed:
        assert "this point fails on purpose (width 2)" in row["error"]
        folder = local_sweep.out / "points" / row["point"]
        assert (folder / "20_tiny.failed.ipynb").exists() and not (folder / "run.json").exists()
    assert_nothing_half_written(local_sweep.out)


def test_figures_and_the_gallery_page(local_sweep) -> None:
    assert local_sweep.figures == ["sweep_width.png", "sweep_fail.png"]
    for name in local_sweep.figures:
        assert (local_sweep.out / name).stat().st_size > 1000
    page = (local_sweep.out / "index.html").read_text()
    assert 'href="table.csv"' in page and 'src="sweep_width.png"' in page
    assert "this point fails on purpose" in page
    point = read_table(local_sweep.table)[0]["point"]
    assert f'href="points/{point}/20_tiny.ipynb"' in page


def test_the_command_line_reuses_finished_points_and_reports_failures(local_sweep, tiny) -> None:
    spec = local_sweep.out.parent / "mixed.yaml"
    spec.write_text(json.dumps(spec_for(tiny, local_sweep.out, **MIXED)))  # JSON is YAML
    markers = {p: p.stat().st_mtime_ns for p in local_sweep.out.glob("points/*/run.json")}
    done = subprocess.run(
        [sys.executable, str(TOOL), str(spec), "--no-progress"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 1, done.stderr
    assert "failed: width=2, fail=true, seed=0: RuntimeError" in done.stderr
    assert "6 points" in done.stdout
    assert len(markers) == 4 and all(p.stat().st_mtime_ns == t for p, t in markers.items())


# --- 3. the same sweep on a Dask LocalCluster gives the same table -------------------------------


def test_a_local_cluster_gives_the_same_table(local_sweep, tiny, tmp_path: Path) -> None:
    out = tmp_path / "dask"
    started = time.perf_counter()
    result = sweep.run_sweep(spec_for(tiny, out, **MIXED), dask="local:2", progress=False)
    print(f"LocalCluster sweep of 6 points: {time.perf_counter() - started:.1f} s")
    # Identical but for timing fields. The point names hash the code too: if helpers/ changed
    # between the two sweeps (someone at work in the same checkout), only they may differ.
    code = [
        json.loads((r.out / "sweep.json").read_text())["code_sha256"] for r in (result, local_sweep)
    ]
    ignore = () if code[0] == code[1] else ("point",)
    cluster, local = read_table(result.table), read_table(local_sweep.table)
    assert without_timing(cluster, *ignore) == without_timing(local, *ignore)
    assert len(result.failed) == 2
    assert_nothing_half_written(out)


# --- 4. a sweep killed midway resumes ------------------------------------------------------------


def test_a_killed_sweep_leaves_nothing_half_written_and_resumes(tiny, tmp_path: Path) -> None:
    out, scratch = tmp_path / "sweep", tmp_path / "scratch"
    scratch.mkdir()
    spec = tmp_path / "slow.yaml"
    spec.write_text(json.dumps(spec_for(tiny, out, seeds=[0], grid={"width": [1, 2, 3]})))

    def start(sleep: float) -> subprocess.Popen:
        env = {**os.environ, "TEST_SLEEP": str(sleep), "TMPDIR": str(scratch)}
        command = [sys.executable, str(TOOL), str(spec), "--jobs", "1", "--no-progress"]
        return subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )

    process = start(sleep=120)
    wait_for(lambda: len(list(out.glob("points/*/run.json"))) == 1, 120, "the first point")
    first = next(out.glob("points/*/run.json"))
    finished_at = first.stat().st_mtime_ns
    time.sleep(3.0)  # the second point's kernel is running
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert "interrupted" in err
    assert_nothing_half_written(out)
    assert len(list(out.glob("points/*"))) == 1  # nothing of the interrupted point
    assert not list(scratch.glob("sweep-point-*"))  # its scratch folder is gone too
    assert not (out / "table.csv").exists()

    process = start(sleep=0)
    log, err = process.communicate(timeout=300)
    assert process.returncode == 0, err
    assert first.stat().st_mtime_ns == finished_at  # reused, not rerun
    rows = read_table(out / "table.csv")
    assert [(r["width"], r["status"]) for r in rows] == [("1", "ok"), ("2", "ok"), ("3", "ok")]
    assert_nothing_half_written(out)
