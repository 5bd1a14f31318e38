"""``SSEDecoder.feed_bytes``: UTF-8 whatever the label, BOM ignored, any read boundary, bounds."""

from __future__ import annotations

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lexilux_nb.client.accumulate import StreamAccumulator
from lexilux_nb.client.errors import ResponseTooLargeError
from lexilux_nb.client.sse import SSEDecoder
from lexilux_nb.defaults import MAX_EVENT_BYTES, MAX_LINE_BYTES

from .test_sse import EXPECTED, STREAM

UNICODE = 'data: {"t": "Grüße 🌍 東京 — «ok»"}\n\nevent: x\ndata: ä\ndata: 😀\n\n'
UNICODE_EVENTS = [("message", '{"t": "Grüße 🌍 東京 — «ok»"}'), ("x", "ä\n😀")]


def decode_bytes(parts: list[bytes], **caps: int) -> list[tuple[str, str]]:
    decoder = SSEDecoder(**caps)
    events = []
    for part in parts:
        events += decoder.feed_bytes(part)
    return events + decoder.flush()


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c for c in cuts if 0 < c < len(data)})
    return [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
def test_bytes_give_the_same_events_as_text(newline: str) -> None:
    assert decode_bytes([STREAM.replace("\n", newline).encode()]) == EXPECTED


@settings(max_examples=200, deadline=None)
@given(
    newline=st.sampled_from(["\n", "\r\n", "\r"]),
    bom=st.booleans(),
    cuts=st.lists(st.integers(min_value=1, max_value=400), max_size=40),
)
def test_any_read_boundary_even_inside_a_character(
    newline: str, bom: bool, cuts: list[int]
) -> None:
    body = ("\ufeff" if bom else "") + (UNICODE + STREAM).replace("\n", newline)
    assert decode_bytes(split(body.encode(), cuts)) == UNICODE_EVENTS + EXPECTED


def test_one_byte_at_a_time_with_a_bom() -> None:
    body = ("\ufeff" + UNICODE).encode()
    assert decode_bytes([body[i : i + 1] for i in range(len(body))]) == UNICODE_EVENTS


def test_a_leading_bom_does_not_lose_the_first_event() -> None:
    assert decode_bytes([b"\xef\xbb\xbfdata: first\n\n"]) == [("message", "first")]
    decoder = SSEDecoder()
    assert decoder.feed("\ufeffdata: first\n\n") == [("message", "first")]


def test_only_a_leading_bom_is_dropped() -> None:
    # later, U+FEFF is an ordinary character: here it makes the field "\ufeffdata", not "data"
    assert decode_bytes([b"data: a\n\n\xef\xbb\xbfdata: b\n\n"]) == [("message", "a")]


def test_invalid_utf8_becomes_the_replacement_character() -> None:
    assert decode_bytes([b"data: caf\xe9\n\n"]) == [("message", "caf\ufffd")]


def test_the_charset_label_is_ignored_as_the_standard_says() -> None:
    """httpx's iter_text decodes by the label; iter_bytes + feed_bytes always decodes UTF-8."""
    body = (
        'data: {"choices":[{"index":0,"delta":{"content":"café 東京"},"finish_reason":"stop"}]}\n\n'
    )
    response = httpx.Response(
        200,
        headers={"content-type": "text/event-stream; charset=iso-8859-1"},
        content=body.encode() + b"data: [DONE]\n\n",
    )
    decoder, acc = SSEDecoder(), StreamAccumulator()
    for part in response.iter_bytes(chunk_size=3):
        for event, data in decoder.feed_bytes(part):
            acc.feed(event, data)
    assert acc.result().text == "café 東京"
    assert "café" not in response.text  # what decoding by the label would have given


def test_an_accumulator_ends_on_done_with_blanks_around_it() -> None:
    for done in ("[DONE]", "[DONE] ", " [DONE]\t", "[DONE]\r"):
        acc = StreamAccumulator()
        acc.feed("message", '{"choices":[{"index":0,"delta":{"content":"x"}}]}')
        chunk = acc.feed("message", done)
        assert chunk is not None and chunk.done
        assert acc.result().text == "x"


# -- bounds ---------------------------------------------------------------------------------------


def test_the_default_caps_are_generous() -> None:
    assert MAX_LINE_BYTES == 8 * 2**20 and MAX_EVENT_BYTES == 16 * 2**20
    big = b"data: " + b"x" * (2 * 2**20) + b"\n\n"
    assert decode_bytes(split(big, list(range(1, len(big), 65536)))) == [("message", "x" * 2**21)]


@pytest.mark.parametrize("read", [1000, 10**6])
def test_an_endless_line_stops_at_the_line_cap(read: int) -> None:
    decoder = SSEDecoder(max_line_bytes=64 * 1024, max_event_bytes=1024 * 1024)
    fed = 0
    with pytest.raises(ResponseTooLargeError, match="a line longer than 65,536 bytes") as info:
        decoder.feed_bytes(b"data: ")
        while fed < 10**7:
            decoder.feed_bytes(b"y" * read)
            fed += read
    assert fed <= 64 * 1024 + read  # stopped at the first read past the cap
    assert info.value.body.startswith("y")
    assert len(info.value.body) <= 120


def test_an_event_of_many_short_lines_stops_at_the_event_cap() -> None:
    decoder = SSEDecoder(max_line_bytes=100, max_event_bytes=10_000)
    with pytest.raises(ResponseTooLargeError, match="an event longer than 10,000 bytes"):
        for _ in range(10_000):
            decoder.feed_bytes(b": keep-alive comment\n")


def test_a_long_line_that_arrives_whole_is_refused_too() -> None:
    with pytest.raises(ResponseTooLargeError, match="a line"):
        decode_bytes([b"data: " + b"z" * 5000 + b"\n\n"], max_line_bytes=1000)
    with pytest.raises(ResponseTooLargeError, match="an event"):
        decode_bytes([b"data: a\n" * 300 + b"\n"], max_line_bytes=1000, max_event_bytes=1000)


def test_text_input_is_bounded_in_characters() -> None:
    decoder = SSEDecoder(max_line_bytes=50)
    with pytest.raises(ResponseTooLargeError):
        decoder.feed("data: " + "é" * 60)


def test_a_size_error_quotes_nothing_secret() -> None:
    decoder = SSEDecoder(max_line_bytes=100, secrets=["sk-secret-0123456789"])
    with pytest.raises(ResponseTooLargeError) as info:
        decoder.feed_bytes(b"data: sk-secret-0123456789" + b"q" * 200)
    assert "sk-secret-0123456789" not in str(info.value)
    assert "sk-secret-0123456789" not in (info.value.body or "")


def test_many_small_events_keep_nothing_buffered() -> None:
    decoder = SSEDecoder(max_line_bytes=100, max_event_bytes=200)
    for _ in range(5000):  # far more bytes in total than either cap: each event is complete
        assert decoder.feed_bytes(b'data: {"choices":[]}\n\n') == [("message", '{"choices":[]}')]
