# ruff: noqa: F811  (pytest fixtures imported from test_panel)
"""The panel while its history changes under it: a cell clears, pops, replaces or rebinds the
history during a refresh or a running turn. Send comes back, the state adds up, nothing escapes
into the loop."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from typing import Any

import pytest

from lexilux_nb import Chat, ChatHistory
from lexilux_nb.testing import Reply
from tests.churn import churning

from .test_panel import (  # noqa: F401  (fixtures)
    DONE,
    SLOW,
    Tags,
    ask,
    chat,
    close_chat,
    make_panel,
    panels,
    send,
    wait_for,
)


def _aligned(history: ChatHistory) -> None:
    data = history.to_dict()
    assert len(data["messages"]) == len(data["metadata"])


def _shown(panel: Any) -> str:
    return "".join(Tags(panel.transcript.value).text)


CHANGES: dict[str, Callable[[dict[str, Any]], None]] = {
    "clear": lambda ns: ns["conv"].clear(),
    "pop": lambda ns: ns["conv"].remove_last_round(),
    "replace": lambda ns: ns["conv"].splice(0, len(ns["conv"]), ChatHistory().add_user("other")),
    "rebind": lambda ns: ns.__setitem__("conv", ChatHistory().add_user("rebound")),
    "rebind to junk": lambda ns: ns.__setitem__("conv", 42),
}


@pytest.mark.parametrize("change", CHANGES)
def test_a_change_during_a_running_turn(make_panel: Any, make_server: Any, change: str) -> None:
    own = make_server()
    own.queue(Reply(chunks=SLOW[:40], delay=0.01))
    chat_ = Chat(base_url=own.base_url, model="m", max_retries=0)
    try:
        ns: dict[str, Any] = {"conv": ChatHistory().add_user("q0").add_assistant("a0")}
        panel = make_panel("conv", namespace=ns, chat_=chat_)
        send(panel, "long one")
        wait_for(lambda: "w3" in panel.live_html, "the answer to stream")
        worker = threading.Thread(target=CHANGES[change], args=(ns,))  # a cell, meanwhile
        worker.start()
        worker.join(DONE)
        assert panel.wait(DONE), "the panel never finished its turn"
        assert not panel.running and not panel.send.disabled and panel.stop.disabled
        if change == "rebind to junk":
            panel.refresh_button.click()
            assert "not a ChatHistory" in panel.status.value
            ns["conv"] = ChatHistory()
        history = ns["conv"]
        _aligned(history)
        panel.refresh_button.click()  # the transcript shows exactly the history now
        assert panel.transcript.value == panel._render.history(history)
        own.queue(Reply(text="and then"))
        ask(panel, "next")  # Send works again and records into the current history
        assert [m["content"] for m in ns["conv"]][-2:] == ["next", "and then"]
        assert "and then" in _shown(panel)
    finally:
        close_chat(chat_)


def test_refreshes_while_another_thread_churns_the_history(make_panel: Any) -> None:
    ns: dict[str, Any] = {"conv": ChatHistory()}
    panel = make_panel("conv", namespace=ns)
    counter = itertools.count(1)

    def churn() -> None:  # every change also notifies the panel (history_changed -> refresh)
        from lexilux_nb.client.models import ChatResult
        from lexilux_nb.engine import Turn

        i = next(counter)
        Turn(f"q{i}", ns["conv"], key=f"k{i % 3}").commit(ChatResult(text=f"a{i}"))
        if i % 7 == 0:
            ns["conv"].clear()
        if i % 11 == 0:
            ns["conv"].remove_last_round()

    with churning(churn, DONE):
        for _ in range(300):
            panel.refresh_button.click()
            assert "rror" not in panel.status.value
    _aligned(ns["conv"])
    panel.refresh_button.click()
    assert panel.transcript.value == panel._render.history(ns["conv"])
    assert not panel.running and not panel.send.disabled


def test_clear_and_undo_during_churn_keep_the_history_aligned(make_panel: Any) -> None:
    ns: dict[str, Any] = {"conv": ChatHistory().add_user("q").add_assistant("a")}
    panel = make_panel("conv", namespace=ns)
    with churning(lambda: ns["conv"].add_user("u").add_assistant("v"), DONE):
        for _ in range(100):
            panel.clear.click()
            panel.undo.click()
            _aligned(ns["conv"])
    assert not panel.send.disabled
