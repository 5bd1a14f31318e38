"""``%%chat --tools``: the model calls notebook functions, approved, shown inert, recorded in order.

The fake server scripts the tool calls and records the tool results it receives; every request is
real HTTP on 127.0.0.1. The "ask" widget is driven through its traits (its button ``click()``).
"""

from __future__ import annotations

import builtins
import time
from collections.abc import Iterator
from typing import Any

import pytest
from IPython.core.interactiveshell import InteractiveShell

from lexilux_nb import Chat, ChatHistory
from lexilux_nb.client import loop_thread
from lexilux_nb.engine import Ask, Engine, Tools, Turn
from lexilux_nb.notebook import approval
from lexilux_nb.notebook.panel import ChatPanel
from lexilux_nb.notebook.views import WidgetView
from lexilux_nb.testing import FakeOpenAIServer, Reply

SETUP = """
calls = []
def add(a: int, b: int) -> int:
    "Add two numbers."
    calls.append((a, b))
    return a + b
"""
EVIL = "<img src=x onerror=alert(1)>**bold**"


def call_reply(*calls: tuple[str, str, dict[str, Any]]) -> Reply:
    return Reply(tool_calls=[{"id": i, "name": n, "arguments": a} for i, n, a in calls])


@pytest.fixture(autouse=True)
def _fresh_allowed() -> Iterator[None]:
    """ "Always for this tool" lasts a session: each test starts with none allowed."""
    approval.ALLOWED.clear()
    yield
    approval.ALLOWED.clear()


def tool_messages(request: Any) -> list[dict[str, Any]]:
    return [m for m in request.messages if m.get("role") == "tool"]


def check_consistent(history: ChatHistory) -> None:
    """Every assistant tool call is answered by a tool message before the next assistant one."""
    open_ids: set[str] = set()
    for message in history.get_messages():
        if message["role"] == "assistant":
            assert not open_ids, f"unanswered tool calls {open_ids}"
            open_ids = {c["id"] for c in message.get("tool_calls") or []}
        elif message["role"] == "tool":
            open_ids.discard(message["tool_call_id"])
        elif message["role"] == "user":
            assert not open_ids, f"unanswered tool calls {open_ids}"
    assert not open_ids, f"unanswered tool calls {open_ids}"


def test_always_runs_the_function_and_records_in_order(
    server: FakeOpenAIServer, shell: InteractiveShell, kernel: Any, run: Any
) -> None:
    run(SETUP)
    server.queue(call_reply(("c1", "add", {"a": 2, "b": 3})), Reply(text="The sum is 5."))
    ran = run("%%chat --tools add --approve always\nWhat is 2+3?")
    assert ran.error is None, ran.everything
    assert shell.user_ns["calls"] == [(2, 3)]
    assert [m["content"] for m in tool_messages(server.requests[-1])] == ["5"]
    answer = ran.answer
    assert '<div class="lexilux-tool"' in answer["text/html"] and "add" in answer["text/html"]
    assert "<details" not in answer["text/html"]  # a sanitised export would show it as text
    assert "The sum is 5." in answer["text/html"]
    assert "add" in answer["text/markdown"]
    history = shell.user_ns["chat_history"]
    roles = [(m["role"], bool(m.get("tool_calls"))) for m in history.get_messages()]
    assert roles == [("user", False), ("assistant", True), ("tool", False), ("assistant", False)]
    assert history.get_messages()[2]["content"] == "5"
    check_consistent(history)
    # a follow-up (another cell) sees what happened
    kernel.cell_id = "cell-2"
    server.queue(Reply(text="ok"))
    assert run("%%chat\nAnd again?").error is None
    sent = server.requests[-1].messages
    assert [m["role"] for m in sent] == ["user", "assistant", "tool", "assistant", "user"]


def test_never_denies_and_tells_the_model(
    server: FakeOpenAIServer, shell: InteractiveShell, kernel: Any, run: Any
) -> None:
    run(SETUP)
    server.queue(call_reply(("c1", "add", {"a": 1, "b": 1})), Reply(text="I may not."))
    ran = run("%%chat --tools add --approve never\n1+1?")
    assert ran.error is None, ran.everything
    assert shell.user_ns["calls"] == []
    (result,) = tool_messages(server.requests[-1])
    assert result["tool_call_id"] == "c1" and "denied" in result["content"]
    assert "denied" in ran.answer["text/html"]
    check_consistent(shell.user_ns["chat_history"])


