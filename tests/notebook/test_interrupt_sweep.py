"""Ctrl-C at every line of the engine and the view code, and the story always adds up.

A first run of a streamed ``%%chat`` records every line the engine and the views execute. Then,
for each of those lines, the same cell runs again and, when that line is reached, SIGINT is
raised the way Ctrl-C or Jupyter's stop button raise it (``signal.raise_signal``: the handler
in force decides, exactly as for a real interrupt). After each run: the history (messages and
metadata aligned), ``_chat``, the cell's output and outcome agree; no answer is still being
streamed by the server; and the next cell works.
"""

from __future__ import annotations

import signal
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import pytest

import lexilux_nb
from lexilux_nb import ChatHistory, ChatResult
from lexilux_nb.testing import FakeOpenAIServer, Reply

PACKAGE = Path(lexilux_nb.__file__).parent
TRACED = {
    str(PACKAGE / "engine" / name)
    for name in ("run.py", "turn.py", "outcome.py", "interrupts.py", "watch.py")
} | {
    str(PACKAGE / "notebook" / name)
    for name in ("views.py", "live.py", "progress.py", "render.py", "magics.py", "interpolate.py")
}


def _guard_lines() -> set[Line]:
    """The lines that open each chat magic, up to its ``try:``: an interrupt there comes before
    any of our code can take it (IPython then shows its usual traceback; nothing was done yet)."""
    import inspect

    from lexilux_nb.notebook.magics import ChatMagics

    found = set()
    for magic in (ChatMagics.chat, ChatMagics.chat_complete):
        source, start = inspect.getsourcelines(magic)
        body = next(i for i, text in enumerate(source) if text.strip().startswith('"""'))
        guard = next(i for i, text in enumerate(source) if text.strip().startswith("try:"))
        filename = inspect.getsourcefile(magic) or ""
        found |= {(filename, start + i) for i in range(body + 1, guard + 1)}
    return found


ANSWER = "Tides rise and fall.\n\nThe moon pulls the sea, **twice** a day.\n\n- high\n- low\n"
Line = tuple[str, int]


def _tracer(on_line: Callable[[Line], None]) -> Callable[..., Any]:
    def local(frame: FrameType, event: str, arg: Any) -> Any:
        if event == "line":
            on_line((frame.f_code.co_filename, frame.f_lineno))
        return local

    def global_(frame: FrameType, event: str, arg: Any) -> Any:
        if frame.f_code.co_name == "<module>":  # a lazy import runs once per process
            return None
        return local if frame.f_code.co_filename in TRACED else None

    return global_


def traced_lines(run: Callable[[str], Any]) -> list[Line]:
    seen: dict[Line, None] = {}
    sys.settrace(_tracer(lambda line: seen.setdefault(line, None)))
    try:
        ran = run("%%chat\nTell me about tides.")
    finally:
        sys.settrace(None)
    assert ran.error is None, ran.error
    guards = _guard_lines()
    assert guards & set(seen), "the guard lines moved: update _guard_lines"
    return [line for line in seen if line not in guards]


def run_interrupted_at(run: Callable[[str], Any], target: Line) -> tuple[Any, bool]:
    fired: list[bool] = []

    def on_line(line: Line) -> None:
        if line == target and not fired:
            fired.append(True)
            signal.raise_signal(signal.SIGINT)

    sys.settrace(_tracer(on_line))
    try:
        ran = run("%%chat\nTell me about tides.")
    finally:
        sys.settrace(None)
    return ran, bool(fired)  # a line run only once per process (a cache filled) is not reached


@pytest.fixture
def sweep_server(server: FakeOpenAIServer) -> Iterator[FakeOpenAIServer]:
    server.default = lambda request: (
        Reply(text=ANSWER, delay=0.001)
        if "tides" in request.last_user_text
        else Reply(text="Noted.")
    )
    yield server


def _wait_until_no_stream(server: FakeOpenAIServer) -> None:
    deadline = time.monotonic() + 3
    while server.streaming:
        assert time.monotonic() < deadline, "the server is still streaming an answer"
        time.sleep(0.005)


