"""``ChatPanel`` and ``%chat_panel``: a chat box on the notebook's ``ChatHistory``.

Every request goes over HTTP to :class:`FakeOpenAIServer` on 127.0.0.1 and runs on the panel's
background loop thread; tests drive the widgets (``send.click()``, ``stop.click()``) and read
their trait values, and wait with ``panel.wait()``, never with fixed sleeps.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterator
from html.parser import HTMLParser
from typing import Any

import ipywidgets as widgets
import pytest
from IPython.core.interactiveshell import InteractiveShell

import lexilux_nb
from lexilux_nb import Chat, ChatHistory, ValidationError
from lexilux_nb.client import loop_thread
from lexilux_nb.notebook.panel import ChatPanel
from lexilux_nb.testing import FakeOpenAIServer, Reply

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
SLOW = [f"w{i} " for i in range(200)]  # 200 pieces, 4 s at 0.02 s each: always stopped early
LONG = " ".join(f"word{i}" for i in range(23)) + "."  # 23 "tokens": 5 rounds at max_tokens=5
DONE = 5.0  # generous upper bound for an answer that should finish at once


# -- helpers and fixtures -----------------------------------------------------------------------


def close_chat(chat: Chat) -> None:
    """Close the chat's async client on the loop that made it, then the rest."""
    loop_thread.submit(chat.aclose()).result(timeout=5)


@pytest.fixture
def chat(server: FakeOpenAIServer) -> Iterator[Chat]:
    made = Chat(base_url=server.base_url, model="m", max_retries=0)
    yield made
    close_chat(made)


@pytest.fixture
def panels() -> Iterator[list[ChatPanel]]:
    """Panels made by a test; each is stopped, waited for and closed afterwards."""
    made: list[ChatPanel] = []
    yield made
    for panel in made:
        panel.cancel()
        assert panel.wait(DONE), "a panel was still running at the end of the test"
        panel.close()


@pytest.fixture
def make_panel(chat: Chat, panels: list[ChatPanel]) -> Callable[..., ChatPanel]:
    """``make_panel(history="conv", namespace=ns, **options)``; by default ``conv`` in a dict."""

    def make(
        history: ChatHistory | str | None = "conv",
        *,
        namespace: dict[str, Any] | None = None,
        chat_: Chat | None = None,
        **options: Any,
    ) -> ChatPanel:
        panel = ChatPanel(
            history,
            chat_ or chat,
            namespace=namespace if namespace is not None else {},
            **options,
        )
        panels.append(panel)
        return panel

    return make


def send(panel: ChatPanel, text: str) -> None:
    panel.input.value = text
    panel.send.click()


def ask(panel: ChatPanel, text: str) -> None:
    """Send and wait for the answer to finish."""
    send(panel, text)
    assert panel.wait(DONE), f"no answer within {DONE} s; status: {panel.status.value}"


