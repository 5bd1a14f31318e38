"""A compressed body is read piece by piece and stopped at its cap (issue 17: compression bombs)."""

from __future__ import annotations

import gzip
import json
import zlib

import httpx
import pytest

from lexilux_nb import Chat
from lexilux_nb.client.errors import MalformedResponseError, ResponseTooLargeError
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


def responder(body: bytes, status: int = 200) -> httpx.MockTransport:
    """Raw compressed bytes on the wire, as a server sends them (httpx inflates on read)."""
    headers = {"content-encoding": "gzip", "content-type": "application/json"}
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
    with pytest.raises(ResponseTooLargeError, match="MiB once decompressed"):
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