def check(ran: Any, shell: Any, before: ChatHistory, sentinel: ChatResult, where: Line) -> None:
    history: ChatHistory = shell.user_ns["chat_history"]
    data = history.to_dict()
    assert len(data["messages"]) == len(data["metadata"]), where
    result = shell.user_ns["_chat"]
    answers = [b for b in ran.bundles if {"text/html", "text/markdown", "text/plain"} <= set(b)]
    if ran.error is None:  # the turn completed: recorded, bound and shown whole
        assert len(history) == len(before) + 2, where
        assert history[: len(before)] == before, where
        assert history[-1]["content"] == ANSWER and history[-2]["content"] == "Tell me about tides."
        assert history.metadata(-1)["interrupted"] is False
        assert result is not sentinel and result.text == ANSWER and not result.interrupted
        assert len(answers) == 1 and answers[0]["text/plain"] == ANSWER, where
        return
    assert isinstance(ran.error, KeyboardInterrupt), (where, ran.error)
    assert history == before, where  # a cell keeps a stopped answer in _chat, not the history
    assert "Traceback" not in ran.stdout + ran.stderr, where
    if result is sentinel:  # stopped before anything arrived
        assert all(not b["text/plain"] for b in answers), where
        return
    assert result.interrupted is True and ANSWER.startswith(result.text), where
    assert len(answers) <= 1, where
    if answers:
        assert answers[0]["text/plain"] == result.text, where


def test_an_interrupt_at_any_line_leaves_everything_consistent(
    sweep_server: FakeOpenAIServer, run: Any, shell: Any, kernel: Any
) -> None:
    lines = traced_lines(run)
    assert len(lines) > 100  # the engine, its interrupt guard and the views were all traced
    assert any(f.endswith("run.py") for f, _ in lines)
    assert any(f.endswith("views.py") for f, _ in lines)
    outcomes = {"completed": 0, "interrupted": 0, "not reached": 0}
    missed: list[Line] = []
    for i, target in enumerate(lines):
        history = ChatHistory().add_user("before").add_assistant("Noted.")
        sentinel = ChatResult(text="earlier answer")
        shell.user_ns["chat_history"] = history
        shell.user_ns["_chat"] = sentinel
        kernel.cell_id = f"sweep-{i}"
        before = history.clone()
        ran, reached = run_interrupted_at(run, target)
        check(ran, shell, before, sentinel, target)
        kind = "completed" if ran.error is None else "interrupted"
        outcomes[kind if reached else "not reached"] += 1
        if not reached:
            missed.append(target)
        _wait_until_no_stream(sweep_server)
        follow = run("%%chat\nAnd then?")  # the next cell works, on the same client
        assert follow.error is None, (target, follow.error)
        assert shell.user_ns["chat_history"][-1]["content"] == "Noted."
    assert outcomes["interrupted"] > 10 and outcomes["completed"] > 10, outcomes
    assert outcomes["not reached"] <= len(lines) // 20, (outcomes, missed[:20])


def test_a_second_interrupt_during_cleanup_still_closes_the_stream(
    server: FakeOpenAIServer, run: Any, shell: Any, kernel: Any
) -> None:
    """Ctrl-C twice: the first while the answer streams (from another thread, as a signal
    arrives), the second on each line the engine runs after it, in turn."""
    import _thread
    import inspect
    import threading

    from lexilux_nb.engine import Engine
    from lexilux_nb.notebook.views import WidgetView

    long = Reply(text=" ".join(f"w{i}" for i in range(300)), delay=0.01)
    quick = Reply(text="Yes.")
    server.default = lambda request: long if "Talk" in request.last_user_text else quick
    run_py = str(PACKAGE / "engine" / "run.py")
    _, chunk_start = inspect.getsourcelines(WidgetView.chunk)
    chunk_line = (str(PACKAGE / "notebook" / "views.py"), chunk_start + 1)  # a chunk arrived
    source, start = inspect.getsourcelines(Engine.run)
    handler = start + next(i for i, t in enumerate(source) if "except KeyboardInterrupt" in t)

    def interrupt_twice(second_at: int | None) -> tuple[Any, list[int]]:
        first = threading.Event()
        after_first: list[int] = []

        def on_line(line: Line) -> None:
            if line == chunk_line and not timer.is_alive() and not first.is_set():
                timer.start()  # the answer has started: stop it a little later
            if line == (run_py, handler):  # the first Ctrl-C has been delivered
                after_first.append(line[1])
            elif after_first and line[0] == run_py:
                after_first.append(line[1])
                if line[1] == second_at and after_first.count(second_at) == 1:
                    signal.raise_signal(signal.SIGINT)

        def interrupt() -> None:
            first.set()
            _thread.interrupt_main()

        timer = threading.Timer(0.1, interrupt)
        sys.settrace(_tracer(on_line))
        try:
            ran = run("%%chat --no-history\nTalk for a while.")
        finally:
            sys.settrace(None)
            timer.join()
        return ran, after_first

    ran, handling = interrupt_twice(None)
    assert isinstance(ran.error, KeyboardInterrupt) and len(set(handling)) > 5, handling
    for second in dict.fromkeys(handling):
        ran, _ = interrupt_twice(second)
        assert isinstance(ran.error, KeyboardInterrupt), (second, ran.error)
        _wait_until_no_stream(server)  # the connection was closed: the server stopped writing
        assert run("%%chat --no-history\nStill there?").error is None, second
