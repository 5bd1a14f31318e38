"""The tool loop: model -> tool calls -> approved runs -> tool results -> model, until an answer."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

from .approval import decide
from .history import ChatHistory
from .models import ChatResult, ToolCall
from .tools import PythonTool, as_tools


@dataclass
class ToolLoopResult:
    """The final answer, every call made and every message added, in order."""

    result: ChatResult
    calls: list[ToolCall] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)
    rounds_exhausted: bool = False

    def __str__(self) -> str:
        return self.result.text


def _prepare(call: ToolCall, tools: dict[str, PythonTool], approve: Any) -> Any:
    """(tool, args) to run, or the error/denial text to send back."""
    tool = tools.get(call.name)
    if tool is None:
        return f"error: no tool named {call.name!r}"
    try:
        args = call.get_arguments()
    except (ValueError, json.JSONDecodeError) as exc:
        return f"error: arguments are not valid JSON: {exc}"
    decision = decide(approve, call, args)
    if not decision.allow:
        return f"denied: {decision.reason}"
    return tool, decision.arguments if decision.arguments is not None else args


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str)


def _assistant(result: ChatResult) -> dict[str, Any]:
    return {
        "role": "assistant",
        "content": result.text or None,
        "tool_calls": [c.to_dict() for c in result.tool_calls],
    }


def _begin(messages: Any, tools: Any) -> tuple[dict[str, PythonTool], list[Any], ChatHistory]:
    """The tool table, the specs the model sees, and a copy of the conversation to extend."""
    table = {t.name: t for t in as_tools(tools)}
    return table, [t.spec for t in table.values()], ChatHistory.from_messages(messages)


def _asked(
    out: ToolLoopResult, history: ChatHistory, result: ChatResult, rounds_left: bool
) -> bool:
    """Take one answer; True when it asks for tools within the limit (its call is recorded)."""
    out.result = result
    if not result.tool_calls or not rounds_left:
        out.rounds_exhausted = bool(result.tool_calls)
        return False
    history.add_assistant(result.text or None, tool_calls=result.tool_calls)
    out.messages.append(_assistant(result))
    return True


def _reply(out: ToolLoopResult, history: ChatHistory, call: ToolCall, text: str) -> None:
    out.calls.append(call)
    history.add_tool_result(call.id, text)
    out.messages.append({"role": "tool", "tool_call_id": call.id, "content": text})


def _failed(exc: Exception) -> str:
    return f"error: {type(exc).__name__}: {exc}"


def run_tools(
    chat: Any,
    messages: Any,
    tools: Any,
    approve: Any = "never",
    max_tool_rounds: int = 8,
    **options: Any,
) -> ToolLoopResult:
    """Sync driver. A tool that raises sends its error text to the model."""
    table, specs, history = _begin(messages, tools)
    out = ToolLoopResult(ChatResult())
    for round_no in range(max_tool_rounds + 1):
        result = chat(None, history=history, tools=specs, **options)
        if not _asked(out, history, result, round_no < max_tool_rounds):
            return out
        for call in result.tool_calls:
            plan = _prepare(call, table, approve)
            if isinstance(plan, tuple):
                tool, args = plan
                try:
                    value = tool.function(**args)
                    if asyncio.iscoroutine(value):
                        value = asyncio.run(value)
                    plan = _text(value)
                except Exception as exc:
                    plan = _failed(exc)
            _reply(out, history, call, plan)
    return out


async def arun_tools(
    chat: Any,
    messages: Any,
    tools: Any,
    approve: Any = "never",
    max_tool_rounds: int = 8,
    **options: Any,
) -> ToolLoopResult:
    """Async driver: the same flow; sync tools run in a worker thread."""
    table, specs, history = _begin(messages, tools)
    out = ToolLoopResult(ChatResult())
    for round_no in range(max_tool_rounds + 1):
        result = await chat.acall(None, history=history, tools=specs, **options)
        if not _asked(out, history, result, round_no < max_tool_rounds):
            return out
        for call in result.tool_calls:
            plan = _prepare(call, table, approve)
            if isinstance(plan, tuple):
                tool, args = plan
                try:
                    if tool.is_async:
                        value = await tool.function(**args)
                    else:
                        value = await asyncio.to_thread(tool.function, **args)
                    plan = _text(value)
                except Exception as exc:
                    plan = _failed(exc)
            _reply(out, history, call, plan)
    return out
