"""Parameter sweeps: one notebook over a grid (or a list) of parameter sets and seeds, via papermill.

    python tools/sweep.py SPEC.yaml [--out DIR] [--jobs 2] [--dask ADDRESS] [--gpus-per-point N]
                                    [--force] [--no-progress]
    make sweep SPEC=sweeps/01_sparsity.yaml [DASK=local]

From Python (tools/ on ``sys.path``)::

    import sweep
    result = sweep.run_sweep("sweeps/01_sparsity.yaml")            # on this machine, 2 at a time
    result = sweep.run_sweep("sweeps/01_sparsity.yaml", dask="local")   # a Dask LocalCluster
    result = sweep.run_sweep(spec, dask="tcp://scheduler:8786")    # a running Dask cluster

A spec (YAML; sweeps/README.md explains every entry)::

    notebook: 01_lottery_tickets   # a course notebook: its name, a unique prefix, or a .ipynb path
    out: runs/sweeps/01_sparsity   # output folder, relative to the repository
    seeds: [0, 1, 2]               # every parameter set runs once per seed
    fixed: {epochs: 6}             # parameters every point shares
    grid: {rounds: [4, 8, 12]}     # every combination of these values ...
    points: [{rounds: 4}, ...]     # ... or a list of parameter sets (not both)
    plot: [metrics.dense_acc_mean] # results.json keys (flattened with dots) to draw

A sweep goes in three steps:

1. **Check** the whole spec before anything runs: the notebook exists, every parameter is one of the
   notebook's (its cell tagged ``parameters``), and every point's values pass the notebook's own
   validation cell (the code cell after the parameters, run in one throw-away Python process). A bad
   entry raises ``SpecError`` naming it; nothing is written.
2. **Run** each point (one parameter set and one seed) through papermill, on this machine (threads
   that each start a papermill child) or on Dask workers. A point runs in a scratch folder and its
   files (executed notebook, results.json, figures) are stored in ``OUT/points/<hash>/``, the hash of
   the notebook name, the parameters and the code (the notebook and every helpers module: the code
   hash ``make run`` uses). ``run.json`` is written last: a point with one is finished and a rerun
   reuses it, so an interrupted sweep resumes where it stopped. A failing point is reported with its
   parameters and error; the others go on.
3. **Gather** every point into ``OUT/table.csv`` (one row per point: notebook, parameters, seed,
   status, error, seconds and every scalar of its results.json), one figure per swept parameter
   (``OUT/sweep_<parameter>.png``: mean ± standard deviation over seeds) and ``OUT/index.html``.
"""

from __future__ import annotations

import argparse
import ast
import csv
import hashlib
import io
import itertools
import json
import math
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

TOOLS = Path(__file__).resolve().parent
if str(TOOLS) not in sys.path:  # so that `import notebooks` works however this module is loaded
    sys.path.insert(0, str(TOOLS))

import gallery  # noqa: E402  (tools/gallery.py)

import notebooks as runner  # noqa: E402  (tools/notebooks.py: execute, code_hash, finished_run)
from helpers.plumbing.results import (  # noqa: E402
    atomic_write_bytes,
    atomic_write_text,
    is_timing_field,
    save_figure,
)

ROOT = runner.ROOT
SPEC_KEYS = {"notebook", "out", "seeds", "fixed", "grid", "points", "plot"}
RESERVED = {"seed", "output_dir"}  # set by the sweep itself, never by a spec
#: The table's first columns; results.json keys that collide with one get a ``results.`` prefix.
LEAD_COLUMNS = ["point", "notebook", "status", "error", "seconds"]


class SpecError(ValueError):
    """A sweep spec that cannot run; the message names the entry that is wrong."""


# --------------------------------------------------------------------------------------------------
# The spec


@dataclass(frozen=True)
class Point:
    """One run of the sweep: a parameter set with its seed, and the folder it is stored in."""

    parameters: dict[str, Any]  # every spec parameter and ``seed`` (``output_dir`` is the sweep's)
    key: str  # hash of notebook, parameters and code: the folder name under OUT/points/
    label: str  # the swept values and the seed, for messages: "rounds=4, seed=0"


@dataclass
class Spec:
    """A checked sweep spec: which notebook, which parameter sets and seeds, where the runs go."""

    notebook: Path
    out: Path
    seeds: list[int]
    fixed: dict[str, Any]
    swept: list[str]  # the parameters whose value changes from one set to another
    sets: list[dict[str, Any]]  # every parameter set, fixed values included (seeds not yet)
    plot: list[str]
    code: str  # code hash of the notebook and helpers/ (tools/notebooks.py code_hash)
    points: list[Point] = field(default_factory=list)


