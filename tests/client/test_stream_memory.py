"""The accumulator's memory follows the answer, not the number of events, and has a cap."""

from __future__ import annotations

import json
import tracemalloc

import pytest

from lexilux_nb.client.accumulate import StreamAccumulator
from lexilux_nb.client.errors import ResponseTooLargeError

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
