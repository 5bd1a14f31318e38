"""Pure renderers for :class:`~lexilux_nb.client.history.ChatHistory`: text, Markdown and HTML.

Kept apart from the history itself so the container stays small and these stay pure functions of
``(system, messages, metadata)``. Every renderer must cope with any content a message may hold
(``None``, a string, a list of content parts), because a history is usually displayed exactly when
something odd came back from a model.

Safety rule: model text is untrusted. In HTML every piece of it goes through :func:`html.escape`;
in Markdown meant for a notebook (``escape_html=True``) ``&`` and ``<`` are escaped so raw HTML
in an answer is shown, not run. Tool arguments and tool results go into code fences, which
Markdown renderers always show literally.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from ..markdown import escape_markdown_html  # the one safe escaper (raw HTML, javascript: links)
from .messages import content_text as content_text  # the one content -> text rule

ROLE_LABELS = {
    "system": "System",
    "developer": "Developer",
    "user": "User",
    "assistant": "Assistant",
    "tool": "Tool",
}
_ROLE_COLORS = {
    "system": "#6b7280",
    "developer": "#6b7280",
    "user": "#2563eb",
    "assistant": "#059669",
    "tool": "#d97706",
}

Message = Mapping[str, Any]


def tool_call_info(call: Any) -> tuple[str, str, str]:
    """(name, id, arguments pretty-printed as JSON when they parse)."""
    if not isinstance(call, Mapping):
        return ("?", "", str(call))
    fn = call.get("function")
    fn = fn if isinstance(fn, Mapping) else {}
    name = str(fn.get("name") or call.get("name") or "?")
    args = fn.get("arguments", call.get("arguments", ""))
    if isinstance(args, str):
        try:
            args = json.loads(args) if args.strip() else {}
        except ValueError:
            return (name, str(call.get("id") or ""), args)
    return (name, str(call.get("id") or ""), json.dumps(args, indent=2, ensure_ascii=False))


def plain_text(message: Message) -> str:
    """Text that counts toward tokens and searches: content text plus tool-call names/arguments."""
    pieces = [content_text(message.get("content"), placeholders=False)]
    for call in message.get("tool_calls") or ():
        fn = call.get("function") if isinstance(call, Mapping) else None
        if isinstance(fn, Mapping):
            pieces.append(f"{fn.get('name') or ''} {fn.get('arguments') or ''}")
    return "\n".join(p for p in pieces if p)


def _label(message: Message) -> str:
    role = str(message.get("role"))
    return ROLE_LABELS.get(role, role.title())


def _tool_reply_note(message: Message) -> str:
    bits = [str(message[k]) for k in ("name", "tool_call_id") if message.get(k)]
    return f" ({', '.join(bits)})" if bits else ""


def _fence(text: str, lang: str = "") -> str:
    """A code fence longer than any backtick run inside ``text``, so the text cannot close it."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    ticks = "`" * max(3, longest + 1)
    return f"{ticks}{lang}\n{text}\n{ticks}"


def to_markdown(
    system: str | None,
    messages: Sequence[Message],
    metadata: Sequence[Mapping[str, Any]],
    *,
    escape_html: bool = False,
) -> str:
    """Markdown transcript; ``escape_html=True`` for display in a notebook."""
    esc = escape_markdown_html if escape_html else (lambda s: s)
    blocks: list[str] = []
    if system:
        blocks.append(f"**System**\n\n{esc(system)}")
    for message, meta in zip(messages, metadata, strict=False):
        role = message.get("role")
        header = f"**{_label(message)}**"
        if role == "tool":
            header += esc(_tool_reply_note(message))
            body = _fence(content_text(message.get("content")))
            blocks.append(f"{header}\n\n{body}")
            continue
        if meta.get("model"):
            header += f" · {esc(str(meta['model']))}"
        parts = [header]
        text = content_text(message.get("content"))
        if text:
            parts.append(esc(text))
        for call in message.get("tool_calls") or ():
            name, call_id, args = tool_call_info(call)
            note = f" ({call_id})" if call_id else ""
            parts.append(f"→ tool call **{esc(name)}**{esc(note)}\n\n{_fence(args, 'json')}")
        blocks.append("\n\n".join(parts))
    return "\n\n---\n\n".join(blocks) + "\n" if blocks else ""


def to_text(system: str | None, messages: Sequence[Message]) -> str:
    """Plain-text transcript: a label line, then the text, blank line between messages."""
    blocks: list[str] = []
    if system:
        blocks.append(f"System:\n{system}")
    for message in messages:
        header = _label(message)
        if message.get("role") == "tool":
            header += _tool_reply_note(message)
        lines = [f"{header}:", content_text(message.get("content"))]
        for call in message.get("tool_calls") or ():
            name, call_id, args = tool_call_info(call)
            lines.append(f"[tool call {name}{f' ({call_id})' if call_id else ''}] {args}")
        blocks.append("\n".join(line for line in lines if line))
    return "\n\n".join(blocks) + "\n" if blocks else ""


def _html_message(label: str, role: str, note: str, body: str, pad: str) -> str:
    color = _ROLE_COLORS.get(role, "#6b7280")
    meta = f' <span style="font-weight:400;opacity:.7">{note}</span>' if note else ""
    return (
        f'<div style="border-left:3px solid {color};padding:{pad};margin:4px 0">'
        f'<div style="font-weight:600;font-size:.85em;color:{color}">'
        f"{html.escape(label)}{meta}</div>{body}</div>"
    )


def to_html(
    system: str | None,
    messages: Sequence[Message],
    metadata: Sequence[Mapping[str, Any]],
    *,
    compact: bool = False,
    document: bool = False,
) -> str:
    """An HTML transcript with inline styles only, every piece of text escaped."""
    pad = "2px 8px" if compact else "6px 12px"
    text_style = "white-space:pre-wrap;overflow-wrap:anywhere"
    pre_style = (
        "margin:4px 0;padding:6px;background:rgba(127,127,127,.12);"
        "white-space:pre-wrap;overflow-wrap:anywhere;font-size:.85em"
    )
    items: list[str] = []
    if system:
        body = f'<div style="{text_style}">{html.escape(system)}</div>'
        items.append(_html_message("System", "system", "", body, pad))
    for message, meta in zip(messages, metadata, strict=False):
        role = str(message.get("role"))
        notes = [_tool_reply_note(message).strip(" ()")] if role == "tool" else []
        notes += [str(meta[k]) for k in ("model",) if meta.get(k)]
        if not compact and meta.get("timestamp"):
            notes.append(str(meta["timestamp"]))
        text = content_text(message.get("content"))
        if role == "tool":
            body = f'<pre style="{pre_style}">{html.escape(text)}</pre>'
        else:
            body = f'<div style="{text_style}">{html.escape(text)}</div>' if text else ""
        for call in message.get("tool_calls") or ():
            name, call_id, args = tool_call_info(call)
            title = f"→ tool call {name}" + (f" ({call_id})" if call_id else "")
            body += (
                f'<div style="font-size:.85em;margin-top:4px">{html.escape(title)}</div>'
                f'<pre style="{pre_style}">{html.escape(args)}</pre>'
            )
        note = html.escape(" · ".join(n for n in notes if n))
        items.append(_html_message(_label(message), role, note, body, pad))
    if not items:
        items.append('<div style="opacity:.7"><em>(empty chat history)</em></div>')
    fragment = (
        '<div class="lexilux-history" style="font-family:system-ui,-apple-system,'
        f'Segoe UI,sans-serif;line-height:1.45">{"".join(items)}</div>'
    )
    if not document:
        return fragment
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        "<title>Chat history</title></head>\n"
        f'<body style="max-width:52em;margin:2em auto;padding:0 1em">{fragment}</body></html>\n'
    )
