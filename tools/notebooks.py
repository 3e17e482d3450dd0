"""Run the course notebooks with papermill: for ``make run``, ``make test-seeds`` and ``make outputs``.

    python tools/notebooks.py run [--seed N] [--out DIR] [--jobs 2] [NOTEBOOK ...]
        Execute notebooks with their defaults (and ``seed``) into DIR/<name>/, then write
        DIR/index.md with one row per notebook: claim, measured value, verdict, runtime.
    python tools/notebooks.py outputs NOTEBOOK [...]
        Re-execute notebooks in place with their defaults, so the committed outputs are fresh.
    python tools/notebooks.py check
        Check the notebook conventions (one parameters cell with seed/device/output_dir, an
        Exercises section, python3 kernelspec, no widget state, under 1 MB).

Parameters go in with papermill's ``-p``; nothing here builds a shell command from them.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
sys.path.insert(0, str(ROOT))

from helpers.results import atomic_write_text  # noqa: E402

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


def execute(notebook: Path, output: Path, parameters: dict, env: dict[str, str]) -> float:
    """Execute ``notebook`` into ``output`` with papermill; return the wall-clock seconds."""
    import papermill

    # Threads that sleep instead of spinning while they wait: spinning OpenMP threads slow everything
    # down badly when other processes share the cores.
    os.environ.update({"OMP_WAIT_POLICY": "PASSIVE", **env})
    start = time.perf_counter()
    papermill.execute_notebook(
        str(notebook),
        str(output),
        parameters=parameters,
        kernel_name="python3",
        cwd=str(NOTEBOOKS),
        progress_bar=False,
    )
    return time.perf_counter() - start


def run(args: argparse.Namespace) -> int:
    out = Path(args.out or ROOT / "runs" / dt.datetime.now().strftime("%Y%m%d-%H%M%S")).resolve()
    out.mkdir(parents=True, exist_ok=True)
    notebooks = resolve(args.notebooks)
    env = {
        "SPARSITY_PROGRESS": "0",
        "SPARSITY_THREADS": "1",
    }  # one thread per notebook (see set_threads)

    def one(nb: Path) -> tuple[Path, float | None, str]:
        target = out / nb.stem
        params = {"output_dir": str(target)}
        if args.seed is not None:
            params["seed"] = args.seed
        target.mkdir(parents=True, exist_ok=True)
        try:
            seconds = execute(nb, target / nb.name, params, env)
            return nb, seconds, ""
        except Exception as err:  # report and go on with the other notebooks
            return nb, None, f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"

    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        rows = list(pool.map(one, notebooks))
    write_index(out, rows)
    failed = [nb.stem for nb, seconds, _ in rows if seconds is None]
    print(f"index: {out / 'index.md'}")
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def write_index(out: Path, rows: list[tuple[Path, float | None, str]]) -> None:
    """One row per notebook: claim, measured value, verdict, runtime (from each results.json)."""
    lines = [
        f"# Sparsity Notebooks run, {dt.datetime.now():%Y-%m-%d %H:%M}",
        "",
        "| notebook | claim | measured | verdict | runtime |",
        "|---|---|---|---|---|",
    ]
    for nb, seconds, error in rows:
        results_path = out / nb.stem / "results.json"
        summary = {}
        if results_path.exists():
            summary = json.loads(results_path.read_text()).get("summary", {})
        runtime = f"{seconds:.0f} s" if seconds is not None else f"failed ({error})"
        link = f"[{nb.stem}]({nb.stem}/{nb.name})"
        cells = [summary.get(k, "—").replace("|", "\\|") for k in ("claim", "measured", "verdict")]
        lines.append(f"| {link} | {' | '.join(cells)} | {runtime} |")
    atomic_write_text(out / "index.md", "\n".join(lines) + "\n")


def outputs(args: argparse.Namespace) -> int:
    env = {"SPARSITY_PROGRESS": "0", "SPARSITY_THREADS": os.environ.get("SPARSITY_THREADS", "1")}
    for nb in resolve(args.notebooks):
        tmp = nb.with_name(f".{nb.stem}.executing.ipynb")
        try:
            seconds = execute(nb, tmp, {}, env)
            os.replace(tmp, nb)
        finally:
            tmp.unlink(missing_ok=True)
        clean(nb)
        print(f"{nb.name}: {seconds:.1f} s, {nb.stat().st_size // 1024} KB", flush=True)
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
        markdown = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
        if not re.search(r"^#+.*exercises", markdown, re.I | re.M):
            found.append("no Exercises section")
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
    p_out = sub.add_parser(
        "outputs", help="re-execute notebooks in place (fresh committed outputs)"
    )
    p_out.add_argument("notebooks", nargs="+")
    p_check = sub.add_parser("check", help="check notebook conventions")
    p_check.add_argument("notebooks", nargs="*")
    args = parser.parse_args()
    return {"run": run, "outputs": outputs, "check": check}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