def test_the_default_policy_comes_from_the_settings(
    server: FakeOpenAIServer, shell: InteractiveShell, kernel: Any, run: Any
) -> None:
    run(SETUP)
    run("%chat_config approve=never")
    server.queue(call_reply(("c1", "add", {"a": 1, "b": 1})), Reply(text="no"))
    assert run("%%chat --tools add\n1+1?").error is None
    assert shell.user_ns["calls"] == []
    assert run("%chat_config approve=sometimes").error is not None


def test_max_tool_rounds_setting(
    server: FakeOpenAIServer, shell: InteractiveShell, kernel: Any, run: Any
) -> None:
    run(SETUP)
    run("%chat_config max_tool_rounds=1")
    server.queue(
        call_reply(("c1", "add", {"a": 1, "b": 1})),
        call_reply(("c2", "add", {"a": 2, "b": 2})),
        Reply(text="unused"),
    )
    ran = run("%%chat --tools add --approve always\nloop")
    assert ran.error is None, ran.everything
    assert shell.user_ns["calls"] == [(1, 1)]  # the second round's call is not run
    assert len(server.requests) == 2
    check_consistent(shell.user_ns["chat_history"])


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("--tools nope", "no function named 'nope'"),
        ("--tools calls", "not a function"),
        ("--tools add --approve maybe", "invalid choice"),
    ],
)
def test_bad_tools_are_clear_errors(
    server: FakeOpenAIServer, shell: InteractiveShell, run: Any, line: str, message: str
) -> None:
    run(SETUP)
    ran = run(f"%%chat {line}\nhi")
    assert ran.error is not None
    assert message in str(ran.error)
    assert server.requests == []


def test_tool_output_is_inert(
    server: FakeOpenAIServer, shell: InteractiveShell, kernel: Any, run: Any
) -> None:
    run(f"def shout(text: str) -> str:\n    return {EVIL!r}\n")
    server.queue(call_reply(("c1", "shout", {"text": EVIL})), Reply(text="done"))
    ran = run("%%chat --tools shout --approve always\ngo")
    assert ran.error is None, ran.everything
    page = ran.answer["text/html"]
    assert "<img" not in page and "&lt;img" in page
    assert "<img" not in ran.answer["text/markdown"]


