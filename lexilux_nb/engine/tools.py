"""A turn that may call the user's functions: what to pass the client, and what to record.

The client runs the tool loop (model → calls → approved runs → results → model); the engine
only hands it the functions, the approval policy (``"ask"`` becomes the view's own asker) and an
``on_tool`` callback that tells the view, and keeps every activity in order. The turn's record is
then: the user's prompt, the messages the loop added (each assistant message asking for tools,
then one tool result per call) and the final answer. Only rounds whose every call has its result
are recorded, so the history never holds a call without an answer (which providers refuse).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

ASK = "ask"


@dataclass(frozen=True)
class Tools:
    """The functions a turn may call, who approves a call, and how many rounds are allowed."""

    functions: Sequence[Any]
    approve: Any = ASK
    max_tool_rounds: int = 8


@dataclass
class ToolLog:
    """Every tool activity of one turn, in the order it happened, forwarded to the view."""

    view: Any = None
    activities: list[Any] = field(default_factory=list)

    def __call__(self, activity: Any) -> None:
        self.activities.append(activity)
        show = getattr(self.view, "tool", None)
        if show is not None:
            show(activity)


def tool_options(tools: Tools, view: Any, log: ToolLog) -> dict[str, Any]:
    """The client options of a tool turn; ``"ask"`` is answered by the view (a widget, a prompt)."""
    approve = tools.approve
    if approve == ASK:
        asker = getattr(view, "approver", None)
        approve = asker() if asker is not None else ASK  # the client refuses a bare "ask"
    return {
        "tools": list(tools.functions),
        "approve": approve,
        "max_tool_rounds": tools.max_tool_rounds,
        "on_tool": log,
    }


def _from_client(source: Any) -> list[dict[str, Any]] | None:
    """The messages the client says the loop added (assistant calls and tool results)."""
    found = getattr(source, "messages", None)
    if isinstance(found, list) and all(isinstance(m, dict) for m in found):
        return [dict(m) for m in found]
    return None


def complete_rounds(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Only the rounds whose every call has its result (a stopped loop leaves one open)."""
    kept: list[dict[str, Any]] = []
    i = 0
    while i < len(messages):
        message = messages[i]
        calls = message.get("tool_calls") or []
        if message.get("role") != "assistant" or not calls:
            kept.append(message)
            i += 1
            continue
        ids = {c.get("id") if isinstance(c, dict) else c.id for c in calls}
        j = i + 1
        answered: set[Any] = set()
        while j < len(messages) and messages[j].get("role") == "tool":
            answered.add(messages[j].get("tool_call_id"))
            j += 1
        if ids <= answered:
            kept.extend(messages[i:j])
        else:
            break  # an open round: it and anything after it are dropped
        i = j
    return kept


def added_messages(result: Any, stream: Any) -> list[dict[str, Any]]:
    """What the loop added before the final answer (``ToolLoopResult.messages``); a stopped
    stream's result holds them too. Open rounds are dropped (the client answers them already)."""
    for source in (result, getattr(stream, "result", None)):
        found = _from_client(source) if source is not None else None
        if found is not None:
            return complete_rounds(_without_final(found))
    return []


def _without_final(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The client's list may end with the final answer; the turn records that one itself."""
    if messages and messages[-1].get("role") == "assistant" and not messages[-1].get("tool_calls"):
        return messages[:-1]
    return messages
