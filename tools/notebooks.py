"""Run the course notebooks with papermill: for ``make run``, ``make test-seeds`` and ``make outputs``.

    python tools/notebooks.py run [--seed N] [--out DIR] [--jobs 2] [--force] [NOTEBOOK ...]
        Execute notebooks with their defaults (and ``seed``) into DIR/<name>/ (default runs/run),
        then write the gallery DIR/index.html (and DIR/index.md): one row per notebook with its key
        figure, claim, measured value, verdict and runtime. Resumes: a notebook whose run in DIR is
        complete for the same parameters and code (DIR/<name>/run.json: the notebook and helpers/
        unchanged) is skipped unless ``--force``.
        Interrupted (Ctrl-C, SIGTERM), it stops every notebook and leaves nothing half-written.
    python tools/notebooks.py index DIR
        (Re)write the gallery of a folder of runs, e.g. runs/test after ``make test``.
    python tools/notebooks.py outputs NOTEBOOK [...]
        Re-execute notebooks in place with their defaults, so the committed outputs are fresh.
    python tools/notebooks.py student [--out DIR] [NOTEBOOK ...]
        Write student copies into DIR (default students/): every code cell tagged ``solution`` keeps
        its leading comment lines (the task) and becomes a stub that raises NotImplementedError
        naming the exercise; markdown solutions are dropped; cells tagged ``predict`` lose their
        outputs (tools/exercises.py).
    python tools/notebooks.py check [NOTEBOOK ...]
        Check the notebook conventions: one parameters cell with seed/device/output_dir, python3
        kernelspec, no widget state, under 1 MB; exercises in the course's form with a predict, an
        implement and an open task, a solution for each and a ``predict`` cell; no words about how
        the course was built; every explorer's ``notice`` (tools/exercises.py). Each message says
        what to add or change.

Parameters go in with papermill's ``-p``; nothing here builds a shell command from them.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
sys.path.insert(0, str(ROOT))

import gallery  # noqa: E402  (tools/gallery.py)
from exercises import convention_problems, student_copy  # noqa: E402  (tools/exercises.py)

from helpers.plumbing.results import atomic_write_text  # noqa: E402

NAME = re.compile(r"^\d\d_[a-z0-9_]+$")


def course_notebooks() -> list[Path]:
    """The numbered notebooks ``NN_name.ipynb`` (the template and others are left out)."""
    return sorted(p for p in NOTEBOOKS.glob("*.ipynb") if NAME.match(p.stem))


def resolve(names: list[str]) -> list[Path]:
    if not names:
        return course_notebooks()
    paths = []
    for name in names:
        path = Path(name)
        if not path.suffix:
            path = NOTEBOOKS / f"{name}.ipynb"
        if not path.exists():
            matches = [p for p in course_notebooks() if p.stem.startswith(name)]
            if len(matches) != 1:
                raise SystemExit(f"no single notebook matches {name!r}")
            path = matches[0]
        paths.append(path.resolve())
    return paths


def clean(path: Path) -> None:
    """Normalise a notebook for committing: python3 kernel, no widget state, no papermill noise."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    nb.metadata.pop("widgets", None)
    nb.metadata.pop("papermill", None)
    nb.metadata["kernelspec"] = {
        "display_name": "Python 3",
        "language": "python",
        "name": "python3",
    }
    kept = []
    for cell in nb.cells:
        if "injected-parameters" in cell.metadata.get("tags", []):
            continue
        cell.metadata.pop("papermill", None)
        cell.metadata.pop("execution", None)
        for output in cell.get("outputs", []):
            # A widget's live view means nothing once the kernel is gone; keep its text fallback.
            data = output.get("data", {})
            data.pop("application/vnd.jupyter.widget-view+json", None)
        kept.append(cell)
    nb.cells = kept
    nbformat.validate(nb)
    atomic_write_text(path, nbformat.writes(nb) + "\n")


class Interrupted(Exception):
    """The run was stopped (Ctrl-C or SIGTERM): running notebooks were terminated and cleaned up."""


RUNNING: set[subprocess.Popen] = set()  # papermill processes, so an interrupt can stop them all
RUNNING_LOCK = threading.Lock()
STOPPING = threading.Event()  # set by an interrupt: a child that ends now was stopped, not failed


def parameters_text(parameters: dict) -> str:
    """The parameters file papermill reads (``-f``), as YAML: papermill parses that file with a YAML
    loader, which reads JSON's ``1e-05`` as the string '1e-05'; PyYAML writes it ``1.0e-05``."""
    import yaml

    return yaml.safe_dump(parameters, sort_keys=False)