class _Loader(yaml.SafeLoader):
    """YAML as a person writes it: ``1e-5`` is a number (plain PyYAML reads it as a string)."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?|[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+"
        r"|[-+]?\.[0-9_]+(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+0123456789."),
)


def read_spec(source: str | Path | dict) -> tuple[dict[str, Any], str]:
    """The spec as a dict, and a name for it (the file's stem): from a YAML file or a dict."""
    if isinstance(source, dict):
        return dict(source), str(source.get("name", "sweep"))
    path = Path(source)
    if not path.exists():
        raise SpecError(f"spec file {str(path)!r} does not exist")
    try:
        raw = yaml.load(path.read_text(), Loader=_Loader)
    except yaml.YAMLError as err:
        raise SpecError(f"spec file {path}: not valid YAML: {err}") from err
    if not isinstance(raw, dict):
        raise SpecError(f"spec file {path}: must be a mapping with 'notebook', 'seeds', ...")
    return raw, path.stem


def find_notebook(name: Any) -> Path:
    """The notebook a spec names: a course notebook's name or unique prefix, or a .ipynb path
    (relative to the repository)."""
    if isinstance(name, int) and not isinstance(name, bool) and 0 <= name < 100:
        name = f"{name:02d}"  # YAML reads `notebook: 01` as the number 1
    if not isinstance(name, str) or not name:
        raise SpecError(
            f"notebook: must be a notebook name such as '01_lottery_tickets', got {name!r}"
        )
    if name.endswith(".ipynb"):
        path = Path(name) if Path(name).is_absolute() else ROOT / name
        if not path.exists():
            raise SpecError(f"notebook: {name!r} does not exist")
        return path.resolve()
    try:
        (path,) = runner.resolve([name])
    except SystemExit:
        known = ", ".join(p.stem for p in runner.course_notebooks())
        raise SpecError(
            f"notebook: no single course notebook matches {name!r}; one of: {known}"
        ) from None
    return path


def parameter_cells(nb_path: Path) -> tuple[str, str]:
    """The source of the notebook's ``parameters`` cell and of its validation cell (the next code cell)."""
    import nbformat

    cells = nbformat.read(nb_path, as_version=4).cells
    tagged = [i for i, c in enumerate(cells) if "parameters" in c.metadata.get("tags", [])]
    if len(tagged) != 1:
        raise SpecError(
            f"notebook: {nb_path.name} has {len(tagged)} cells tagged 'parameters', not 1"
        )
    after = [c for c in cells[tagged[0] + 1 :] if c.cell_type == "code"]
    return cells[tagged[0]].source, after[0].source if after else ""


def notebook_parameters(nb_path: Path) -> list[str]:
    """The names the notebook's ``parameters`` cell assigns at its top level (what papermill can
    override: it injects a cell of assignments after this one)."""
    tree = ast.parse(parameter_cells(nb_path)[0])
    names = []
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
        names += [t.id for t in targets if isinstance(t, ast.Name)]
    return list(dict.fromkeys(names))


def _value_list(entry: str, values: Any) -> list[Any]:
    if not isinstance(values, list) or not values:
        raise SpecError(f"{entry}: must be a non-empty list of values, got {values!r}")
    return values


def parameter_sets(raw: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]], list[str]]:
    """The fixed parameters, every parameter set (fixed ones included) and the swept names."""
    fixed = raw.get("fixed") or {}
    if not isinstance(fixed, dict):
        raise SpecError(f"fixed: must be a mapping of parameter: value, got {fixed!r}")
    if "grid" in raw and "points" in raw:
        raise SpecError("grid, points: give one of them (a grid of combinations or a list of sets)")
    if "grid" in raw:
        grid = raw["grid"]
        if not isinstance(grid, dict) or not grid:
            raise SpecError(f"grid: must be a mapping of parameter: [values], got {grid!r}")
        lists = [_value_list(f"grid.{name}", values) for name, values in grid.items()]
        sets = [dict(zip(grid, combo)) for combo in itertools.product(*lists)]
    elif "points" in raw:
        sets = _value_list("points", raw["points"])
        for i, one in enumerate(sets):
            if not isinstance(one, dict):
                raise SpecError(f"points[{i}]: must be a mapping of parameter: value, got {one!r}")
    else:
        sets = [{}]  # the notebook's defaults, over the seeds
    swept = list(dict.fromkeys(name for one in sets for name in one))
    for name in swept:
        if name in fixed:
            raise SpecError(f"fixed.{name}: {name} is also swept; give it in one place")
    return fixed, [{**fixed, **one} for one in sets], swept


