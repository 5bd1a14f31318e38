"""The accumulator's memory follows the answer, not the number of events, and has a cap."""

from __future__ import annotations

import contextlib
import json
import re
import socket
import threading
import tracemalloc

import pytest

from lexilux_nb import Chat, defaults
from lexilux_nb.client.accumulate import BLOCK, StreamAccumulator
from lexilux_nb.client.errors import ResponseTooLargeError
from lexilux_nb.client.sse import SSEDecoder

ONE_CHAR = json.dumps({"choices": [{"index": 0, "delta": {"content": "x"}}]})
EMPTY = json.dumps({"id": "c", "model": "m", "choices": []})


def held_by(feed_events) -> tuple[int, StreamAccumulator]:
    """Bytes still allocated once the events went through (what the accumulator keeps)."""
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        acc = StreamAccumulator()
        feed_events(acc)
        return tracemalloc.get_traced_memory()[0] - before, acc
    finally:
        tracemalloc.stop()


def test_tiny_deltas_cost_about_their_characters() -> None:
    n = 100_000

    def feed(acc: StreamAccumulator) -> None:
        acc.feed(
            "message",
            json.dumps(
                {"id": "c", "model": "m", "choices": [{"index": 0, "delta": {"role": "assistant"}}]}
            ),
        )
        for _ in range(n):
            acc.feed("message", ONE_CHAR)

    held, acc = held_by(feed)
    assert acc.text == "x" * n
    assert held < 3 * n  # one str object per event would be ~60 bytes each (6 MB)


def test_events_without_content_keep_nothing() -> None:
    def feed(acc: StreamAccumulator) -> None:
        for _ in range(50_000):
            acc.feed("message", EMPTY)
            acc.feed("message", "")
            acc.feed("ping", "{}")

    held, acc = held_by(feed)
    assert held < 20_000
    assert acc.result().text == ""


@pytest.mark.parametrize(
    "delta",
    [
        {"content": "y"},
        {"reasoning_content": "y"},
        {"refusal": "y"},
        {"tool_calls": [{"index": 0, "function": {"arguments": "y"}}]},
    ],
    ids=["content", "reasoning", "refusal", "tool-arguments"],
)
def test_an_endless_answer_stops_at_the_cap_and_keeps_what_came(delta) -> None:
    acc = StreamAccumulator(max_answer_chars=10_000)
    event = json.dumps({"choices": [{"index": 0, "delta": delta}]})
    sent = 0
    with pytest.raises(ResponseTooLargeError, match="max_answer_chars") as info:
        while sent < 1_000_000:
            acc.feed("message", event)
            sent += 1
    assert sent <= 10_000 + 256  # within one block of the cap
    assert info.value.body is not None
    result = acc.result()
    kept = result.text or result.reasoning or result.refusal or result.tool_calls[0].arguments
    assert set(kept) == {"y"} and len(kept) >= 10_000 - 256  # everything before the last block


def test_one_huge_piece_is_counted_at_once() -> None:
    acc = StreamAccumulator(max_answer_chars=100_000)
    with pytest.raises(ResponseTooLargeError):
        acc.feed(
            "message", json.dumps({"choices": [{"index": 0, "delta": {"content": "z" * 200_000}}]})
        )


def test_endless_new_tool_calls_count_too() -> None:
    acc = StreamAccumulator(max_answer_chars=10_000)
    with pytest.raises(ResponseTooLargeError):
        for i in range(100_000):
            delta = {"tool_calls": [{"index": 0, "id": f"call_{i}", "function": {"name": "f"}}]}
            acc.feed("message", json.dumps({"choices": [{"index": 0, "delta": delta}]}))


def test_the_default_cap_is_generous() -> None:
    acc = StreamAccumulator()
    acc.feed(
        "message", json.dumps({"choices": [{"index": 0, "delta": {"content": "w" * 5_000_000}}]})
    )
    assert len(acc.text) == 5_000_000


