"""Atomic results I/O: ``results.json`` and figures land whole or not at all.

Introduced in notebook 00. Each notebook ends by saving its measured numbers with ``save_results``;
its claim test (``tests/claims/``) reads them back with ``load_results``.

Reproducible: the same seed on the CPU gives the same ``results.json`` bit for bit, apart from
*timing fields*, the wall-clock measurements whose key ends in ``_s``, ``seconds``, ``latency``,
``latency_ratio`` or ``time_ratio`` (``runtime_s``, ``search_seconds``, ...). ``fingerprint`` hashes
the rest; ``Run.save`` prints it, and ``tests/repro`` compares it with the committed run's.

Atomic: we write to a temporary file in the same folder and ``os.replace`` it onto the target, an
atomic rename on POSIX and Windows. An interrupted run leaves the old file or none, never half a file.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

from helpers.plumbing.params import (
    ParameterTypeError,
    check_choice,
    check_file_name,
    check_int,
    check_path,
    check_type,
)
from helpers.plumbing.verdicts import VERDICTS

__all__ = [
    "REPO_ROOT",
    "atomic_write_bytes",
    "atomic_write_text",
    "output_dir_for",
    "save_results",
    "load_results",
    "save_figure",
    "check_figure",
    "claim_row",
    "TIMING_SUFFIXES",
    "is_timing_field",
    "without_timing",
    "fingerprint",
]

#: The checkout that holds helpers/ (helpers/plumbing/results.py is two folders below it).
REPO_ROOT = Path(__file__).resolve().parents[2]


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temporary file + rename); create parent folders."""
    path = check_path("path", path)
    check_type("data", data, (bytes, bytearray), "bytes")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file normal permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    check_type("text", text, str, "a str")
    return atomic_write_bytes(path, text.encode("utf-8"))


def output_dir_for(notebook: str, output_dir: str | None = None) -> Path:
    """The folder a notebook writes into.

    ``output_dir`` wins when given; otherwise ``$SPARSITY_OUTPUT_ROOT/<notebook>`` (set by the test
    suite and ``make run``), else ``<repo>/runs/latest/<notebook>``. ``notebook`` is a folder name:
    '../x' or 'a/b' would put the outputs outside the output root, and are rejected.
    """
    check_file_name("notebook", notebook, "a notebook name (a folder name)")
    if output_dir is not None:
        check_path("output_dir", output_dir)
    if output_dir not in (None, "", "auto"):
        path = Path(output_dir)
    else:
        root = os.environ.get("SPARSITY_OUTPUT_ROOT") or REPO_ROOT / "runs" / "latest"
        path = Path(root) / notebook
    path.mkdir(parents=True, exist_ok=True)
    return path


def _plain(value: Any) -> Any:
    """Convert tensors, NumPy scalars and arrays to JSON-ready Python values; NaN/inf to None."""
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def save_results(
    output_dir: str | Path, results: dict[str, Any], name: str = "results.json"
) -> Path:
    """Write ``results`` as pretty JSON into ``output_dir`` atomically; return the path.

    ``name`` is a file name inside ``output_dir`` ('../x.json' is rejected: it would write outside).
    """
    output_dir = check_path("output_dir", output_dir)
    check_type("results", results, dict, "a dict")
    check_file_name("name", name)
    text = json.dumps(_plain(results), indent=2, sort_keys=True)
    return atomic_write_text(output_dir / name, text + "\n")


def load_results(output_dir: str | Path, name: str = "results.json") -> dict[str, Any]:
    """Read a ``results.json`` written by ``save_results``."""
    path = Path(output_dir) / name
    if not path.exists():
        raise FileNotFoundError(f"no results at {path}: run the notebook first")
    return json.loads(path.read_text())


def save_figure(fig: Any, path: str | Path, dpi: int = 100) -> Path:
    """Save a matplotlib figure atomically (format from the suffix, PNG by default)."""
    check_figure("fig", fig)
    path = check_path("path", path)
    check_int("dpi", dpi, 1)
    buffer = io.BytesIO()
    fig.savefig(buffer, format=(path.suffix.lstrip(".") or "png"), dpi=dpi, bbox_inches="tight")
    return atomic_write_bytes(path, buffer.getvalue())


def check_figure(name: str, fig: Any) -> Any:
    """``fig`` if it can be saved like a matplotlib figure (it has ``savefig``); else TypeError."""
    if not callable(getattr(fig, "savefig", None)):
        raise ParameterTypeError(
            f"parameter {name} must be a matplotlib figure, got {type(fig).__name__}"
        )
    return fig


TIMING_SUFFIXES = ("_s", "seconds", "latency", "latency_ratio", "time_ratio")


def is_timing_field(key: str) -> bool:
    """True for a wall-clock measurement (``runtime_s``, ``cs_seconds``, ...): it varies run to run."""
    return key.endswith(TIMING_SUFFIXES)


def without_timing(results: Any) -> Any:
    """``results`` with every timing field removed, at any depth (what must be reproducible)."""
    if isinstance(results, dict):
        return {k: without_timing(v) for k, v in results.items() if not is_timing_field(str(k))}
    if isinstance(results, list):
        return [without_timing(v) for v in results]
    return results


def fingerprint(results: dict[str, Any]) -> str:
    """A short SHA-256 of ``results`` without timing fields, as ``save_results`` would write them.

    Two runs with the same seed on the CPU must give the same fingerprint.
    """
    text = json.dumps(without_timing(_plain(results)), indent=2, sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def claim_row(claim: str, paper: str, measured: str, verdict: str) -> dict[str, str]:
    """The row that ``make run``'s index and the notebook's results table show.

    ``verdict`` is one of ``helpers.plumbing.verdicts.VERDICTS``; it must come from a comparison the
    notebook computed, never be typed in. ``verdicts.compare(...).row(paper)`` builds a row with the
    replicate numbers behind it; this bare form is for claims that are not a comparison.
    """
    check_choice("verdict", verdict, VERDICTS)
    return {"claim": claim, "paper": paper, "measured": measured, "verdict": verdict}
