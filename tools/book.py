"""Build the course site (``make book``): a static HTML site of the whole course, offline.

    python tools/book.py [--gallery DIR] [--out build/book]

Steps:
1. **Read the course.** Every numbered notebook in ``notebooks/`` and its entry in ``book/course.yml``
   (part, hours, difficulty; the build stops and names any notebook without an entry). From the
   notebook itself, the one source of truth: its title, paper, "**You need**" links (prerequisites),
   "**You will learn**" list (learning goals) and exercises.
2. **Stage** a Sphinx source folder in ``OUT/src``: the hand-written pages of ``book/``, the notebooks
   (copied: their committed outputs are rendered, nothing is executed), and the generated pages: one
   per part, the syllabus table, the dependency graph (an SVG drawn with matplotlib from the "You
   need" links), the tracks, and the gallery.
3. **Build** ``OUT/html`` with ``sphinx-build`` (incremental: an unchanged page is not rebuilt).

The gallery is the *latest* run: of the run folders ``runs/*/`` that hold ``*/results.json`` (``make
run`` writes ``runs/run``, ``make test`` writes ``runs/test``, the notebooks' own default is
``runs/latest``), the one whose newest ``results.json`` is newest; ``--gallery DIR`` picks one. From a
clean clone, with no run at all, the gallery shows what each committed notebook shows: its first
results figure and its claims table.

Open ``OUT/html/index.html`` in a browser, or serve it: ``python -m http.server -d build/book/html``.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))

import exercises as conventions  # noqa: E402  (tools/exercises.py: the exercise form, one parser)

BOOK = ROOT / "book"
NOTEBOOKS = ROOT / "notebooks"
RUNS = ROOT / "runs"
DEFAULT_OUT = ROOT / "build" / "book"

NAME = re.compile(r"^(\d\d)_[a-z0-9_]+$")
DIFFICULTIES = ("introductory", "intermediate", "advanced")
# "[00 · Masks](00_masks_and_magnitude_pruning.ipynb)": a link to another course notebook.
NOTEBOOK_LINK = re.compile(r"\]\((?:\./)?(\d\d_[a-z0-9_]+)\.ipynb(?:#[^)]*)?\)")
# "1. **Title** *(implement · medium · 10 min)* ...": an exercise's title.
EXERCISE = re.compile(r"^(\d+)\.\s+\*\*(.+?)\*\*(.*)$")


class BookError(Exception):
    """A problem with the course's sources that the build cannot work around; the message says the fix."""


# ----------------------------------------------------------------------------------------------
# 1. Reading the course
# ----------------------------------------------------------------------------------------------


@dataclass
class Exercise:
    """One numbered exercise of a notebook, as its Exercises cell states it."""

    number: int
    title: str
    kind: str = ""  # predict | implement | open ("" when the notebook does not say)
    difficulty: str = ""
    time: str = ""  # e.g. "10 min"


@dataclass
class Notebook:
    """What the site shows of one course notebook; everything but the plan comes from the notebook."""

    stem: str
    number: str
    title: str  # "Masks and magnitude pruning" (the heading without "00 · ")
    part: str
    hours: float
    difficulty: str
    paper: str = ""  # Markdown: the "**Paper.**" paragraph without its label
    needs: list[str] = field(default_factory=list)  # stems of the notebooks linked under "You need"
    needs_text: str = ""  # the "You need" paragraph, Markdown
    goals: list[str] = field(default_factory=list)  # Markdown, one per learning goal
    exercises: list[Exercise] = field(default_factory=list)
    exists: bool = True

    @property
    def docname(self) -> str:
        """The page of this notebook in the site, from the source root (MyST's ``/`` links)."""
        return f"/notebooks/{self.stem}.ipynb"

    @property
    def label(self) -> str:
        """``00 · Masks and magnitude pruning``."""
        return f"{self.number} · {self.title}"


def course_notebooks(folder: Path = NOTEBOOKS) -> list[Path]:
    """The numbered notebooks ``NN_name.ipynb`` of ``folder`` (the template is left out)."""
    return sorted(p for p in folder.glob("*.ipynb") if NAME.match(p.stem))


