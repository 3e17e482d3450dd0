"""Widget builders: explore a result by dragging a slider, without retraining.

Introduced in notebook 00. An explorer is one figure that changes with a slider::

    def draw(sparsity):                      # builds and RETURNS a figure; no plt.show()
        fig, ax = plt.subplots()
        ...
        return fig

    widgets.slider_explorer(draw, [0.5, 0.9, 0.99], default=0.9, description="sparsity",
                            notice="Past 90 % the mask empties whole rows: look for white bands.")

The explorer shows the ``notice`` (what to look for, one sentence), then ``draw(default)`` once,
through an IPython display handle, and the slider under it. Moving the slider draws a new figure and
*updates that same output* (``DisplayHandle.update``), so the reader always sees one figure, never a
second copy under the first. Headless runs (nbval, papermill, a code host's viewer) have no widget
frontend: the cell's output holds the notice, the default figure and the slider's text form.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from helpers.plumbing.params import ParameterTypeError, check_callable, check_list, check_type

__all__ = ["slider_explorer"]


def _figure(draw: Callable[[Any], Any], value: Any) -> Any:
    """``draw(value)``, checked to be a matplotlib Figure (not shown: the caller displays it)."""
    from matplotlib.figure import Figure

    fig = draw(value)
    if not isinstance(fig, Figure):
        raise ParameterTypeError(
            f"draw({value!r}) must return a matplotlib Figure (end it with `return fig`, "
            f"not plt.show()), got {type(fig).__name__}"
        )
    return fig


def _check_notice(notice: Any) -> str:
    """The one-line notice, stripped; ValueError when it is missing, empty or several lines."""
    if notice is None:
        raise ValueError(
            "slider_explorer needs notice=...: one sentence telling the reader what to look for "
            "when the slider moves"
        )
    notice = check_type("notice", notice, str, "a string (one sentence)").strip()
    if not notice or "\n" in notice:
        raise ValueError(
            f"parameter notice must be one non-empty line saying what to notice, got {notice!r}"
        )
    return notice


def slider_explorer(
    draw: Callable[[Any], Any],
    values: Sequence[Any],
    default: Any,
    description: str = "value",
    notice: str | None = None,
) -> Any:
    """Show ``notice`` and the figure ``draw(default)``; return a slider that redraws it in place.

    ``draw(value)`` builds and returns a matplotlib Figure (it must not call ``plt.show()``).
    ``values`` are the slider's stops and ``default`` (one of them) is what headless runs show.
    ``notice`` is required: one line telling the reader what to notice. Display the returned slider
    as the cell's last line; it appears under the figure. Each figure is closed once displayed, so
    the inline backend never shows it a second time.

    Raises ValueError (naming what is allowed) for a missing notice, empty ``values``, a ``default``
    that is not among them, or a ``draw`` that does not return a Figure.
    """
    import ipywidgets as widgets
    import matplotlib.pyplot as plt
    from IPython.display import DisplayHandle, Markdown, display

    check_callable("draw", draw, "a function value -> matplotlib Figure")
    values = check_list("values", values, "a sequence of slider stops", min_len=1)
    if default not in values:
        raise ValueError(f"default {default!r} must be one of the slider's values {values}")
    check_type("description", description, str, "a string (the slider's label)")
    notice = _check_notice(notice)

    fig = _figure(draw, default)  # before anything is displayed: a bad draw shows nothing
    display(Markdown(f"**What to notice:** {notice}"))
    handle = DisplayHandle()
    handle.display(fig)
    plt.close(fig)
    slider = widgets.SelectionSlider(
        options=values, value=default, description=description, continuous_update=False
    )

    def redraw(change: dict) -> None:
        new = _figure(draw, change["new"])
        handle.update(new)  # replaces the figure above; no new output
        plt.close(new)

    slider.observe(redraw, names="value")
    slider.handle = handle  # the figure's display handle, for tests and for a reader who asks
    return slider