def test_the_default_cap_is_read_from_defaults_when_a_stream_starts(monkeypatch) -> None:
    monkeypatch.setattr(defaults, "MAX_ANSWER_CHARS", 1_000)
    acc = StreamAccumulator()
    with pytest.raises(ResponseTooLargeError, match=r"lexilux_nb\.defaults\.MAX_ANSWER_CHARS"):
        for _ in range(5_000):
            acc.feed("message", ONE_CHAR)


def test_kept_raw_chunks_count_toward_the_cap() -> None:
    """With ``return_raw`` every chunk is kept: an endless stream of empty events must stop."""
    acc = StreamAccumulator(keep_raw=True, max_answer_chars=100_000)
    with pytest.raises(ResponseTooLargeError, match="max_answer_chars"):
        for _ in range(1_000_000):
            acc.feed("message", EMPTY)
    assert len(acc.result().raw["chunks"]) <= 100_000 // len(EMPTY) + 1


# -- a loopback server sending tiny events without end -----------------------------------------


class TinyEvents:
    """An OpenAI-style stream of one-character deltas that never finishes (up to ``limit``
    events), on 127.0.0.1; records how many events it wrote and whether the client hung up."""

    EVENT = f"data: {ONE_CHAR}\n\n".encode()
    BATCH = 4096

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.sent = 0
        self.hung_up = threading.Event()
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}/v1"
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> TinyEvents:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._sock.close()
        self._thread.join(timeout=10)

    def _serve(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                conn, _ = self._sock.accept()
                with conn:
                    self._answer(conn)

    def _answer(self, conn: socket.socket) -> None:
        head = b""
        while b"\r\n\r\n" not in head:
            head += conn.recv(65536)
        length = int(re.search(rb"content-length: *(\d+)", head, re.I).group(1))  # type: ignore[union-attr]
        body = head.split(b"\r\n\r\n", 1)[1]
        while len(body) < length:
            body += conn.recv(65536)
        conn.sendall(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n"
            + f"data: {EMPTY}\n\n".encode()
        )
        batch = self.EVENT * self.BATCH
        try:
            while self.sent < self.limit:
                conn.sendall(batch)
                self.sent += self.BATCH
        except OSError:  # the client closed the connection
            self.hung_up.set()


@pytest.mark.parametrize("driver", ["sync", "async"])
async def test_an_endless_stream_of_tiny_events_stops_at_the_cap(driver: str, monkeypatch) -> None:
    """Half a million one-character events (the cap lowered to 512 Ki characters so it runs in
    seconds): the stream stops at the cap with an error naming it, keeps what came, and hangs up.
    ``benchmarks/bench_memory.py`` runs millions at the default cap and reports the peak RSS."""
    cap = 2**19
    monkeypatch.setattr(defaults, "MAX_ANSWER_CHARS", cap)
    with TinyEvents(limit=20 * cap) as server:
        chat = Chat(base_url=server.url, model="m", max_retries=0)
        if driver == "sync":
            stream = chat.stream("hi")
            with pytest.raises(ResponseTooLargeError, match="MAX_ANSWER_CHARS") as info:
                for _ in stream:
                    pass
        else:
            stream = chat.astream("hi")
            with pytest.raises(ResponseTooLargeError, match="MAX_ANSWER_CHARS") as info:
                async for _ in stream:
                    pass
        assert f"{cap:,} characters" in str(info.value)
        assert cap < len(stream.result.text) <= cap + BLOCK  # what came, to the block past the cap
        assert set(stream.result.text) == {"x"}
        assert server.hung_up.wait(10)  # the connection was closed, not left streaming
        assert cap <= server.sent < 20 * cap  # as many events as the cap went out, then it stopped
        chat.close()


@pytest.mark.parametrize(
    ("cap", "text"),
    [("MAX_LINE_BYTES", "data: " + "x" * 5_000), ("MAX_EVENT_BYTES", "data: x\n" * 1_000)],
)
def test_the_sse_caps_are_read_from_defaults_and_named(cap: str, text: str, monkeypatch) -> None:
    monkeypatch.setattr(defaults, cap, 4_000)
    decoder = SSEDecoder()
    with pytest.raises(ResponseTooLargeError, match=rf"4,000 bytes.*lexilux_nb\.defaults\.{cap}"):
        decoder.feed(text)
        decoder.feed_bytes(text.encode())
