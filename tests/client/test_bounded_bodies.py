"""A compressed body is read piece by piece and stopped at its cap (issue 17: compression bombs)."""

from __future__ import annotations

import gzip
import json
import tracemalloc
import zlib
from collections.abc import Callable

import brotli
import httpx
import pytest
import zstandard

from lexilux_nb import Chat, defaults
from lexilux_nb.client.errors import MalformedResponseError, ResponseTooLargeError
from lexilux_nb.client.inflate import PIECE, inflater
from lexilux_nb.defaults import MAX_RESPONSE_BYTES

ANSWER = {
    "id": "c1",
    "object": "chat.completion",
    "model": "m",
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}
    ],
}


def bomb() -> bytes:
    """A valid JSON start padded with spaces: small on the wire, past the cap once inflated."""
    raw = b'{"id": "c1"' + b" " * (MAX_RESPONSE_BYTES + 1024 * 1024) + b"}"
    return gzip.compress(raw, compresslevel=9)


def responder(body: bytes, status: int = 200, encoding: str = "gzip") -> httpx.MockTransport:
    """Raw compressed bytes on the wire, as a server sends them (httpx inflates on read)."""
    headers = {"content-encoding": encoding, "content-type": "application/json"}
    return httpx.MockTransport(
        lambda request: httpx.Response(status, stream=httpx.ByteStream(body), headers=headers)
    )


def chats(transport: httpx.MockTransport) -> tuple[Chat, Chat]:
    return (
        Chat(
            base_url="http://x.test/v1",
            model="m",
            max_retries=0,
            http_client=httpx.Client(transport=transport),
        ),
        Chat(
            base_url="http://x.test/v1",
            model="m",
            max_retries=0,
            async_http_client=httpx.AsyncClient(transport=transport),
        ),
    )


def test_the_bomb_is_small_on_the_wire() -> None:
    assert len(bomb()) < MAX_RESPONSE_BYTES // 200


@pytest.mark.parametrize("status", [200, 500])
async def test_a_bomb_stops_at_the_cap_on_every_path(status: int) -> None:
    sync, async_ = chats(responder(bomb(), status))
    with pytest.raises(ResponseTooLargeError, match=r"MiB.*decompressed.*MAX_RESPONSE"):
        sync("hi")
    with pytest.raises(ResponseTooLargeError):
        list(sync.stream("hi"))  # a JSON answer to a stream request is read the same way
    with pytest.raises(ResponseTooLargeError):
        await async_.acall("hi")
    with pytest.raises(ResponseTooLargeError):
        [c async for c in async_.astream("hi")]


async def test_a_compressed_answer_under_the_cap_reads_as_before() -> None:
    sync, async_ = chats(responder(gzip.compress(json.dumps(ANSWER).encode())))
    assert sync("hi").text == "ok"
    assert (await async_.acall("hi")).text == "ok"


async def test_a_body_that_does_not_decompress_is_our_error() -> None:
    broken = zlib.compress(b"not gzip")[:-4] + b"junk"
    sync, async_ = chats(responder(broken))
    with pytest.raises(MalformedResponseError, match="could not be decompressed"):
        sync("hi")
    with pytest.raises(MalformedResponseError, match="could not be decompressed"):
        await async_.acall("hi")


def raw_deflate(data: bytes) -> bytes:
    c = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    return c.compress(data) + c.flush()


ENCODERS: dict[str, Callable[[bytes], bytes]] = {
    "gzip": lambda b: gzip.compress(b, compresslevel=9),
    "deflate": lambda b: zlib.compress(b, 9),
    "deflate (raw)": raw_deflate,
    "br": lambda b: brotli.compress(b, quality=5),
    "deflate, gzip": lambda b: gzip.compress(zlib.compress(b, 9)),
    "gzip, br": lambda b: brotli.compress(gzip.compress(b), quality=5),
    "zstd": lambda b: zstandard.ZstdCompressor().compress(b),  # left to httpx, still capped
}


def header(name: str) -> str:
    return name.replace(" (raw)", "")


