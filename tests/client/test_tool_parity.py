"""The tool loop through every path (sync/async × streamed/not, and the ``complete`` family),
against the real fake server scripting the tool calls: each scenario's messages, tool activity,
requests and result are checked message by message and must be identical on every path."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from typing import Any

import pytest

from lexilux_nb.client.chat import Chat
from lexilux_nb.client.errors import ValidationError
from lexilux_nb.client.history import ChatHistory
from lexilux_nb.client.toolloop import ToolActivity, ToolLoopInterrupted, ToolLoopResult
from lexilux_nb.testing import FakeOpenAIServer, Reply

PATHS = ("call", "stream", "acall", "astream")
COMPLETE_PATHS = ("complete", "complete_stream", "acomplete", "acomplete_stream")


@dataclasses.dataclass
class Run:
    """What one path gave: the result, the text shown while streaming, and the chunks' shape."""

    result: ToolLoopResult
    shown: str | None = None
    done_chunks: list[int] = dataclasses.field(default_factory=list)


def run(path: str, chat: Chat, prompt: Any, **options: Any) -> Run:
    """Call ``chat`` one way; streamed paths are read to the end."""
    method = getattr(chat, "__call__" if path == "call" else path)
    if path in ("call", "complete"):
        return Run(method(prompt, **options))
    if path in ("acall", "acomplete"):
        return Run(asyncio.run(method(prompt, **options)))
    if path in ("stream", "complete_stream"):
        stream = method(prompt, **options)
        chunks = list(stream)
    else:
        stream = method(prompt, **options)

        async def read() -> list[Any]:
            return [c async for c in stream]

        chunks = asyncio.run(read())
    shown = "".join(c.delta for c in chunks)
    done = [i for i, c in enumerate(chunks) if c.done]
    return Run(stream.result, shown, done)


def call(i: str, name: str, args: str) -> dict[str, str]:
    return {"id": i, "name": name, "arguments": args}


def assistant(*calls: dict[str, str], content: str | None = None) -> dict[str, Any]:
    wire = [
        {
            "id": c["id"],
            "type": "function",
            "function": {"name": c["name"], "arguments": c["arguments"]},
        }
        for c in calls
    ]
    return {"role": "assistant", "content": content, "tool_calls": wire}


def tool(i: str, content: str) -> dict[str, Any]:
    return {"role": "tool", "tool_call_id": i, "content": content}


class Recorder:
    """Tools with side-effect counters, and every ToolActivity as (id, status, result)."""

    def __init__(self) -> None:
        self.ran: list[tuple[str, Any]] = []
        self.activity: list[tuple[str, str, str | None]] = []
        self.seconds: list[float | None] = []

    def on_tool(self, a: ToolActivity) -> None:
        self.activity.append((a.call.id, a.status, a.result))
        self.seconds.append(a.seconds)

    def tools(self) -> list[Callable[..., Any]]:
        ran = self.ran

        def add(a: int, b: int = 1) -> int:
            """Add two integers.

            Args:
                a: the first one
                b: the second one
            """
            ran.append(("add", (a, b)))
            return a + b

        async def shout(text: str) -> str:
            """Upper-case a text (an async tool)."""
            ran.append(("shout", text))
            await asyncio.sleep(0)
            return text.upper()

        def boom() -> None:
            """Always fails."""
            ran.append(("boom", None))
            raise RuntimeError("kaput")

        def stop() -> None:
            """Stands for Ctrl-C while a tool runs."""
            ran.append(("stop", None))
            raise KeyboardInterrupt

        return [add, shout, boom, stop]


def scripted(server: FakeOpenAIServer, *replies: Reply) -> None:
    server.clear()
    server.queue(*replies)


def across(
    paths: tuple[str, ...],
    replies: Callable[[], list[Reply]],
    prompt: Any = "go",
    **options: Any,
) -> list[tuple[Run, Recorder, list[list[dict[str, Any]]]]]:
    """Run the same script on every path; (run, recorder, messages of each request) per path."""
    out = []
    with FakeOpenAIServer(model="m") as server:
        chat = Chat(base_url=server.base_url, model="m")
        for path in paths:
            scripted(server, *replies())
            rec = Recorder()
            opts = {"tools": rec.tools(), "on_tool": rec.on_tool, **options}
            got = run(path, chat, prompt, **opts)
            out.append((got, rec, [r.messages for r in server.requests]))
    return out


def same(values: list[Any]) -> Any:
    for v in values[1:]:
        assert v == values[0]
    return values[0]


# -- the scenarios ---------------------------------------------------------------------------


