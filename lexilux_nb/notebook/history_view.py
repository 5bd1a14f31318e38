"""Pure renderers for :class:`~lexilux_nb.client.history.ChatHistory`: text, Markdown and HTML.

Kept out of ``client/`` (which loads no markdown library) and apart from the history itself, so
the container stays small and these stay pure functions of ``(system, messages, metadata)``;
``ChatHistory``'s export and display methods import this module when they run. Every renderer
must cope with any content a message may hold
(``None``, a string, a list of content parts), because a history is usually displayed exactly when
something odd came back from a model.

Safety rule: model text is untrusted. In HTML, message bodies are rendered as markdown by
:func:`lexilux_nb.markup.html.render_markdown` (inert, highlighted code, theme colours) and every
other piece goes through :func:`html.escape`;
in Markdown meant for a notebook (``escape_html=True``) every body goes through
:func:`lexilux_nb.markup.escape.inert_markdown` and every field (role, model and tool names, ids)
through :func:`~lexilux_nb.markup.escape.inert_text`, so the transcript renders inert even with
raw HTML on. Tool arguments and tool results go into code fences longer than any backtick run
inside them, which Markdown renderers always show literally.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..client.messages import content_text
from ..markup.style import MUTED, SUBTLE_BG, toward_text, var, wrap_answer

ROLE_LABELS = {
    "system": "System",
    "developer": "Developer",
    "user": "User",
    "assistant": "Assistant",
    "tool": "Tool",
}
# Theme variables (see lexilux_nb.markup.style), mixed toward the text colour for contrast.
_ROLE_COLORS = {
    "user": ("brand-color1", "#2563eb", 25),
    "assistant": ("success-color1", "#059669", 35),
    "tool": ("warn-color1", "#d97706", 45),
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
    if escape_html:
        from ..markup.escape import inert_markdown, inert_text

        body_of: Callable[[str], str] = inert_markdown
        field: Callable[[str], str] = inert_text
    else:
        body_of = field = str
    blocks: list[str] = []
    if system:
        blocks.append(f"**System**\n\n{body_of(system)}")
    for message, meta in zip(messages, metadata, strict=False):
        role = message.get("role")
        header = f"**{field(_label(message))}**"
        if role == "tool":
            note = _tool_reply_note(message).strip()
            header += f" {field(note)}" if note else ""
            body = _fence(content_text(message.get("content")))
            blocks.append(f"{header}\n\n{body}")
            continue
        if meta.get("model"):
            header += f" · {field(str(meta['model']))}"
        parts = [header]
        text = content_text(message.get("content"))
        if text:
            parts.append(body_of(text))
        for call in message.get("tool_calls") or ():
            name, call_id, args = tool_call_info(call)
            note = f" {field(f'({call_id})')}" if call_id else ""
            parts.append(f"→ tool call **{field(name)}**{note}\n\n{_fence(args, 'json')}")
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


def _role_color(role: str) -> str:
    if role not in _ROLE_COLORS:
        return MUTED
    name, fallback, mix = _ROLE_COLORS[role]
    return toward_text(var(name, fallback), mix)


def _html_message(label: str, role: str, note: str, body: str, pad: str) -> str:
    color = _role_color(role)
    meta = f' <span style="font-weight:400;color:{MUTED}">{note}</span>' if note else ""
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
    """An HTML transcript with inline styles only: bodies rendered as inert markdown, every other
    piece of text escaped."""
    from ..markup.html import render_markdown

    pad = "2px 8px" if compact else "6px 12px"
    pre_style = (
        f"margin:4px 0;padding:6px;background:{SUBTLE_BG};"
        "white-space:pre-wrap;overflow-wrap:anywhere;font-size:.85em"
    )
    items: list[str] = []
    if system:
        body = wrap_answer(render_markdown(system))
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
            body = wrap_answer(render_markdown(text)) if text else ""
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
        items.append(f'<div style="color:{MUTED}"><em>(empty chat history)</em></div>')
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