def load_course(path: Path = BOOK / "course.yml") -> dict:
    """``course.yml`` as a dict, after checking its shape; a ``BookError`` says what is wrong."""
    import yaml

    try:
        course = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as error:
        raise BookError(f"cannot read {path}: {error}") from error
    if not isinstance(course, dict) or not {"parts", "notebooks", "tracks"} <= set(course):
        raise BookError(f"{path}: needs the three sections `parts`, `notebooks` and `tracks`")
    parts = {str(p["id"]) for p in course["parts"]}
    for stem, entry in course["notebooks"].items():
        where = f"{path.name}, notebooks: {stem}"
        if not NAME.match(stem):
            raise BookError(f"{where}: a notebook is named NN_name (two digits, lower case)")
        if not isinstance(entry, dict) or not {"part", "hours", "difficulty"} <= set(entry):
            raise BookError(f"{where}: give `part`, `hours` and `difficulty`")
        if str(entry["part"]) not in parts:
            raise BookError(f"{where}: part {entry['part']!r} is not one of {sorted(parts)}")
        if not isinstance(entry["hours"], (int, float)) or not 0 < entry["hours"] <= 40:
            raise BookError(f"{where}: hours must be a number of hours in (0, 40]")
        if entry["difficulty"] not in DIFFICULTIES:
            raise BookError(f"{where}: difficulty must be one of {', '.join(DIFFICULTIES)}")
    for track in course["tracks"]:
        if not {"id", "title", "weeks"} <= set(track) or len(track["weeks"]) != 5:
            raise BookError(f"{path.name}, track {track.get('id')!r}: needs id, title and 5 weeks")
        for week in track["weeks"]:
            if not any(stem[:2] == str(week.get("notebook")) for stem in course["notebooks"]):
                raise BookError(
                    f"{path.name}, track {track['id']}: week notebook {week.get('notebook')!r} has "
                    'no entry under `notebooks:` (write its number as a quoted string, e.g. "07")'
                )
            ex = week.get("exercises", "all")
            if ex != "all" and not (isinstance(ex, list) and all(isinstance(n, int) for n in ex)):
                raise BookError(
                    f"{path.name}, track {track['id']}, notebook {week['notebook']}: exercises is "
                    f"`all` or a list of exercise numbers, not {ex!r}"
                )
    return course


def markdown_cells(path: Path) -> list[str]:
    """The source of every Markdown cell of a notebook file, in order."""
    cells = json.loads(path.read_text())["cells"]
    return ["".join(c["source"]) for c in cells if c["cell_type"] == "markdown"]


def paragraph_after(text: str, label: str) -> str | None:
    """The paragraph that starts with ``label`` (e.g. ``**You need**``), label removed; None if absent."""
    match = re.search(rf"^{re.escape(label)}\.?[ \t]*(.*?)(?:\n[ \t]*\n|\Z)", text, re.S | re.M)
    return match.group(1).strip() if match else None


def numbered_items(text: str) -> list[str]:
    """The items of the first numbered Markdown list in ``text``, continuation lines joined."""
    items: list[str] = []
    for line in text.splitlines():
        start = re.match(r"^\d+\.\s+(.*)$", line)
        if start:
            items.append(start.group(1).strip())
        elif items and line.startswith((" ", "\t")) and line.strip():
            items[-1] += " " + line.strip()
        elif items and not line.strip():
            break
    return items


def read_goals(cells: list[str]) -> list[str]:
    """The numbered "**You will learn**" list, one Markdown string per goal (trailing ``;``/``.`` kept off)."""
    for text in cells:
        at = text.find("**You will learn**")
        if at >= 0:
            goals = numbered_items(text[at:].split("\n", 1)[1] if "\n" in text[at:] else "")
            return [re.sub(r"[;.]\s*(and)?\s*$", "", g).strip() for g in goals]
    return []