def test_parallel_calls_sync_and_async_tools() -> None:
    c1, c2 = call("c1", "add", '{"a": 2}'), call("c2", "shout", '{"text": "hi"}')
    runs = across(
        PATHS,
        lambda: [Reply(text="Let me see.", tool_calls=[c1, c2]), Reply(text="3 and HI.")],
        approve="always",
    )
    messages = same([r.result.messages for r, _, _ in runs])
    assert messages == [assistant(c1, c2, content="Let me see."), tool("c1", "3"), tool("c2", "HI")]
    requests = same([reqs for _, _, reqs in runs])
    assert len(requests) == 2
    assert requests[1] == [{"role": "user", "content": "go"}, *messages]
    assert same([r.result.text for r, _, _ in runs]) == "3 and HI."
    assert same([[c.id for c in r.result.calls] for r, _, _ in runs]) == ["c1", "c2"]
    assert same([r.result.rounds for r, _, _ in runs]) == 2
    assert same([r.result.tool_calls for r, _, _ in runs]) == []
    assert same([rec.ran for _, rec, _ in runs]) == [("add", (2, 1)), ("shout", "hi")]
    assert same([rec.activity for _, rec, _ in runs]) == [
        ("c1", "asked", None),
        ("c1", "running", None),
        ("c1", "done", "3"),
        ("c2", "asked", None),
        ("c2", "running", None),
        ("c2", "done", "HI"),
    ]
    for got, rec, _ in runs:
        assert all(
            s is not None and s >= 0
            for s, (_, st, _) in zip(rec.seconds, rec.activity, strict=True)
            if st == "done"
        )
        usage = got.result.usage
        assert usage.input_tokens is not None and usage.input_tokens > 0
    streamed = [r for r, _, _ in runs if r.shown is not None]
    assert [r.shown for r in streamed] == ["Let me see.3 and HI."] * 2  # every round's text
    for r in streamed:
        assert r.done_chunks == [r.done_chunks[-1]]  # one done chunk, the last


def test_a_raising_tool_and_bad_arguments_are_told_to_the_model() -> None:
    calls = [
        call("c1", "boom", "{}"),
        call("c2", "add", "{bad"),
        call("c3", "add", '{"a": "many"}'),
        call("c4", "add", '{"b": 2, "z": 1}'),
        call("c5", "nope", "{}"),
    ]
    runs = across(PATHS, lambda: [Reply(tool_calls=calls), Reply(text="sorry")], approve="always")
    messages = same([r.result.messages for r, _, _ in runs])
    texts = [m["content"] for m in messages[1:]]
    assert [m["tool_call_id"] for m in messages[1:]] == ["c1", "c2", "c3", "c4", "c5"]
    assert texts[0] == "error: RuntimeError: kaput"
    assert texts[1].startswith("error: the arguments are not valid JSON")
    assert texts[2].startswith(
        "error: the arguments are invalid: a: Input should be a valid integer"
    )
    assert "missing required argument(s): a" in texts[3] and "unexpected argument(s): z" in texts[3]
    assert texts[4].startswith("error: no tool named 'nope'")
    assert same([reqs[1][1:] for _, _, reqs in runs]) == messages  # the model saw exactly these
    assert same([rec.ran for _, rec, _ in runs]) == [("boom", None)]  # bad arguments never run
    statuses = same([[(i, s) for i, s, _ in rec.activity] for _, rec, _ in runs])
    assert statuses == [
        ("c1", "asked"), ("c1", "running"), ("c1", "failed"),
        ("c2", "failed"), ("c3", "failed"), ("c4", "failed"), ("c5", "failed"),
    ]  # fmt: skip


def test_a_denial_and_an_edit() -> None:
    c1, c2 = call("c1", "add", '{"a": 1}'), call("c2", "shout", '{"text": "x"}')

    def approve(c: Any, args: dict[str, Any]) -> Any:
        return {"a": 10, "b": 5} if c.name == "add" else False

    runs = across(PATHS, lambda: [Reply(tool_calls=[c1, c2]), Reply(text="ok")], approve=approve)
    messages = same([r.result.messages for r, _, _ in runs])
    assert messages == [
        assistant(c1, c2),
        tool("c1", "15"),
        tool("c2", "denied: denied by the user"),
    ]
    assert same([rec.ran for _, rec, _ in runs]) == [("add", (10, 5))]
    assert same([rec.activity[-1][1] for _, rec, _ in runs]) == "denied"