def check_seeds(seeds: Any) -> list[int]:
    """The spec's seeds: a non-empty list of distinct non-negative integers."""
    if isinstance(seeds, int) and not isinstance(seeds, bool):
        seeds = [seeds]
    seeds = _value_list("seeds", seeds)
    for s in seeds:
        if not isinstance(s, int) or isinstance(s, bool) or s < 0:
            raise SpecError(f"seeds: every seed must be an integer >= 0, got {s!r}")
    if len(set(seeds)) != len(seeds):
        raise SpecError(f"seeds: a seed is listed twice in {seeds}")
    return seeds


def point_key(notebook: Path, parameters: dict[str, Any], code: str) -> str:
    """The folder name of a point: a hash of the notebook's name, the parameters and the code."""
    text = json.dumps(
        {"notebook": notebook.stem, "parameters": parameters, "code": code}, sort_keys=True
    )
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def load_spec(source: str | Path | dict, out: str | Path | None = None) -> Spec:
    """Read a spec and check everything that can be checked without the notebook's code.

    Raises ``SpecError`` naming the entry: an unknown key, notebook or parameter, a reserved name
    (``seed``, ``output_dir``), bad seeds, or a grid that is not a list of values.
    """
    raw, name = read_spec(source)
    unknown = sorted(set(raw) - SPEC_KEYS - {"name"})
    if unknown:
        raise SpecError(f"{unknown[0]}: not a spec entry; the entries are {sorted(SPEC_KEYS)}")
    if "notebook" not in raw:
        raise SpecError("notebook: missing; name the notebook to sweep, e.g. '01_lottery_tickets'")
    nb = find_notebook(raw["notebook"])
    seeds = check_seeds(raw.get("seeds", [0]))
    fixed, sets, swept = parameter_sets(raw)
    known = notebook_parameters(nb)
    for one in sets:
        for param in one:
            where = f"grid.{param}" if param in swept else f"fixed.{param}"
            if param in RESERVED:
                raise SpecError(f"{where}: {param} is set by the sweep (use 'seeds' and 'out')")
            if param not in known:
                raise SpecError(
                    f"{where}: {nb.stem} has no parameter {param!r}; its parameters: {', '.join(known)}"
                )
    plot = raw.get("plot", [])
    if not isinstance(plot, list) or not all(isinstance(k, str) for k in plot):
        raise SpecError(f"plot: must be a list of results.json keys, got {plot!r}")
    where = out if out is not None else raw.get("out", f"runs/sweeps/{name}")
    if not isinstance(where, (str, Path)):
        raise SpecError(f"out: must be a folder path, got {where!r}")
    folder = Path(where) if Path(where).is_absolute() else ROOT / where
    spec = Spec(nb, folder.resolve(), seeds, fixed, swept, sets, plot, runner.code_hash(nb))
    for one in sets:
        for seed in seeds:
            parameters = {**one, "seed": seed}
            label = ", ".join(
                f"{k}={json.dumps(v)}" for k, v in parameters.items() if k not in fixed
            )
            spec.points.append(Point(parameters, point_key(nb, parameters, spec.code), label))
    return spec


# The notebook's own validation, for every point, in one throw-away process: the parameters cell
# (the defaults), then the point's values as papermill reads them (the parameters file that
# tools/notebooks.py execute writes, through papermill's own YAML loader), then the validation cell.
VALIDATE = r"""
import json, sys
import yaml
from IPython.core.interactiveshell import InteractiveShell
from papermill.iorw import NoDatesSafeLoader
job = json.load(sys.stdin)
shell = InteractiveShell.instance()
errors = []
for text in job["points"]:
    shell.run_cell(job["defaults"], silent=True)
    shell.user_ns.update(yaml.load(text, Loader=NoDatesSafeLoader), output_dir=job["output_dir"])
    result = shell.run_cell(job["validate"], silent=True)
    error = result.error_in_exec or result.error_before_exec
    errors.append(f"{type(error).__name__}: {error}" if error else "")
with open(job["report"], "w") as f:
    json.dump(errors, f)
"""


