"""``Chat(http_client=..., async_http_client=...)``: the caller's httpx clients, used as given."""

from __future__ import annotations

import json

import httpx
import pytest

from lexilux_nb import Chat
from lexilux_nb.client.errors import ConfigurationError

BODY = {
    "id": "c1",
    "object": "chat.completion",
    "model": "m",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "hi there"},
            "finish_reason": "stop",
        }
    ],
}
STREAM = (
    'data: {"id":"c1","model":"m","choices":[{"index":0,"delta":{"content":"hi "}}]}\n\n'
    'data: {"id":"c1","model":"m","choices":[{"index":0,"delta":{"content":"there"},'
    '"finish_reason":"stop"}]}\n\n'
    "data: [DONE]\n\n"
)


def handler(seen: list[httpx.Request]):
    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if json.loads(request.content).get("stream"):
            return httpx.Response(200, text=STREAM, headers={"content-type": "text/event-stream"})
        return httpx.Response(200, json=BODY)

    return answer


def test_sync_paths_go_through_the_given_client_and_its_hooks() -> None:
    seen: list[httpx.Request] = []
    hooked: list[str] = []
    client = httpx.Client(
        transport=httpx.MockTransport(handler(seen)),
        event_hooks={"request": [lambda r: hooked.append(r.url.path)]},
    )
    chat = Chat(base_url="http://example.test/v1", model="m", api_key="sk-k", http_client=client)
    assert chat("hello").text == "hi there"
    assert "".join(c.delta for c in chat.stream("hello")) == "hi there"
    assert hooked == ["/v1/chat/completions"] * 2
    assert [r.headers["authorization"] for r in seen] == ["Bearer sk-k"] * 2
    chat.close()
    assert not client.is_closed  # the caller's client stays theirs
    client.close()


async def test_async_paths_go_through_the_given_async_client() -> None:
    seen: list[httpx.Request] = []
    client = httpx.AsyncClient(transport=httpx.MockTransport(handler(seen)))
    chat = Chat(base_url="http://example.test/v1", model="m", async_http_client=client)
    assert (await chat.acall("hello")).text == "hi there"
    assert "".join([c.delta async for c in chat.astream("hello")]) == "hi there"
    assert len(seen) == 2 and json.loads(seen[1].content)["stream"] is True
    await chat.aclose()
    assert not client.is_closed
    await client.aclose()


def test_sync_and_async_give_the_same_result() -> None:
    import asyncio

    transport = httpx.MockTransport(handler([]))
    sync = Chat(
        base_url="http://x.test/v1", model="m", http_client=httpx.Client(transport=transport)
    )
    aclient = httpx.AsyncClient(transport=transport)
    chat = Chat(base_url="http://x.test/v1", model="m", async_http_client=aclient)
    assert sync("q").to_dict() == asyncio.run(chat.acall("q")).to_dict()


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"http_client": httpx.AsyncClient()}, "http_client must be an httpx.Client"),
        ({"async_http_client": httpx.Client()}, "async_http_client must be an httpx.AsyncClient"),
        ({"http_client": "http://proxy"}, "got str"),
    ],
)
def test_a_client_of_the_wrong_kind_is_refused_by_name(kwargs, words) -> None:
    with pytest.raises(ConfigurationError, match=words):
        Chat(base_url="http://x.test/v1", **kwargs)
