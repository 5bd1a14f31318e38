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


def run_tools(
    chat: Any,
    messages: Any,
    tools: Any,
    approve: Any = "never",
    max_tool_rounds: int = 8,
    **options: Any,
) -> ToolLoopResult:
    """Sync driver. A tool that raises sends its error text to the model."""
    table = {t.name: t for t in as_tools(tools)}
    specs = [t.spec for t in table.values()]
    history = (
        ChatHistory.from_messages(messages) if not isinstance(messages, ChatHistory) else messages
    )
    out = ToolLoopResult(ChatResult())
    for _ in range(max_tool_rounds + 1):
        result = chat(None, history=history, tools=specs, **options)
        out.result = result
        if not result.tool_calls:
            return out
        if len(out.calls) and _ >= max_tool_rounds:
            break
        history.add_assistant(result.text or None, tool_calls=result.tool_calls)
        out.messages.append(_assistant(result))
        for call in result.tool_calls:
            out.calls.append(call)
            plan = _prepare(call, table, approve)
            if isinstance(plan, tuple):
                tool, args = plan
                try:
                    value = tool.function(**args)
                    if asyncio.iscoroutine(value):
                        value = asyncio.run(value)
                    text = _text(value)
                except Exception as exc:
                    text = f"error: {type(exc).__name__}: {exc}"
            else:
                text = plan
            history.add_tool_result(call.id, text)
            out.messages.append({"role": "tool", "tool_call_id": call.id, "content": text})
    out.rounds_exhausted = True
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
    table = {t.name: t for t in as_tools(tools)}
    specs = [t.spec for t in table.values()]
    history = ChatHistory.from_messages(messages)
    out = ToolLoopResult(ChatResult())
    for round_no in range(max_tool_rounds + 1):
        result = await chat.acall(None, history=history, tools=specs, **options)
        out.result = result
        if not result.tool_calls:
            return out
        if round_no >= max_tool_rounds:
            break
        history.add_assistant(result.text or None, tool_calls=result.tool_calls)
        out.messages.append(_assistant(result))
        for call in result.tool_calls:
            out.calls.append(call)
            plan = _prepare(call, table, approve)
            if isinstance(plan, tuple):
                tool, args = plan
                try:
                    if tool.is_async:
                        value = await tool.function(**args)
                    else:
                        value = await asyncio.to_thread(tool.function, **args)
                    text = _text(value)
                except Exception as exc:
                    text = f"error: {type(exc).__name__}: {exc}"
            else:
                text = plan
            history.add_tool_result(call.id, text)
            out.messages.append({"role": "tool", "tool_call_id": call.id, "content": text})
    out.rounds_exhausted = True
    return out
