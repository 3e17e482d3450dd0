"""The course site's sources (tools/book.py), without Sphinx: what it reads from the notebooks and
from book/course.yml, and how it refuses what it cannot build.

Small notebooks are written here; the real course is read once, to check that every notebook has
its entry in course.yml and that the syllabus, the tracks and the graph can be made from it.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest

import book  # tools/book.py (tools/ is on sys.path, see tests/conftest.py)

HEADING = "# {number} · A notebook\n\n**Paper.** A. Author, *A Paper*, 2024.\n\nThe question."
GOALS = "**You will learn**\n1. the first thing;\n2. the second,\n   over two lines.\n\n{needs}"
EXERCISES = (
    "## Exercises\n\n"
    "1. **Guess first** *(predict · easy · 3 min)* Before running, guess. *Hint:* think.\n"
    "2. **By hand** *(implement · medium · 10 min)* Write it. *Hint:* torch.\n"
)


def write_notebook(folder: Path, stem: str, needs: str = "**You need** nothing.") -> Path:
    """A minimal course notebook: title and paper, goals, prerequisites, two exercises."""
    cells = [
        HEADING.format(number=stem[:2]),
        GOALS.format(needs=needs),
        EXERCISES,
    ]
    nb = {
        "cells": [
            {"id": f"cell{i}", "cell_type": "markdown", "metadata": {}, "source": c}
            for i, c in enumerate(cells)
        ],
        "metadata": {
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path = folder / f"{stem}.ipynb"
    path.write_text(json.dumps(nb))
    return path


def course(*stems: str) -> dict:
    """A course.yml, as loaded, with one part and an entry for each of ``stems``."""
    return {
        "parts": [{"id": "0", "title": "Foundations"}],
        "notebooks": {s: {"part": "0", "hours": 2, "difficulty": "introductory"} for s in stems},
        "tracks": [],
    }


def test_the_notebook_is_the_source_of_goals_prerequisites_and_exercises(tmp_path):
    write_notebook(tmp_path, "00_first")
    write_notebook(tmp_path, "01_second", "**You need** [00 · First](00_first.ipynb) (masks).")
    notebooks = book.read_course(course("00_first", "01_second"), tmp_path)

    second = notebooks["01_second"]
    assert second.needs == ["00_first"]
    assert second.goals == ["the first thing", "the second, over two lines"]
    assert second.paper == "A. Author, *A Paper*, 2024."
    assert [(e.number, e.title, e.kind, e.time) for e in second.exercises] == [
        (1, "Guess first", "predict", "3 min"),
        (2, "By hand", "implement", "10 min"),
    ]
    assert list(book.dependency_graph(notebooks).edges) == [("00_first", "01_second")]


def test_a_notebook_without_an_entry_in_course_yml_stops_the_build_by_name(tmp_path):
    write_notebook(tmp_path, "00_first")
    write_notebook(tmp_path, "07_new_one")
    with pytest.raises(book.BookError, match="07_new_one") as error:
        book.read_course(course("00_first"), tmp_path)
    assert "book/course.yml" in str(error.value) and "difficulty" in str(error.value)


def test_a_planned_notebook_is_listed_but_gets_no_page(tmp_path):
    write_notebook(tmp_path, "00_first")
    notebooks = book.read_course(course("00_first", "05_later"), tmp_path)
    assert not notebooks["05_later"].exists
    assert "not in the course yet" in book.link(notebooks["05_later"])
    assert "05_later" not in book.dependency_graph(notebooks)


def test_a_cycle_in_the_prerequisites_is_refused(tmp_path):
    write_notebook(tmp_path, "00_first", "**You need** [01](01_second.ipynb).")
    write_notebook(tmp_path, "01_second", "**You need** [00](00_first.ipynb).")
    with pytest.raises(book.BookError, match="cycle"):
        book.dependency_graph(book.read_course(course("00_first", "01_second"), tmp_path))


def test_links_from_a_notebook_are_rebased_for_pages_outside_notebooks():
    assert book.one_line("see [00](00_first.ipynb) and\n[web](https://x.org)") == (
        "see [00](/notebooks/00_first.ipynb) and [web](https://x.org)"
    )


def test_a_track_asking_for_a_missing_exercise_is_refused(tmp_path):
    write_notebook(tmp_path, "00_first")
    plan = course("00_first")
    plan["tracks"] = [
        {"id": "t", "title": "T", "weeks": [{"notebook": "00", "exercises": [1, 9]}] * 5}
    ]
    with pytest.raises(book.BookError, match=r"no exercise \[9\]"):
        book.tracks_page(plan, book.read_course(plan, tmp_path))


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"part": "0", "hours": 2, "difficulty": "easy"}, "difficulty must be one of"),
        ({"part": "IX", "hours": 2, "difficulty": "advanced"}, "part 'IX'"),
        ({"part": "0", "hours": -1, "difficulty": "advanced"}, "hours"),
        ({"part": "0"}, "give `part`, `hours` and `difficulty`"),
    ],
)
def test_course_yml_with_a_bad_entry_says_what_is_wrong(tmp_path, entry, message):
    import yaml

    plan = course()
    plan["notebooks"]["00_first"] = entry
    path = tmp_path / "course.yml"
    path.write_text(yaml.safe_dump(plan))
    with pytest.raises(book.BookError, match=message):
        book.load_course(path)


def test_the_latest_run_is_the_folder_with_the_newest_results(tmp_path):
    assert book.latest_run(tmp_path) is None
    for name, when in (("old", 1_000), ("new", 2_000)):
        results = tmp_path / name / "00_first" / "results.json"
        results.parent.mkdir(parents=True)
        results.write_text("{}")
        os.utime(results, (when, when))
    (tmp_path / "empty").mkdir()
    assert book.latest_run(tmp_path) == tmp_path / "new"


def test_the_site_copy_folds_solutions_and_predicted_results_away(tmp_path):
    path = write_notebook(tmp_path, "00_first")
    nb = json.loads(path.read_text())
    nb["cells"] += [
        {
            "cell_type": "code",
            "metadata": {"tags": ["solution"]},
            "source": "# Exercise 2\nx = 1",
            "outputs": [],
            "execution_count": None,
        },
        {
            "cell_type": "code",
            "metadata": {"tags": ["predict"]},
            "source": "x",
            "outputs": [],
            "execution_count": None,
        },
        {
            "cell_type": "markdown",
            "metadata": {"tags": ["solution"]},
            "source": "**Solution 1.** Yes.",
        },
    ]
    path.write_text(json.dumps(nb))
    cells = json.loads(book.site_notebook(path))["cells"]
    assert "hide-cell" in cells[-3]["metadata"]["tags"]
    assert "hide-output" in cells[-2]["metadata"]["tags"]
    assert cells[-1]["source"].startswith("<details>\n<summary>Solution 1: show</summary>")
    assert "**Solution 1.** Yes." in cells[-1]["source"]


def test_the_real_course_has_an_entry_and_a_syllabus_for_every_notebook():
    plan = book.load_course()
    notebooks = book.read_course(plan)  # raises, naming it, if a notebook has no entry
    existing = [nb for nb in notebooks.values() if nb.exists]
    assert existing, "no notebook found"
    syllabus = book.syllabus_table(notebooks, plan["parts"])
    for nb in existing:
        assert f"({nb.docname})" in syllabus, f"{nb.stem} is missing from the syllabus"
    assert len(plan["tracks"]) == 3
    book.tracks_page(plan, notebooks)  # every week's notebook and exercises exist or are planned


def test_without_a_run_the_gallery_shows_what_the_committed_notebook_shows(tmp_path):
    path = write_notebook(tmp_path, "00_first")
    nb = json.loads(path.read_text())
    png = base64.b64encode(b"first figure").decode()
    output = {"output_type": "display_data", "metadata": {}, "data": {"image/png": png}}
    table = {
        "output_type": "execute_result",
        "metadata": {},
        "execution_count": 1,
        "data": {"text/markdown": "| claim | holds? |\n|---|---|\n| it | holds |"},
    }
    before = {
        "cell_type": "code",
        "metadata": {},
        "source": "",
        "execution_count": 1,
        "outputs": [{**output, "data": {"image/png": base64.b64encode(b"setup").decode()}}],
    }
    nb["cells"] += [
        before,
        {"cell_type": "markdown", "metadata": {}, "source": "## Results"},
        {
            "cell_type": "code",
            "metadata": {},
            "source": "",
            "execution_count": 1,
            "outputs": [output],
        },
        {
            "cell_type": "code",
            "metadata": {},
            "source": "",
            "execution_count": 1,
            "outputs": [table],
        },
        {"cell_type": "markdown", "metadata": {}, "source": "## Explore"},
        {
            "cell_type": "code",
            "metadata": {},
            "source": "",
            "execution_count": 1,
            "outputs": [table],
        },
    ]
    path.write_text(json.dumps(nb))
    figure, tables = book.results_outputs(path)
    assert figure == b"first figure"
    assert tables == ["| claim | holds? |\n|---|---|\n| it | holds |"]
