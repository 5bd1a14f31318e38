"""``%chat_complete``: an answer cut by ``max_tokens`` is continued and stitched into one turn."""

from __future__ import annotations

from typing import Any

import pytest
from ipywidgets import HTML, IntProgress, Label

from lexilux_nb import ChatResult
from lexilux_nb.notebook.errors import ChatCellError
from lexilux_nb.testing import Reply, split_tokens

LONG = " ".join(f"w{i}" for i in range(23))  # 23 tokens: 5 rounds of --max-tokens 5


def ok(ran: Any) -> Any:
    assert ran.error is None, f"{ran.error!r}\n{ran.stdout}\n{ran.stderr}"
    return ran


@pytest.fixture
def long_server(server: Any) -> Any:
    server.default = Reply(text=LONG, resume=True)
    return server


def progress_widgets(made: list[Any]) -> tuple[IntProgress, Label]:
    bars = [w for w in made if isinstance(w, IntProgress)]
    labels = [w for w in made if isinstance(w, Label)]
    assert len(bars) == 1 and len(labels) == 1, made
    return bars[0], labels[0]


def test_stitches_the_rounds_into_one_answer(long_server: Any, run: Any, shell: Any) -> None:
    assert len(split_tokens(LONG)) == 23
    ok(run("%chat_complete --max-tokens 5 tell me everything"))
    result = shell.user_ns["_chat"]
    assert isinstance(result, ChatResult)
    assert result.text == LONG
    assert result.continues == 4
    assert result.finish_reason == "stop"
    assert result.truncated is False
    requests = long_server.requests
    assert len(requests) == 5
    assert all(r.json["max_tokens"] == 5 for r in requests)
    # later rounds carry the answer so far
    assert any(m["role"] == "assistant" for m in requests[1].messages)


def test_history_gets_one_assistant_message(long_server: Any, run: Any, shell: Any) -> None:
    ok(run("%%chat_complete --max-tokens 5\ntell me everything"))
    history = shell.user_ns["chat_history"]
    assert history.get_messages() == [
        {"role": "user", "content": "tell me everything"},
        {"role": "assistant", "content": LONG},
    ]
    meta = history.metadata(1)
    assert meta["continues"] == 4
    assert meta["finish_reason"] == "stop"
    assert meta["truncated"] is False


def test_the_next_turn_sends_the_stitched_answer(long_server: Any, run: Any, shell: Any) -> None:
    ok(run("%%chat_complete --max-tokens 5\nfirst"))
    long_server.queue(Reply(text="short"))
    ok(run("%%chat\nsecond"))
    assert long_server.requests[-1].messages == [
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": LONG},
        {"role": "user", "content": "second"},
    ]


def test_terminal_shows_the_rounds(long_server: Any, run: Any) -> None:
    ran = ok(run("%chat_complete --max-tokens 5 go"))
    assert "[continuing: round 2 of 6]" in ran.stdout
    assert "4 continuations" in ran.stdout
    assert "still cut at the token limit" not in ran.stdout
    shown = ran.stdout
    for token in ("w0", "w11", "w22"):
        assert token in shown


def test_widget_progress_ends_complete(
    long_server: Any, run: Any, shell: Any, kernel: Any, widgets_made: list[Any]
) -> None:
    ran = ok(run("%chat_complete --max-tokens 5 go"))
    bar, label = progress_widgets(widgets_made)
    assert bar.bar_style == "success"
    assert label.value.startswith("complete")
    assert "5 rounds" in label.value
    assert bar.value == 5
    assert bar.max == 6
    answer = ran.answer
    assert answer["text/plain"] == LONG
    assert "complete · 5 rounds" in answer["text/html"]
    assert "still cut at the token limit" not in answer["text/html"]
    html = [w for w in widgets_made if isinstance(w, HTML)]
    assert html and all("Continue" not in w.value for w in html)


def test_max_continues_limits_the_rounds(
    long_server: Any, run: Any, shell: Any, kernel: Any, widgets_made: list[Any]
) -> None:
    ran = ok(run("%chat_complete --max-tokens 5 --max-continues 1 go"))
    result = shell.user_ns["_chat"]
    assert result.truncated is True
    assert result.continues == 1
    assert result.finish_reason == "length"
    assert result.text == "".join(split_tokens(LONG)[:10])
    assert len(long_server.requests) == 2
    bar, label = progress_widgets(widgets_made)
    assert label.value.startswith("still cut at the token limit")
    assert bar.bar_style == "warning"
    assert bar.max == 2
    assert "still cut at the token limit" in ran.answer["text/html"]
    assert "still cut at the token limit" in ran.answer["text/markdown"]
    # a truncated answer is still an answer: it is recorded, and says so
    history = shell.user_ns["chat_history"]
    assert history[1]["content"] == result.text
    assert history.metadata(1)["truncated"] is True


def test_max_continues_zero_is_one_round(long_server: Any, run: Any, shell: Any) -> None:
    ran = ok(run("%chat_complete --max-tokens 5 --max-continues 0 go"))
    assert len(long_server.requests) == 1
    assert shell.user_ns["_chat"].truncated is True
    assert "still cut at the token limit" in ran.stdout


def test_max_continues_from_config(long_server: Any, run: Any, shell: Any) -> None:
    ok(run("%chat_config max_continues=2"))
    ok(run("%chat_complete --max-tokens 5 go"))
    assert len(long_server.requests) == 3
    assert shell.user_ns["_chat"].truncated is True
    ok(run("%config ChatMagics.max_continues = 5"))
    ok(run("%chat_complete --no-history --max-tokens 5 go"))  # (the fake server resumes history)
    assert shell.user_ns["_chat"].text == LONG


def test_max_tokens_from_config(long_server: Any, run: Any, shell: Any) -> None:
    ok(run("%chat_config max_tokens=5"))
    ok(run("%chat_complete go"))
    assert shell.user_ns["_chat"].text == LONG
    assert shell.user_ns["_chat"].continues == 4


def test_without_streaming(long_server: Any, run: Any, shell: Any) -> None:
    ok(run("%chat_complete --no-stream --max-tokens 5 go"))
    assert shell.user_ns["_chat"].text == LONG
    assert all("stream" not in r.json for r in long_server.requests)
    assert shell.user_ns["chat_history"][1]["content"] == LONG


def test_an_answer_that_fits_needs_no_continuation(server: Any, run: Any, shell: Any) -> None:
    ok(run("%chat_complete short"))
    assert len(server.requests) == 1
    assert shell.user_ns["_chat"].continues == 0
    assert shell.user_ns["_chat"].text == "Echo: short"


def test_a_failed_round_records_nothing(long_server: Any, run: Any, shell: Any) -> None:
    long_server.queue(Reply(text=LONG, resume=True), Reply(status=400))
    ran = run("%chat_complete --max-tokens 5 go")
    assert isinstance(ran.error, ChatCellError)
    assert "400" in str(ran.error)
    assert len(shell.user_ns["chat_history"]) == 0


def test_the_turn_is_replaced_on_rerun(long_server: Any, run: Any, shell: Any, kernel: Any) -> None:
    kernel.cell_id = "complete-cell"
    ok(run("%chat_complete --max-tokens 5 go"))
    ok(run("%chat_complete --max-tokens 5 go"))
    history = shell.user_ns["chat_history"]
    assert [m["content"] for m in history] == ["go", LONG]