def wait_for(condition: Callable[[], bool], what: str, timeout: float = DONE) -> None:
    """Poll (briefly sleeping, the thread stays free) until ``condition()`` holds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.005)


def record(widget: Any, name: str = "value") -> list[Any]:
    """Every value the trait takes from now on (whatever thread sets it)."""
    values: list[Any] = []
    widget.observe(lambda change: values.append(change["new"]), names=name)
    return values


def texts(history: ChatHistory) -> list[tuple[str, str]]:
    return [(m["role"], m["content"]) for m in history]


def chat_messages(request: Any) -> list[tuple[str, str]]:
    return [(m["role"], m["content"]) for m in request.messages]


class Tags(HTMLParser):
    """Every start tag with its attributes, and the text, of an HTML fragment."""

    def __init__(self, markup: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.text: list[str] = []
        self.feed(markup)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {k: v or "" for k, v in attrs}))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def named(self, tag: str) -> list[dict[str, str]]:
        return [attrs for name, attrs in self.tags if name == tag]


def assert_inert(markup: str) -> None:
    parsed = Tags(markup)
    names = {name for name, _ in parsed.tags}
    assert not names & {"script", "img", "iframe", "object", "embed", "svg", "form"}, names
    for name, attrs in parsed.tags:
        for key, value in attrs.items():
            assert not key.startswith("on"), (name, key, value)
            assert "javascript:" not in value.replace(" ", "").lower(), (name, key, value)


def all_widgets(root: Any) -> list[Any]:
    found = [root]
    for child in getattr(root, "children", ()):
        found += all_widgets(child)
    return found


# -- building the panel -------------------------------------------------------------------------


def test_the_panel_has_every_control(make_panel: Any) -> None:
    panel = make_panel()
    shown = all_widgets(panel)
    assert isinstance(panel, widgets.VBox)
    assert isinstance(panel.transcript, widgets.HTML)
    assert isinstance(panel.live, widgets.VBox) and panel.live_html == ""
    assert isinstance(panel.input, widgets.Textarea)  # multi-line
    assert isinstance(panel.status, widgets.HTML)
    assert isinstance(panel.progress.bar, widgets.IntProgress)
    assert isinstance(panel.auto_continue.value, bool) and panel.auto_continue.value is False
    buttons = {panel.send: "Send", panel.stop: "Stop", panel.clear: "Clear"}
    for button, label in buttons.items():
        assert isinstance(button, widgets.Button) and button.description == label
    for part in [
        panel.transcript,
        panel.live,
        panel.input,
        panel.status,
        panel.progress.bar,
        panel.progress.label,
        panel.auto_continue,
        panel.refresh_button,
        *buttons,
    ]:
        assert any(part is w for w in shown), part
    assert not panel.running and panel.send.disabled is False and panel.stop.disabled is True
    assert "No messages yet" in panel.transcript.value
    assert "m · conv" in panel.status.value


def test_chatpanel_is_exported_lazily() -> None:
    assert lexilux_nb.ChatPanel is ChatPanel
    assert "ChatPanel" in lexilux_nb.__all__


def test_the_history_is_a_namespace_variable_created_on_demand(
    make_panel: Any, server: FakeOpenAIServer
) -> None:
    ns: dict[str, Any] = {}
    panel = make_panel(None, namespace=ns)
    assert isinstance(ns["chat_history"], ChatHistory) and panel.history is ns["chat_history"]
    named = make_panel("conv", namespace=ns)
    assert named.history is ns["conv"] and ns["conv"] is not ns["chat_history"]
    ask(named, "hi")
    assert texts(ns["conv"]) == [("user", "hi"), ("assistant", "Echo: hi")]
    assert len(ns["chat_history"]) == 0


def test_a_history_object_is_used_as_is(make_panel: Any) -> None:
    history = ChatHistory(system="Be brief.")
    panel = make_panel(history)
    ask(panel, "hello")
    assert panel.history is history
    assert texts(history) == [("user", "hello"), ("assistant", "Echo: hello")]


def test_without_a_shell_or_namespace_the_panel_has_its_own_history(
    chat: Chat, panels: list[ChatPanel]
) -> None:
    InteractiveShell.clear_instance()  # as after the ``shell`` fixture: get_ipython() is None
    panel = ChatPanel(chat=chat)
    panels.append(panel)
    assert isinstance(panel.history, ChatHistory) and panel.history_label == "(own history)"
    ask(panel, "solo")
    assert texts(panel.history) == [("user", "solo"), ("assistant", "Echo: solo")]


@pytest.mark.filterwarnings("error::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.parametrize(
    "options",
    [{"temperature": 5}, {"top_p": 2}, {"max_tokens": -1}, {"no_such_option": 1}],
)
def test_bad_options_fail_at_construction(
    chat: Chat, server: FakeOpenAIServer, options: dict[str, Any]
) -> None:
    with pytest.raises(ValidationError):
        ChatPanel("conv", chat, namespace={}, **options)
    assert server.requests == []
    gc.collect()  # the half-built widget is closed quietly (no "Exception ignored in __del__")


def test_a_variable_that_is_not_a_history_fails_at_construction(chat: Chat) -> None:
    with pytest.raises(ValidationError, match="not a ChatHistory"):
        ChatPanel("conv", chat, namespace={"conv": 42})


# -- the transcript -----------------------------------------------------------------------------


def test_turns_are_rendered_markdown_with_reasoning_collapsed(
    make_panel: Any, server: FakeOpenAIServer
) -> None:
    server.queue(Reply(text="Hello **world**", reasoning="I should *greet*."))
    panel = make_panel()
    ask(panel, "say `hi`")
    page = Tags(panel.transcript.value)
    shown = "".join(page.text)
    assert "You" in shown and "Assistant" in shown
    assert "<strong>world</strong>" in panel.transcript.value
    assert "<code>hi</code>" in panel.transcript.value
    details = page.named("details")
    assert len(details) == 1 and "open" not in details[0]  # collapsed
    reasoning = panel.transcript.value.split('<details class="lexilux-reasoning">', 1)[1].split(
        "</details>", 1
    )[0]
    assert "<summary>Reasoning</summary>" in reasoning and "<em>greet</em>" in reasoning
    assert panel.live_html == ""  # the finished answer moved to the transcript
    assert panel.history.metadata(-1)["reasoning"] == "I should *greet*."
    shown = "".join(Tags(panel.transcript.value).text)
    footer = shown.rsplit("Hello", 1)[1]  # one footer, under the answer: model, tokens, ending
    assert "m · " in footer and "tokens" in footer and footer.endswith("complete")
    assert shown.count("tokens") == 1 and "tokens" not in panel.status.value


EVIL = (
    "<img src=x onerror=alert(1)> <script>alert(2)</script> "
    '[a](javascript:alert(3)) <a href="javascript:alert(4)">b</a> '
    "<iframe src=javascript:alert(5)></iframe> <b onclick=alert(6)>bold</b>"
)
EVIL_PROMPT = "<script>alert(7)</script><img src=x onerror=alert(8)>"


def test_model_output_and_user_input_are_inert(
    make_panel: Any, server: FakeOpenAIServer, comm_messages: list[Any]
) -> None:
    server.queue(Reply(text=EVIL, reasoning="<script>alert(9)</script>", delay=0.001))
    panel = make_panel()
    ask(panel, EVIL_PROMPT)
    live = [m.custom for m in comm_messages if m.custom is not None]
    assert live  # the streamed answer went through the live widget
    pieces = [p for m in live for s in m.values() if isinstance(s, dict) for p in s.values()]
    for value in [*(p for p in pieces if isinstance(p, str)), panel.transcript.value]:
        assert_inert(value)
    text = "".join(Tags(panel.transcript.value).text)
    assert "alert(1)" in text and "alert(7)" in text and "alert(9)" in text  # shown, as text


def test_a_partial_answer_left_in_the_live_view_is_inert(
    make_panel: Any, server: FakeOpenAIServer
) -> None:
    """A cut stream leaves everything that arrived, rendered in full, in ``live``."""
    server.queue(Reply(text=EVIL, reasoning="<script>alert(9)</script>", cut_after=1000))
    panel = make_panel()
    ask(panel, EVIL_PROMPT)
    assert "#b91c1c" in panel.status.value and len(panel.history) == 0
    text = "".join(Tags(panel.live_html).text)
    assert "alert(1)" in text and "alert(7)" in text
    assert_inert(panel.live_html)


# -- sharing the history with %%chat and with other panels ---------------------------------------


def test_a_turn_made_in_a_cell_appears_in_the_panel(
    shell: Any, run: Any, make_panel: Any, server: FakeOpenAIServer
) -> None:
    panel = make_panel("conv", namespace=shell.user_ns)
    ran = run("%%chat -H conv\nfrom the cell")
    assert ran.error is None, ran.error
    assert "Echo: from the cell" in panel.transcript.value  # no refresh needed
    assert "from the cell" in panel.transcript.value


def test_a_turn_made_in_the_panel_is_sent_by_the_next_cell(
    shell: Any, run: Any, make_panel: Any, server: FakeOpenAIServer
) -> None:
    panel = make_panel("conv", namespace=shell.user_ns)
    ask(panel, "from the panel")
    assert run("%%chat -H conv\nand from the cell").error is None
    assert chat_messages(server.requests[-1]) == [
        ("user", "from the panel"),
        ("assistant", "Echo: from the panel"),
        ("user", "and from the cell"),
    ]
    assert texts(shell.user_ns["conv"])[-1] == ("assistant", "Echo: and from the cell")
    assert "Echo: and from the cell" in panel.transcript.value


def test_two_panels_on_one_history_stay_consistent(
    make_panel: Any, server: FakeOpenAIServer
) -> None:
    ns: dict[str, Any] = {}
    first, second = make_panel("conv", namespace=ns), make_panel("conv", namespace=ns)
    ask(first, "one")
    assert "Echo: one" in second.transcript.value
    assert second.transcript.value == first.transcript.value
    ask(second, "two")
    assert chat_messages(server.requests[-1])[:2] == [("user", "one"), ("assistant", "Echo: one")]
    assert "Echo: two" in first.transcript.value
    assert first.transcript.value == second.transcript.value
    assert len(ns["conv"]) == 4


def test_the_panel_follows_a_rebound_variable(
    shell: Any, run: Any, make_panel: Any, server: FakeOpenAIServer
) -> None:
    ns = shell.user_ns
    panel = make_panel("conv", namespace=ns)
    ask(panel, "old turn")
    old = ns["conv"]
    new = ns["conv"] = ChatHistory(system="Be new.")
    new.add_user("earlier question").add_assistant("earlier answer")
    panel.refresh_button.click()
    assert "earlier answer" in panel.transcript.value
    assert "old turn" not in panel.transcript.value
    ask(panel, "next")
    assert chat_messages(server.requests[-1]) == [
        ("system", "Be new."),
        ("user", "earlier question"),
        ("assistant", "earlier answer"),
        ("user", "next"),
    ]
    assert len(new) == 4 and len(old) == 2
    assert run("%%chat -H conv\nfrom a cell").error is None
    assert "Echo: from a cell" in panel.transcript.value  # it now watches the new history
    assert len(old) == 2


def test_a_send_picks_up_a_rebound_variable_without_refresh(
    make_panel: Any, server: FakeOpenAIServer
) -> None:
    ns: dict[str, Any] = {}
    panel = make_panel("conv", namespace=ns)
    ns["conv"] = ChatHistory().add_user("q0").add_assistant("a0")
    ask(panel, "q1")
    assert chat_messages(server.requests[-1])[:2] == [("user", "q0"), ("assistant", "a0")]
    assert "a0" in panel.transcript.value and "Echo: q1" in panel.transcript.value


def test_a_variable_rebound_to_something_else_is_reported_in_the_panel(
    make_panel: Any, server: FakeOpenAIServer
) -> None:
    ns: dict[str, Any] = {}
    panel = make_panel("conv", namespace=ns)
    ns["conv"] = "not a history"
    send(panel, "hello")
    assert not panel.running and server.requests == []
    assert "not a ChatHistory" in panel.status.value
    assert panel.input.value == "hello"  # nothing typed is lost


def test_a_broken_panel_never_breaks_the_turn_that_notifies_it(
    shell: Any, run: Any, make_panel: Any, server: FakeOpenAIServer
) -> None:
    """A panel whose variable was rebound to a non-history is told about changes to the history
    it watched; its problem must not turn a cell's (or another panel's) good turn into an error."""
    ns = shell.user_ns
    broken = make_panel("conv", namespace=ns)
    ns["keep"] = ns["conv"]
    ns["conv"] = 42
    ran = run("%%chat -H keep\nstill fine")
    assert ran.error is None, ran.error
    assert texts(ns["keep"])[-1] == ("assistant", "Echo: still fine")
    assert "not a ChatHistory" in broken.status.value
    other = make_panel(ns["keep"], namespace=ns)
    ask(other, "also fine")
    assert not other.running and "Echo: also fine" in other.transcript.value
    assert "error" not in other.status.value.lower()


# -- streaming in the background, and Stop -----------------------------------------------------


def test_send_returns_at_once_and_the_answer_streams_while_the_thread_sleeps(
    make_panel: Any, server: FakeOpenAIServer
) -> None:
    server.queue(Reply(chunks=SLOW, delay=0.02))
    panel = make_panel()
    send(panel, "stream please")
    assert panel.running and panel.send.disabled and not panel.stop.disabled
    assert panel.input.value == ""
    assert "stream please" in panel.live_html  # the question is shown at once
    live: list[str] = []

    def grew() -> bool:
        if not live or live[-1] != panel.live_html:
            live.append(panel.live_html)
        return len(live) >= 4

    wait_for(grew, "several live updates")  # this thread only sleeps
    assert panel.running  # still streaming: 200 pieces take 4 s
    assert any("w2" in v for v in live)
    panel.stop.click()
    assert panel.wait(0.5)


def test_stop_cancels_within_half_a_second_and_keeps_the_partial_marked_interrupted(
    make_panel: Any, make_server: Any
) -> None:
    own = make_server()
    own.queue(Reply(chunks=SLOW, delay=0.02))
    chat = Chat(base_url=own.base_url, model="m", max_retries=0)
    try:
        ns: dict[str, Any] = {"conv": ChatHistory().add_user("q0").add_assistant("a0")}
        panel = make_panel("conv", namespace=ns, chat_=chat)
        send(panel, "tell me everything")
        wait_for(lambda: "w3" in panel.live_html, "the answer to start streaming")
        assert own.streaming == 1
        panel.stop.click()
        assert panel.wait(0.5), "Stop did not end the request within 0.5 s"
        assert not panel.running and panel.stop.disabled and not panel.send.disabled
        assert panel.live_html == ""  # the stopped answer is in the transcript, not lost
        shown = "".join(Tags(panel.transcript.value).text)
        assert "tell me everything" in shown and "w3" in shown and "w199" not in shown
        assert shown.endswith("stopped") and shown.count("stopped") == 1  # its one footer
        assert "kept in the history, marked interrupted" in panel.status.value
        (user, partial) = texts(ns["conv"])[2:]
        assert user == ("user", "tell me everything") and partial[1].startswith("w0 w1 w2 w3")
        assert ns["conv"].metadata(3)["interrupted"] is True
        # the server saw the connection end (its handler finished long before the 4 s stream)
        wait_for(lambda: not own.streaming, "the server to see the connection close")
        own.queue(Reply(text="right away"))
        ask(panel, "next")
        assert texts(ns["conv"])[-2:] == [("user", "next"), ("assistant", "right away")]
        sent = chat_messages(own.requests[-1])
        assert sent[:3] == [("user", "q0"), ("assistant", "a0"), ("user", "tell me everything")]
        assert sent[3][1] == partial[1] and sent[4] == ("user", "next")
    finally:
        close_chat(chat)


def test_stop_right_after_send_sends_nothing(make_panel: Any, server: FakeOpenAIServer) -> None:
    """Stop is enabled as soon as Send is clicked, before the request has started."""
    server.default = Reply(chunks=SLOW[:50], delay=0.01, latency=0.5)  # Stop beats the first word
    panel = make_panel()
    for _ in range(5):
        send(panel, "never mind")
        panel.stop.click()
        assert panel.wait(0.5)
        assert "stopped" in panel.status.value
        assert len(panel.history) == 0  # nothing had arrived: nothing to keep
    ask(panel, "now then")
    assert texts(panel.history)[0] == ("user", "now then")


def test_stop_twice_and_stop_when_idle_are_harmless(
    make_panel: Any, server: FakeOpenAIServer
) -> None:
    panel = make_panel()
    panel.stop.click()  # nothing running
    panel.cancel()
    assert not panel.running
    server.queue(Reply(chunks=SLOW, delay=0.01))
    send(panel, "go")
    wait_for(lambda: "w1" in panel.live_html, "streaming")
    panel.stop.click()
    panel.cancel()
    assert panel.wait(0.5)
    assert "stopped" in panel.status.value and len(panel.history) == 2  # kept once
    assert panel.history.metadata(1)["interrupted"] is True
    ask(panel, "again")
    assert texts(panel.history)[2:] == [("user", "again"), ("assistant", "Echo: again")]


# -- errors -------------------------------------------------------------------------------------


def test_errors_show_in_the_panel_with_the_key_masked(make_panel: Any, make_server: Any) -> None:
    secret = "sk-wrong-SECRET-123456789"
    guarded = make_server(api_key="sk-right")
    chat = Chat(base_url=guarded.base_url, api_key=secret, model="m", max_retries=0)
    try:
        history = ChatHistory().add_user("q0").add_assistant("a0")
        panel = make_panel(history, chat_=chat)
        ask(panel, "what is 2+2?")
        status = "".join(Tags(panel.status.value).text)
        assert "401" in status or "AuthenticationError" in status, status
        assert "#b91c1c" in panel.status.value  # shown as an error
        for shown in (panel.status.value, panel.live_html, panel.transcript.value):
            assert secret not in shown and "SECRET-123456789" not in shown
        assert panel.input.value == "what is 2+2?"  # the text typed is back
        assert texts(history) == [("user", "q0"), ("assistant", "a0")]
        assert not panel.running and not panel.send.disabled and panel.stop.disabled
        assert len(guarded.requests) == 1  # max_retries=0: one attempt
        guarded.api_key = None  # the problem is fixed: the panel works again
        guarded.queue(Reply(text="4"))
        panel.send.click()  # the restored input is sent as is
        assert panel.wait(DONE)
        assert texts(history)[-2:] == [("user", "what is 2+2?"), ("assistant", "4")]
        assert "#b91c1c" not in panel.status.value and "tokens" in panel.transcript.value
    finally:
        close_chat(chat)


def test_a_stream_cut_midway_is_an_error_that_records_nothing(
    make_panel: Any, server: FakeOpenAIServer
) -> None:
    server.queue(Reply(text="one two three four five six", cut_after=3))
    panel = make_panel()
    ask(panel, "count")
    assert "#b91c1c" in panel.status.value
    assert "one two" in "".join(Tags(panel.live_html).text)  # the partial text stays visible
    assert len(panel.history) == 0 and panel.input.value == "count"
    ask(panel, "count")
    assert texts(panel.history) == [("user", "count"), ("assistant", "Echo: count")]


def test_an_unreachable_server_is_reported_not_raised(make_panel: Any, make_server: Any) -> None:
    gone = make_server()
    url = gone.base_url
    gone.stop()
    chat = Chat(base_url=url, model="m", max_retries=0, timeout_s=2)
    try:
        panel = make_panel(chat_=chat)
        ask(panel, "anyone?")
        assert "#b91c1c" in panel.status.value and panel.input.value == "anyone?"
        assert len(panel.history) == 0 and not panel.running
    finally:
        close_chat(chat)


# -- Send and Clear ------------------------------------------------------------------------------


def test_send_is_disabled_while_running_so_a_double_click_sends_once(
    make_panel: Any, server: FakeOpenAIServer
) -> None:
    server.queue(Reply(text="only once", latency=0.3))
    panel = make_panel()
    send(panel, "first")
    assert panel.send.disabled
    send(panel, "second")  # a second click while the first runs
    panel.send.click()
    assert panel.wait(DONE)
    assert len(server.requests) == 1 and server.requests[0].last_user_text == "first"
    assert texts(panel.history) == [("user", "first"), ("assistant", "only once")]
    assert panel.input.value == "second"  # not sent, not lost


@pytest.mark.parametrize("text", ["", "   ", "\n\t  \n"])
def test_empty_input_does_nothing(make_panel: Any, server: FakeOpenAIServer, text: str) -> None:
    panel = make_panel()
    before = (panel.status.value, panel.live_html, panel.transcript.value)
    send(panel, text)
    assert not panel.running and panel.wait(0)
    assert (panel.status.value, panel.live_html, panel.transcript.value) == before
    assert server.requests == [] and len(panel.history) == 0


def test_the_prompt_is_sent_stripped(make_panel: Any, server: FakeOpenAIServer) -> None:
    panel = make_panel()
    ask(panel, "  line one\nline two \n\n")
    assert server.requests[-1].last_user_text == "line one\nline two"


def test_clear_empties_the_history_but_keeps_the_system_prompt(
    make_panel: Any, server: FakeOpenAIServer
) -> None:
    ns: dict[str, Any] = {"conv": ChatHistory(system="Be kind.")}
    panel, other = make_panel("conv", namespace=ns), make_panel("conv", namespace=ns)
    ask(panel, "hello")
    assert len(ns["conv"]) == 2
    panel.clear.click()
    assert len(ns["conv"]) == 0 and ns["conv"].system == "Be kind."
    for shown in (panel, other):  # every panel on the history shows it empty
        assert "No messages yet" in shown.transcript.value
        assert "hello" not in shown.transcript.value
    assert panel.live_html == ""
    ask(panel, "again")
    assert chat_messages(server.requests[-1]) == [("system", "Be kind."), ("user", "again")]


def test_clear_does_nothing_while_running(make_panel: Any, server: FakeOpenAIServer) -> None:
    history = ChatHistory().add_user("q0").add_assistant("a0")
    server.queue(Reply(chunks=SLOW, delay=0.02))
    panel = make_panel(history)
    send(panel, "q1")
    panel.clear.click()
    assert panel.running and len(history) == 2 and "a0" in panel.transcript.value
    panel.stop.click()
    assert panel.wait(0.5)
    assert texts(history)[:2] == [("user", "q0"), ("assistant", "a0")]
    panel.clear.click()  # idle again: now it clears
    assert len(history) == 0


# -- continuing automatically ----------------------------------------------------------------------


def test_continue_automatically_gives_the_whole_answer_as_one_message(
    make_panel: Any, server: FakeOpenAIServer
) -> None:
    server.default = Reply(text=LONG, resume=True)
    panel = make_panel(max_tokens=5)
    panel.auto_continue.value = True
    ask(panel, "go on")
    assert texts(panel.history) == [("user", "go on"), ("assistant", LONG)]
    assert "word22." in panel.transcript.value
    assert len(server.requests) == 5 and {r.max_tokens for r in server.requests} == {5}
    bar = panel.progress.bar
    assert bar.bar_style == "success" and panel.progress.widget.layout.display != "none"
    assert "complete" in panel.progress.label.value
    assert "4 continuations" in panel.transcript.value


def test_without_continue_the_answer_is_cut_and_the_bar_hidden(
    make_panel: Any, server: FakeOpenAIServer
) -> None:
    server.default = Reply(text=LONG, resume=True)
    panel = make_panel(max_tokens=5)
    ask(panel, "go on")
    assert texts(panel.history)[-1] == ("assistant", "word0 word1 word2 word3 word4")
    assert "cut at the token limit" in panel.transcript.value
    assert panel.progress.widget.layout.display == "none"


def test_the_progress_bar_starts_afresh_for_every_answer(
    make_panel: Any, server: FakeOpenAIServer
) -> None:
    server.default = Reply(text=LONG, resume=True)
    panel = make_panel(max_tokens=5)
    panel.auto_continue.value = True
    ask(panel, "first")
    assert panel.progress.bar.bar_style == "success"
    styles, labels = record(panel.progress.bar, "bar_style"), record(panel.progress.label)
    ask(panel, "second")
    assert styles == ["info", "success"]  # it started afresh, not from the last answer's end
    assert labels[0] == "round 1 of 6" and labels[-1].startswith("complete after 5 rounds")
    panel.auto_continue.value = False
    ask(panel, "third")
    assert panel.progress.widget.layout.display == "none"  # no stale bar under a plain answer


# -- the %chat_panel magic -----------------------------------------------------------------------


def shown_panels(widgets_made: list[Any]) -> list[ChatPanel]:
    return [w for w in widgets_made if isinstance(w, ChatPanel)]


def test_the_magic_displays_a_panel_bound_to_the_named_history(
    shell: Any, run: Any, server: FakeOpenAIServer, widgets_made: list[Any], panels: Any
) -> None:
    ran = run("%chat_panel -H conv --continue -t 0.2")
    assert ran.error is None, ran.error
    [panel] = shown_panels(widgets_made)
    panels.append(panel)
    [bundle] = [b for b in ran.bundles if WIDGET_MIME in b]
    assert bundle[WIDGET_MIME]["model_id"] == panel.model_id
    assert panel.history is shell.user_ns["conv"]
    assert panel.auto_continue.value is True
    ask(panel, "from the magic's panel")
    request = server.requests[-1]
    assert request.json["temperature"] == 0.2
    assert texts(shell.user_ns["conv"])[0] == ("user", "from the magic's panel")
    assert run("%%chat -H conv\nnext").error is None
    assert chat_messages(server.requests[-1])[0] == ("user", "from the magic's panel")


def test_the_magic_uses_the_default_history_and_endpoint(
    shell: Any, run: Any, server: FakeOpenAIServer, widgets_made: list[Any], panels: Any
) -> None:
    assert run("%chat_panel").error is None
    [panel] = shown_panels(widgets_made)
    panels.append(panel)
    assert panel.history is shell.user_ns["chat_history"]
    assert panel.auto_continue.value is False
    assert panel.chat.base_url == server.base_url
    ask(panel, "hi")
    assert server.requests[-1].model == "fake-model"
    assert "temperature" not in server.requests[-1].json


def test_the_magic_rejects_bad_options_before_any_request(
    shell: Any, run: Any, server: FakeOpenAIServer, widgets_made: list[Any]
) -> None:
    ran = run("%chat_panel -t 5")
    assert ran.error is not None
    assert "temperature" in str(ran.error)
    assert shown_panels(widgets_made) == [] and server.requests == []


# -- Clear can be undone ------------------------------------------------------------------------


def test_clear_can_be_undone(make_panel: Any, server: FakeOpenAIServer) -> None:
    ns: dict[str, Any] = {"conv": ChatHistory(system="Be kind.")}
    panel = make_panel("conv", namespace=ns)
    assert panel.undo.layout.display == "none"  # nothing to undo yet
    ask(panel, "hello")
    before = ns["conv"].clone()
    panel.clear.click()
    assert len(ns["conv"]) == 0 and "No messages yet" in panel.transcript.value
    assert panel.undo.layout.display != "none"
    assert "cleared 2 messages" in panel.status.value and "Undo clear" in panel.status.value
    panel.undo.click()
    assert ns["conv"] == before  # messages and metadata, exactly
    assert "hello" in panel.transcript.value and panel.undo.layout.display == "none"
    assert "restored 2 messages" in panel.status.value
    panel.undo.click()  # a second undo does nothing
    assert ns["conv"] == before


def test_sending_ends_what_clear_can_undo(make_panel: Any, server: FakeOpenAIServer) -> None:
    panel = make_panel()
    ask(panel, "old")
    panel.clear.click()
    assert panel.undo.layout.display != "none"
    ask(panel, "new")
    assert panel.undo.layout.display == "none"
    panel.undo_clear()  # too late: the new conversation stays as it is
    assert texts(panel.history) == [("user", "new"), ("assistant", "Echo: new")]
    assert chat_messages(server.requests[-1]) == [("user", "new")]


def test_clearing_an_empty_history_offers_no_undo(make_panel: Any) -> None:
    panel = make_panel()
    panel.clear.click()
    assert panel.undo.layout.display == "none" and "cleared 0 messages" in panel.status.value


# -- the panel reads the magics' settings -------------------------------------------------------


def test_a_panel_without_a_client_uses_the_chat_config_settings(
    shell: Any, run: Any, server: FakeOpenAIServer, make_server: Any, panels: Any
) -> None:
    other = make_server(model="configured-model")
    for line in (
        f"%chat_config base_url={other.base_url} model=configured-model",
        "%chat_config temperature=0.3 max_tokens=77",
        '%chat_config system="Answer in French."',
    ):
        assert run(line).error is None
    panel = ChatPanel()  # as a user would: no client, no options
    panels.append(panel)
    assert panel.history is shell.user_ns["chat_history"]
    ask(panel, "bonjour")
    request = other.requests[-1]
    assert request.model == "configured-model"
    assert request.json["temperature"] == 0.3 and request.json["max_tokens"] == 77
    assert request.messages[0] == {"role": "system", "content": "Answer in French."}
    assert server.requests == []
    assert "configured-model" in panel.status.value or "configured-model" in (
        panel.transcript.value
    )
