"""Exercises, solutions and student copies: the conventions of CONTRIBUTING.md, *Exercises and solutions*.

A notebook's ``## Exercises`` cell numbers its tasks, each in one form::

    1. **Predict the curve** *(predict · easy · 5 min)* Before running ... *Hint:* ...

with a kind (predict, implement, open), a difficulty (easy, medium, hard) and the minutes a student
needs on a CPU laptop. Every task N has a solution kept in the notebook:

- a code cell tagged ``solution`` whose first line is ``# Exercise N ...`` and whose leading comment
  lines state the task; the student copy keeps those lines and replaces the code with a stub that
  raises ``NotImplementedError("Exercise N: ...")``;
- a markdown cell tagged ``solution`` starting ``**Solution N.**``, in a ``## Solutions`` section after
  the exercises and before ``## Save``; the student copy drops it (and the section's heading).

A code cell tagged ``predict`` shows the answer to a *predict* task: the student copy drops its outputs,
so the student sees the result only after running it. ``fill`` puts the solutions back into a student
copy; the tests check that this gives the original back, cell for cell, and that the filled copy
reproduces the committed run.

Used by ``tools/notebooks.py`` (``student``, ``check``) and ``tests/students``.
"""

from __future__ import annotations

import ast
import copy as copying
import io
import re
import tokenize
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

KINDS = ("predict", "implement", "open")
DIFFICULTIES = ("easy", "medium", "hard")
ITEM_FORM = "N. **Title** *(kind · difficulty · M min)* task ... *Hint:* ..."  # ", 1 min CPU" may follow M min

HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*$", re.M)
ITEM_START = re.compile(r"^(\d+)\.\s", re.M)  # a numbered item at the start of a line
ITEM = re.compile(
    r"^(?P<number>\d+)\.\s+\*\*(?P<title>[^*]+?)\*\*\s*"
    r"\*\((?P<kind>[A-Za-z]+)\s*·\s*(?P<difficulty>[A-Za-z]+)\s*·\s*(?P<minutes>\d+)\s*min\b[^)]*\)\*"
)
HINT = re.compile(r"\*{1,2}Hints?:?\*{1,2}")
CODE_SOLUTION = re.compile(r"^#\s*Exercise\s+(\d+)\b")
TASK_AFTER_NUMBER = re.compile(
    r"^#\s*Exercise\s+\d+\s*(\((predict|implement|open)[^)]*\))?\s*[:.—-]?\s*(?P<task>.*)$"
)
KIND_STATED = re.compile(r"^#\s*Exercise\s+\d+\s*\((predict|implement|open)\b")
UNFINISHED = re.compile(r"\b(PLACEHOLDER|TODO|TBD|FIXME|XXX)\b|[A-Z]+_PLACEHOLDER")
MARKDOWN_SOLUTION = re.compile(r"^\*\*Solution\s+(\d+)\.\*\*")

# Stub of a solution cell in the old form (no "# Exercise N" line): kept while notebooks convert.
STUB = 'raise NotImplementedError("Your turn: write this cell (the comments above say what), then run it")'

# Words about how the course was built, which student-facing text must not contain
# (CONTRIBUTING.md, *Text for students*).
# "agent" alone is reinforcement-learning vocabulary (notebook 06); only its project senses are banned.
BANNED = [
    (re.compile(r"\bcatalog(ue)?s?\b", re.I), "catalogue"),
    (re.compile(r"\bfeasibility\b", re.I), "feasibility run"),
    (re.compile(r"\bresearch notes?\b", re.I), "research notes"),
    (re.compile(r"\bour notes\b", re.I), "our notes"),
    (re.compile(r"\btrial runs?\b", re.I), "trial run"),
    (re.compile(r"\bsearch tools?\b", re.I), "search tool"),
    (re.compile(r"\bissues?\b", re.I), "issue"),
    (re.compile(r"\bcheck-?lists?\b", re.I), "checklist"),
    (re.compile(r"\bthe lead\b(?! author)", re.I), "the lead"),
    (
        re.compile(
            r"\b(?i:agents?) [A-H]\b"  # "Agent C", not "gives the agent a reward"
            r"|(?i:\b(other|another|helper|coding) agents?\b|\bthe agents\b)"
        ),
        "agent",
    ),
    (
        re.compile(r"\.\./shared/|/work/|\b(STANDARD|CATALOGUE|ANCHORS|MEASUREMENTS)\.md\b"),
        "project file",
    ),
]