def check_values(spec: Spec) -> None:
    """Run the notebook's validation cell on every point's values; ``SpecError`` naming each point
    it rejects (with the notebook's own message). Nothing of the sweep is written."""
    defaults, validate = parameter_cells(spec.notebook)
    if not validate:
        return
    with tempfile.TemporaryDirectory(prefix="sweep-check-") as scratch:
        report = Path(scratch) / "report.json"
        job = {
            "defaults": defaults,
            "validate": validate,
            "points": [runner.parameters_text(p.parameters) for p in spec.points],
            "output_dir": str(Path(scratch) / "out"),
            "report": str(report),
        }
        env = {**os.environ, **runner.RUN_ENV, "MPLBACKEND": "Agg"}
        done = subprocess.run(
            [sys.executable, "-c", VALIDATE],
            input=json.dumps(job),
            cwd=runner.NOTEBOOKS,
            env=env,
            capture_output=True,
            text=True,
        )
        if done.returncode != 0 or not report.exists():
            tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-5:])
            raise SpecError(
                f"notebook: could not run {spec.notebook.name}'s parameter cells:\n{tail}"
            )
        errors = json.loads(report.read_text())
    rejected = [f"point {p.label}: {e}" for p, e in zip(spec.points, errors) if e]
    if rejected:
        raise SpecError(
            f"{spec.notebook.stem}'s validation cell rejects {len(rejected)} point(s):\n  "
            + "\n  ".join(rejected)
        )


# --------------------------------------------------------------------------------------------------
# Running the points


def notebook_reference(nb: Path) -> str:
    """How a worker finds the notebook: relative to the repository (each worker has its own clone)."""
    return nb.relative_to(ROOT).as_posix() if nb.is_relative_to(ROOT) else str(nb)


def origin() -> tuple[str, str]:
    """This machine and clone: a worker with the same origin runs the sweep's own files."""
    return socket.gethostname(), str(runner.ROOT)


def run_point(
    notebook: str, parameters: dict[str, Any], code: str, sweep_origin: tuple[str, str]
) -> dict[str, Any]:
    """Execute one point in a scratch folder of this machine; return its files, seconds and error.

    This is the task a Dask worker runs (and a local thread): the notebook runs from this machine's
    clone. Another clone (a worker on another machine) must hold the same code as the sweep's (the
    same code hash), else nothing runs. The files travel back to the sweep, so workers need no
    shared disk.
    """
    nb = Path(notebook) if Path(notebook).is_absolute() else runner.ROOT / notebook
    host = socket.gethostname()
    if not nb.exists():
        return {"files": {}, "seconds": None, "host": host, "error": f"{host} has no {notebook}"}
    mine = code if tuple(sweep_origin) == origin() else runner.code_hash(nb)
    if mine != code:
        error = (
            f"{host}'s notebook or helpers differ from the sweep's (code hash {mine}, sweep {code}): "
            "give every worker a clone at the same commit"
        )
        return {"files": {}, "seconds": None, "host": host, "error": error}
    with tempfile.TemporaryDirectory(prefix="sweep-point-") as scratch:
        target = Path(scratch)
        try:
            seconds = runner.execute(
                nb, target / nb.name, {**parameters, "output_dir": str(target)}, runner.RUN_ENV
            )
            error = ""
        except runner.Interrupted:
            raise
        except RuntimeError as err:  # the notebook failed: papermill's last line names the error
            seconds, error = None, str(err)
        except Exception as err:  # reported with the point's parameters; the others go on
            seconds, error = None, f"{type(err).__name__}: {err}"
        files = {
            p.relative_to(target).as_posix(): p.read_bytes()
            for p in sorted(target.rglob("*"))
            if p.is_file() and not p.name.startswith(".")
        }
    return {"files": files, "seconds": seconds, "error": error, "host": host}


def store(spec: Spec, point: Point, outcome: dict[str, Any]) -> None:
    """Write a point's returned files into OUT/points/<key>/; ``run.json`` last, only on success."""
    target = spec.out / "points" / point.key
    target.mkdir(parents=True, exist_ok=True)
    runner.clear_stale(target)
    for stale in ("error.txt", f"{spec.notebook.stem}.failed.ipynb"):
        (target / stale).unlink(missing_ok=True)
    for name, data in outcome["files"].items():
        if Path(name).is_absolute() or ".." in Path(name).parts:  # a worker writes only inside
            raise ValueError(f"a worker sent the file {name!r}, outside the point's folder")
        atomic_write_bytes(target / name, data)
    if outcome["error"]:
        atomic_write_text(target / "error.txt", f"{point.label}\n{outcome['error']}\n")
    else:
        runner.write_marker(target, point.parameters, spec.code, outcome["seconds"])


