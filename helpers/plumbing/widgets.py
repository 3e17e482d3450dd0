"""Widget builders: explore a result by dragging a slider, without retraining.

Introduced in notebook 00. Headless runs (nbval, papermill, a code host's viewer) see no widgets, so
the explorer first draws its default state as an ordinary figure; the slider below it redraws into
its own output area when a reader moves it in JupyterLab.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["slider_explorer"]


def slider_explorer(
    draw: Callable[[Any], None],
    values: Sequence[Any],
    default: Any,
    description: str = "value",
) -> Any:
    """Draw ``draw(default)`` now; return a slider that redraws ``draw(v)`` below it when moved.

    ``draw`` makes and shows its figure (end it with ``plt.show()``). ``values`` are the slider's
    stops. Display the returned widget as the cell's last line.
    """
    import ipywidgets as widgets

    values = list(values)
    if default not in values:
        raise ValueError(f"default {default!r} must be one of the slider's values {values}")
    draw(default)
    slider = widgets.SelectionSlider(
        options=values, value=default, description=description, continuous_update=False
    )
    output = widgets.Output()

    def redraw(change: dict) -> None:
        output.clear_output(wait=True)
        with output:
            draw(change["new"])

    slider.observe(redraw, names="value")
    return widgets.VBox([slider, output])
