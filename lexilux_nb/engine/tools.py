"""A turn that may call the user's functions: what to pass the client, and what to record.

The client runs the tool loop (model → calls → approved runs → results → model); the engine
only hands it the functions, the approval policy (``"ask"`` becomes the view's own asker) and an
``on_tool`` callback that tells the view, and keeps every activity in order. The turn's record is
then: the user's prompt, each assistant message asking for tools followed by one tool result per
call, and the final answer. A loop stopped half-way (Ctrl-C during an approval or a tool) keeps
only the rounds whose every call has its result, so the history never holds a call without an
answer (which providers refuse).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

ASK = "ask"
FINISHED = ("done", "denied", "failed")


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

    def finished(self) -> dict[str, Any]:
        """call id → its last finished activity."""
        return {a.call.id: a for a in self.activities if a.status in FINISHED}


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


def _result_text(activity: Any) -> str:
    result = activity.result
    if isinstance(result, str):
        return result
    if activity.status == "denied":
        return "denied: denied by the user"
    import json

    return json.dumps(result, ensure_ascii=False, default=str)


def _from_client(source: Any) -> list[dict[str, Any]] | None:
    """The messages the client says the loop added (assistant calls and tool results)."""
    for name in ("tool_messages", "messages"):
        found = getattr(source, name, None)
        if isinstance(found, list) and all(isinstance(m, dict) for m in found):
            return [dict(m) for m in found]
    return None


def _from_log(log: ToolLog) -> list[dict[str, Any]]:
    """Rebuilt from the activities: one assistant message per batch of asked calls."""
    messages: list[dict[str, Any]] = []
    done = log.finished()
    batch: list[Any] = []
    seen: set[str] = set()

    def flush() -> None:
        if batch:
            messages.append(
                {"role": "assistant", "content": None, "tool_calls": [c.to_dict() for c in batch]}
            )
            for call in batch:
                if call.id in done:
                    text = _result_text(done[call.id])
                    messages.append({"role": "tool", "tool_call_id": call.id, "content": text})
            batch.clear()

    for position, activity in enumerate(log.activities):
        if activity.call.id in seen:
            continue
        ids = {c.id for c in batch}
        before = {a.call.id for a in log.activities[:position] if a.status in FINISHED}
        if batch and ids <= before:  # every call of the batch had finished: a new round
            flush()
        batch.append(activity.call)
        seen.add(activity.call.id)
    flush()
    return messages


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


def added_messages(result: Any, stream: Any, log: ToolLog) -> list[dict[str, Any]]:
    """What the loop added before the final answer, from the client if it says, else the log."""
    for source in (result, stream):
        found = _from_client(source) if source is not None else None
        if found is not None:
            return complete_rounds(_without_final(found))
    return complete_rounds(_from_log(log))


def _without_final(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The client's list may end with the final answer; the turn records that one itself."""
    if messages and messages[-1].get("role") == "assistant" and not messages[-1].get("tool_calls"):
        return messages[:-1]
    return messages