class Progress:
    """The tqdm bar of a sweep: points finished, with done / running / failed / reused counts."""

    def __init__(self, total: int, reused: int, enabled: bool) -> None:
        from tqdm.auto import tqdm

        self.counts = {"done": 0, "running": 0, "failed": 0, "reused": reused}
        self.bar = tqdm(total=total, initial=reused, unit="point", disable=not enabled)
        self.bar.set_postfix(self.counts)
        self.lock = threading.Lock()

    def running(self, n: int) -> None:
        """Set how many points are running now."""
        with self.lock:
            if n != self.counts["running"]:
                self.counts["running"] = n
                self.bar.set_postfix(self.counts)

    def started(self, change: int = 1) -> None:
        """One more point is running (``change=-1``: one fewer)."""
        with self.lock:
            self.counts["running"] += change
            self.bar.set_postfix(self.counts)

    def finished(self, point: Point, error: str) -> None:
        """A point finished (``error`` empty) or failed; failures are reported at once."""
        with self.lock:
            self.counts["failed" if error else "done"] += 1
            if error:
                self.bar.write(f"failed: {point.label}: {error}", file=sys.stderr)
            self.bar.update(1)
            self.bar.set_postfix(self.counts)

    def close(self) -> None:
        self.bar.close()


def run_local(spec: Spec, todo: list[Point], jobs: int, progress: Progress) -> None:
    """Run the points on this machine, ``jobs`` papermill children at a time."""
    reference = notebook_reference(spec.notebook)

    def task(point: Point) -> dict[str, Any]:
        progress.started()
        try:
            return run_point(reference, point.parameters, spec.code, origin())
        finally:
            progress.started(-1)

    pool = ThreadPoolExecutor(max_workers=jobs)
    try:
        pending = {pool.submit(task, p): p for p in todo}
        while pending:
            finished, _ = wait_futures(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                point = pending.pop(future)
                outcome = future.result()  # Interrupted propagates: the sweep stops
                store(spec, point, outcome)
                progress.finished(point, outcome["error"])
    except BaseException:
        runner.terminate_all()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown()


def check_dask(address: Any) -> str:
    """``address`` if it names a Dask cluster: ``local``, ``local:N`` (N >= 1 workers) or a
    scheduler address (``tcp://host:8786``, ``host:8786``); else ValueError."""
    ok = isinstance(address, str) and (
        re.fullmatch(r"local(:[1-9]\d*)?", address)
        if address.split(":")[0] == "local"
        else re.fullmatch(r"([a-z]+://)?[\w.\-\[\]:]+:\d+", address)
    )
    if not ok:
        raise ValueError(
            f"dask must be 'local', 'local:N' or a scheduler address such as "
            f"'tcp://host:8786', got {address!r}"
        )
    return address


def start_dask(address: str, jobs: int) -> tuple[Any, Any]:
    """A Dask client: ``local`` or ``local:N`` starts a LocalCluster of N (default ``jobs``)
    single-threaded worker processes on loopback; anything else is a scheduler's address."""
    from dask.distributed import Client, LocalCluster

    if address == "local" or address.startswith("local:"):
        n = int(address.partition(":")[2] or jobs)
        cluster = LocalCluster(
            n_workers=n,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,  # no dashboard; its HTTP server on a free loopback port:
            scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},  # (8787 may be taken)
        )
        return Client(cluster), cluster
    return Client(address), None


def run_dask(
    spec: Spec, todo: list[Point], address: str, jobs: int, gpus: int, progress: Progress
) -> None:
    """Run the points as tasks on a Dask cluster: one task per point, one point per worker thread
    (and per ``gpus`` GPUs when workers declare ``--resources GPU=...``)."""
    import sweep as this  # the task by reference: workers import it from their own clone

    client, cluster = start_dask(address, jobs)
    reference = notebook_reference(spec.notebook)
    resources = {"GPU": gpus} if gpus else None
    try:
        pending = {
            client.submit(
                this.run_point,
                reference,
                p.parameters,
                spec.code,
                origin(),
                key=f"sweep-point-{p.key}",
                pure=False,
                resources=resources,
            ): p
            for p in todo
        }
        threads = sum(client.nthreads().values()) or 1
        while pending:
            finished = [f for f in pending if f.done()]
            if not finished:
                time.sleep(0.5)  # poll: also keeps the "running" count of the bar current
            for future in finished:
                point = pending.pop(future)
                try:
                    outcome = future.result()
                except Exception as err:  # the worker died or the task could not run
                    outcome = {
                        "files": {},
                        "seconds": None,
                        "error": f"{type(err).__name__}: {err}",
                    }
                store(spec, point, outcome)
                progress.finished(point, outcome["error"])
            busy = sum(len(tasks) for tasks in client.processing().values())
            progress.running(min(busy, threads, len(pending)))
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


