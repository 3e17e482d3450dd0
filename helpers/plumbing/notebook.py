"""What every notebook does at its start and end, in one place (no copy-pasted preambles).

Introduced in notebook 00::

    run = notebook.start("00_masks_and_magnitude_pruning", seed=seed, device=device, output_dir=output_dir)
    ...                                   # run.device, run.generator, run.out
    notebook.claims_table([...])           # paper reports / we measured / holds at this scale?
    run.save(results={...}, figures={"accuracy_vs_sparsity": fig})
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from helpers.plumbing.params import check_file_name, check_int, check_type
from helpers.plumbing.plots import use_course_style
from helpers.plumbing.results import (
    REPO_ROOT,
    check_figure,
    fingerprint,
    output_dir_for,
    save_figure,
    save_results,
)
from helpers.plumbing.runtime import resolve_device, seed_everything, set_threads

__all__ = ["Run", "start", "claims_table", "mechanism_table"]


@dataclass
class Run:
    """A notebook run: its name, device, seeded generator, output folder and start time."""

    name: str
    seed: int
    device: torch.device
    generator: torch.Generator
    out: Path
    started: float = field(default_factory=time.perf_counter)

    def elapsed(self) -> float:
        """Seconds since ``start``."""
        return time.perf_counter() - self.started

    def save(
        self,
        results: dict[str, Any],
        figures: dict[str, Any] | None = None,
        key_figure: str | None = None,
    ) -> None:
        """Write the figures (PNG) and ``results.json`` atomically into ``self.out``.

        ``results`` must hold a ``summary`` made by ``helpers.plumbing.results.claim_row``; the run's seed,
        device, runtime and key figure (the gallery's thumbnail; the first figure unless named) are
        added. Figures are written first, so a complete ``results.json`` means the whole run
        finished. Prints the results' fingerprint (timing fields excluded): the same seed on the
        CPU must print the same one. Returns nothing, so the notebook's last cell shows only what
        it printed (the path relative to the checkout, not this machine's folders).
        """
        # Check everything before the first file is written.
        check_type("results", results, dict, "a dict with a 'summary' (results.claim_row)")
        if "summary" not in results:
            raise ValueError(
                "results need a 'summary' (helpers.plumbing.results.claim_row) for the run index"
            )
        figures = {} if figures is None else check_type("figures", figures, dict, "a dict")
        for name, fig in figures.items():
            check_file_name("figures", name, "a dict whose keys are file names")
            check_figure(f"figures[{name!r}]", fig)
        if key_figure is None and figures:
            key_figure = next(iter(figures))
        if key_figure is not None and key_figure not in figures:
            raise ValueError(f"key_figure must be one of {sorted(figures)}, got {key_figure!r}")
        for name, fig in figures.items():
            save_figure(fig, self.out / f"{name}.png")
        meta = {
            "notebook": self.name,
            "seed": self.seed,
            "device": str(self.device),
            "runtime_s": round(self.elapsed(), 1),
            "figures": sorted(figures),
            "key_figure": key_figure,
        }
        saved = {**results, "run": meta}
        path = save_results(self.out, saved)
        print(f"saved {shown_path(path)} ({meta['runtime_s']} s since start)")
        print(f"results fingerprint (timing fields excluded): {fingerprint(saved)}")


def shown_path(path: Path) -> str:
    """``path`` relative to the checkout when it lies inside it: outputs read the same on every machine."""
    try:
        return str(path.resolve().relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def start(name: str, seed: int, device: str = "auto", output_dir: str | None = None) -> Run:
    """Check the common parameters, pick the device, seed everything, set CPU threads, and apply
    the course's figure style (``plots.use_course_style``).

    Raises ValueError for a bad name, seed, device or output folder, naming the parameter and what
    is allowed, before anything is seeded.
    """
    check_int("seed", seed, 0, 2**64 - 1)  # torch.manual_seed takes at most 64 bits
    device = resolve_device(device)
    out = output_dir_for(name, output_dir)  # checks name and output_dir
    run = Run(name=name, seed=seed, device=device, generator=seed_everything(seed), out=out)
    threads = set_threads()
    use_course_style()
    print(f"{name}: seed {seed}, device {run.device}, {threads} CPU thread(s)")
    return run


def _markdown_table(header: list[str], keys: list[str], rows: list[dict[str, Any]]) -> Any:
    from IPython.display import Markdown

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        cells = [str(row[k]).replace("|", "\\|") for k in keys]
        lines.append("| " + " | ".join(cells) + " |")
    return Markdown("\n".join(lines))


def claims_table(rows: list[dict[str, Any]]) -> Any:
    """Render the results table: claim / the paper reports / we measured / holds at this scale?

    Each row is a dict with keys ``claim``, ``paper``, ``measured`` and ``verdict`` (made by
    ``verdicts.compare(...).row`` or ``results.claim_row``). Returns an IPython Markdown object (the
    cell's last line).
    """
    return _markdown_table(
        ["claim", "the paper reports", "we measured", "holds at this scale?"],
        ["claim", "paper", "measured", "verdict"],
        rows,
    )


def mechanism_table(rows: list[dict[str, Any]]) -> Any:
    """Render the mechanism checks (``verdicts.mechanism_row``): what holds by construction, apart
    from the claims, with whether the code did what the method says."""
    shown = [{**row, "passed": "yes" if row["passed"] else "**no**"} for row in rows]
    return _markdown_table(
        ["mechanism check", "we measured", "as designed?"], ["check", "measured", "passed"], shown
    )
