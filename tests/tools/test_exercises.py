"""The exercise conventions (tools/exercises.py): what `tools/notebooks.py check` reports, and the
student copy and ``fill`` on a small notebook built here.

A notebook that follows every convention passes; each test then breaks one convention and expects a
message that names what is missing.
"""

from __future__ import annotations

from pathlib import Path

import exercises  # tools/exercises.py, importable through tests/conftest.py
import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

EXERCISES = """## Exercises

1. **Predict the curve** *(predict · easy · 5 min)* Before running the figure cell, sketch the curve.
   *Hint:* ten classes.
2. **By hand** *(implement · medium · 10 min, 5 s CPU)* Compute the mask in plain torch.
   *Hint:* `torch.topk`.
3. **Why** *(open · hard · 20 min)* What changes at full scale? *Hint:* the parameters cell.
"""


def course_notebook() -> nbformat.NotebookNode:
    """A small notebook that follows every convention."""
    figure = new_code_cell("print('accuracy 0.9')", execution_count=3)
    figure.outputs = [new_output("stream", name="stdout", text="accuracy 0.9\n")]
    figure.metadata["tags"] = ["predict"]
    solution = new_code_cell(
        "# Exercise 2 (implement): the mask by hand, checked against the helper.\n"
        "# Hint: torch.topk.\n"
        "mine = 2 * 3\n"
        "assert mine == 6",
        execution_count=2,
    )
    solution.outputs = [new_output("stream", name="stdout", text="ok\n")]
    solution.metadata["tags"] = ["solution"]
    explorer = new_code_cell(
        'widgets.slider_explorer(draw, [1, 2], 1, "knob", notice="The line gets steeper.")'
    )
    cells = [
        new_markdown_cell("# 99 · A test notebook"),
        new_code_cell("seed = 0"),
        solution,
        figure,
        explorer,
        new_markdown_cell(EXERCISES),
        new_markdown_cell("## Solutions"),
        new_markdown_cell("**Solution 1.** It starts at 0.1 and levels off."),
        new_markdown_cell("**Solution 3.** A larger network, more epochs."),
        new_markdown_cell("## Save"),
        new_code_cell("run.save(...)"),
    ]
    for cell in cells[7:9]:
        cell.metadata["tags"] = ["solution"]
    nb = new_notebook(cells=cells)
    return nb


def problems(nb: nbformat.NotebookNode) -> list[str]:
    return exercises.convention_problems(nb)


def test_a_notebook_that_follows_the_conventions_passes() -> None:
    assert problems(course_notebook()) == []


def test_the_item_form_is_checked() -> None:
    nb = course_notebook()
    nb.cells[5].source = nb.cells[5].source.replace("*(open · hard · 20 min)*", "(open, hard)")
    found = problems(nb)
    assert any("exercise 3 is not in the form" in p for p in found)
    assert any("no exercise of kind 'open'" in p for p in found)


@pytest.mark.parametrize(
    "old, new, message",
    [
        ("*(open · hard · 20 min)*", "*(essay · hard · 20 min)*", "kind 'essay' is not one of"),
        ("*(open · hard · 20 min)*", "*(open · tough · 20 min)*", "difficulty 'tough'"),
        ("*Hint:* the parameters cell.", "", "exercise 3 has no `*Hint:*"),
        ("3. **Why**", "4. **Why**", "numbered [1, 2, 4]"),
    ],
)
def test_each_part_of_an_item_is_checked(old: str, new: str, message: str) -> None:
    nb = course_notebook()
    nb.cells[5].source = nb.cells[5].source.replace(old, new)
    assert any(message in p for p in problems(nb)), problems(nb)


def test_every_exercise_needs_a_solution() -> None:
    nb = course_notebook()
    del nb.cells[8]  # **Solution 3.**
    assert any("exercise 3 has no solution" in p for p in problems(nb))


def test_an_implement_task_needs_an_assert_against_the_helper() -> None:
    nb = course_notebook()
    nb.cells[2].source = nb.cells[2].source.replace("assert mine == 6", "print(mine)")
    assert any("no implement exercise has a code solution" in p for p in problems(nb))


def test_a_solution_cell_in_the_old_form_is_named() -> None:
    nb = course_notebook()
    nb.cells[2].source = nb.cells[2].source.replace("# Exercise 2 (implement):", "# Your turn:")
    found = problems(nb)
    assert any("must start with `# Exercise N (kind): the task`" in p for p in found)
    assert any("exercise 2 has no solution" in p for p in found)


def test_a_solution_must_state_its_task() -> None:
    nb = course_notebook()
    nb.cells[2].source = "# Exercise 2 (implement)\nmine = 6\nassert mine == 6"
    assert any("states no task" in p for p in problems(nb))


def test_unfinished_solutions_are_found() -> None:
    nb = course_notebook()
    nb.cells[8].source = "**Solution 3.** RETRAIN_PLACEHOLDER"
    assert any("exercise 3 is unfinished" in p for p in problems(nb))