def tags(cell: Any) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def stub_line(number: int | None) -> str:
    """The line that replaces a solution's code: it stops the student copy with a clear message."""
    if number is None:
        return STUB
    return (
        f'raise NotImplementedError("Exercise {number}: write your solution in this cell, '
        'then run it")'
    )


def task_lines(source: str) -> list[str]:
    """The leading comment lines of a solution cell: the task a student copy keeps."""
    lines = []
    for line in source.splitlines():
        if not line.startswith("#"):
            break
        lines.append(line)
    return lines


def solution_number(cell: Any) -> int | None:
    """N of a ``solution`` cell in the new form (``# Exercise N`` / ``**Solution N.**``), else None."""
    pattern = CODE_SOLUTION if cell.cell_type == "code" else MARKDOWN_SOLUTION
    found = pattern.match(cell.source.lstrip())
    return int(found.group(1)) if found else None


def is_solutions_heading(cell: Any) -> bool:
    """A markdown cell that opens the ``## Solutions`` section."""
    return cell.cell_type == "markdown" and bool(
        re.match(r"^#{1,6}\s+Solutions\b", cell.source.lstrip(), re.I)
    )


def dropped_from_student_copy(cell: Any, stubs_follow: bool = False) -> bool:
    """Markdown solutions, and the Solutions heading unless code stubs follow it (``stubs_follow``):
    the student copy leaves them out."""
    if cell.cell_type != "markdown":
        return False
    if is_solutions_heading(cell):
        return not stubs_follow
    return "solution" in tags(cell)


def code_solutions_follow(cells: list[Any], index: int) -> bool:
    """Whether a code cell tagged ``solution`` lies in the section that starts at ``cells[index]``
    (up to the next heading of level 1 or 2)."""
    for cell in cells[index + 1 :]:
        if cell.cell_type == "markdown" and re.match(r"^#{1,2}\s", cell.source.lstrip()):
            return False
        if cell.cell_type == "code" and "solution" in tags(cell):
            return True
    return False


def student_copy(nb_path: Path):  # -> nbformat.NotebookNode
    """The student copy of the notebook at ``nb_path``; the file itself is not changed.

    Code cells tagged ``solution`` keep their task comments and get a stub instead of the code (tag
    ``stub``); markdown solutions are dropped, and so is the Solutions heading unless code solutions
    follow it (their stubs then stay under it, where the student works); cells tagged ``predict``
    lose their outputs. Every other cell is kept as it is, cell ids included (``fill`` relies on them).
    """
    import nbformat

    nb = nbformat.read(nb_path, as_version=4)
    kept = []
    for index, cell in enumerate(nb.cells):
        if dropped_from_student_copy(cell, code_solutions_follow(nb.cells, index)):
            continue
        if cell.cell_type == "code" and "solution" in tags(cell):
            cell.source = "\n".join([*task_lines(cell.source), stub_line(solution_number(cell))])
            cell.outputs = []
            cell.execution_count = None
            cell.metadata["tags"] = [t for t in tags(cell) if t != "solution"] + ["stub"]
        elif cell.cell_type == "code" and "predict" in tags(cell):
            cell.outputs = []
            cell.execution_count = None
        kept.append(cell)
    nb.cells = kept
    nbformat.validate(nb)
    return nb


