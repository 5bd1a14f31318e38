"""A conversation as chat bubbles (the panel's transcript): rendered once per message, inert.

Colours are JupyterLab's theme variables (with light fallbacks), so bubbles read well in light,
dark and high-contrast themes; every bubble may shrink below its content's width, so long lines
wrap and code scrolls inside its own block instead of widening the panel.
"""

from __future__ import annotations

import html
from typing import Any

from ..client.history import ChatHistory
from ..client.history_export import content_text
from ..client.models import ChatResult, Usage
from ..engine import Outcome, State, footer_of
from ..markdown import reasoning_details, render_markdown

TEXT = "color:var(--jp-content-font-color1, #1f2328)"
MUTED = "color:var(--jp-content-font-color2, #57606a);font-size:0.85em"
SHRINK = "min-width:0;max-width:100%;box-sizing:border-box;overflow-wrap:anywhere"
BUBBLE = {
    "user": (
        f"margin:6px 0 6px 12%;padding:6px 10px;border-radius:8px;{TEXT};{SHRINK};"
        "background:var(--jp-layout-color2, #eef2f7);"
        "border-left:3px solid var(--jp-brand-color1, #1976d2)"
    ),
    "assistant": (
        f"margin:6px 12% 6px 0;padding:6px 10px;border-radius:8px;{TEXT};{SHRINK};"
        "background:var(--jp-layout-color1, #ffffff);"
        "border:1px solid var(--jp-border-color2, #d0d7de)"
    ),
    "other": f"margin:6px 0;padding:4px 10px;{MUTED};{SHRINK}",
}
SCROLL = (
    "max-height:420px;overflow-y:auto;overflow-x:hidden;display:flex;flex-direction:column-reverse;"
    "border:1px solid var(--jp-border-color2, #d0d7de);border-radius:6px;padding:4px 8px;"
    f"background:var(--jp-layout-color0, #ffffff);{SHRINK}"
)
LABELS = {"user": "You", "assistant": "Assistant", "system": "System", "tool": "Tool"}
EMPTY = f"<div style='{MUTED};padding:8px'>No messages yet.</div>"


def bubble(role: str, body_html: str, note: str = "") -> str:
    """One turn: a labelled bubble around already-safe HTML, with an optional footer line."""
    style = BUBBLE.get(role, BUBBLE["other"])
    label = html.escape(LABELS.get(role, role))
    extra = f"<div style='{MUTED}'>{html.escape(note)}</div>" if note else ""
    return (
        f"<div class='lexilux-bubble lexilux-{html.escape(role)}' style='{style}'>"
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


class Transcript:
    """Renders history messages once each (cached by content) as bubbles in a scroll box."""

    def __init__(self) -> None:
        self._cache: dict[tuple[str, str, str, str], str] = {}

    def message(self, role: str, text: str, reasoning: str = "", note: str = "") -> str:
        key = (role, text, reasoning, note)
        cached = self._cache.get(key)
        if cached is None:
            thinking = reasoning_details(render_markdown(reasoning)) if reasoning else ""
            cached = self._cache[key] = bubble(role, thinking + render_markdown(text), note)
        return cached

    def history(self, history: ChatHistory) -> str:
        parts = []
        snapshot = history.clone()  # one consistent read, whatever another thread does meanwhile
        for i, message in enumerate(snapshot):
            meta = snapshot.metadata(i)
            role = str(message["role"])
            note = footer_from_metadata(meta) if role == "assistant" else ""
            reasoning = str(meta.get("reasoning") or "")
            parts.append(self.message(role, content_text(message.get("content")), reasoning, note))
        body = "".join(parts) or EMPTY
        # column-reverse keeps the view scrolled to the newest message: wrap in one block
        return (
            f"<div class='lexilux-answer lexilux-transcript' style='{SCROLL}'>"
            f"<div style='{SHRINK}'>{body}</div></div>"
        )
