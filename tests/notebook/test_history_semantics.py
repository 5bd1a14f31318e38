"""When a turn is recorded: only complete answers; re-runs replace; errors and interrupts don't."""

from __future__ import annotations

import _thread
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from lexilux_nb import ChatHistory, ChatResult
from lexilux_nb.notebook.errors import ChatCellError
from lexilux_nb.testing import Reply

SLOW = Reply(text=" ".join(f"word{i}" for i in range(200)), delay=0.05)  # ~10 s if not stopped


def ok(ran: Any) -> Any:
    assert ran.error is None, f"{ran.error!r}\n{ran.stdout}\n{ran.stderr}"
    return ran


def contents(history: ChatHistory) -> list[str]:
    return [m["content"] for m in history]


@pytest.fixture
def interrupt_after() -> Iterator[Any]:
    """Simulate Ctrl-C in the main thread after a delay (like the Jupyter stop button)."""
    timers: list[threading.Timer] = []

    def start(seconds: float) -> None:
        timer = threading.Timer(seconds, _thread.interrupt_main)
        timers.append(timer)
        timer.start()

    yield start
    for timer in timers:
        timer.cancel()
        timer.join()


# -- a normal turn ------------------------------------------------------------------------------


def test_a_turn_appends_user_and_assistant_with_metadata(server: Any, run: Any, shell: Any) -> None:
    ok(run("%%chat\nhello"))
    history = shell.user_ns["chat_history"]
    assert isinstance(history, ChatHistory)
    assert history.get_messages() == [
        {"role": "user", "content": "hello"},
        {"role": "assistant", "content": "Echo: hello"},
    ]
    meta = history.metadata(1)
    assert meta["model"] == "fake-model"
    assert meta["finish_reason"] == "stop"
    assert meta["continues"] == 0
    assert meta["truncated"] is False
    assert meta["interrupted"] is False
    usage = meta["usage"]
    assert usage["output_tokens"] == 2
    assert usage["input_tokens"] > 0
    assert "timestamp" in history.metadata(0)
    assert "cell_id" not in history.metadata(0)  # the terminal has no cell ids
    result = shell.user_ns["_chat"]
    assert isinstance(result, ChatResult)
    assert result.text == "Echo: hello"


def test_turns_accumulate_and_are_sent_as_context(server: Any, run: Any, shell: Any) -> None:
    ok(run("%%chat\none"))
    ok(run("%%chat\ntwo"))
    assert [m["content"] for m in server.requests[-1].messages] == ["one", "Echo: one", "two"]
    assert contents(shell.user_ns["chat_history"]) == ["one", "Echo: one", "two", "Echo: two"]


def test_the_cell_id_is_recorded(server: Any, run: Any, shell: Any, kernel: Any) -> None:
    kernel.cell_id = "abc-123"
    ok(run("%%chat\nhello"))
    history = shell.user_ns["chat_history"]
    assert history.metadata(0)["cell_id"] == "abc-123"


# -- errors record nothing --------------------------------------------------------------------


@pytest.mark.parametrize("status", [400, 401, 404, 422])
def test_a_server_error_records_nothing(server: Any, run: Any, shell: Any, status: int) -> None:
    ok(run("%%chat\nfirst"))
    before = shell.user_ns["chat_history"].clone()
    first_result = shell.user_ns["_chat"]
    server.queue(Reply(status=status))
    ran = run("%%chat\nsecond")
    assert isinstance(ran.error, ChatCellError)
    assert str(status) in str(ran.error)
    assert shell.user_ns["chat_history"] == before
    assert shell.user_ns["_chat"] is first_result
    assert len(server.requests) == 2  # not retried
    lines = ran.error._render_traceback_()
    assert len("\n".join(lines).splitlines()) <= 3


def test_a_5xx_error_after_retries_records_nothing(server: Any, run: Any, shell: Any) -> None:
    for _ in range(3):  # the first try and two retries; Retry-After: 0 keeps the test fast
        server.queue(Reply(status=503, headers={"Retry-After": "0"}))
    ran = run("%%chat\nhello")
    assert isinstance(ran.error, ChatCellError)
    assert "503" in str(ran.error)
    assert len(server.requests) == 3
    assert len(shell.user_ns["chat_history"]) == 0
    assert "_chat" not in shell.user_ns


def test_a_5xx_then_success_records_one_turn(server: Any, run: Any, shell: Any) -> None:
    server.queue(Reply(status=500, headers={"Retry-After": "0"}))
    ok(run("%%chat\nhello"))
    assert len(server.requests) == 2
    assert contents(shell.user_ns["chat_history"]) == ["hello", "Echo: hello"]


def test_a_stream_cut_mid_way_records_nothing(server: Any, run: Any, shell: Any) -> None:
    server.queue(Reply(text="one two three four five six", cut_after=3))
    ran = run("%%chat\nhello")
    assert isinstance(ran.error, ChatCellError)
    assert len(shell.user_ns["chat_history"]) == 0
    partial = shell.user_ns["_chat"]
    assert partial.text == "one two three"
    assert "_chat" in str(ran.error)  # the hint says where the partial answer is


