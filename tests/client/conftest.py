"""Helpers shared by the client tests: sample histories and the history invariants."""

from __future__ import annotations

from lexilux_nb.client.history import ChatHistory
from lexilux_nb.client.models import ToolCall


def tool_history() -> ChatHistory:
    """Three rounds; the middle one calls a tool."""
    h = ChatHistory(system="sys")
    h.add_user("one")
    h.add_assistant("first answer")
    h.add_user("weather please")
    h.add_assistant(None, tool_calls=[ToolCall("call_1", "get_weather", '{"city": "Paris"}')])
    h.add_tool_result("call_1", {"temp": 20}, name="get_weather")
    h.add_assistant("It is 20 degrees")
    h.add_user("three")
    h.add_assistant("third answer")
    return h


def assert_aligned(history: ChatHistory) -> None:
    """One metadata dict per message, and each assistant answer tagged with its own question."""
    data = history.to_dict()
    messages, meta = data["messages"], data["metadata"]
    assert len(messages) == len(meta)
    for i, (message, info) in enumerate(zip(messages, meta, strict=True)):
        assert isinstance(info, dict)
        if message["role"] == "assistant" and "question" in info:
            asked = messages[i - 1]
            assert asked["role"] == "user" and asked["content"] == info["question"], i
