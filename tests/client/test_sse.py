"""The SSE decoder: spec cases, and the same events however the bytes are split into reads."""

from __future__ import annotations

import random

import pytest

from lexilux_nb.client.sse import SSEDecoder

STREAM = (
    ": keep-alive\n\n"
    'data: {"a": 1}\n\n'
    'data:{"b": 2}\n\n'
    'event: error\ndata: {"error": 1}\n\n'
    "data: line one\ndata: line two\n\n"
    "id: 7\nretry: 100\ndata\n\n"
    ": only a comment\n\n"
    "data: [DONE]\n\n"
)
EXPECTED = [
    ("message", '{"a": 1}'),
    ("message", '{"b": 2}'),
    ("error", '{"error": 1}'),
    ("message", "line one\nline two"),
    ("message", ""),
    ("message", "[DONE]"),
]


def decode(pieces: list[str]) -> list[tuple[str, str]]:
    decoder = SSEDecoder()
    events = []
    for piece in pieces:
        events += decoder.feed(piece)
    return events + decoder.flush()


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
def test_spec_cases_with_every_line_ending(newline: str) -> None:
    assert decode([STREAM.replace("\n", newline)]) == EXPECTED


@pytest.mark.parametrize("seed", range(20))
@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_any_split_into_reads_gives_the_same_events(seed: int, newline: str) -> None:
    text = STREAM.replace("\n", newline)
    rng = random.Random(seed)
    cuts = sorted(rng.sample(range(1, len(text)), rng.randint(1, 40)))
    pieces = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]
    assert decode(pieces) == EXPECTED


def test_one_character_at_a_time() -> None:
    assert decode(list(STREAM.replace("\n", "\r\n"))) == EXPECTED


def test_last_event_without_blank_line_counts_but_a_cut_line_does_not() -> None:
    assert decode(["data: [DONE]\n"]) == [("message", "[DONE]")]
    assert decode(['data: {"a": 1}\n\ndata: {"cut']) == [("message", '{"a": 1}')]


def test_only_one_space_after_the_colon_is_removed() -> None:
    assert decode(["data:  two spaces\n\n"]) == [("message", " two spaces")]
