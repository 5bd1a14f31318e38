"""Terminal IPython (no kernel): plain text streamed to stdout, never widget reprs."""

from __future__ import annotations

import io
import re
from typing import Any

from lexilux_nb import ChatResult, ChatStreamChunk
from lexilux_nb.engine import Outcome
from lexilux_nb.notebook.views import TerminalView
from lexilux_nb.testing import Reply

WIDGET_TRACES = ("HTML(", "VBox(", "HBox(", "IntProgress(", "Label(", "widget-view", "model_id")
FOOTER = re.compile(r"^— fake-model · \d+ → \d+ tokens · \d+\.\d s · complete$", re.MULTILINE)


def ok(ran: Any) -> Any:
    assert ran.error is None, f"{ran.error!r}\n{ran.stdout}\n{ran.stderr}"
    return ran


def no_widgets(ran: Any) -> None:
    for trace in WIDGET_TRACES:
        assert trace not in ran.everything
    assert ran.outputs == []  # nothing went through display()


class RecordingStream(io.StringIO):
    def __init__(self) -> None:
        super().__init__()
        self.writes: list[str] = []
        self.flushes = 0

    def write(self, text: str) -> int:
        self.writes.append(text)
        return super().write(text)

    def flush(self) -> None:
        self.flushes += 1
        super().flush()


def test_answer_and_footer_go_to_stdout(server: Any, run: Any, shell: Any) -> None:
    assert getattr(shell, "kernel", None) is None
    ran = ok(run("%%chat\nhello"))
    assert ran.stdout.startswith("Echo: hello\n— fake-model")
    assert FOOTER.search(ran.stdout), ran.stdout
    assert ran.stderr == ""
    no_widgets(ran)


def test_markdown_is_shown_as_written(server: Any, run: Any) -> None:
    server.queue(Reply(text="# Title\n\n- **bold** item\n\n```py\nx = 1\n```"))
    ran = ok(run("%%chat\nmarkdown please"))
    assert "# Title\n\n- **bold** item\n\n```py\nx = 1\n```" in ran.stdout
    assert "<" not in ran.stdout
    no_widgets(ran)


def test_every_format_is_plain_text_in_the_terminal(server: Any, run: Any) -> None:
    server.default = Reply(text='{"a": 1}')
    for fmt in ("markdown", "text", "code", "json"):
        ran = ok(run(f"%chat --format {fmt} --no-history x"))
        assert ran.stdout.startswith('{"a": 1}\n— ')
        no_widgets(ran)


def test_reasoning_is_labelled(server: Any, run: Any) -> None:
    server.queue(Reply(text="The answer.", reasoning="Thinking it over."))
    ran = ok(run("%%chat --reasoning\nwhy"))
    assert ran.stdout.startswith("[reasoning] Thinking it over.\n[answer]\nThe answer.\n— ")
    no_widgets(ran)


def test_no_stream_prints_the_whole_answer(server: Any, run: Any) -> None:
    ran = ok(run("%chat --no-stream hello"))
    assert ran.stdout.startswith("Echo: hello\n— fake-model")
    no_widgets(ran)


def test_continuation_rounds_are_announced(server: Any, run: Any) -> None:
    server.default = Reply(text="one two three four five six seven", resume=True)
    ran = ok(run("%chat_complete --max-tokens 3 go"))
    assert "[continuing: round 2 of 6]" in ran.stdout
    assert "[continuing: round 3 of 6]" in ran.stdout
    assert "2 continuations" in ran.stdout
    no_widgets(ran)


def test_a_failed_stream_ends_its_line(server: Any, run: Any) -> None:
    server.queue(Reply(text="one two three four", cut_after=2))
    ran = run("%chat hello")
    assert ran.stdout.startswith("one two\n")
    no_widgets(ran)


def test_history_show_in_the_terminal_is_text(server: Any, run: Any) -> None:
    ok(run("%chat hello"))
    ran = ok(run("%chat_history"))
    (shown,) = ran.bundles  # a terminal prints the text/plain part
    assert shown["text/plain"] == "ChatHistory(2 messages, 1 round)"
    for trace in WIDGET_TRACES:
        assert trace not in ran.everything


def test_terminal_view_writes_each_chunk_as_it_comes() -> None:
    out = RecordingStream()
    view = TerminalView(out)
    for piece in ("Hel", "lo", " world"):
        view.chunk(ChatStreamChunk(piece))
    assert out.writes == ["Hel", "lo", " world"]
    assert out.flushes == 3
    done = Outcome(ChatResult(text="Hello world", finish_reason="stop"), "complete", 1.25, "m")
    show = view.finish(done)
    assert out.getvalue() == "Hello world"  # finish only prepares; show() writes
    show()
    assert out.getvalue() == "Hello world\n— m · 1.2 s · complete\n"


def test_terminal_view_interrupted_and_failed() -> None:
    out = io.StringIO()
    view = TerminalView(out)
    view.chunk(ChatStreamChunk("part"))
    view.finish(Outcome(ChatResult(text="part", interrupted=True), "interrupted", 2.0, "m"))()
    assert out.getvalue() == "part\n— m · 2.0 s · stopped\n"
    quiet = io.StringIO()
    TerminalView(quiet).finish(Outcome(ChatResult(), "failed", 0.1, "m"))()
    assert quiet.getvalue() == ""  # nothing was written, nothing to end


def test_terminal_notices_come_before_the_answer(server: Any, run: Any, shell: Any) -> None:
    shell.user_ns["obj"] = object()
    ran = ok(run("%chat Describe {obj.method()} please"))
    first, *rest = ran.stdout.splitlines()
    assert first.startswith("ℹ {obj.method()} is sent as written")
    assert rest[0].startswith("Echo: Describe {obj.method()} please")