def test_async_approver_on_every_path() -> None:
    c1 = call("c1", "add", '{"a": 1}')
    asked: list[dict[str, Any]] = []

    async def approve(c: Any, args: dict[str, Any]) -> bool:
        asked.append(args)
        await asyncio.sleep(0)
        return True

    runs = across(PATHS, lambda: [Reply(tool_calls=[c1]), Reply(text="ok")], approve=approve)
    assert same([r.result.messages[1:] for r, _, _ in runs]) == [tool("c1", "2")]
    assert asked == [{"a": 1}] * 4  # the validated arguments, as the model gave them


@pytest.mark.parametrize("policy", ["never", "deny-callable"])
def test_nothing_runs_without_approval(policy: str) -> None:
    c1, c2 = call("c1", "add", '{"a": 1}'), call("c2", "boom", "{}")
    approve: Any = "never" if policy == "never" else (lambda c, a: None)
    runs = across(
        PATHS + COMPLETE_PATHS,
        lambda: [Reply(tool_calls=[c1, c2]), Reply(text="ok")],
        approve=approve,
    )
    for got, rec, _ in runs:
        assert rec.ran == []  # the side-effect counter stays 0
        assert [m["content"] for m in got.result.messages[1:]] == ["denied: denied by the user"] * 2


def test_ask_without_an_asker_is_refused_before_sending() -> None:
    with FakeOpenAIServer(model="m") as server:
        chat = Chat(base_url=server.base_url, model="m")
        rec = Recorder()
        for path in PATHS + COMPLETE_PATHS:
            with pytest.raises(ValidationError, match="approve=callable"):
                run(path, chat, "go", tools=rec.tools())  # "ask" is the default
        with pytest.raises(ValidationError, match="approve must be"):
            chat("go", tools=rec.tools(), approve="sometimes")
        assert server.requests == []


def test_max_tool_rounds_reached() -> None:
    c = call("c", "add", '{"a": 1}')
    runs = across(PATHS, lambda: [Reply(tool_calls=[c])] * 3, approve="always", max_tool_rounds=1)
    messages = same([r.result.messages for r, _, _ in runs])
    note = "not run: the limit of 1 tool rounds was reached"
    assert messages == [assistant(c), tool("c", "2"), assistant(c), tool("c", note)]
    assert same([r.result.rounds_exhausted for r, _, _ in runs]) is True
    assert same([len(reqs) for _, _, reqs in runs]) == 2
    assert same([rec.ran for _, rec, _ in runs]) == [("add", (1, 1))]
    assert same([r.result.tool_calls for r, _, _ in runs]) == []  # every call is answered


def test_an_interrupt_mid_loop_leaves_every_call_answered() -> None:
    c1, c2, c3 = call("c1", "add", '{"a": 1}'), call("c2", "stop", "{}"), call("c3", "add", "{}")
    results: list[tuple[ToolLoopResult, list[Any], Recorder]] = []
    with FakeOpenAIServer(model="m") as server:
        chat = Chat(base_url=server.base_url, model="m")
        for path in PATHS:
            scripted(server, Reply(tool_calls=[c1, c2, c3]), Reply(text="never asked"))
            rec = Recorder()
            with pytest.raises(ToolLoopInterrupted) as caught:
                run(path, chat, "go", tools=rec.tools(), approve="always", on_tool=rec.on_tool)
            assert isinstance(caught.value, KeyboardInterrupt)
            results.append((caught.value.result, server.requests, rec))
    messages = same([r.messages for r, _, _ in results])
    assert messages == [
        assistant(c1, c2, c3),
        tool("c1", "2"),
        tool("c2", "interrupted by the user while running"),
        tool("c3", "interrupted by the user before running"),
    ]
    assert same([r.interrupted for r, _, _ in results]) is True
    assert same([len(reqs) for _, reqs, _ in results]) == 1  # the loop stopped
    assert same([rec.ran for _, _, rec in results]) == [("add", (1, 1)), ("stop", None)]
    history = ChatHistory()  # the partial records as a valid conversation
    history.add_user("go")
    for message in messages:
        history.add_message(message)
    assert [m["role"] for m in history] == ["user", "assistant", "tool", "tool", "tool"]


def test_streamed_result_after_an_interrupt_is_the_same() -> None:
    c1 = call("c1", "stop", "{}")
    with FakeOpenAIServer(model="m") as server:
        server.queue(Reply(text="Checking.", tool_calls=[c1]))
        chat = Chat(base_url=server.base_url, model="m")
        stream = chat.stream("go", tools=Recorder().tools(), approve="always")
        shown = []
        with pytest.raises(ToolLoopInterrupted) as caught:
            for chunk in stream:
                shown.append(chunk.delta)
    assert "".join(shown) == "Checking."
    assert stream.result.messages == caught.value.result.messages
    assert stream.result.messages[-1] == tool("c1", "interrupted by the user while running")


