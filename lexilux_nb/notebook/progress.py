"""The continuation progress widget: round k of N, tokens so far, and how it ended.

Driven only through trait values (``bar.value``, ``label.value``), so tests read it without a
frontend. Its final state is also given as static HTML for the persisted output.
"""

from __future__ import annotations

import html
from typing import Any

from ..client.continuation import ContinueProgress
from ..client.models import ChatResult
from ..markup.style import SUCCESS, WARN


def describe(event: ContinueProgress) -> str:
    """The label for one progress event."""
    tokens = f" · {event.tokens} tokens" if event.tokens is not None else ""
    if event.done:
        state = "still cut at the token limit" if event.truncated else "complete"
        return f"{state} after {event.round} round{'s' if event.round != 1 else ''}{tokens}"
    return f"continuing: round {event.round + 1} of {event.max_rounds}{tokens}"


class ContinuationBar:
    """An ``IntProgress`` bar over the rounds, with a text label."""

    def __init__(self, max_rounds: int) -> None:
        import ipywidgets as widgets

        self.bar = widgets.IntProgress(value=1, min=0, max=max(1, max_rounds), bar_style="info")
        self.label = widgets.Label()
        self.widget: Any = widgets.HBox([self.bar, self.label])
        self.events: list[ContinueProgress] = []
        self.reset(max_rounds)

    def reset(self, max_rounds: int) -> None:
        """Back to the first round (the panel reuses one bar for every answer)."""
        self.events.clear()
        self.bar.max = max(1, max_rounds)
        self.bar.value = 1
        self.bar.bar_style = "info"
        self.label.value = f"round 1 of {max_rounds}"

    def update(self, event: ContinueProgress) -> None:
        """Show one round's event (called from the continuation's ``on_progress``)."""
        self.events.append(event)
        self.bar.max = max(1, event.max_rounds)
        if event.done:
            self.bar.value = event.round
            self.bar.bar_style = "warning" if event.truncated else "success"
        else:
            self.bar.value = min(event.round + 1, event.max_rounds)
        self.label.value = describe(event)

    def final_html(self, result: ChatResult) -> str:
        """A static line for the saved output: how many rounds, and whether it is complete."""
        rounds = result.continues + 1
        state = "still cut at the token limit" if result.truncated else "complete"
        colour = WARN if result.truncated else SUCCESS
        text = f"{state} · {rounds} round{'s' if rounds != 1 else ''}"
        return (
            f"<div class='lexilux-progress' style='color:{colour};font-size:0.85em'>"
            f"{html.escape(text)}</div>"
        )

    def close(self) -> None:
        self.bar.close()
        self.label.close()
        self.widget.close()