def test_an_error_on_rerun_keeps_the_old_turn(
    server: Any, run: Any, shell: Any, kernel: Any
) -> None:
    kernel.cell_id = "c1"
    ok(run("%%chat\nquestion"))
    before = shell.user_ns["chat_history"].clone()
    server.queue(Reply(status=400))
    assert isinstance(run("%%chat\nquestion").error, ChatCellError)
    assert shell.user_ns["chat_history"] == before


# -- interrupts record nothing ------------------------------------------------------------------


def _check_interrupted(ran: Any, shell: Any, history_before: list[str]) -> ChatResult:
    assert isinstance(ran.error, KeyboardInterrupt)
    assert not ran.result.success
    assert contents(shell.user_ns["chat_history"]) == history_before
    partial = shell.user_ns["_chat"]
    assert isinstance(partial, ChatResult)
    assert partial.interrupted is True
    assert partial.text.startswith("word0")
    assert len(partial.text) < len(SLOW.text)
    return partial


def test_interrupt_in_the_terminal(server: Any, run: Any, shell: Any, interrupt_after: Any) -> None:
    ok(run("%%chat\nbefore"))
    server.queue(SLOW)
    interrupt_after(0.3)
    ran = run("%%chat -o kept\nlong answer please")
    partial = _check_interrupted(ran, shell, ["before", "Echo: before"])
    assert shell.user_ns["kept"] is partial
    assert partial.text in ran.stdout
    after = ran.stdout.split(partial.text, 1)[1].strip().splitlines()
    assert len(after) <= 3, after  # the footer and a two-line message: no traceback
    assert after[0].startswith("— fake-model") and after[0].endswith("· stopped")
    message = "\n".join(after[1:])
    assert f"stopped after {len(partial.text)} characters" in message
    assert "_chat (and kept)" in message and "nothing was added to chat_history" in message
    assert "Traceback" not in ran.stdout + ran.stderr


def test_interrupt_in_the_notebook(
    server: Any, run: Any, shell: Any, kernel: Any, interrupt_after: Any
) -> None:
    ok(run("%%chat\nbefore"))
    server.queue(SLOW)
    interrupt_after(0.3)
    kernel.cell_id = "cell-2"
    ran = run("%%chat\nlong answer please")
    partial = _check_interrupted(ran, shell, ["before", "Echo: before"])
    answer = ran.answer
    assert answer["text/plain"] == partial.text
    assert answer["text/markdown"].endswith("· stopped*")
    assert answer["text/html"].count("stopped") == 1  # said once, in the footer
    shown = (ran.stdout + ran.stderr).strip().splitlines()
    assert len(shown) <= 3 and "Traceback" not in ran.stdout + ran.stderr, shown


def test_the_client_still_works_after_an_interrupt(
    server: Any, run: Any, shell: Any, interrupt_after: Any
) -> None:
    server.queue(SLOW)
    interrupt_after(0.3)
    assert isinstance(run("%%chat\nlong").error, KeyboardInterrupt)
    ok(run("%%chat\nafterwards"))
    assert contents(shell.user_ns["chat_history"]) == ["afterwards", "Echo: afterwards"]
    assert server.requests[-1].messages == [{"role": "user", "content": "afterwards"}]


# -- re-running a cell ----------------------------------------------------------------------------


def test_rerun_replaces_that_cells_turn_in_place(
    server: Any, run: Any, shell: Any, kernel: Any
) -> None:
    for cell_id, prompt in (("c1", "q1"), ("c2", "q2"), ("c3", "q3")):
        kernel.cell_id = cell_id
        ok(run(f"%%chat\n{prompt}"))
    history = shell.user_ns["chat_history"]
    assert len(history) == 6
    kernel.cell_id = "c2"
    server.queue(Reply(text="new answer"))
    ok(run("%%chat\nq2 edited"))
    assert shell.user_ns["chat_history"] is history
    assert contents(history) == ["q1", "Echo: q1", "q2 edited", "new answer", "q3", "Echo: q3"]
    assert history.metadata(2)["cell_id"] == "c2"
    assert history.metadata(4)["cell_id"] == "c3"
    # only the turns before the re-run cell were sent
    assert server.requests[-1].messages == [
        {"role": "user", "content": "q1"},
        {"role": "assistant", "content": "Echo: q1"},
        {"role": "user", "content": "q2 edited"},
    ]


