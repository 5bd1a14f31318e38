"""A conversation as chat bubbles (the panel's transcript): rendered once per message, inert.

Colours are JupyterLab's theme variables (with light fallbacks), so bubbles read well in light,
dark and high-contrast themes; every bubble may shrink below its content's width, so long lines
wrap and code scrolls inside its own block instead of widening the panel.
"""

from __future__ import annotations

import html
from typing import Any

from ..client.history import ChatHistory
from ..client.messages import content_text
from ..client.models import ChatResult, Usage
from ..engine import Outcome, State, footer_of
from ..markup import style
from ..markup.html import render_markdown
from ..markup.style import reasoning_details

# contain: its width never comes from its content, so a long code line cannot widen the widget
# that holds it (ipywidgets' HTML content is a flex item that grows to its content otherwise).
SHRINK = (
    "min-width:0;max-width:100%;box-sizing:border-box;overflow-wrap:anywhere;contain:inline-size"
)
BUBBLE = {role: f"{css};{SHRINK}" for role, css in style.BUBBLE.items()}
SCROLL = f"{style.SCROLL};{SHRINK}"
LABELS = {"user": "You", "assistant": "Assistant", "system": "System", "tool": "Tool"}
EMPTY = f"<div style='{style.NOTE};padding:8px'>No messages yet.</div>"


def bubble(role: str, body_html: str, note: str = "") -> str:
    """One turn: a labelled bubble around already-safe HTML, with an optional footer line."""
    css = BUBBLE.get(role, BUBBLE["other"])
    label = html.escape(LABELS.get(role, role))
    extra = style.note_html(note) if note else ""
    return (
        f"<div class='lexilux-bubble lexilux-{html.escape(role)}' style='{css}'>"
        f"<b style='font-size:0.8em'>{label}</b>{body_html}{extra}</div>"
    )


def footer_from_metadata(meta: dict[str, Any]) -> str:
    """The footer of a recorded answer, from what the history kept of it."""
    if not meta.get("model") and not meta.get("finish_reason"):
        return ""
    result = ChatResult(
        finish_reason=meta.get("finish_reason"),
        usage=Usage.from_dict(meta.get("usage")),
        continues=int(meta.get("continues") or 0),
        truncated=bool(meta.get("truncated")),
        interrupted=bool(meta.get("interrupted")),
    )
    state: State = "interrupted" if result.interrupted else "complete"
    seconds = float(meta.get("seconds") or 0.0)
    outcome = Outcome(result, state, seconds, str(meta.get("model") or "?"))
    footer = footer_of(outcome)
    parts = (
        footer.parts
        if meta.get("seconds") is not None
        else [p for p in footer.parts if p != footer.seconds]
    )
    return " · ".join([*parts, *footer.extras])


def calls_text(message: Any) -> str:
    """What an assistant message asked to run (``tool_calls``), one line per call; plain text."""
    calls = (message.get("tool_calls") or []) if message.get("role") == "assistant" else []
    lines = []
    for call in calls:
        function = (call.get("function") or {}) if isinstance(call, dict) else {}
        arguments = str(function.get("arguments") or "")
        cut = arguments if len(arguments) <= 200 else arguments[:200] + "…"
        lines.append(f"→ called {function.get('name') or '?'}({cut})")
    return "\n".join(lines)


class Transcript:
    """Renders history messages once each (cached by content) as bubbles in a scroll box."""

    def __init__(self) -> None:
        self._cache: dict[tuple[str, str, str, str], str] = {}

    def message(
        self, role: str, text: str, reasoning: str = "", note: str = "", calls: str = ""
    ) -> str:
        key = (role, text, reasoning, note + calls)
        cached = self._cache.get(key)
        if cached is None:
            thinking = reasoning_details(render_markdown(reasoning)) if reasoning else ""
            lines = calls.splitlines()
            asked = "".join(f"<div style='{style.NOTE}'>{html.escape(c)}</div>" for c in lines)
            body = thinking + (render_markdown(text) if text or not asked else "") + asked
            cached = self._cache[key] = bubble(role, body, note)
        return cached

    def history(self, history: ChatHistory) -> str:
        parts = []
        snapshot = history.snapshot()  # one consistent read, whatever other threads write
        for i, message in enumerate(snapshot):
            meta = snapshot.metadata(i)
            role = str(message["role"])
            note = footer_from_metadata(meta) if role == "assistant" else ""
            reasoning = str(meta.get("reasoning") or "")
            text = content_text(message.get("content"))
            parts.append(self.message(role, text, reasoning, note, calls_text(message)))
        body = "".join(parts) or EMPTY
        # column-reverse keeps the view scrolled to the newest message: wrap in one block
        return (
            f"<div class='lexilux-transcript' style='{SCROLL}'>"
            f"<div style='{SHRINK}'>{body}</div></div>"
        )