def execute(notebook: Path, output: Path, parameters: dict, env: dict[str, str]) -> float:
    """Execute ``notebook`` into ``output`` with papermill in a child process; return the seconds.

    Papermill writes its output cell by cell, so it writes to a hidden temporary file that replaces
    ``output`` only when the run succeeded: ``output`` is whole or absent. On failure the partial
    notebook is kept as ``<name>.failed.ipynb`` for reading; on an interrupt it is removed.
    Parameters travel in a JSON file (``-f``); no shell is involved, so no value is ever parsed as a
    command.
    """
    tmp = output.with_name(f".{output.stem}.executing.ipynb")
    failed = output.with_name(f"{output.stem}.failed.ipynb")
    fd, params_file = tempfile.mkstemp(prefix=".params-", suffix=".yaml", dir=output.parent)
    with os.fdopen(fd, "w") as f:
        f.write(parameters_text(parameters))
    command = [sys.executable, "-m", "papermill", str(notebook), str(tmp), "-f", params_file]
    command += [
        "-k",
        "python3",
        "--cwd",
        str(NOTEBOOKS),
        "--no-progress-bar",
        "--log-level",
        "ERROR",
    ]
    # Threads that sleep instead of spinning while they wait: spinning OpenMP threads slow everything
    # down badly when other processes share the cores.
    child_env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE", **env}
    start = time.perf_counter()
    with RUNNING_LOCK:
        if STOPPING.is_set():  # an interrupt came while this notebook was waiting its turn
            Path(params_file).unlink(missing_ok=True)
            raise Interrupted(f"{notebook.name} was not started")
        process = subprocess.Popen(
            command, env=child_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        RUNNING.add(process)
    try:
        log, _ = process.communicate()
    finally:
        with RUNNING_LOCK:
            RUNNING.discard(process)
        Path(params_file).unlink(missing_ok=True)
    seconds = time.perf_counter() - start
    if process.returncode == 0:
        os.replace(tmp, output)
        failed.unlink(missing_ok=True)
        return seconds
    if process.returncode < 0 or STOPPING.is_set():  # stopped by an interrupt (ours or Ctrl-C)
        tmp.unlink(missing_ok=True)
        raise Interrupted(f"{notebook.name} was interrupted")
    if tmp.exists():
        os.replace(tmp, failed)
    last = [line for line in log.strip().splitlines() if line.strip()]
    raise RuntimeError(last[-1] if last else f"papermill exited with {process.returncode}")


def terminate_all() -> None:
    """Mark the run as stopping and terminate every papermill child (``execute`` cleans up after it)."""
    STOPPING.set()
    with RUNNING_LOCK:
        for process in RUNNING:
            process.terminate()


def stop_running(signum: int | None = None, frame: object = None) -> None:
    """The SIGTERM/SIGINT handler: terminate every papermill child, then stop the run."""
    terminate_all()
    raise KeyboardInterrupt


def code_hash(path: Path) -> str:
    """A hash of the notebook and of every helpers module, subpackages included: a run is only
    reused for the same code. Each module's path goes in too, so moving a module counts as a change."""
    digest = hashlib.sha256(path.read_bytes())
    for module in sorted((ROOT / "helpers").rglob("*.py")):
        digest.update(module.relative_to(ROOT).as_posix().encode())
        digest.update(module.read_bytes())
    return digest.hexdigest()[:16]


def finished_run(target: Path, nb: Path, parameters: dict, code: str) -> dict | None:
    """The marker (``run.json``) of a finished run of ``nb`` in ``target`` with these parameters and
    this code hash; None when there is no such run."""
    marker = target / "run.json"
    if not (marker.exists() and (target / "results.json").exists() and (target / nb.name).exists()):
        return None
    done = json.loads(marker.read_text())
    return (
        done if done.get("parameters") == parameters and done.get("code_sha256") == code else None
    )


#: The environment of a notebook run by ``make run`` or a sweep: no progress bars in the stored
#: outputs, one CPU thread per notebook (``runtime.set_threads``), so parallel notebooks share the cores.
RUN_ENV = {"SPARSITY_PROGRESS": "0", "SPARSITY_THREADS": "1"}


def clear_stale(target: Path) -> None:
    """Remove what an earlier, interrupted or different run left in ``target`` (its marker, its
    results and papermill's temporary notebooks), so a new run starts from a clean folder."""
    for stale in [target / "run.json", target / "results.json", *target.glob(".*.executing.ipynb")]:
        stale.unlink(missing_ok=True)


def write_marker(target: Path, parameters: dict, code: str, seconds: float) -> None:
    """Mark the run in ``target`` as finished (``run.json``, written last and atomically):
    ``finished_run`` reuses it for the same parameters and code hash."""
    marker = {"parameters": parameters, "code_sha256": code, "seconds": round(seconds, 1)}
    atomic_write_text(target / "run.json", json.dumps(marker, indent=2) + "\n")


def run(args: argparse.Namespace) -> int:
    out = Path(args.out or ROOT / "runs" / "run").resolve()
    out.mkdir(parents=True, exist_ok=True)
    notebooks = resolve(args.notebooks)
    env = RUN_ENV

    def parameters_for(nb: Path) -> dict:
        params = {"output_dir": str(out / nb.stem)}
        if args.seed is not None:
            params["seed"] = args.seed
        return params

    def one(nb: Path) -> tuple[Path, float | None, str]:
        target = out / nb.stem
        params = parameters_for(nb)
        code = code_hash(nb)
        done = None if args.force else finished_run(target, nb, params, code)
        if done:
            print(f"{nb.stem}: complete for these parameters, skipped", flush=True)
            return nb, done["seconds"], ""
        target.mkdir(parents=True, exist_ok=True)
        clear_stale(target)
        try:
            seconds = execute(nb, target / nb.name, params, env)
        except Interrupted:
            raise
        except Exception as err:  # report and go on with the other notebooks
            print(f"{nb.stem}: failed: {err}", flush=True)
            return nb, None, f"{type(err).__name__}: {err}"
        write_marker(target, params, code, seconds)
        print(f"{nb.stem}: {seconds:.0f} s", flush=True)
        return nb, seconds, ""

    previous = {sig: signal.signal(sig, stop_running) for sig in (signal.SIGTERM, signal.SIGINT)}
    pool = ThreadPoolExecutor(max_workers=args.jobs)
    try:
        rows = list(pool.map(one, notebooks))
    except (KeyboardInterrupt, Interrupted):
        terminate_all()
        pool.shutdown(wait=True, cancel_futures=True)
        print(
            "interrupted: finished notebooks are kept, the others left nothing behind",
            file=sys.stderr,
        )
        return 130
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    pool.shutdown()
    write_index(out, rows)
    failed = [nb.stem for nb, seconds, _ in rows if seconds is None]
    print(f"gallery: {out / 'index.html'}")
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def index(args: argparse.Namespace) -> int:
    """(Re)write the gallery of a run folder from the results.json files it holds."""
    out = Path(args.dir).resolve()
    rows = []
    for results_path in sorted(out.glob("*/results.json")):
        nb = NOTEBOOKS / f"{results_path.parent.name}.ipynb"
        runtime = json.loads(results_path.read_text()).get("run", {}).get("runtime_s")
        rows.append((nb, runtime, ""))
    if not rows:
        raise SystemExit(f"no */results.json under {out}: nothing to index")
    write_index(out, rows)
    print(f"gallery: {out / 'index.html'} ({len(rows)} notebooks)")
    return 0


def write_index(out: Path, rows: list[tuple[Path, float | None, str]]) -> None:
    """The run's index: ``index.html`` (a gallery with thumbnails) and ``index.md`` (plain table).

    One row per notebook: its key figure, claim, measured value, verdict and runtime, read from the
    notebook's ``results.json``.
    """
    entries = [gallery_entry(out, nb, seconds, error) for nb, seconds, error in rows]
    atomic_write_text(out / "index.html", gallery.render(entries, title="Sparsity Notebooks run"))
    lines = [
        f"# Sparsity Notebooks run, {dt.datetime.now():%Y-%m-%d %H:%M}",
        "",
        "| notebook | claim | measured | verdict | runtime |",
        "|---|---|---|---|---|",
    ]
    for e in entries:
        cells = [e[k].replace("|", "\\|") for k in ("claim", "measured", "verdict", "runtime")]
        lines.append(f"| [{e['name']}]({e['link']}) | {' | '.join(cells)} |")
    atomic_write_text(out / "index.md", "\n".join(lines) + "\n")


def gallery_entry(out: Path, nb: Path, seconds: float | None, error: str) -> dict[str, str]:
    """What the gallery shows of one notebook's run in ``out``."""
    results_path = out / nb.stem / "results.json"
    results = json.loads(results_path.read_text()) if results_path.exists() else {}
    summary = results.get("summary", {})
    key = results.get("run", {}).get("key_figure")
    executed = out / nb.stem / nb.name  # make run keeps the executed notebook; nbval runs do not
    link = executed if executed.exists() else nb
    return {
        "name": nb.stem,
        "link": os.path.relpath(link, out),
        "thumbnail": f"{nb.stem}/{key}.png" if key else "",
        "claim": summary.get("claim", "—"),
        "measured": summary.get("measured", "—"),
        "verdict": summary.get("verdict", "—"),
        "replicates": str(summary.get("replicates", "—")),
        "runtime": f"{seconds:.0f} s" if seconds is not None else f"failed ({error})",
    }


def outputs(args: argparse.Namespace) -> int:
    env = {"SPARSITY_PROGRESS": "0", "SPARSITY_THREADS": os.environ.get("SPARSITY_THREADS", "1")}
    for nb in resolve(args.notebooks):
        seconds = execute(nb, nb, {}, env)  # replaces the notebook only if the run succeeded
        clean(nb)
        print(f"{nb.name}: {seconds:.1f} s, {nb.stat().st_size // 1024} KB", flush=True)
    return 0


def student(args: argparse.Namespace) -> int:
    import nbformat

    out = Path(args.out or ROOT / "students").resolve()
    for nb_path in resolve(args.notebooks):
        nb = student_copy(nb_path)
        atomic_write_text(out / nb_path.name, nbformat.writes(nb) + "\n")
        stubs = sum("stub" in c.metadata.get("tags", []) for c in nb.cells)
        hidden = sum("predict" in c.metadata.get("tags", []) for c in nb.cells)
        print(f"{out / nb_path.name}: {stubs} stub(s), {hidden} predicted output(s) hidden")
    return 0


def check(args: argparse.Namespace) -> int:
    """The conventions of STANDARD.md that a machine can check."""
    import nbformat

    problems = []
    for nb_path in resolve(args.notebooks):
        nb = nbformat.read(nb_path, as_version=4)
        params = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
        found = []
        if len(params) != 1:
            found.append(f"{len(params)} cells tagged 'parameters' (want 1)")
        else:
            for key in ("seed", "device", "output_dir"):
                if not re.search(rf"^{key}\s*=", params[0].source, re.M):
                    found.append(f"no '{key}' parameter")
        if not any(
            c.cell_type == "code" and "solution" in c.metadata.get("tags", []) for c in nb.cells
        ):
            found.append("no code cell tagged 'solution' (the implement exercise's solution)")
        found += convention_problems(nb)
        if nb.metadata.get("kernelspec", {}).get("name") != "python3":
            found.append("kernelspec is not python3")
        if "widgets" in nb.metadata:
            found.append("widget state saved in metadata")
        if not any(c.get("outputs") for c in nb.cells if c.cell_type == "code"):
            found.append("committed without outputs")
        if nb_path.stat().st_size > 1_000_000:
            found.append(f"{nb_path.stat().st_size // 1024} KB (over 1 MB)")
        problems += [f"{nb_path.name}: {p}" for p in found]
    print("\n".join(problems) or "all notebooks follow the conventions")
    return 1 if problems else 0


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p_run = sub.add_parser("run", help="execute notebooks into a run folder and write its index")
    p_run.add_argument("notebooks", nargs="*")
    p_run.add_argument("--seed", type=int)
    p_run.add_argument("--out")
    p_run.add_argument("--jobs", type=int, default=2)
    p_run.add_argument("--force", action="store_true", help="rerun notebooks that are complete")
    p_index = sub.add_parser("index", help="write the gallery (index.html) of a folder of runs")
    p_index.add_argument("dir")
    p_out = sub.add_parser(
        "outputs", help="re-execute notebooks in place (fresh committed outputs)"
    )
    p_out.add_argument("notebooks", nargs="+")
    p_student = sub.add_parser("student", help="write student copies (solution cells stubbed)")
    p_student.add_argument("notebooks", nargs="*")
    p_student.add_argument("--out")
    p_check = sub.add_parser("check", help="check notebook conventions")
    p_check.add_argument("notebooks", nargs="*")
    args = parser.parse_args()
    return {"run": run, "index": index, "outputs": outputs, "student": student, "check": check}[
        args.command
    ](args)


if __name__ == "__main__":
    sys.exit(main())