def test_rerunning_the_first_cell_sends_no_context(
    server: Any, run: Any, shell: Any, kernel: Any
) -> None:
    kernel.cell_id = "first"
    ok(run("%%chat\nq1"))
    kernel.cell_id = "second"
    ok(run("%%chat\nq2"))
    kernel.cell_id = "first"
    ok(run("%%chat\nq1 again"))
    assert server.requests[-1].messages == [{"role": "user", "content": "q1 again"}]
    assert contents(shell.user_ns["chat_history"]) == [
        "q1 again",
        "Echo: q1 again",
        "q2",
        "Echo: q2",
    ]


def test_rerunning_the_same_cell_many_times_keeps_one_turn(
    server: Any, run: Any, shell: Any, kernel: Any
) -> None:
    kernel.cell_id = "same"
    for _ in range(3):
        ok(run("%%chat\nagain"))
    assert contents(shell.user_ns["chat_history"]) == ["again", "Echo: again"]


def test_a_different_cell_id_appends(server: Any, run: Any, shell: Any, kernel: Any) -> None:
    kernel.cell_id = "a"
    ok(run("%%chat\nsame prompt"))
    kernel.cell_id = "b"
    ok(run("%%chat\nsame prompt"))
    assert len(shell.user_ns["chat_history"]) == 4


def test_no_cell_id_appends(server: Any, run: Any, shell: Any, kernel: Any) -> None:
    kernel.cell_id = None
    ok(run("%%chat\nsame prompt"))
    ok(run("%%chat\nsame prompt"))
    history = shell.user_ns["chat_history"]
    assert len(history) == 4
    assert "cell_id" not in history.metadata(0)


def test_terminal_runs_always_append(server: Any, run: Any, shell: Any) -> None:
    ok(run("%%chat\nsame prompt"))
    ok(run("%%chat\nsame prompt"))
    assert len(shell.user_ns["chat_history"]) == 4


def test_rerun_after_the_turn_was_removed_appends(
    server: Any, run: Any, shell: Any, kernel: Any
) -> None:
    kernel.cell_id = "c1"
    ok(run("%%chat\nq1"))
    kernel.cell_id = "c2"
    ok(run("%%chat\nq2"))
    ok(run("%chat_history --pop"))
    ok(run("%%chat\nq2 again"))
    assert contents(shell.user_ns["chat_history"]) == [
        "q1",
        "Echo: q1",
        "q2 again",
        "Echo: q2 again",
    ]


def test_a_kernel_without_a_parent_message_appends(
    server: Any, run: Any, shell: Any, kernel: Any
) -> None:
    def broken(channel: str = "shell") -> dict[str, Any]:
        raise RuntimeError("no parent")

    kernel.get_parent = broken
    ok(run("%%chat\none"))
    ok(run("%%chat\none"))
    assert len(shell.user_ns["chat_history"]) == 4


# -- the history lives in the namespace ---------------------------------------------------------


def test_users_can_replace_the_history(server: Any, run: Any, shell: Any) -> None:
    ok(run("%%chat\nforgotten"))
    mine = ChatHistory(system="You are terse.")
    mine.add_user("earlier question")
    mine.add_assistant("earlier answer")
    shell.user_ns["chat_history"] = mine
    ok(run("%%chat\nnext"))
    assert server.requests[-1].messages == [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "earlier question"},
        {"role": "assistant", "content": "earlier answer"},
        {"role": "user", "content": "next"},
    ]
    assert shell.user_ns["chat_history"] is mine
    assert contents(mine) == ["earlier question", "earlier answer", "next", "Echo: next"]


def test_users_can_replace_the_history_from_code(server: Any, run: Any, shell: Any) -> None:
    ok(run("from lexilux_nb import ChatHistory\nchat_history = ChatHistory(system='S')"))
    ok(run("%%chat\nhi"))
    assert server.requests[-1].messages[0] == {"role": "system", "content": "S"}


def test_edits_between_cells_are_sent(server: Any, run: Any, shell: Any) -> None:
    ok(run("%%chat\none"))
    ok(run("chat_history.add_user('typed by hand').add_assistant('also by hand')"))
    ok(run("%%chat\ntwo"))
    assert [m["content"] for m in server.requests[-1].messages] == [
        "one",
        "Echo: one",
        "typed by hand",
        "also by hand",
        "two",
    ]


@pytest.mark.parametrize(
    ("setup", "cell", "name"),
    [
        ("chat_history = 5", "%%chat\nhi", "chat_history"),
        ("chat_history = ['a list']", "%%chat\nhi", "chat_history"),
        ("notes = 'text'", "%%chat -H notes\nhi", "notes"),
    ],
)
def test_a_non_history_value_gives_a_clear_error(
    server: Any, run: Any, shell: Any, setup: str, cell: str, name: str
) -> None:
    ok(run(setup))
    value = shell.user_ns[name]
    ran = run(cell)
    assert isinstance(ran.error, ChatCellError)
    message = str(ran.error)
    assert repr(name) in message
    assert "not a ChatHistory" in message
    assert "Traceback" not in ran.stdout + ran.stderr
    assert server.requests == []
    assert shell.user_ns[name] is value  # left alone
