"""The chat panel says what went with a prompt and runs the budget meter, as the cells do: a
prompt over the context window is warned about (and sent) or, with ``budget=refuse``, kept in
the input and not sent. Driven through the widgets' traits against the fake server."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pandas as pd
import pytest

from lexilux_nb import Chat
from lexilux_nb.client import loop_thread
from lexilux_nb.context import budget
from lexilux_nb.notebook.panel import ChatPanel
from lexilux_nb.testing import FakeOpenAIServer, Reply

BIG = "lorem ipsum dolor sit amet " * 400  # over 2,000 tokens by either count


@pytest.fixture(autouse=True)
def _no_cached_windows() -> Iterator[None]:
    budget.forget_windows()
    yield
    budget.forget_windows()


@pytest.fixture
def open_panel(
    shell: Any, make_server: Callable[..., FakeOpenAIServer]
) -> Iterator[Callable[..., tuple[ChatPanel, FakeOpenAIServer]]]:
    """``open_panel(context_window=N, namespace=...)``: a panel on its own reporting server."""
    made: list[tuple[ChatPanel, Chat]] = []

    def make(*, namespace: dict[str, Any] | None = None, **server_options: Any) -> Any:
        server = make_server(**server_options)
        chat = Chat(base_url=server.base_url, model="fake-model", max_retries=0)
        panel = ChatPanel("conv", chat, namespace=namespace if namespace is not None else {})
        made.append((panel, chat))
        return panel, server

    yield make
    for panel, chat in made:
        panel.cancel()
        assert panel.wait(5.0)
        panel.close()
        loop_thread.submit(chat.aclose()).result(timeout=5)


def send(panel: ChatPanel, text: str) -> None:
    panel.input.value = text
    panel.send.click()
    assert panel.wait(10.0), "the panel did not finish"


def chats(server: FakeOpenAIServer) -> list[Any]:
    return [r for r in server.requests if r.path.endswith("/chat/completions")]


def test_an_oversized_prompt_is_warned_about_with_the_window_the_server_reports(
    open_panel: Any,
) -> None:
    panel, server = open_panel(context_window=500)
    server.queue(Reply(text="Short."))
    send(panel, f"Summarise: {BIG}")
    status = panel.status.value
    assert "Budget: this prompt is about" in status and "window of 500" in status
    assert len(chats(server)) == 1  # warned, then sent
    assert "Short." in panel.transcript.value
    assert [r.path for r in server.requests if r.method == "GET"] == ["/v1/models"]
    send(panel, "And now?")  # the history alone is too big now, and the advice is the panel's
    assert "Largest parts: history " in panel.status.value
    assert "Clear the history" in panel.status.value and "--no-history" not in panel.status.value
    panel.clear_history()
    server.queue(Reply(text="Fine."))
    send(panel, "A short one now.")  # fits: the warning is gone, the window not asked again
    assert "Budget" not in panel.status.value and "Fine." in panel.transcript.value
    assert [r.path for r in server.requests if r.method == "GET"] == ["/v1/models"]


def test_budget_refuse_keeps_the_prompt_and_sends_nothing(open_panel: Any, run: Any) -> None:
    assert run("%chat_config budget=refuse context_window=300").error is None
    panel, server = open_panel()
    typed = f"Summarise: {BIG}".strip()
    send(panel, typed)
    assert "not sent: this prompt is about" in panel.status.value
    assert "window of 300" in panel.status.value
    assert chats(server) == []
    assert panel.input.value == typed  # nothing the user typed is lost
    assert panel.live.children == () and len(panel.history) == 0
    assert not panel.running


def test_the_context_sent_is_named_in_the_status_line(open_panel: Any) -> None:
    frame = pd.DataFrame({"port": ["Brest", "Cádiz"], "high": ["06:12", "07:40"]})
    panel, server = open_panel(namespace={"df": frame})
    server.queue(Reply(text="Two ports."))
    send(panel, "Which port is first? {df}")
    assert "Context sent: {df}: DataFrame" in panel.status.value
    sent = chats(server)[-1].messages[-1]["content"]
    assert "| Brest | 06:12 |" in sent  # the description went, not the repr
    send(panel, "Thanks.")  # plain text: no context line
    assert "Context sent" not in panel.status.value
