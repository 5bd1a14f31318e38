"""The tool loop against the real fake server: runs, denials, errors, bad args, round limit."""

from __future__ import annotations

from lexilux_nb.client.chat import Chat
from lexilux_nb.client.toolloop import run_tools
from lexilux_nb.client.tools import from_function
from lexilux_nb.testing import FakeOpenAIServer, Reply


def add(a: int, b: int = 1) -> int:
    """Add two numbers."""
    return a + b


def boom() -> None:
    raise RuntimeError("kaput")


def test_schema_from_signature() -> None:
    spec = from_function(add).spec
    assert spec.description == "Add two numbers."
    assert spec.parameters["properties"] == {"a": {"type": "integer"}, "b": {"type": "integer"}}
    assert spec.parameters["required"] == ["a"]


def _call(i: str, name: str, args: str) -> dict[str, str]:
    return {"id": i, "name": name, "arguments": args}


def test_parallel_raise_malformed_and_answer() -> None:
    with FakeOpenAIServer(model="m") as server:
        server.queue(
            Reply(
                tool_calls=[
                    _call("c1", "add", '{"a": 2}'),
                    _call("c2", "boom", "{}"),
                    _call("c3", "add", "{bad"),
                ]
            ),
            Reply(text="done"),
        )
        chat = Chat(base_url=server.base_url, model="m")
        out = run_tools(chat, "go", [add, boom], approve="always")
        tool_msgs = [m for m in server.requests[1].messages if m["role"] == "tool"]
    assert str(out) == "done"
    assert [c.id for c in out.calls] == ["c1", "c2", "c3"]
    assert tool_msgs[0]["content"] == "3"
    assert "RuntimeError: kaput" in tool_msgs[1]["content"]
    assert "not valid JSON" in tool_msgs[2]["content"]
    assert [m["role"] for m in out.messages] == ["assistant", "tool", "tool", "tool"]


def test_never_denies_and_nothing_runs() -> None:
    ran: list[int] = []

    def side(x: int) -> int:
        ran.append(x)
        return x

    with FakeOpenAIServer(model="m") as server:
        server.queue(Reply(tool_calls=[_call("c1", "side", '{"x": 1}')]), Reply(text="ok"))
        out = run_tools(Chat(base_url=server.base_url, model="m"), "go", [side], approve="never")
    assert ran == []
    assert out.messages[1]["content"].startswith("denied")


def test_edit_and_round_limit() -> None:
    with FakeOpenAIServer(model="m") as server:
        server.default = Reply(tool_calls=[_call("c", "add", '{"a": 1}')])
        out = run_tools(
            Chat(base_url=server.base_url, model="m"),
            "go",
            [add],
            approve=lambda call, args: {"a": 10, "b": 0},
            max_tool_rounds=2,
        )
    assert out.rounds_exhausted
    assert out.messages[1]["content"] == "10"
    assert len(out.calls) == 3  # the third round's call is answered "not run", never run
    assert out.messages[-1]["content"].startswith("not run")
    assert out.tool_calls == []


def test_async_driver_same_messages() -> None:
    import asyncio

    from lexilux_nb.client.toolloop import arun_tools

    with FakeOpenAIServer(model="m") as server:
        server.queue(
            Reply(tool_calls=[_call("c1", "add", '{"a": 2}'), _call("c2", "boom", "{}")]),
            Reply(text="done"),
        )
        chat = Chat(base_url=server.base_url, model="m")
        out = asyncio.run(arun_tools(chat.acall, "go", [add, boom], approve="always"))
    assert str(out) == "done"
    assert next(m.get("content") for m in out.messages[1:]) == "3"
    assert "kaput" in out.messages[2]["content"]