def test_terminal_prompt_yes_and_no(
    server: FakeOpenAIServer, shell: InteractiveShell, run: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    run(SETUP)
    replies = iter(["y", "n"])
    monkeypatch.setattr(builtins, "input", lambda _prompt="": next(replies))
    server.queue(
        call_reply(("c1", "add", {"a": 1, "b": 2}), ("c2", "add", {"a": 3, "b": 4})),
        Reply(text="one of two"),
    )
    ran = run("%%chat --tools add\nboth")
    assert ran.error is None, ran.everything
    assert shell.user_ns["calls"] == [(1, 2)]
    results = [m["content"] for m in tool_messages(server.requests[-1])]
    assert results[0] == "3" and "denied" in results[1]
    assert "The model wants to run add" in ran.stdout


def test_terminal_edit(
    server: FakeOpenAIServer, shell: InteractiveShell, run: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    run(SETUP)
    replies = iter(["e", '{"a": 10, "b": 20}'])
    monkeypatch.setattr(builtins, "input", lambda _prompt="": next(replies))
    server.queue(call_reply(("c1", "add", {"a": 1, "b": 2})), Reply(text="30"))
    assert run("%%chat --tools add\nedit").error is None
    assert shell.user_ns["calls"] == [(10, 20)]
    assert [m["content"] for m in tool_messages(server.requests[-1])] == ["30"]


def test_interrupt_during_approval_keeps_the_history(
    server: FakeOpenAIServer, shell: InteractiveShell, run: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    run(SETUP)
    server.queue(Reply(text="first"))
    run("%%chat\nhello")
    before = shell.user_ns["chat_history"].get_messages()

    def stop(_prompt: str = "") -> str:
        raise KeyboardInterrupt

    monkeypatch.setattr(builtins, "input", stop)
    server.queue(call_reply(("c1", "add", {"a": 1, "b": 2})), Reply(text="never sent"))
    ran = run("%%chat --tools add\nadd please")
    assert isinstance(ran.error, KeyboardInterrupt)
    history = shell.user_ns["chat_history"]
    assert history.get_messages() == before
    assert shell.user_ns["calls"] == []
    check_consistent(history)
    server.queue(Reply(text="fine"))
    assert run("%%chat\nstill there?").error is None
    check_consistent(history)


def test_interrupt_during_a_tool_keeps_the_history(
    server: FakeOpenAIServer, shell: InteractiveShell, kernel: Any, run: Any
) -> None:
    run("def slow() -> str:\n    raise KeyboardInterrupt\n")
    server.queue(call_reply(("c1", "slow", {})), Reply(text="never sent"))
    ran = run("%%chat --tools slow --approve always\ngo")
    assert isinstance(ran.error, KeyboardInterrupt)
    history = shell.user_ns["chat_history"]
    assert len(history) == 0
    check_consistent(history)


# -- the approval widget inside the answer (engine + WidgetView, its buttons clicked) -----------


class Shown:
    """A stand-in for IPython's display: keeps bundles, gives handles."""

    def __init__(self) -> None:
        self.bundles: list[Any] = []

    def __call__(self, bundle: Any, **kwargs: Any) -> Any:
        self.bundles.append(bundle)
        shown = self

        class Handle:
            def update(self, data: Any, **_: Any) -> None:
                shown.bundles.append(data)

        return Handle()


@pytest.mark.parametrize("stream", [True, False])
@pytest.mark.parametrize(("button", "ran"), [(0, [(2, 2)]), (1, [(2, 2)]), (2, [])])
def test_widget_in_the_answer(
    server: FakeOpenAIServer, stream: bool, button: int, ran: Any
) -> None:
    calls: list[Any] = []

    def add(a: int, b: int) -> int:
        calls.append((a, b))
        return a + b

    server.queue(call_reply(("c1", "add", {"a": 2, "b": 2})), Reply(text="four"))
    view = WidgetView(Shown())
    seen: list[Any] = []

    def poll(ready: Any, **_: Any) -> Any:
        (box,) = view.approval_slot.children  # the prompt is in the answer, waiting
        seen.append(box)
        box.children[2].children[button].click()
        return ready()

    view.poll = poll
    history = ChatHistory()
    with Chat(base_url=server.base_url, model="m", max_retries=0) as chat:
        outcome = Engine(chat).run(
            Turn("2+2?", history), Ask({}, stream=stream, tools=Tools([add])), view
        )
    assert outcome.state == "complete"
    assert seen and view.approval_slot.children == ()
    assert calls == ran
    assert len(history) == 4
    check_consistent(history)
    if button == 2:
        assert "denied" in history.get_messages()[2]["content"]


# -- the panel: the same prompt, on its own loop ------------------------------------------------


def _wait_for_prompt(panel: Any) -> Any:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        asker = panel.approval
        if asker is not None and asker.waiting.wait(0.05) and asker.prompt is not None:
            return asker.prompt
    raise AssertionError("the panel never asked")


@pytest.fixture
def panel_chat(server: FakeOpenAIServer) -> Iterator[Chat]:
    made = Chat(base_url=server.base_url, model="m", max_retries=0)
    yield made
    loop_thread.submit(made.aclose()).result(timeout=5)


@pytest.mark.parametrize("button", ["run_once", "deny"])
def test_panel_asks_then_runs_or_denies(
    server: FakeOpenAIServer, panel_chat: Chat, button: str
) -> None:
    calls: list[Any] = []

    def add(a: int, b: int) -> int:
        calls.append((a, b))
        return a + b

    server.queue(call_reply(("c1", "add", {"a": 4, "b": 5})), Reply(text="nine"))
    history = ChatHistory()
    panel = ChatPanel(history, panel_chat, namespace={}, tools=[add])
    try:
        panel.input.value = "4+5?"
        panel.send.click()
        prompt = _wait_for_prompt(panel)
        assert calls == []  # nothing runs before the click
        assert prompt.call.name == "add" and '"a": 4' in prompt.arguments.value
        getattr(prompt, button).click()
        assert panel.wait(5)
    finally:
        panel.cancel()
        panel.wait(5)
        panel.close()
    (result,) = tool_messages(server.requests[-1])
    if button == "run_once":
        assert calls == [(4, 5)] and result["content"] == "9"
    else:
        assert calls == [] and "denied" in result["content"]
    assert len(history) == 4
    check_consistent(history)
    assert "lexilux-tool" in panel.transcript.value  # the result is in the transcript


def test_panel_stop_during_approval_keeps_the_history_consistent(
    server: FakeOpenAIServer, panel_chat: Chat
) -> None:
    ran: list[int] = []
    server.queue(call_reply(("c1", "ping", {})), Reply(text="unused"))
    history = ChatHistory()

    def ping() -> str:
        ran.append(1)
        return "pong"

    panel = ChatPanel(history, panel_chat, namespace={}, tools=[ping])
    try:
        panel.input.value = "ping?"
        panel.send.click()
        _wait_for_prompt(panel)
        panel.stop.click()
        assert panel.wait(5)
    finally:
        panel.close()
    assert ran == []
    assert len(server.requests) == 1  # nothing more was sent
    messages = history.get_messages()
    assert [m["role"] for m in messages] == ["user", "assistant", "tool", "assistant"]
    assert "interrupted" in messages[2]["content"]  # the open call is answered, not left open
    assert history.metadata(3)["interrupted"] is True
    check_consistent(history)


def test_a_kernel_that_cannot_wait_for_a_click_asks_with_input(
    server: FakeOpenAIServer,
    shell: InteractiveShell,
    kernel: Any,
    run: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The fake kernel has neither ``do_one_iteration`` nor subshells: Jupyter's input() box."""
    run(SETUP)
    monkeypatch.setattr(builtins, "input", lambda _prompt="": "y")
    server.queue(call_reply(("c1", "add", {"a": 1, "b": 1})), Reply(text="two"))
    ran = run("%%chat --tools add\n1+1?")
    assert ran.error is None, ran.everything
    assert shell.user_ns["calls"] == [(1, 1)]
    assert "The model wants to run add" in ran.stdout


def test_dry_run_shows_the_tools(
    server: FakeOpenAIServer, shell: InteractiveShell, run: Any
) -> None:
    run(SETUP)
    ran = run("%%chat --tools add --dry-run\n1+1?")
    assert ran.error is None, ran.everything
    assert '"name": "add"' in ran.everything and "Add two numbers." in ran.everything
    assert server.requests == []


def test_chat_panel_magic_takes_tools(
    server: FakeOpenAIServer,
    shell: InteractiveShell,
    kernel: Any,
    run: Any,
    widgets_made: list[Any],
) -> None:
    run(SETUP)
    ran = run("%chat_panel --tools add --approve never")
    assert ran.error is None, ran.everything
    (panel,) = [w for w in widgets_made if isinstance(w, ChatPanel)]
    try:
        assert panel.ask.tools is not None and panel.ask.tools.approve == "never"
        assert [f.__name__ for f in panel.ask.tools.functions] == ["add"]
    finally:
        panel.close()
    assert run("%chat_panel --tools nope").error is not None


def test_only_answered_rounds_are_recorded() -> None:
    from lexilux_nb.engine.tools import complete_rounds

    def ask(*ids: str) -> dict[str, Any]:
        calls = [
            {"id": i, "type": "function", "function": {"name": "f", "arguments": "{}"}} for i in ids
        ]
        return {"role": "assistant", "content": None, "tool_calls": calls}

    def answer(i: str) -> dict[str, Any]:
        return {"role": "tool", "tool_call_id": i, "content": "ok"}

    whole = [ask("a", "b"), answer("a"), answer("b")]
    assert complete_rounds(whole) == whole
    assert complete_rounds([*whole, ask("c", "d"), answer("c")]) == whole  # "d" is open
    assert complete_rounds([ask("x")]) == []