def test_history_is_sent_first_and_left_unchanged() -> None:
    history = ChatHistory(system="be brief")
    history.add_user("earlier").add_assistant("earlier answer")
    c1 = call("c1", "add", '{"a": 4, "b": 4}')
    runs = across(
        PATHS,
        lambda: [Reply(tool_calls=[c1]), Reply(text="8")],
        approve="always",
        history=history,
    )
    requests = same([reqs for _, _, reqs in runs])
    head = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "earlier"},
        {"role": "assistant", "content": "earlier answer"},
        {"role": "user", "content": "go"},
    ]
    assert requests[0] == head
    assert requests[1] == [*head, assistant(c1), tool("c1", "8")]
    assert len(history) == 2  # the caller's history is not changed
    result = runs[0][0].result
    turn = result.turn_messages()
    assert turn[-1] == {"role": "assistant", "content": "8"}
    recorded = history.clone().add_user("go")
    for message in turn:
        recorded.add_message(message)
    assert [m["role"] for m in recorded] == [
        "user",
        "assistant",
        "user",
        "assistant",
        "tool",
        "assistant",
    ]


def test_complete_paths_continue_a_cut_final_answer() -> None:
    long = "The sum is eight, and that is the whole answer to the question."
    c1 = call("c1", "add", '{"a": 4, "b": 4}')
    runs = across(
        COMPLETE_PATHS,
        lambda: [
            Reply(tool_calls=[c1]),
            Reply(text=long, resume=True),
            Reply(text=long, resume=True),
        ],
        approve="always",
        max_tokens=8,
    )
    assert same([r.result.text for r, _, _ in runs]) == long
    assert same([r.result.continues for r, _, _ in runs]) == 1
    assert same([r.result.messages for r, _, _ in runs]) == [assistant(c1), tool("c1", "8")]
    assert same([len(reqs) for _, _, reqs in runs]) == 3
    for got, _, _ in runs:
        if got.shown is not None:
            assert got.shown == long
            assert got.done_chunks == [got.done_chunks[-1]]


def test_a_function_tool_spec_is_passed_through_and_answered_as_unknown() -> None:
    from lexilux_nb.client.models import FunctionTool

    spec = FunctionTool("remote", "answered by someone else")
    c1 = call("c1", "remote", "{}")
    with FakeOpenAIServer(model="m") as server:
        server.queue(Reply(tool_calls=[c1]), Reply(text="ok"))
        chat = Chat(base_url=server.base_url, model="m")
        rec = Recorder()
        out = chat("go", tools=[spec, *rec.tools()], approve="always")
        sent = [t["function"]["name"] for t in server.requests[0].json["tools"]]
    assert sent == ["remote", "add", "shout", "boom", "stop"]
    assert out.messages[1]["content"].startswith("error: no tool named 'remote'")


def test_an_interrupt_during_approval_runs_nothing() -> None:
    c1, c2 = call("c1", "add", '{"a": 1}'), call("c2", "add", '{"a": 2}')

    def approve(c: Any, args: dict[str, Any]) -> bool:
        raise KeyboardInterrupt  # Ctrl-C while the approval widget waits

    with FakeOpenAIServer(model="m") as server:
        chat = Chat(base_url=server.base_url, model="m")
        for path in PATHS:
            scripted(server, Reply(tool_calls=[c1, c2]))
            rec = Recorder()
            with pytest.raises(ToolLoopInterrupted) as caught:
                run(path, chat, "go", tools=rec.tools(), approve=approve)
            assert rec.ran == []
            assert caught.value.result.messages[1:] == [
                tool("c1", "interrupted by the user before running"),
                tool("c2", "interrupted by the user before running"),
            ]


def test_a_cancelled_async_stream_answers_the_open_calls() -> None:
    c1 = call("c1", "wait", "{}")
    started = asyncio.Event()

    async def wait() -> str:
        """Waits a long time."""
        started.set()
        await asyncio.sleep(30)
        return "never"

    async def main() -> Any:
        with FakeOpenAIServer(model="m") as server:
            server.queue(Reply(tool_calls=[c1]), Reply(text="never asked"))
            chat = Chat(base_url=server.base_url, model="m")
            stream = chat.astream("go", tools=[wait], approve="always")

            async def read() -> None:
                async for _ in stream:
                    pass

            task = asyncio.create_task(read())
            await started.wait()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            return stream.result, len(server.requests)

    result, requests = asyncio.run(main())
    assert requests == 1
    assert result.messages == [assistant(c1), tool("c1", "interrupted by the user while running")]
    assert result.interrupted is True
