"""The course's figure style (plots.use_course_style) and the in-place explorer (widgets.slider_explorer).

The explorer runs inside a real IPython shell whose display messages are captured, so the test sees
what a frontend would receive: one figure with a display id, and on a slider move an *update* of that
same display id, never a second figure.
"""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")

import matplotlib as mpl  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
from IPython.core.displaypub import CapturingDisplayPublisher  # noqa: E402
from IPython.core.interactiveshell import InteractiveShell  # noqa: E402
from IPython.core.pylabtools import select_figure_formats  # noqa: E402

from helpers import notebook, plots, widgets  # noqa: E402
from helpers.plumbing.params import ParameterTypeError  # noqa: E402


@pytest.fixture
def course_style():
    """The course style for one test, then matplotlib's previous settings back."""
    with mpl.rc_context():
        plots.use_course_style()
        yield
    plt.close("all")


def test_two_lines_differ_in_colour_and_marker(course_style) -> None:
    fig, ax = plt.subplots()
    a = ax.plot([0, 1, 2], [0, 1, 2])[0]
    b = ax.plot([0, 1, 2], [2, 1, 0])[0]
    assert a.get_color() != b.get_color()
    assert a.get_marker() != b.get_marker()
    assert a.get_marker() not in ("", "None", None)  # every line carries a marker


def test_palette_is_okabe_ito_with_one_marker_per_colour() -> None:
    assert len(plots.COLORS) == len(plots.MARKERS) == len(set(plots.MARKERS))
    assert plots.COLORS[:3] == ["#0072B2", "#E69F00", "#009E73"]


def test_start_applies_the_style(tmp_path) -> None:
    with mpl.rc_context():
        mpl.rcdefaults()
        notebook.start("00_style_check", seed=0, device="cpu", output_dir=str(tmp_path))
        assert mpl.rcParams["axes.prop_cycle"].by_key()["marker"] == plots.MARKERS
        assert mpl.rcParams["figure.dpi"] == plots.COURSE_STYLE["figure.dpi"]


def test_a_typical_figure_is_small(course_style) -> None:
    # Four methods x seven sparsities plus a dense line: a notebook's usual results figure.
    curves = {
        f"method {k}": (
            [0.5, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99],
            [0.9 - 0.05 * k - 0.01 * i for i in range(7)],
        )
        for k in range(4)
    }
    ax = plots.accuracy_vs_remaining(curves, dense=0.92)
    buffer = io.BytesIO()
    ax.figure.savefig(buffer, format="png")  # rcParams: savefig.dpi and bbox from the style
    size = len(buffer.getvalue())
    assert size < 60_000, f"a typical figure is {size // 1024} KB as PNG: too big for a notebook"


def test_long_training_curves_get_spaced_markers(course_style) -> None:
    ax = plots.training_curves({"run": list(range(1000))}, smooth=1)
    assert ax.get_lines()[0].get_markevery() == plots.spaced_markers(1000) == 100


# --- the explorer ------------------------------------------------------------------------------


@pytest.fixture
def shell(course_style):
    """An IPython shell that renders figures as PNG and records every display message."""
    shell = InteractiveShell.instance()
    publisher = CapturingDisplayPublisher(shell=shell)
    previous = shell.display_pub
    shell.display_pub = publisher
    select_figure_formats(shell, {"png"})
    yield publisher.outputs
    shell.display_pub = previous
    InteractiveShell.clear_instance()


def draw(value: float):
    fig, ax = plt.subplots(figsize=(3, 2))
    ax.plot([0, 1], [0, value])
    ax.set_title(f"value {value}")
    return fig


def figures(outputs: list[dict]) -> list[dict]:
    return [o for o in outputs if "image/png" in o["data"]]


def test_explorer_shows_one_figure_and_updates_it_in_place(shell) -> None:
    slider = widgets.slider_explorer(
        draw, [1, 2, 3], default=2, description="knob", notice="The line gets steeper."
    )
    shown = figures(shell)
    assert len(shown) == 1, "the default figure is displayed exactly once"
    assert not shown[0]["update"]
    display_id = shown[0]["transient"]["display_id"]
    assert any("What to notice" in o["data"].get("text/markdown", "") for o in shell)
    assert plt.get_fignums() == [], "displayed figures are closed (no second copy from inline)"

    before = len(shell)
    slider.value = 3
    new = shell[before:]
    assert len(new) == 1 and "image/png" in new[0]["data"]
    assert new[0]["update"] and new[0]["transient"]["display_id"] == display_id
    assert new[0]["data"]["image/png"] != shown[0]["data"]["image/png"]
    assert len([o for o in shell if not o["update"] and "image/png" in o["data"]]) == 1
    assert plt.get_fignums() == []


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"notice": None}, "needs notice"),
        ({"notice": "  "}, "one non-empty line"),
        ({"notice": "two\nlines"}, "one non-empty line"),
        ({"default": 7}, "must be one of the slider's values"),
        ({"values": []}, "at least 1"),
        ({"draw": lambda v: None}, "must return a matplotlib Figure"),
    ],
)
def test_explorer_rejects_bad_input_before_showing_anything(shell, kwargs, message) -> None:
    args = {"draw": draw, "values": [1, 2, 3], "default": 2, "notice": "Look."} | kwargs
    with pytest.raises((ValueError, ParameterTypeError), match=message):
        widgets.slider_explorer(**args)
    assert shell == []


def test_headless_kernel_shows_the_default_figure_once(tmp_path) -> None:
    """In a real kernel with the inline backend (as nbval and papermill run it): one figure, the
    notice and the slider's text, and no second copy from the backend's end-of-cell flush."""
    from nbclient import NotebookClient
    from nbformat.v4 import new_code_cell, new_notebook

    nb = new_notebook(
        cells=[
            new_code_cell("import matplotlib.pyplot as plt\nfrom helpers import plots, widgets"),
            new_code_cell(
                "def draw(v):\n"
                "    fig, ax = plt.subplots(figsize=(3, 2))\n"
                "    ax.plot([0, 1], [0, v])\n"
                "    return fig\n\n"
                'widgets.slider_explorer(draw, [1, 2], 1, "knob", notice="Steeper.")'
            ),
        ]
    )
    NotebookClient(nb, kernel_name="python3", timeout=120).execute(cwd=str(tmp_path))
    outputs = nb.cells[1].outputs
    assert [o.output_type for o in outputs] == ["display_data", "display_data", "execute_result"]
    assert sum("image/png" in o.get("data", {}) for o in outputs) == 1
    assert "What to notice" in outputs[0].data["text/markdown"]
    assert "SelectionSlider" in outputs[2].data["text/plain"]


@pytest.mark.parametrize("args", [(-1,), (10, 0), (2.5,)])
def test_spaced_markers_rejects_bad_counts(args) -> None:
    with pytest.raises(ValueError):
        plots.spaced_markers(*args)
