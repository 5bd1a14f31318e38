"""The notebook path: a live, throttled widget, then an inert output bundle in the notebook."""

from __future__ import annotations

from typing import Any

import pytest
from ipywidgets import HTML, VBox

from lexilux_nb import ChatResult, ChatStreamChunk
from lexilux_nb.client.continuation import ContinueProgress
from lexilux_nb.engine import Outcome
from lexilux_nb.notebook.views import WidgetView, answer_bundle
from lexilux_nb.testing import Reply

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


def ok(ran: Any) -> Any:
    assert ran.error is None, f"{ran.error!r}\n{ran.stdout}\n{ran.stderr}"
    return ran


class FakeDisplay:
    """Stands in for IPython's ``display``: records calls; is its own display handle."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, dict[str, Any]]] = []
        self.updates: list[tuple[Any, dict[str, Any]]] = []

    def __call__(self, obj: Any, **kwargs: Any) -> FakeDisplay:
        self.calls.append((obj, kwargs))
        return self

    def update(self, obj: Any, **kwargs: Any) -> None:
        self.updates.append((obj, kwargs))

    @property
    def bundles(self) -> list[dict[str, Any]]:
        return [obj for obj, _ in self.calls[1:]]


def record_values(widget: Any) -> list[str]:
    values: list[str] = []
    widget.observe(lambda change: values.append(change["new"]), names="value")
    return values


def make_view(**kwargs: Any) -> tuple[WidgetView, FakeDisplay, list[str]]:
    """A view with the whole-HTML live widget (the fallback without anywidget): its value is
    what the page shows, so tests can read it; the appending widget is tested in test_live.py."""
    display = FakeDisplay()
    view = WidgetView(display, appending=False, **kwargs)
    return view, display, record_values(view.live.widget)


def outcome(text: str = "", state: str = "complete", **fields: Any) -> Outcome:
    return Outcome(ChatResult(text=text, **fields), state, 1.0, "m")  # type: ignore[arg-type]


def chunks(text: str) -> list[ChatStreamChunk]:
    """One chunk per word, spaces kept: joining the deltas gives ``text`` back."""
    words = text.split(" ")
    return [ChatStreamChunk(words[0])] + [ChatStreamChunk(" " + w) for w in words[1:]]


# -- through the magic ------------------------------------------------------------------------


def test_the_cell_ends_with_an_inert_bundle(server: Any, run: Any, kernel: Any) -> None:
    server.queue(Reply(text="Hello **world**"))
    ran = ok(run("%%chat\nhi"))
    live, blank, final = ran.outputs
    display_id = live.transient["display_id"]
    assert WIDGET_MIME in live.data
    assert live.data["text/plain"] == ""
    assert blank.update is True
    assert blank.transient["display_id"] == display_id
    assert blank.data == {"text/plain": ""}
    assert set(final.data) == {"text/html", "text/markdown", "text/plain"}
    assert final.update is False
    assert final.data["text/plain"] == "Hello **world**"
    assert "<strong>world</strong>" in final.data["text/html"]
    assert final.data["text/markdown"].startswith("Hello **world**")
    assert "fake-model" in final.data["text/html"]  # the footer
    assert ran.stdout == ""


def test_the_live_widget_is_updated_while_streaming(
    server: Any, run: Any, kernel: Any, widgets_made: list[Any], comm_messages: list[Any]
) -> None:
    text = " ".join(f"word{i}" for i in range(12))
    server.queue(Reply(text=text, delay=0.03))
    ok(run("%%chat\nstream slowly"))
    sent = [m.custom for m in comm_messages if m.custom is not None]
    assert len(sent) >= 2, sent  # several updates while the stream ran ...
    assert len(sent) < 13  # ... throttled, never one per token
    first = sent[0]["answer"]["commit"] + sent[0]["answer"]["tail"]
    assert "word0" in first and "word11" not in first
    # the live view is closed at the end: the notebook keeps only the static bundle
    boxes = [w for w in widgets_made if isinstance(w, VBox)]
    html = [w for w in widgets_made if isinstance(w, HTML)]
    assert boxes and all(w.comm is None for w in boxes + html)


def test_options_reach_the_view(server: Any, run: Any, kernel: Any, magics: Any) -> None:
    server.queue(Reply(text="plain *text*"))
    ran = ok(run("%%chat --format text\nhi"))
    assert "<em>" not in ran.answer["text/html"]
    assert "plain *text*" in ran.answer["text/html"]


def test_reasoning_is_shown_folded(server: Any, run: Any, kernel: Any) -> None:
    server.queue(Reply(text="The answer.", reasoning="Step one. Step two."))
    ran = ok(run("%%chat --reasoning\nwhy"))
    html = ran.answer["text/html"]
    assert '<blockquote class="lexilux-reasoning"' in html and "Reasoning" in html
    assert "Step one. Step two." in html
    assert html.index("Step one") < html.index("The answer.")
    assert ran.answer["text/plain"] == "The answer."


# -- WidgetView driven directly -------------------------------------------------------------


def test_view_displays_the_live_widget_once() -> None:
    view, display, _ = make_view()
    ((live, kwargs),) = display.calls
    assert kwargs == {"raw": True, "display_id": True}
    assert live[WIDGET_MIME]["model_id"] == view.box.model_id
    assert live["text/plain"] == ""
    assert view.live.widget in view.box.children
    assert "…" in view.live.widget.value


def test_first_chunk_is_shown_at_once() -> None:
    view, _, values = make_view(interval=60.0)
    view.chunk(ChatStreamChunk("Hello"))
    assert len(values) == 1
    assert "Hello" in view.live.widget.value


def test_throttling_limits_updates_and_the_final_state_is_always_sent() -> None:
    text = " ".join(f"w{i}" for i in range(300))
    view, display, values = make_view(interval=60.0)
    for chunk in chunks(text):
        view.chunk(chunk)
    assert len(values) == 1  # only the first chunk got through the throttle
    assert display.bundles == []
    show = view.finish(outcome(text, finish_reason="stop"))
    assert display.bundles == [] and display.updates == []  # rendered, not shown yet
    show()
    assert display.updates == [({"text/plain": ""}, {"raw": True})]
    (final,) = display.bundles
    assert final["text/plain"] == text
    assert "w299" in final["text/html"]
    assert "m · 1.0 s · complete" in final["text/html"]
    assert view.box.comm is None and view.live.widget.comm is None


def test_default_interval_gives_few_updates_for_an_instant_stream() -> None:
    view, _, values = make_view()  # 0.05 s
    pieces = chunks(" ".join(f"w{i}" for i in range(500)))
    for chunk in pieces:
        view.chunk(chunk)
    assert 1 <= len(values) < len(pieces) // 10


def test_without_throttling_every_chunk_updates() -> None:
    view, _, values = make_view(interval=0.0)
    for chunk in chunks("a b c d e"):
        view.chunk(chunk)
    assert len(values) == 5
    assert all(later.count("<p>") == 1 for later in values)  # the live view's standard tags
    assert ">a b c d e<" in values[-1]


def test_empty_chunks_do_not_update() -> None:
    view, _, values = make_view(interval=0.0)
    view.chunk(ChatStreamChunk(""))
    view.chunk(ChatStreamChunk("", True, "stop"))
    assert values == []


def test_reasoning_chunks_are_shown_live() -> None:
    view, _, values = make_view(interval=0.0)
    view.chunk(ChatStreamChunk("", reasoning_content="thinking hard"))
    assert values and "thinking hard" in view.live.widget.value
    view.chunk(ChatStreamChunk("answer"))
    assert "thinking hard" in view.live.widget.value and "answer" in view.live.widget.value
    assert view.live.widget.value.index("thinking") < view.live.widget.value.index("<p>answer</p>")


def test_non_markdown_formats_stream_as_plain_text() -> None:
    view, _, _ = make_view(fmt="text", interval=0.0)
    view.chunk(ChatStreamChunk("some **bold**"))
    assert "<strong>" not in view.live.widget.value
    assert "**bold**" in view.live.widget.value


def test_progress_updates_the_progress_widget() -> None:
    view, _, _ = make_view(continuing=True, max_rounds=4)
    bar = view.progress_widget.bar
    label = view.progress_widget.label
    assert view.progress_widget.widget in view.box.children
    assert (bar.value, bar.max, bar.bar_style) == (1, 4, "info")
    view.progress(ContinueProgress(1, 4, "abc", 10, "length"))
    assert bar.value == 2
    assert label.value == "continuing: round 2 of 4 · 10 tokens"
    view.progress(ContinueProgress(2, 4, "abcdef", 20, "stop", done=True))
    assert bar.value == 2
    assert bar.bar_style == "success"
    assert label.value == "complete after 2 rounds · 20 tokens"


def test_progress_still_truncated() -> None:
    view, display, _ = make_view(continuing=True, max_rounds=2)
    view.progress(ContinueProgress(2, 2, "abc", None, "length", done=True, truncated=True))
    assert view.progress_widget.bar.bar_style == "warning"
    assert view.progress_widget.label.value == "still cut at the token limit after 2 rounds"
    view.finish(outcome("abc", continues=1, truncated=True))()
    assert "still cut at the token limit · 2 rounds" in display.bundles[0]["text/html"]


def test_progress_is_ignored_without_a_progress_widget() -> None:
    view, _, _ = make_view()
    view.progress(ContinueProgress(1, 2, "x", None, "length"))
    assert view.progress_widget is None


def test_interrupted_keeps_the_partial_answer() -> None:
    view, display, _ = make_view()
    view.chunk(ChatStreamChunk("half an"))
    view.finish(outcome("half an", "interrupted", interrupted=True))()
    (final,) = display.bundles
    assert final["text/plain"] == "half an"
    assert final["text/markdown"].endswith("*m · 1.0 s · stopped*")
    assert final["text/html"].count("stopped") == 1


def test_failed_with_a_partial_answer() -> None:
    view, display, _ = make_view()
    view.chunk(ChatStreamChunk("half"))
    view.finish(outcome("half", "failed"))()
    (final,) = display.bundles
    assert final["text/plain"] == "half"
    assert "failed" in final["text/html"]


def test_failed_without_text_leaves_nothing() -> None:
    view, display, _ = make_view()
    view.finish(outcome("", "failed"))()
    assert display.updates == [({"text/plain": ""}, {"raw": True})]
    assert display.bundles == []
    assert view.box.comm is None


@pytest.mark.parametrize("fmt", ["markdown", "text", "code", "json"])
def test_answer_bundle_has_the_three_mimetypes(fmt: str) -> None:
    bundle = answer_bundle(outcome('{"a": 1}', finish_reason="stop"), fmt)
    assert set(bundle) == {"text/html", "text/markdown", "text/plain"}
    assert bundle["text/plain"] == '{"a": 1}'
    assert bundle["text/markdown"].endswith("*m · 1.0 s · complete*")