def fill(student: Any, original: Any) -> Any:
    """``student`` (a student copy) with the solutions of ``original`` put back.

    Each stub gets its solution's source, outputs and tags again; the markdown solutions and the
    Solutions heading return to their places. Every other cell is taken from the student copy, so
    comparing the result with ``original`` checks that the student copy changed nothing else.
    Raises ValueError when a cell of ``original`` is missing from the copy and is not a solution.
    """
    cells = {cell.get("id"): cell for cell in student.cells}
    if None in cells:
        raise ValueError("fill needs cell ids (nbformat 4.5 or later); the student copy has none")
    filled = copying.deepcopy(student)
    filled.cells = []
    for index, cell in enumerate(original.cells):
        mine = cells.get(cell.get("id"))
        if mine is None:
            if not dropped_from_student_copy(cell, code_solutions_follow(original.cells, index)):
                raise ValueError(
                    f"cell {cell.get('id')!r} of the original is not in the student copy and is not "
                    f"a solution: {cell.source[:60]!r}"
                )
            filled.cells.append(copying.deepcopy(cell))
        elif "stub" in tags(mine):
            restored = copying.deepcopy(mine)
            restored.source = cell.source
            restored.outputs = copying.deepcopy(cell.outputs)
            restored.execution_count = cell.execution_count
            restored.metadata["tags"] = tags(cell)
            filled.cells.append(restored)
        else:
            filled.cells.append(copying.deepcopy(mine))
    return filled


# --- the check --------------------------------------------------------------------------------


@dataclass
class Exercise:
    """One numbered task of the Exercises section, as parsed from its first line."""

    number: int
    text: str
    kind: str | None = None
    difficulty: str | None = None
    minutes: int | None = None
    problems: list[str] = field(default_factory=list)


def exercises_text(nb: Any) -> str | None:
    """The Markdown of the ``## Exercises`` section (markdown cells up to the next heading of the same
    or a higher level, solution cells left out); None when there is no such section."""
    text: list[str] = []
    level = None
    for cell in nb.cells:
        if cell.cell_type != "markdown" or "solution" in tags(cell):
            continue
        for line in cell.source.splitlines():
            heading = HEADING.match(line)
            if heading and level is not None and len(heading.group(1)) <= level:
                return "\n".join(text)
            if heading and level is None and heading.group(2).lower().startswith("exercises"):
                level = len(heading.group(1))
                continue
            if level is not None:
                text.append(line)
    return None if level is None else "\n".join(text)


def parse_exercises(text: str) -> list[Exercise]:
    """The numbered items of an Exercises section, each with the problems of its form."""
    starts = list(ITEM_START.finditer(text))
    items = []
    for k, start in enumerate(starts):
        end = starts[k + 1].start() if k + 1 < len(starts) else len(text)
        body = text[start.start() : end].strip()
        item = Exercise(number=int(start.group(1)), text=body)
        form = ITEM.match(body)
        if form is None:
            item.problems.append(
                f"exercise {item.number} is not in the form `{ITEM_FORM}`; it starts "
                f"{body.splitlines()[0][:70]!r}"
            )
        else:
            item.kind = form.group("kind").lower()
            item.difficulty = form.group("difficulty").lower()
            item.minutes = int(form.group("minutes"))
            if item.kind not in KINDS:
                item.problems.append(
                    f"exercise {item.number}: kind {item.kind!r} is not one of {', '.join(KINDS)}"
                )
            if item.difficulty not in DIFFICULTIES:
                item.problems.append(
                    f"exercise {item.number}: difficulty {item.difficulty!r} is not one of "
                    f"{', '.join(DIFFICULTIES)}"
                )
            if item.minutes < 1:
                item.problems.append(f"exercise {item.number}: the time must be at least 1 min")
        if not HINT.search(body):
            item.problems.append(f"exercise {item.number} has no `*Hint:* ...`")
        items.append(item)
    return items


def prose_in_code(source: str) -> list[str]:
    """The comments and string literals of a code cell: the text in it a student reads (tokenized,
    so a ``#`` inside a string is not a comment)."""
    try:
        tokens = tokenize.generate_tokens(io.StringIO(source).readline)
        return [tok.string for tok in tokens if tok.type in (tokenize.COMMENT, tokenize.STRING)]
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return [source]