# --------------------------------------------------------------------------------------------------
# Gathering


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Every scalar of a results.json tree, by dotted key: ``metrics.dense_acc_mean``,
    ``claims.0.verdict`` (list items by their index)."""
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return {prefix: value}
    flat: dict[str, Any] = {}
    for k, v in items:
        flat.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    return flat


def is_timing_column(key: str) -> bool:
    """True for a column that holds a wall-clock time: ``seconds``, or a flattened key with a
    timing field anywhere along it (``run.runtime_s``, ``per_replicate.0.imp.search_seconds.3``),
    as ``helpers.plumbing.results.without_timing`` decides at any depth. These are the only
    columns that change from one run of the same code to the next."""
    return any(is_timing_field(part) for part in key.split("."))


def gather_rows(spec: Spec) -> list[dict[str, Any]]:
    """One row per point, read from what the point folders hold (its results.json, run.json)."""
    columns = set(LEAD_COLUMNS) | {name for one in spec.sets for name in one} | {"seed"}
    rows = []
    for point in spec.points:
        target = spec.out / "points" / point.key
        done = runner.finished_run(target, spec.notebook, point.parameters, spec.code)
        row: dict[str, Any] = {"point": point.key, "notebook": spec.notebook.stem}
        row.update(point.parameters)
        error = ""
        if not done and (target / "error.txt").exists():
            error = (target / "error.txt").read_text().splitlines()[-1]
        row.update(status="ok" if done else "failed", error="" if done else error or "not run")
        row["seconds"] = done["seconds"] if done else None
        if done:
            results = json.loads((target / "results.json").read_text())
            for key, value in flatten(results).items():
                row[f"results.{key}" if key in columns else key] = value
        rows.append(row)
    return rows


def cell(value: Any) -> str:
    """A table cell: numbers as Python writes them (round-trip exact), lists and dicts as JSON,
    None as empty."""
    if value is None:
        return ""
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return str(value)


def write_table(spec: Spec, rows: list[dict[str, Any]]) -> Path:
    """``OUT/table.csv``: the lead columns, the parameters and seed, then result keys (sorted)."""
    params = list(dict.fromkeys(name for one in spec.sets for name in one)) + ["seed"]
    first = ["point", "notebook", *params, "status", "error", "seconds"]
    rest = sorted({k for row in rows for k in row} - set(first))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(first + rest)
    for row in rows:
        writer.writerow([cell(row.get(k)) for k in first + rest])
    return atomic_write_text(spec.out / "table.csv", buffer.getvalue())


def numeric(value: Any) -> float | None:
    """``value`` as a float when it is a finite number (not a bool), else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def axis_value(value: Any) -> float | None:
    """Where a parameter value sits on a numeric x axis: a number, or the one number of a
    one-element list (``cs_lambdas: [1e-4]``); None when the axis must be categorical."""
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    return numeric(value)


def plot_keys(spec: Spec, rows: list[dict[str, Any]]) -> tuple[list[str], list[str]]:
    """The result keys to draw (the spec's ``plot``, or the numeric ``metrics.*`` scalars) and a
    warning for each spec key that no finished point has as a number."""
    ok = [r for r in rows if r["status"] == "ok"]
    has_number = {k for r in ok for k, v in r.items() if numeric(v) is not None}
    if spec.plot:
        keys = [k for k in spec.plot if k in has_number]
        warnings = [
            f"plot: {k!r} is not a number in any point's results.json"
            for k in spec.plot
            if k not in keys
        ]
        return keys, warnings
    keys = sorted(k for k in has_number if re.fullmatch(r"metrics\.[A-Za-z_]\w*", k))
    return [k for k in keys if not is_timing_column(k)][:4], []


def seed_statistics(rows: list[dict[str, Any]], key: str) -> tuple[float, float, int] | None:
    """Mean, standard deviation (0 for one value) and count of ``key`` over rows (the seeds of
    one parameter set); None when no row has it as a number."""
    ys = [y for y in (numeric(r.get(key)) for r in rows) if y is not None]
    if not ys:
        return None
    return statistics.mean(ys), statistics.stdev(ys) if len(ys) > 1 else 0.0, len(ys)


