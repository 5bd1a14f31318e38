"""Tools in cells: ``--tools f,g`` resolved from the notebook, and tool activity shown inertly.

Each call the model makes is one side item in the answer (:func:`.item_block`: the tool, its
status and seconds; below, its arguments and its result in boxes that scroll). Names, arguments and
results come from the model or the tool, so every one is escaped: HTML through ``html.escape``
inside ``<pre>``, markdown through :func:`inert_text`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ..engine import Tools
from ..markup.escape import inert_text
from ..markup.style import item_block
from .errors import ChatCellError

SUMMARY_CHARS = 300
SHOWN_CHARS = 4000
ICONS = {"asked": "…", "running": "▸", "done": "✓", "denied": "⊘", "failed": "✗", "stopped": "■"}
WORDS = {
    "asked": "waiting for approval",
    "running": "running",
    "done": "done",
    "denied": "denied",
    "failed": "failed",
    "stopped": "stopped",
}


def resolve_tools(names: str, namespace: Mapping[str, Any]) -> list[Any]:
    """The functions named in ``--tools f,g``: the notebook's, else an MCP server's tool
    (``%chat_mcp add``)."""
    from ..client.mcp import registered

    found: list[Any] = []
    for name in [n.strip() for n in names.split(",") if n.strip()]:
        if name not in namespace:
            tool = registered(name)
            if tool is not None:
                found.append(tool)
                continue
            raise ChatCellError(
                f"--tools: no function named {name!r} in the notebook or an MCP server; define "
                "it first (--tools takes names of functions, comma separated)"
            )
        value = namespace[name]
        if not callable(value):
            raise ChatCellError(
                f"--tools: {name!r} is a {type(value).__name__}, not a function the model can call"
            )
        found.append(value)
    if not found:
        raise ChatCellError("--tools needs at least one function name, e.g. --tools add,lookup")
    return found


def tools_of(args: Any, namespace: Mapping[str, Any], config: Any) -> Tools | None:
    """The turn's :class:`Tools` from ``--tools`` / ``--approve`` and the settings."""
    names = getattr(args, "tools", None)
    if not names:
        return None
    approve = getattr(args, "approve", None) or config.approve
    return Tools(resolve_tools(names, namespace), approve, config.max_tool_rounds)


def _arguments(activity: Any) -> str:
    """The arguments it runs with (the user's edit, if any), else the model's."""
    edited = getattr(activity, "arguments", None)
    try:
        value = edited if edited is not None else activity.call.get_arguments()
    except ValueError:
        return str(activity.call.arguments)
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


def _result(activity: Any) -> str:
    result = activity.result
    if result is None:
        return ""
    text = result if isinstance(result, str) else json.dumps(result, default=str)
    return text


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + f"… ({len(text)} characters)"


class ToolItems:
    """The calls of one turn, each at its latest activity, in the order they were first asked."""

    def __init__(self) -> None:
        self._items: dict[str, Any] = {}

    def update(self, activity: Any) -> None:
        self._items[activity.call.id] = activity

    def __bool__(self) -> bool:
        return bool(self._items)

    def __iter__(self) -> Any:
        return iter(list(self._items.values()))

    def html(self) -> str:
        return "".join(item_html(a) for a in self)

    def markdown(self) -> str:
        return "".join(f"{item_markdown(a)}\n\n" for a in self)

    def text(self) -> str:
        return "".join(f"{item_text(a)}\n" for a in self)


def _head(activity: Any) -> str:
    seconds = getattr(activity, "seconds", None)
    timing = f" · {seconds:.2f} s" if isinstance(seconds, int | float) and seconds else ""
    status = activity.status
    if status == "failed" and str(activity.result or "").startswith("interrupted"):
        status = "stopped"
    return f"{ICONS.get(status, '•')} {activity.call.name} · {WORDS.get(status, status)}{timing}"


def item_html(activity: Any) -> str:
    """One call as a side item: its head line, then arguments and result in bounded boxes."""
    sections = [("arguments", _cut(_arguments(activity), SHOWN_CHARS))]
    result = _result(activity)
    if result:
        sections.append(("result", _cut(result, SHOWN_CHARS)))
    return item_block(_head(activity), sections, kind="tool")


def item_markdown(activity: Any) -> str:
    """One call as one inert markdown line (what a markdown reader keeps)."""
    line = f"{_head(activity)} · arguments {_flat(_arguments(activity))}"
    result = _result(activity)
    if result:
        line += f" → {_flat(result)}"
    return f"*{inert_text(line)}*"


def item_text(activity: Any) -> str:
    line = f"[tool {_head(activity)}] {_flat(_arguments(activity))}"
    result = _result(activity)
    return line + (f" → {_flat(result)}" if result else "")


def _flat(text: str) -> str:
    return _cut(" ".join(text.split()), SUMMARY_CHARS)