def banned_words(nb: Any) -> list[str]:
    """Where student-facing text (markdown; comments and strings in code) talks about how the course
    was built."""
    found = []
    for index, cell in enumerate(nb.cells):
        texts = [cell.source] if cell.cell_type == "markdown" else prose_in_code(cell.source)
        for text in texts:
            for pattern, word in BANNED:
                hit = pattern.search(text)
                if hit:
                    context = text[max(0, hit.start() - 30) : hit.end() + 30].replace("\n", " ")
                    found.append(
                        f"cell {index} ({cell.cell_type}) mentions how the course was built "
                        f"({word}): ...{context}...; rewrite it for a student (CONTRIBUTING.md, "
                        "*Text for students*)"
                    )
    return found


def explorer_problems(nb: Any) -> list[str]:
    """Every ``slider_explorer(...)`` call passes ``notice=``: one non-empty line of what to notice."""
    found = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or "slider_explorer" not in cell.source:
            continue
        try:
            tree = ast.parse(cell.source)
        except SyntaxError as err:
            found.append(f"cell {index}: cannot parse the explorer's cell ({err.msg})")
            continue
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "attr", getattr(node.func, "id", None))
            if name != "slider_explorer":
                continue
            notice = next((k.value for k in node.keywords if k.arg == "notice"), None)
            if notice is None and len(node.args) >= 5:
                notice = node.args[4]
            if notice is None:
                found.append(
                    f"cell {index}: slider_explorer(...) has no notice=: add one line saying what "
                    "the reader should notice when moving the slider"
                )
            elif isinstance(notice, ast.Constant) and (
                not str(notice.value).strip() or "\n" in str(notice.value).strip()
            ):
                found.append(f"cell {index}: the explorer's notice must be one non-empty line")
    return found


def section_index(nb: Any, title: str) -> int | None:
    """The index of the first markdown cell with a heading that starts with ``title``."""
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "markdown":
            continue
        for heading in HEADING.finditer(cell.source):
            if heading.group(2).lower().startswith(title.lower()):
                return index
    return None


def exercise_problems(nb: Any) -> list[str]:
    """What a notebook's exercises, solutions and predict cells lack, each said so an author can fix it."""
    text = exercises_text(nb)
    if text is None:
        return ["no `## Exercises` section"]
    items = parse_exercises(text)
    if not items:
        return [f"the Exercises section has no numbered items (`{ITEM_FORM}`)"]
    return (
        item_problems(items)
        + solution_problems(nb, items)
        + section_problems(nb)
        + predict_problems(nb, items)
    )


def item_problems(items: list[Exercise]) -> list[str]:
    """Each item's form, the numbering, and one task of each kind."""
    found = [p for item in items for p in item.problems]
    numbers = [item.number for item in items]
    if numbers != list(range(1, len(items) + 1)):
        found.append(f"exercises are numbered {numbers}; number them 1, 2, 3, ... in order")
    kinds = {item.kind for item in items}
    found += [
        f"no exercise of kind {kind!r} (every notebook has predict, implement, open)"
        for kind in KINDS
        if kind not in kinds
    ]
    return found


def solution_problems(nb: Any, items: list[Exercise]) -> list[str]:
    """A solution in the right form for every exercise, none unfinished, and an implement task
    checked with ``assert``."""
    kind_of = {item.number: item.kind for item in items}
    found: list[str] = []
    solved: dict[int, list[Any]] = {}
    for cell in (c for c in nb.cells if "solution" in tags(c)):
        number = solution_number(cell)
        if number is None and not is_solutions_heading(cell):
            first = cell.source.strip().splitlines()[0][:60] if cell.source.strip() else ""
            want = (
                "# Exercise N (kind): the task" if cell.cell_type == "code" else "**Solution N.**"
            )
            found.append(
                f"a {cell.cell_type} cell tagged 'solution' must start with `{want}`; it starts {first!r}"
            )
        elif number is not None:
            found += solution_cell_problems(cell, number, kind_of)
            solved.setdefault(number, []).append(cell)
    for item in items:
        if not solved.get(item.number):
            found.append(
                f"exercise {item.number} has no solution: add a code cell tagged 'solution' starting "
                f"`# Exercise {item.number}`, or a markdown cell tagged 'solution' starting "
                f"`**Solution {item.number}.**` under `## Solutions`"
            )
    checked = [
        number
        for number, cells in solved.items()
        if kind_of.get(number) == "implement"
        and any(c.cell_type == "code" and re.search(r"^\s*assert\b", c.source, re.M) for c in cells)
    ]
    if "implement" in kind_of.values() and not checked:
        found.append(
            "no implement exercise has a code solution cell (tagged 'solution', starting "
            "`# Exercise N`) that checks the plain-torch result against the helper with `assert`"
        )
    return found