@pytest.mark.parametrize("name", ENCODERS)
async def test_every_encoding_reads_back_exactly(name: str) -> None:
    text = "ok " * 50_000  # several pieces once decoded
    answer = {**ANSWER, "choices": [{**ANSWER["choices"][0], "message": {"content": text}}]}
    body = ENCODERS[name](json.dumps(answer).encode())
    sync, async_ = chats(responder(body, encoding=header(name)))
    assert sync("hi").text == text
    assert (await async_.acall("hi")).text == text


@pytest.mark.parametrize("name", ENCODERS)
async def test_a_bomb_in_every_encoding_stops_at_the_cap(name: str, monkeypatch) -> None:
    monkeypatch.setattr(defaults, "MAX_RESPONSE_BYTES", 2**20)
    body = ENCODERS[name](b'{"id": "c1"' + b" " * (16 * 2**20) + b"}")
    sync, async_ = chats(responder(body, encoding=header(name)))
    with pytest.raises(ResponseTooLargeError, match=r"1 MiB \(1,048,576 bytes\)"):
        sync("hi")
    with pytest.raises(ResponseTooLargeError, match="1 MiB"):
        await async_.acall("hi")


def test_the_inflated_bytes_never_exceed_the_cap_plus_one_piece(monkeypatch) -> None:
    """The whole bomb arrives in one read (MockTransport): httpx alone would inflate all of it
    at once; our inflater hands out one piece at a time and stops at the cap."""
    cap = 2**20
    monkeypatch.setattr(defaults, "MAX_RESPONSE_BYTES", cap)
    body = gzip.compress(b" " * (64 * 2**20), compresslevel=9)
    sync, _ = chats(responder(body))
    tracemalloc.start()
    try:
        with pytest.raises(ResponseTooLargeError):
            sync("hi")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < cap + 4 * PIECE + 2 * len(body) + 512 * 1024  # not the 64 MiB httpx would make


def test_raising_the_cap_at_run_time_lets_a_bigger_body_through(monkeypatch) -> None:
    text = "z" * (3 * 2**20)
    answer = {**ANSWER, "choices": [{**ANSWER["choices"][0], "message": {"content": text}}]}
    body = gzip.compress(json.dumps(answer).encode())
    sync, _ = chats(responder(body))
    monkeypatch.setattr(defaults, "MAX_RESPONSE_BYTES", 2**20)
    with pytest.raises(ResponseTooLargeError):
        sync("hi")
    monkeypatch.setattr(defaults, "MAX_RESPONSE_BYTES", 4 * 2**20)
    assert sync("hi").text == text


@pytest.mark.parametrize("name", ["gzip", "deflate", "deflate (raw)", "br", "gzip, br"])
def test_the_inflater_hands_out_bounded_pieces(name: str) -> None:
    raw = bytes(range(256)) * 4096 + b" " * (8 * 2**20)
    stream = inflater(header(name))
    assert stream is not None
    encoded = ENCODERS[name](raw)
    pieces = []
    for at in range(0, len(encoded), 4096):  # fed in network-sized reads
        pieces += list(stream.feed(encoded[at : at + 4096]))
    pieces += list(stream.flush())
    assert b"".join(pieces) == raw
    assert max(len(p) for p in pieces) <= 2 * PIECE  # brotli may pass its limit by one block


def test_encodings_it_cannot_bound_are_left_to_httpx() -> None:
    assert inflater("zstd") is None
    assert inflater("gzip, zstd") is None
    assert inflater("compress") is None
    identity = inflater("")
    assert identity is not None and list(identity.feed(b"abc")) == [b"abc"]


@pytest.mark.parametrize("name", ["br", "deflate (raw)"])
async def test_a_broken_body_in_other_encodings_is_our_error(name: str) -> None:
    broken = ENCODERS[name](b"x" * 1000)[:-3] + b"\xff\xfe\xfd" * 5
    sync, async_ = chats(responder(broken, encoding=header(name)))
    with pytest.raises(MalformedResponseError, match="could not be decompressed"):
        sync("hi")
    with pytest.raises(MalformedResponseError, match="could not be decompressed"):
        await async_.acall("hi")
