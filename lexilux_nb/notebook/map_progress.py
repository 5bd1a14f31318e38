"""The batch progress widget: a bar over the items, and a line with done / failed / in flight,
tokens, requests per second and the ETA.

It implements the client's :class:`~lexilux_nb.client.map_report.MapProgress` protocol and is
installed by ``%load_ext lexilux_nb`` (:func:`install`), so ``chat.map(...)`` shows it in a
notebook. Updates come from the batch's loop thread and only set traits (tests read them
without a frontend).
"""

from __future__ import annotations

from typing import Any

from ..client import map_report
from ..client.map_report import MapStats


class MapBar:
    """An ``IntProgress`` over the settled items (done + failed), with a text label."""

    def __init__(self, total: int) -> None:
        import ipywidgets as widgets

        self.bar = widgets.IntProgress(
            value=0, min=0, max=max(1, total), bar_style="info", description="chat.map"
        )
        self.label = widgets.Label(value=f"0/{total} done")
        self.widget: Any = widgets.HBox([self.bar, self.label])

    def update(self, stats: MapStats) -> None:
        self.bar.max = max(1, stats.total)
        self.bar.value = min(stats.done + stats.failed, self.bar.max)
        if stats.failed and self.bar.bar_style == "info":
            self.bar.bar_style = "warning"
        self.label.value = stats.describe()

    def close(self, stats: MapStats) -> None:
        """The final state stays on screen: green when all went well, orange with failures,
        red when interrupted."""
        self.update(stats)
        if stats.interrupted:
            self.bar.bar_style = "danger"
        elif stats.failed:
            self.bar.bar_style = "warning"
        else:
            self.bar.bar_style = "success"


def notebook_bar(total: int) -> MapBar | None:
    """Show a :class:`MapBar` in the running cell; None outside a kernel (the text bar then)."""
    try:
        from IPython.core.getipython import get_ipython
        from IPython.display import display
    except ImportError:
        return None
    shell = get_ipython()
    if shell is None or getattr(shell, "kernel", None) is None:
        return None
    shown = MapBar(total)
    display(shown.widget)
    return shown


def install() -> None:
    map_report.use_progress(notebook_bar)


def uninstall() -> None:
    map_report.use_progress(None)