def solution_cell_problems(cell: Any, number: int, kind_of: dict[int, str | None]) -> list[str]:
    """One solution cell of exercise ``number``: the exercise exists, the kind it states matches,
    a code cell states its task, and nothing is left unfinished."""
    found = []
    if number not in kind_of:
        found.append(f"a solution for exercise {number}, but there is no exercise {number}")
    unfinished = UNFINISHED.search(cell.source)
    if unfinished:
        found.append(
            f"the solution of exercise {number} is unfinished: it contains {unfinished.group(0)!r}"
        )
    if cell.cell_type != "code":
        return found
    stated = KIND_STATED.match(cell.source.lstrip())
    if stated and kind_of.get(number) and stated.group(1) != kind_of[number]:
        found.append(
            f"the solution cell of exercise {number} says ({stated.group(1)}), but exercise "
            f"{number} is of kind {kind_of[number]}"
        )
    first, *more = task_lines(cell.source.lstrip())
    task = [TASK_AFTER_NUMBER.match(first).group("task")] + [m.strip("# ") for m in more]
    if not any(task):
        found.append(
            f"the solution cell of exercise {number} states no task: its leading comment lines "
            "say what to do (the student copy keeps them)"
        )
    return found


def section_problems(nb: Any) -> list[str]:
    """Markdown solutions sit in a ``## Solutions`` section after the exercises, before ``## Save``."""
    written = [
        i for i, c in enumerate(nb.cells) if c.cell_type == "markdown" and "solution" in tags(c)
    ]
    if not written:
        return []
    exercises_at = section_index(nb, "Exercises")
    solutions_at = section_index(nb, "Solutions")
    save_at = section_index(nb, "Save")
    if solutions_at is None:
        return ["markdown solutions need a `## Solutions` heading after the exercises"]
    found = []
    if exercises_at is not None and solutions_at < exercises_at:
        found.append("the `## Solutions` section must come after `## Exercises`")
    if save_at is not None and solutions_at > save_at:
        found.append("the `## Solutions` section must come before `## Save`")
    outside = [i for i in written if i < solutions_at or (save_at is not None and i > save_at)]
    if outside:
        found.append(
            f"markdown solution cells {outside} lie outside the Solutions section "
            "(between `## Solutions` and `## Save`)"
        )
    return found


def predict_problems(nb: Any, items: list[Exercise]) -> list[str]:
    """A predict task has a ``predict`` cell: a code cell whose committed outputs answer it."""
    predict = [c for c in nb.cells if "predict" in tags(c)]
    found = []
    if any(item.kind == "predict" for item in items) and not predict:
        found.append(
            "a predict exercise but no code cell tagged 'predict' (the cell whose output answers "
            "it; the student copy hides that output until the student runs it)"
        )
    for cell in predict:
        if cell.cell_type != "code" or not cell.get("outputs"):
            found.append(
                "a cell tagged 'predict' must be a code cell with outputs (the answer the student "
                f"predicts): {cell.source[:50]!r}"
            )
    return found


def convention_problems(nb: Any) -> list[str]:
    """Every convention of exercises, solutions, student-facing text and explorers a notebook breaks."""
    return exercise_problems(nb) + banned_words(nb) + explorer_problems(nb)
