"""Two writers on one history (the panel's loop thread and a cell), and Ctrl-C at every line of
recording a turn: no IndexError, no lost turn, messages and metadata always aligned."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

import pytest

import lexilux_nb
from lexilux_nb.client.history import ChatHistory
from lexilux_nb.client.models import ChatResult
from lexilux_nb.engine.turn import KEY, Turn
from tests.churn import churning

from .conftest import assert_aligned

COMMITS = 1000  # per thread


def _answer(prompt: str) -> ChatResult:
    return ChatResult(text=f"answer to {prompt}", model="m", finish_reason="stop")


def _commit(history: ChatHistory, prompt: str, key: str | None = None) -> None:
    turn = Turn(prompt, history, key=key)
    assert turn.commit(_answer(prompt), question=prompt)


def test_two_threads_commit_thousands_of_turns_without_losing_one() -> None:
    history = ChatHistory(system="s")
    errors: list[BaseException] = []
    start = threading.Barrier(3)

    def writer(name: str) -> None:
        start.wait()
        try:
            for i in range(COMMITS):
                _commit(history, f"{name}-{i}")
                if i % 100 == 0:  # a keyed re-run replaces its turn in place meanwhile
                    _commit(history, f"{name}-keyed-{i}", key=f"cell-{name}")
        except BaseException as exc:
            errors.append(exc)

    def reader() -> None:  # the panel's refresh: snapshots must always be consistent
        start.wait()
        try:
            while any(t.is_alive() for t in writers):
                messages, meta = history.snapshot()._state  # one read: both lists agree
                assert len(messages) == len(meta)
                if messages and messages[-1]["role"] == "assistant":
                    assert messages[-2]["content"] == meta[-1]["question"]
                history.find_round(**{KEY: "cell-a"})
                len(history.rounds())
        except BaseException as exc:
            errors.append(exc)

    writers = [threading.Thread(target=writer, args=(n,)) for n in "ab"]
    watcher = threading.Thread(target=reader)
    for t in [*writers, watcher]:
        t.start()
    for t in [*writers, watcher]:
        t.join(120)
    assert not errors, errors[0]

    assert_aligned(history)
    users = [m["content"] for m in history if m["role"] == "user"]
    for name in "ab":
        plain = [u for u in users if u.startswith(f"{name}-") and "keyed" not in u]
        assert plain == [f"{name}-{i}" for i in range(COMMITS)]  # every turn, in order, once
        keyed = [u for u in users if u.startswith(f"{name}-keyed-")]
        assert keyed == [f"{name}-keyed-{COMMITS - 1 - (COMMITS - 1) % 100}"]  # replaced in place
    assert len(history) == 2 * len(users)


def test_mutations_from_another_thread_during_reads_never_raise() -> None:
    """pop/clear/splice racing with the readers a view uses (iteration, metadata, repr)."""
    history = ChatHistory()

    def churn() -> None:
        _commit(history, "q")
        history.remove_last_round()
        _commit(history, "q2")
        history.pop()
        history.pop()
        history.clear() if len(history) > 50 else None

    with churning(churn):
        for _ in range(3000):
            snap = history.snapshot()
            for i, _message in enumerate(snap):
                snap.metadata(i)
            repr(history)
            history.statistics()
            list(reversed(history))
            assert_aligned(snap)


# -- Ctrl-C at every line of Turn.commit -------------------------------------------------------

PACKAGE = Path(lexilux_nb.__file__).parent
TRACED = {str(PACKAGE / "client" / name) for name in ("history.py", "models.py", "messages.py")} | {
    str(PACKAGE / "engine" / name) for name in ("turn.py", "watch.py")
}


def _tracer(on_line: Callable[[], None]) -> Callable[..., Any]:
    def local(frame: FrameType, event: str, arg: Any) -> Any:
        if event == "line":
            on_line()
        return local

    def global_(frame: FrameType, event: str, arg: Any) -> Any:
        return local if frame.f_code.co_filename in TRACED else None

    return global_


def _recorded_history() -> ChatHistory:
    history = ChatHistory(system="s")
    for prompt, key in (("first", "c1"), ("second", "c2"), ("third", None)):
        _commit(history, prompt, key)
    return history


def _count_lines(action: Callable[[ChatHistory], None]) -> int:
    history = _recorded_history()
    seen = [0]

    def count() -> None:
        seen[0] += 1

    sys.settrace(_tracer(count))
    try:
        action(history)
    finally:
        sys.settrace(None)
    return seen[0]


ACTIONS: dict[str, Callable[[ChatHistory], None]] = {
    "append": lambda h: _commit(h, "new"),
    "replace in place": lambda h: _commit(h, "new", key="c1"),
}


def _untimed(history: ChatHistory) -> dict[str, Any]:
    data = history.to_dict()
    for meta in data["metadata"]:
        meta.pop("timestamp", None)
    return data


@pytest.mark.parametrize("name", ACTIONS)
def test_an_interrupt_at_any_line_of_a_commit_records_all_or_nothing(name: str) -> None:
    action = ACTIONS[name]
    before = _recorded_history()
    after = _recorded_history()
    action(after)
    lines = _count_lines(action)
    assert lines > 30  # the sweep really walks the code
    outcomes = {"nothing": 0, "all": 0}
    for target in range(1, lines + 1):
        history = _recorded_history()
        seen = [0]

        def interrupt(seen: list[int] = seen, target: int = target) -> None:
            seen[0] += 1
            if seen[0] == target:
                raise KeyboardInterrupt

        sys.settrace(_tracer(interrupt))
        try:
            action(history)
        except KeyboardInterrupt:
            pass
        finally:
            sys.settrace(None)
        assert_aligned(history)
        state = _untimed(history)
        if state == _untimed(before):
            outcomes["nothing"] += 1
        else:
            assert state == _untimed(after), (
                f"half a turn recorded when interrupted at line {target}"
            )
            outcomes["all"] += 1
        _commit(history, "next")  # the history still works afterwards
        assert_aligned(history)
    assert outcomes["nothing"] and outcomes["all"]  # both sides of the swap were reached