def read_exercises(path: Path) -> list[Exercise]:
    """Every numbered exercise of the notebook's ``## Exercises`` section, with its kind, difficulty
    and time when it states them in the course's form (parsed by ``tools/exercises.py``, which the
    convention check uses too)."""
    import nbformat

    nb = json.loads(path.read_text())
    for cell in nb["cells"]:  # as nbformat.read gives it, without the slow schema validation
        cell["source"] = (
            "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        )
    text = conventions.exercises_text(nbformat.from_dict(nb))
    found = []
    for item in conventions.parse_exercises(text or ""):
        first = item.text.splitlines()[0]
        title = EXERCISE.match(first)
        found.append(
            Exercise(
                number=item.number,
                title=(title.group(2) if title else first[len(str(item.number)) + 2 :])
                .strip()
                .rstrip("."),
                kind=item.kind or "",
                difficulty=item.difficulty or "",
                time=f"{item.minutes} min" if item.minutes else "",
            )
        )
    return found


def read_notebook(path: Path, entry: dict) -> Notebook:
    """A course notebook as the site shows it: the plan from ``entry``, the rest from the notebook."""
    cells = markdown_cells(path)
    heading = re.match(r"^#\s+(\d\d)\s*·\s*(.+)$", cells[0].splitlines()[0]) if cells else None
    title = heading.group(2).strip() if heading else path.stem[3:].replace("_", " ").capitalize()
    first = cells[0] if cells else ""
    paper = paragraph_after(first, "**Papers.**") or paragraph_after(first, "**Paper.**") or ""
    needs_text = next(
        (t for c in cells if (t := paragraph_after(c, "**You need**")) is not None), ""
    )
    needs = list(dict.fromkeys(NOTEBOOK_LINK.findall(needs_text)))  # in order, once each
    return Notebook(
        stem=path.stem,
        number=path.stem[:2],
        title=title,
        part=str(entry["part"]),
        hours=float(entry["hours"]),
        difficulty=entry["difficulty"],
        paper=paper,
        needs=[n for n in needs if n != path.stem],
        needs_text=needs_text,
        goals=read_goals(cells),
        exercises=read_exercises(path),
    )


def read_course(course: dict, folder: Path = NOTEBOOKS) -> dict[str, Notebook]:
    """Every notebook of the course, existing ones read from ``folder``, planned ones from ``course``.

    Raises ``BookError`` naming every existing notebook that has no entry in ``course.yml``.
    """
    entries = course["notebooks"]
    paths = course_notebooks(folder)
    missing = [p.stem for p in paths if p.stem not in entries]
    if missing:
        example = "\n".join(
            f"  {m}: {{part: I, hours: 3, difficulty: intermediate}}" for m in missing
        )
        raise BookError(
            f"{len(missing)} notebook(s) have no entry in book/course.yml (part, hours, "
            f"difficulty): {', '.join(missing)}. Add under `notebooks:`, e.g.\n{example}"
        )
    notebooks = {p.stem: read_notebook(p, entries[p.stem]) for p in paths}
    for stem, entry in entries.items():
        if stem not in notebooks:
            notebooks[stem] = Notebook(
                stem=stem,
                number=stem[:2],
                title=entry.get("title", stem[3:].replace("_", " ").capitalize()),
                part=str(entry["part"]),
                hours=float(entry["hours"]),
                difficulty=entry["difficulty"],
                paper=entry.get("paper", ""),
                exists=False,
            )
    return dict(sorted(notebooks.items()))


def warnings_for(notebooks: dict[str, Notebook]) -> list[str]:
    """What a reader of the syllabus would miss: notebooks without goals, prerequisites or exercises."""
    found = []
    for nb in notebooks.values():
        if not nb.exists:
            continue
        if not nb.goals:
            found.append(f"{nb.stem}: no numbered '**You will learn**' list")
        if not nb.needs_text:
            found.append(f"{nb.stem}: no '**You need**' paragraph")
        if not nb.exercises:
            found.append(f"{nb.stem}: no numbered exercises under '## Exercises'")
        found += [
            f"{nb.stem}: 'You need' links {n}, which is not in the course"
            for n in nb.needs
            if n not in notebooks or not notebooks[n].exists
        ]
    return found


# ----------------------------------------------------------------------------------------------
# 2. The dependency graph
# ----------------------------------------------------------------------------------------------


def dependency_graph(notebooks: dict[str, Notebook]):  # -> networkx.DiGraph
    """Prerequisite → notebook edges between the existing notebooks, from their "You need" links."""
    import networkx as nx

    graph = nx.DiGraph()
    for nb in notebooks.values():
        if nb.exists:
            graph.add_node(nb.stem)
    for nb in notebooks.values():
        for need in nb.needs:
            if need in graph and nb.stem in graph:
                graph.add_edge(need, nb.stem)
    if not nx.is_directed_acyclic_graph(graph):
        cycle = " → ".join(a for a, _ in nx.find_cycle(graph))
        raise BookError(f"the 'You need' links form a cycle: {cycle}")
    return graph


def layers(graph) -> dict[str, int]:
    """Each notebook's column in the drawing: the length of the longest prerequisite chain before it."""
    import networkx as nx

    depth: dict[str, int] = {}
    for node in nx.topological_sort(graph):
        depth[node] = max((depth[p] + 1 for p in graph.predecessors(node)), default=0)
    return depth


def draw_graph(notebooks: dict[str, Notebook], parts: list[dict], path: Path) -> None:
    """Draw the dependency graph as an SVG: one box per notebook, coloured by part, an arrow from
    each prerequisite to the notebook that needs it, one column per prerequisite depth.

    Arrows implied by a longer path (00 → 02 when 00 → 01 → 02) are left out, so the picture shows
    the order to take the notebooks in without a tangle. Text is drawn as paths: no font to load.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import networkx as nx
    from matplotlib.colors import to_rgba
    from matplotlib.patches import Patch

    sys.path.insert(0, str(ROOT))
    from helpers.plumbing.plots import COLORS

    graph = dependency_graph(notebooks)
    shown = nx.transitive_reduction(graph)
    column = layers(graph)
    columns: dict[int, list[str]] = {}
    row: dict[str, float] = {}
    for c in sorted(set(column.values())):
        # Order a column by where its prerequisites sit, so arrows cross as little as possible.
        members = [n for n in graph if column[n] == c]
        members.sort(
            key=lambda n: (
                sum(row[p] for p in shown.predecessors(n)) / max(1, shown.in_degree(n)),
                n,
            )
        )
        columns[c] = members
        for i, n in enumerate(members):
            row[n] = i
    dx, dy = 2.5, 0.8  # inches between columns and between rows
    height = max((len(m) for m in columns.values()), default=1)
    position = {
        n: (dx * c, -dy * (i + (height - len(members)) / 2))
        for c, members in columns.items()
        for i, n in enumerate(members)
    }
    part_ids = [str(p["id"]) for p in parts]
    colour = {pid: COLORS[i % len(COLORS)] for i, pid in enumerate(part_ids)}
    fig = plt.figure(figsize=(dx * len(columns), dy * height + 0.2))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(-dx / 2, dx * len(columns) - dx / 2)
    ax.set_ylim(-dy * (height - 0.5) - 0.1, dy / 2 + 0.1)
    ax.axis("off")
    boxes = {}
    for node, (x, y) in position.items():
        nb = notebooks[node]
        label = textwrap.fill(
            f"{nb.number} · {textwrap.shorten(nb.title, 60, placeholder='…')}", 26
        )
        boxes[node] = ax.text(
            x,
            y,
            label,
            ha="center",
            va="center",
            fontsize=8,
            zorder=3,
            linespacing=1.1,
            bbox={
                "boxstyle": "round,pad=0.3",
                "fc": to_rgba(colour[nb.part], 0.22),
                "ec": colour[nb.part],
                "lw": 1.5,
            },
        )
        boxes[node].set_url(f"notebooks/{node}.html")
    for a, b in shown.edges:  # from the right edge of a's box to the left edge of b's
        skip = column[b] - column[a] > 1
        ax.annotate(
            "",
            xy=(0, 0.5),
            xycoords=boxes[b],
            xytext=(1, 0.5),
            textcoords=boxes[a],
            zorder=2,
            arrowprops={
                "arrowstyle": "-|>",
                "mutation_scale": 10,
                "color": "#444",
                "lw": 0.9,
                "shrinkA": 5,
                "shrinkB": 5,
                "connectionstyle": f"arc3,rad={-0.2 if skip else 0.0}",
            },
        )
    present = sorted({nb.part for nb in notebooks.values() if nb.exists}, key=part_ids.index)
    titles = {str(p["id"]): p["title"] for p in parts}
    handles = [
        Patch(fc=to_rgba(colour[p], 0.22), ec=colour[p], lw=1.5, label=f"Part {p} · {titles[p]}")
        for p in present
    ]
    fig.legend(
        handles=handles,
        loc="lower center",
        bbox_to_anchor=(0.5, 1.0),
        ncol=min(4, len(present)),
        fontsize=8,
        frameon=False,
    )
    buffer = io.BytesIO()
    with matplotlib.rc_context({"svg.fonttype": "path", "svg.hashsalt": "sparsity-notebooks"}):
        fig.savefig(
            buffer, format="svg", bbox_inches="tight", pad_inches=0.1, metadata={"Date": None}
        )
    plt.close(fig)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.is_file() or path.read_bytes() != buffer.getvalue():  # unchanged: no rebuild
        path.write_bytes(buffer.getvalue())


# ----------------------------------------------------------------------------------------------
# 3. The generated pages (MyST Markdown; links starting with "/" are from the source root)
# ----------------------------------------------------------------------------------------------


def hours_text(hours: float) -> str:
    """``2 h``, ``2.5 h``."""
    return f"{hours:g} h"


def one_line(markdown: str) -> str:
    """Markdown from a notebook on one line, safe inside a table cell, its notebook links rebased.

    A notebook links another as ``(01_lottery_tickets.ipynb)``, relative to ``notebooks/``; the
    generated pages live elsewhere, so the link becomes ``(/notebooks/01_lottery_tickets.ipynb)``.
    """
    text = re.sub(r"\]\((?:\./)?(\d\d_[a-z0-9_]+\.ipynb)", r"](/notebooks/\1", markdown)
    return " ".join(text.split()).replace("|", "\\|")


def link(nb: Notebook) -> str:
    """A link to the notebook's page, or its name when it is not in the course yet."""
    return (
        f"[{nb.label}]({nb.docname})"
        if nb.exists
        else f"{nb.number} · {nb.title} (not in the course yet)"
    )


def exercise_text(ex: Exercise, bullet: bool = False) -> str:
    """``2. Sensitivity per layer *(implement · medium · 10 min)*``: an ordered-list line, or with
    ``bullet`` a bullet line that keeps the exercise's own number (``- **2.** ...``)."""
    tags = " · ".join(t for t in (ex.kind, ex.difficulty, ex.time) if t)
    number = f"- **{ex.number}.**" if bullet else f"{ex.number}."
    return f"{number} {ex.title}" + (f" *({tags})*" if tags else "")


def exercise_minutes(nb: Notebook) -> str:
    """`` (about 53 min)``: the exercises' stated times added up, or "" when none states one."""
    minutes = [int(e.time.split()[0]) for e in nb.exercises if e.time]
    return f" (about {sum(minutes)} min)" if minutes else ""


def part_page(part: dict, notebooks: list[Notebook]) -> str:
    """The page of one part: its summary, a table of its notebooks (those not written yet in a
    line of their own) and a hidden toctree that puts the notebooks under the part in the sidebar.
    """
    ready = [nb for nb in notebooks if nb.exists]
    rows = "\n".join(
        f"| {link(nb)} | {one_line(nb.paper) or '—'} | {hours_text(nb.hours)} | {nb.difficulty} |"
        for nb in ready
    )
    planned = [f"{nb.number} · {nb.title}" for nb in notebooks if not nb.exists]
    coming = f"\n\nBeing written for this part: {'; '.join(planned)}." if planned else ""
    toctree = "\n".join(nb.docname for nb in ready)
    return f"""# Part {part["id"]} · {part["title"]}

{" ".join(part.get("summary", "").split())}

| notebook | paper | time | difficulty |
|---|---|---|---|
{rows}

Prerequisites, learning goals and exercises of every notebook: [the syllabus](/syllabus.md).{coming}

```{{toctree}}
:maxdepth: 1
:hidden:

{toctree}
```
"""


def syllabus_table(notebooks: dict[str, Notebook], parts: list[dict]) -> str:
    """The syllabus: per part, per notebook its prerequisites, goals, time, difficulty and exercises."""
    out = []
    for part in parts:
        members = [nb for nb in notebooks.values() if nb.part == str(part["id"]) and nb.exists]
        if not members:
            continue
        out.append(f"## Part {part['id']} · {part['title']}\n")
        for nb in members:
            needs = ", ".join(link(notebooks[n]) for n in nb.needs if n in notebooks)
            goals = "\n".join(f"{i}. {one_line(g)}" for i, g in enumerate(nb.goals, 1))
            exercises = "\n".join(f"{one_line(exercise_text(e))}" for e in nb.exercises)
            out.append(
                f"### {link(nb)}\n\n"
                f"**Paper.** {one_line(nb.paper) or '—'}\n\n"
                f"**Time** {hours_text(nb.hours)} · **difficulty** {nb.difficulty} · "
                f"**exercises** {len(nb.exercises)}{exercise_minutes(nb)}\n\n"
                f"**You need** {one_line(nb.needs_text) or '(not stated in the notebook)'}"
                + (f"\n\n*Prerequisites in the course:* {needs}" if needs else "")
                + "\n\n**You will learn**\n\n"
                + (goals or "(not stated in the notebook)")
                + "\n\n**Exercises**\n\n"
                + (exercises or "(none yet)")
                + "\n"
            )
    return "\n".join(out)


def overview_table(notebooks: dict[str, Notebook], parts: list[dict]) -> str:
    """One table row per notebook: part, prerequisites, time, difficulty."""
    titles = {str(p["id"]): p["title"] for p in parts}
    rows = []
    for nb in notebooks.values():
        if not nb.exists:
            continue
        needs = ", ".join(f"[{n[:2]}](/notebooks/{n}.ipynb)" for n in nb.needs if n in notebooks)
        rows.append(
            f"| {link(nb)} | {nb.part} · {titles[nb.part]} | {needs or '—'} | "
            f"{hours_text(nb.hours)} | {nb.difficulty} |"
        )
    return (
        "| notebook | part | builds on | time | difficulty |\n|---|---|---|---|---|\n"
        + "\n".join(rows)
        + "\n"
    )


def week_exercises(track: str, week_number: int, week: dict, nb: Notebook) -> list[Exercise]:
    """The exercises a week hands in: ``all`` of the notebook's, or the numbers ``course.yml`` lists."""
    known = {e.number: e for e in nb.exercises}
    chosen = week.get("exercises", "all")
    numbers = sorted(known) if chosen == "all" else chosen
    absent = [n for n in numbers if n not in known]
    if absent:
        raise BookError(
            f"course.yml, track {track}, week {week_number}: {nb.stem} has no exercise "
            f"{absent} (it has {sorted(known)})"
        )
    return [known[n] for n in numbers]


def tracks_page(course: dict, notebooks: dict[str, Notebook]) -> str:
    """The three tracks: an overview table each, then week by week the notebook, the reading (its
    paper), the exercises to hand in, and the prerequisites that no earlier week of the track covers.
    """
    by_number = {nb.number: nb for nb in notebooks.values()}
    out = []
    for track in course["tracks"]:
        weeks = [by_number[str(w["notebook"])] for w in track["weeks"]]
        out.append(
            f"## {track['title']}\n\n{' '.join(track.get('summary', '').split())} "
            f"About {sum(nb.hours for nb in weeks):g} hours of work over five weeks.\n\n"
            "| week | notebook | time | difficulty |\n|---|---|---|---|\n"
            + "\n".join(
                f"| {i} | {link(nb)} | {hours_text(nb.hours)} | {nb.difficulty} |"
                for i, nb in enumerate(weeks, 1)
            )
            + "\n"
        )
        seen: set[str] = set()
        for week_number, (week, nb) in enumerate(zip(track["weeks"], weeks), 1):
            lines = [
                f"### Week {week_number}: {link(nb)}\n",
                f"**Reading.** {one_line(nb.paper) or '—'}\n",
            ]
            first = [notebooks[n] for n in nb.needs if n not in seen and n in notebooks]
            if first:
                lines.append(
                    "**Before this week**, skim what it builds on: "
                    + ", ".join(link(p) for p in first)
                    + " (the *idea* section is usually enough).\n"
                )
            if week.get("also"):
                lines.append(" ".join(str(week["also"]).split()) + "\n")
            if nb.exists:
                exercises = week_exercises(track["id"], week_number, week, nb)
                lines.append("**Exercises to hand in.**\n")
                lines.append(
                    "\n".join(one_line(exercise_text(e, bullet=True)) for e in exercises)
                    or "- (none)"
                )
            else:
                lines.append("**Exercises.** All of the notebook's, once it is in the course.")
            lines.append(f"\n**Time** {hours_text(nb.hours)} · **difficulty** {nb.difficulty}\n")
            out.append("\n".join(lines))
            seen.add(nb.stem)
    return "\n".join(out)


def parts_toctree(course: dict, notebooks: dict[str, Notebook]) -> tuple[str, dict[str, str]]:
    """The home page's toctree of parts (only parts with a notebook) and ``{docname: page text}``."""
    pages = {}
    for part in course["parts"]:
        members = [nb for nb in notebooks.values() if nb.part == str(part["id"])]
        if any(nb.exists for nb in members):  # a part gets a page once it has a notebook
            pages[f"parts/part-{str(part['id']).lower()}"] = part_page(part, members)
    toctree = (
        "```{toctree}\n:caption: The notebooks\n:maxdepth: 2\n:hidden:\n\n"
        + "\n".join(pages)
        + "\n```\n"
    )
    return toctree, pages


# ----------------------------------------------------------------------------------------------
# 4. The gallery
# ----------------------------------------------------------------------------------------------


def latest_run(runs: Path = RUNS) -> Path | None:
    """The run folder under ``runs/`` whose newest ``results.json`` is the newest; None if none has one."""
    best, newest = None, -1.0
    for folder in sorted(p for p in runs.glob("*") if p.is_dir()) if runs.is_dir() else []:
        times = [r.stat().st_mtime for r in folder.glob("*/results.json")]
        if times and max(times) > newest:
            best, newest = folder, max(times)
    return best


def run_gallery(run: Path, notebooks: dict[str, Notebook], images: Path) -> str:
    """The gallery of one run folder: per notebook its key figure, claim, measured value and verdict."""
    sections, when = [], []
    for nb in notebooks.values():
        results_path = run / nb.stem / "results.json"
        if not nb.exists or not results_path.is_file():
            continue
        results = json.loads(results_path.read_text())
        when.append(results_path.stat().st_mtime)
        summary, info = results.get("summary", {}), results.get("run", {})
        lines = [f"## {link(nb)}\n"]
        key = info.get("key_figure")
        if key and (run / nb.stem / f"{key}.png").is_file():
            copy_if_changed(run / nb.stem / f"{key}.png", images / nb.stem / f"{key}.png")
            lines.append(f"![key figure of {nb.label}](/_gallery/{nb.stem}/{key}.png)\n")
        replicates = summary.get("replicates")
        runtime = info.get("runtime_s")
        lines += [
            f"- **Claim:** {one_line(summary.get('claim', '—'))}",
            f"- **We measured:** {one_line(summary.get('measured', '—'))}",
            f"- **Holds at this scale?** **{summary.get('verdict', '—')}**"
            + (f" (n = {replicates} replicates)" if replicates else ""),
        ]
        if isinstance(runtime, (int, float)):
            lines.append(f"- **Runtime:** {runtime:.0f} s")
        sections.append("\n".join(lines) + "\n")
    if not sections:
        return ""
    stamp = time.strftime("%Y-%m-%d %H:%M", time.localtime(max(when)))
    where = os.path.relpath(run, ROOT)
    return (
        f"The latest run of the notebooks found when this site was built: `{where}/`, finished "
        f"{stamp} (`make run` writes `runs/run/`, `make test` writes `runs/test/`). Per notebook: its "
        "key figure, the paper's claim it tests first, what the run measured (mean ± standard "
        "deviation over n replicates, each an independent seed), and whether the claim holds at "
        "this scale. A notebook's other claims are in its own results table.\n\n"
        + "\n".join(sections)
    )


def committed_gallery(notebooks: dict[str, Notebook], images: Path) -> str:
    """Without any run: each committed notebook's first results figure and its results tables."""
    out = [
        "No run of the notebooks was found in `runs/` when this site was built, so this page shows "
        "what each notebook shows as committed: the first figure of its results and its results "
        "tables. `make run` (or `make test`) and `make book` show the latest run here instead.\n"
    ]
    for nb in notebooks.values():
        if not nb.exists:
            continue
        figure, tables = results_outputs(NOTEBOOKS / f"{nb.stem}.ipynb")
        out.append(f"## {link(nb)}\n")
        if figure:
            target = images / nb.stem / "results_figure.png"
            target.parent.mkdir(parents=True, exist_ok=True)
            if not target.is_file() or target.read_bytes() != figure:
                target.write_bytes(figure)
            out.append(
                f"![first results figure of {nb.label}](/_gallery/{nb.stem}/results_figure.png)\n"
            )
        out += [table + "\n" for table in tables] or [
            "(no results table in the committed notebook)\n"
        ]
    return "\n".join(out)


def results_outputs(path: Path) -> tuple[bytes | None, list[str]]:
    """From the cells after ``## Results``: the first PNG output and every Markdown output (tables)."""
    figure, tables, in_results = None, [], False
    for cell in json.loads(path.read_text())["cells"]:
        source = "".join(cell["source"])
        if cell["cell_type"] == "markdown" and re.match(r"^##\s", source):
            in_results = bool(re.match(r"^##\s+Results", source))
        if not in_results or cell["cell_type"] != "code":
            continue
        if "predict" in cell.get("metadata", {}).get("tags", []):
            continue  # it answers a predict exercise: the student sees it only after predicting
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if figure is None and "image/png" in data:
                figure = base64.b64decode("".join(data["image/png"]))
            if "text/markdown" in data:
                tables.append("".join(data["text/markdown"]))
    return figure, tables


def gallery_page(notebooks: dict[str, Notebook], images: Path, run: Path | None) -> str:
    """The gallery page: the latest run's, else what the committed notebooks show."""
    body = run_gallery(run, notebooks, images) if run else ""
    if body:
        return "# Gallery: the latest run\n\n" + body
    return "# Gallery: the committed results\n\n" + committed_gallery(notebooks, images)


# ----------------------------------------------------------------------------------------------
# 5. Staging and building
# ----------------------------------------------------------------------------------------------


def copy_if_changed(source: Path, target: Path) -> None:
    """Copy ``source`` to ``target`` unless identical (keeps Sphinx's incremental build incremental)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.is_file() or target.read_bytes() != source.read_bytes():
        shutil.copy2(source, target)


def write_if_changed(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` unless it already holds exactly that."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.is_file() or path.read_text() != text:
        path.write_text(text)


def site_notebook(path: Path) -> str:
    """The notebook as the site shows it: solutions and predicted results folded away.

    A student reading the site should try first, as in the student copy, while an instructor can
    still open everything: code cells tagged ``solution`` are collapsed (MyST-NB's ``hide-cell``),
    outputs of cells tagged ``predict`` are collapsed (``hide-output``), and Markdown solutions sit in
    a ``<details>`` block. The committed notebook itself is not changed.
    """
    nb = json.loads(path.read_text())
    for cell in nb["cells"]:
        tags = cell.setdefault("metadata", {}).get("tags", [])
        extra = []
        if "solution" in tags and cell["cell_type"] == "code":
            extra.append("hide-cell")
        elif "solution" in tags and cell["cell_type"] == "markdown":
            source = "".join(cell["source"])
            label = re.match(r"\*\*(Solution[^*]*?)\.?\*\*", source)
            summary = label.group(1) if label else "Solution"
            cell["source"] = (
                f"<details>\n<summary>{summary}: show</summary>\n\n{source}\n\n</details>\n"
            )
        if "predict" in tags and cell["cell_type"] == "code":
            extra.append("hide-output")
        if extra:
            cell["metadata"]["tags"] = tags + [t for t in extra if t not in tags]
    return json.dumps(nb, indent=1, ensure_ascii=False) + "\n"


def stage(src: Path, gallery_run: Path | None) -> dict[str, Notebook]:
    """Fill ``src`` with everything Sphinx needs; remove what no longer belongs there."""
    course = load_course()
    notebooks = read_course(course)
    for problem in warnings_for(notebooks):
        print(f"book: warning: {problem}", file=sys.stderr)
    wanted: set[Path] = set()

    def put(relative: str, text: str | None = None, source: Path | None = None) -> None:
        target = src / relative
        wanted.add(target)
        if source is not None:
            copy_if_changed(source, target)
        else:
            write_if_changed(target, text or "")

    for path in sorted(BOOK.rglob("*")):
        if path.is_file() and path.name != "course.yml" and "__pycache__" not in path.parts:
            put(str(path.relative_to(BOOK)), source=path)
    for nb in notebooks.values():
        if nb.exists:
            put(f"notebooks/{nb.stem}.ipynb", site_notebook(NOTEBOOKS / f"{nb.stem}.ipynb"))
    toctree, pages = parts_toctree(course, notebooks)
    put("_generated/parts_toctree.md", toctree)
    for docname, text in pages.items():
        put(f"{docname}.md", text)
    results_pages = ["gallery"] + (["sweeps"] if (BOOK / "sweeps.md").is_file() else [])
    put(
        "_generated/results_toctree.md",
        "```{toctree}\n:caption: Results\n:maxdepth: 1\n:hidden:\n\n"
        + "\n".join(results_pages)
        + "\n```\n",
    )
    put("_generated/overview.md", overview_table(notebooks, course["parts"]))
    put("_generated/syllabus.md", syllabus_table(notebooks, course["parts"]))
    put("_generated/tracks.md", tracks_page(course, notebooks))
    graph_svg = src / "_generated" / "dependencies.svg"
    draw_graph(notebooks, course["parts"], graph_svg)
    wanted.add(graph_svg)
    images = src / "_gallery"
    put("gallery.md", gallery_page(notebooks, images, gallery_run))
    wanted.update(p for p in images.rglob("*") if p.is_file())
    for path in sorted(src.rglob("*"), reverse=True):  # stale pages, figures, notebooks
        if path.is_file() and path not in wanted:
            path.unlink()
        elif path.is_dir() and not any(path.iterdir()):
            path.rmdir()
    return notebooks


def sphinx_build(src: Path, out: Path) -> None:
    """Run ``sphinx-build`` on ``src`` into ``out/html``; raise ``BookError`` if it fails."""
    try:
        import myst_nb  # noqa: F401
        import sphinx_book_theme  # noqa: F401
    except ImportError as error:
        raise BookError(
            f"{error.name} is not installed: `make setup` (or `.venv/bin/pip install -r "
            "requirements-dev.txt`) installs Sphinx, MyST-NB, the book theme and offline MathJax"
        ) from error
    command = [
        sys.executable,
        "-m",
        "sphinx",
        "-b",
        "html",
        "-q",
        "-a",  # write every page (sources are re-read only when changed): sidebars stay current
        "-d",
        str(out / "doctrees"),
        str(src),
        str(out / "html"),
    ]
    if subprocess.run(command).returncode != 0:
        raise BookError("sphinx-build failed (its messages are above)")
    remove_stale_pages(src, out / "html")


def remove_stale_pages(src: Path, html: Path) -> None:
    """Delete pages whose source is gone (a renamed notebook): Sphinx never removes an output."""
    for page in html.rglob("*.html"):
        relative = page.relative_to(html)
        if relative.parts[0].startswith("_") or str(relative) in ("genindex.html", "search.html"):
            continue
        stem = src / relative.with_suffix("")
        if not any(stem.with_suffix(ext).is_file() for ext in (".md", ".ipynb")):
            page.unlink()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", default=str(DEFAULT_OUT), help="build folder (default build/book)")
    parser.add_argument(
        "--gallery", help="run folder for the gallery (default: the latest under runs/)"
    )
    args = parser.parse_args(argv)
    out = Path(args.out).resolve()
    run = Path(args.gallery).resolve() if args.gallery else latest_run()
    if run is not None and not any(run.glob("*/results.json")):
        print(f"book: error: {run} holds no */results.json", file=sys.stderr)
        return 1
    started = time.monotonic()
    try:
        stage(out / "src", run)
        sphinx_build(out / "src", out)
    except BookError as error:
        print(f"book: error: {error}", file=sys.stderr)
        return 1
    gallery = os.path.relpath(run, ROOT) if run else "the committed notebooks"
    print(
        f"book: {out / 'html' / 'index.html'} in {time.monotonic() - started:.0f} s (gallery: {gallery})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