def figure_for(spec: Spec, rows: list[dict[str, Any]], param: str, keys: list[str]) -> Any:
    """One figure for a swept parameter: per result key, the mean ± SD over seeds against the
    parameter's value, one line per combination of the other swept parameters."""
    import matplotlib.pyplot as plt

    from helpers import plots

    plots.use_course_style()
    ok = [r for r in rows if r["status"] == "ok"]
    others = [p for p in spec.swept if p != param]

    def others_of(row: dict[str, Any]) -> tuple[str, ...]:
        return tuple(json.dumps(row.get(o)) for o in others)

    values = list(dict.fromkeys(json.dumps(r.get(param)) for r in ok))  # JSON: lists compare too
    numeric_axis = all(axis_value(json.loads(v)) is not None for v in values)
    if numeric_axis:
        values.sort(key=lambda v: axis_value(json.loads(v)))
    x_of = {v: axis_value(json.loads(v)) if numeric_axis else i for i, v in enumerate(values)}
    counts = set()
    fig, axes = plt.subplots(1, len(keys), figsize=(4.6 * len(keys), 3.6), squeeze=False)
    for ax, key in zip(axes[0], keys):
        for group in dict.fromkeys(others_of(r) for r in ok):
            points = []
            for v in values:
                same = [r for r in ok if json.dumps(r.get(param)) == v and others_of(r) == group]
                stats = seed_statistics(same, key)
                if stats:
                    points.append((x_of[v], *stats))
                    counts.add(stats[2])
            xs, means, sds, _ = zip(*points) if points else ([], [], [], [])
            label = ", ".join(f"{o}={g}" for o, g in zip(others, group)) or None
            ax.errorbar(xs, means, yerr=sds, capsize=3, label=label)
        if (
            numeric_axis
            and min(x_of.values()) > 0
            and max(x_of.values()) >= 10 * min(x_of.values())
        ):
            ax.set_xscale("log")
        if not numeric_axis:
            ax.set_xticks(range(len(values)), values)
        ax.set(xlabel=param, ylabel=key.rpartition(".")[2])  # the full key is the title
        ax.set_title(key, fontsize="medium")
        if others:
            ax.legend(fontsize="small")
    n = "–".join(str(c) for c in sorted({min(counts, default=0), max(counts, default=0)}))
    fig.suptitle(f"{spec.notebook.stem}: effect of {param} (mean ± SD over seeds, n = {n})")
    fig.tight_layout()
    return fig


def write_figures(spec: Spec, rows: list[dict[str, Any]], keys: list[str]) -> list[str]:
    """``OUT/sweep_<parameter>.png`` for each swept parameter; the file names."""
    import matplotlib.pyplot as plt

    names = []
    if not keys or not any(r["status"] == "ok" for r in rows):
        return names
    for param in spec.swept:
        fig = figure_for(spec, rows, param, keys)
        save_figure(fig, spec.out / f"sweep_{param}.png")
        plt.close(fig)
        names.append(f"sweep_{param}.png")
    return names


def write_index(
    spec: Spec, rows: list[dict[str, Any]], figures: list[str], notes: list[str]
) -> Path:
    """``OUT/index.html``: the figures, a link to the table, one line per point."""
    shown = [*spec.swept, "seed"]
    lines = []
    for r in rows:
        folder = f"points/{r['point']}"
        name = spec.notebook.stem + (".ipynb" if r["status"] == "ok" else ".failed.ipynb")
        link = f"{folder}/{name}" if (spec.out / folder / name).exists() else ""
        lines.append(
            {
                **{p: cell(r.get(p)) for p in shown},
                "status": r["status"],
                "verdict": cell(r.get("summary.verdict")) or "—",
                "measured": cell(r.get("summary.measured")) or r["error"],
                "link": link,
            }
        )
    title = f"Sweep of {spec.notebook.stem}"
    intro = (
        f"{len(rows)} points: {len(spec.sets)} parameter set(s) × {len(spec.seeds)} seed(s) "
        f"({', '.join(map(str, spec.seeds))}). Fixed: "
        + (", ".join(f"{k}={json.dumps(v)}" for k, v in spec.fixed.items()) or "nothing")
        + "."
    )
    html = gallery.render_sweep(title, intro, "table.csv", figures, shown, lines, notes)
    return atomic_write_text(spec.out / "index.html", html)


# --------------------------------------------------------------------------------------------------
# The whole sweep


@dataclass
class SweepResult:
    """What a sweep left: its folder, table, figures, rows, and the points that failed."""

    out: Path
    table: Path
    figures: list[str]
    rows: list[dict[str, Any]]

    @property
    def failed(self) -> list[dict[str, Any]]:
        return [r for r in self.rows if r["status"] != "ok"]