def test_written_solutions_sit_between_solutions_and_save() -> None:
    nb = course_notebook()
    nb.cells.insert(4, nb.cells.pop(7))  # **Solution 1.** above the exercises
    assert any("outside the Solutions section" in p for p in problems(nb))


def test_a_predict_task_needs_a_predict_cell_with_outputs() -> None:
    nb = course_notebook()
    nb.cells[3].outputs = []
    assert any("tagged 'predict' must be a code cell with outputs" in p for p in problems(nb))
    nb.cells[3].metadata["tags"] = []
    assert any("no code cell tagged 'predict'" in p for p in problems(nb))


@pytest.mark.parametrize(
    "text, word",
    [
        ("As the catalogue says, ...", "catalogue"),
        ("A feasibility run showed ...", "feasibility run"),
        ("From our research notes: ...", "research notes"),
        ("See issue #11.", "issue"),
        ("Agent C wrote this.", "agent"),
        ("Read ../shared/STANDARD.md", "project file"),
    ],
)
def test_words_about_how_the_course_was_built_are_found(text: str, word: str) -> None:
    nb = course_notebook()
    nb.cells[0].source += "\n\n" + text
    assert any(f"({word})" in p for p in problems(nb))


def test_in_code_comments_and_strings_are_read_and_a_policy_agent_is_fine() -> None:
    nb = course_notebook()
    nb.cells[1].source = 'seed = 0  # the policy-gradient agent\ncatalogue = "the agent acts"'
    assert problems(nb) == []
    nb.cells[1].source = "seed = 0  # value from the feasibility run"
    assert any("(feasibility run)" in p for p in problems(nb))
    nb.cells[1].source = 'paper = "Table 2, as our research notes say"'
    assert any("(research notes)" in p for p in problems(nb))


def test_an_explorer_needs_a_notice() -> None:
    nb = course_notebook()
    nb.cells[4].source = 'widgets.slider_explorer(draw, [1, 2], 1, description="knob")'
    assert any("has no notice=" in p for p in problems(nb))
    nb.cells[4].source = 'widgets.slider_explorer(draw, [1, 2], 1, notice="  ")'
    assert any("one non-empty line" in p for p in problems(nb))


def test_student_copy_and_fill(tmp_path: Path) -> None:
    path = tmp_path / "99_test.ipynb"
    nbformat.write(course_notebook(), path)
    original = nbformat.read(path, as_version=4)
    copy = exercises.student_copy(path)
    sources = [c.source for c in copy.cells]
    assert len(copy.cells) == len(original.cells) - 3  # the heading and two written solutions
    stub = copy.cells[2]
    assert stub.source.splitlines() == [
        "# Exercise 2 (implement): the mask by hand, checked against the helper.",
        "# Hint: torch.topk.",
        exercises.stub_line(2),
    ]
    assert exercises.tags(stub) == ["stub"] and stub.outputs == []
    assert copy.cells[3].outputs == [] and copy.cells[3].execution_count is None  # predict
    assert not any("Solution" in s for s in sources)

    filled = exercises.fill(copy, original)
    assert [c.source for c in filled.cells] == [c.source for c in original.cells]
    assert [exercises.tags(c) for c in filled.cells] == [exercises.tags(c) for c in original.cells]
    assert filled.cells[2].outputs == original.cells[2].outputs


def test_fill_refuses_a_copy_that_lost_another_cell(tmp_path: Path) -> None:
    path = tmp_path / "99_test.ipynb"
    nbformat.write(course_notebook(), path)
    copy = exercises.student_copy(path)
    del copy.cells[1]  # the parameters cell: not a solution
    with pytest.raises(ValueError, match="is not in the student copy and is not a solution"):
        exercises.fill(copy, nbformat.read(path, as_version=4))


def test_the_stub_stops_with_a_message_naming_the_exercise() -> None:
    with pytest.raises(NotImplementedError, match="Exercise 2: write your solution in this cell"):
        exec(exercises.stub_line(2))


def test_the_solutions_heading_stays_above_code_stubs(tmp_path: Path) -> None:
    nb = course_notebook()
    nb.cells.insert(7, nb.cells.pop(2))  # the code solution under `## Solutions`
    assert problems(nb) == []
    path = tmp_path / "99_test.ipynb"
    nbformat.write(nb, path)
    copy = exercises.student_copy(path)
    heading = [i for i, c in enumerate(copy.cells) if exercises.is_solutions_heading(c)]
    assert len(heading) == 1 and "stub" in exercises.tags(copy.cells[heading[0] + 1])
    filled = exercises.fill(copy, nbformat.read(path, as_version=4))
    assert [c.source for c in filled.cells] == [c.source for c in nb.cells]


def test_a_solution_states_the_kind_of_its_exercise() -> None:
    nb = course_notebook()
    nb.cells[2].source = nb.cells[2].source.replace("(implement)", "(predict)")
    assert any("says (predict), but exercise 2 is of kind implement" in p for p in problems(nb))