def run_sweep(
    spec: str | Path | dict,
    out: str | Path | None = None,
    jobs: int = 2,
    dask: str | None = None,
    gpus_per_point: int = 0,
    force: bool = False,
    progress: bool = True,
) -> SweepResult:
    """Check the spec, run the points that are not finished, and gather the table and figures.

    ``dask``: None runs on this machine (``jobs`` at a time); ``"local"`` (or ``"local:N"``) on a
    Dask LocalCluster; a scheduler address (``"tcp://host:8786"``) on that cluster. ``force`` reruns
    finished points. Raises ``SpecError`` before anything runs if the spec is wrong, and
    ``KeyboardInterrupt`` when stopped (finished points are kept; a rerun resumes).
    """
    if not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs must be an integer >= 1, got {jobs!r}")
    if not isinstance(gpus_per_point, int) or gpus_per_point < 0:
        raise ValueError(f"gpus_per_point must be an integer >= 0, got {gpus_per_point!r}")
    if dask is not None:
        check_dask(dask)
    checked = load_spec(spec, out)
    check_values(checked)
    checked.out.mkdir(parents=True, exist_ok=True)
    record = {
        "notebook": checked.notebook.stem,
        "seeds": checked.seeds,
        "fixed": checked.fixed,
        "sets": checked.sets,
        "code_sha256": checked.code,
    }
    atomic_write_text(checked.out / "sweep.json", json.dumps(record, indent=2) + "\n")
    todo = [
        p
        for p in checked.points
        if force
        or not runner.finished_run(
            checked.out / "points" / p.key, checked.notebook, p.parameters, checked.code
        )
    ]
    bar = Progress(len(checked.points), len(checked.points) - len(todo), progress)
    runner.STOPPING.clear()  # a new run in this process (an earlier one may have been stopped)
    try:
        if dask:
            run_dask(checked, todo, dask, jobs, gpus_per_point, bar)
        else:
            run_local(checked, todo, jobs, bar)
    finally:
        bar.close()
    rows = gather_rows(checked)
    table = write_table(checked, rows)
    keys, notes = plot_keys(checked, rows)
    figures = write_figures(checked, rows, keys)
    write_index(checked, rows, figures, notes)
    for note in notes:
        print(note, file=sys.stderr)
    return SweepResult(checked.out, table, figures, rows)


def main(argv: list[str] | None = None) -> int:
    """The command line: run a sweep, print where its table and page are; the exit status says
    how it went (0 all finished, 1 some points failed, 2 a bad spec or option, 130 interrupted)."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("spec", help="the sweep spec, a YAML file (see sweeps/README.md)")
    parser.add_argument("--out", help="output folder (default: the spec's 'out')")
    parser.add_argument("--jobs", type=int, default=2, help="points at a time on this machine")
    parser.add_argument(
        "--dask",
        help="run on Dask: 'local' or 'local:N' (a LocalCluster), or a scheduler address",
    )
    parser.add_argument(
        "--gpus-per-point",
        type=int,
        default=0,
        help="Dask resources each point needs: workers started with --resources GPU=1",
    )
    parser.add_argument("--force", action="store_true", help="rerun finished points")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    previous = {}
    if threading.current_thread() is threading.main_thread():
        previous = {
            s: signal.signal(s, runner.stop_running) for s in (signal.SIGTERM, signal.SIGINT)
        }
    start = time.perf_counter()
    try:
        result = run_sweep(
            args.spec,
            out=args.out,
            jobs=args.jobs,
            dask=args.dask,
            gpus_per_point=args.gpus_per_point,
            force=args.force,
            progress=not args.no_progress,
        )
    except ValueError as err:  # a bad spec (SpecError) or a bad option: nothing ran
        print(f"{'spec ' if isinstance(err, SpecError) else ''}error: {err}", file=sys.stderr)
        return 2
    except (KeyboardInterrupt, runner.Interrupted):
        print("interrupted: finished points are kept; run again to resume", file=sys.stderr)
        return 130
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    seconds = time.perf_counter() - start
    print(f"{len(result.rows)} points in {seconds:.0f} s; table: {result.table}")
    print(f"gallery: {result.out / 'index.html'}")
    for row in result.failed:
        label = ", ".join(f"{k}={json.dumps(row[k])}" for k in (*result_params(row), "seed"))
        print(f"failed: {label}: {row['error']}", file=sys.stderr)
    return 1 if result.failed else 0


def result_params(row: dict[str, Any]) -> list[str]:
    """The parameter columns of a table row (those between ``notebook`` and ``status``)."""
    keys = list(row)
    return [k for k in keys[keys.index("notebook") + 1 : keys.index("status")] if k != "seed"]


if __name__ == "__main__":
    sys.exit(main())
