"""map/amap over the real fake server: order kept, errors kept in their slots."""

from __future__ import annotations

import asyncio

import pytest

from lexilux_nb.client.chat import Chat
from lexilux_nb.client.errors import APIError
from lexilux_nb.client.mapping import amap, map_items, render_items
from lexilux_nb.testing import FakeOpenAIServer
from lexilux_nb.testing.replies import Reply


def test_template_over_rows() -> None:
    rows = [{"text": "a"}, {"text": "b"}]
    assert render_items(rows, "Classify: {text}") == ["Classify: a", "Classify: b"]
    assert render_items(["x"], None) == ["x"]


def test_bad_on_error_is_named() -> None:
    chat = Chat(base_url="http://127.0.0.1:9", model="m")
    with pytest.raises(ValueError, match="on_error"):
        asyncio.run(amap(chat, ["a"], on_error="ignore"))


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_order_preserved(mode: str) -> None:
    with FakeOpenAIServer(model="m") as server:
        chat = Chat(base_url=server.base_url, model="m", max_retries=0)
        prompts = [f"p{i}" for i in range(12)]
        if mode == "sync":
            results = chat.map(prompts, concurrency=4)
        else:
            results = asyncio.run(chat.amap(prompts, concurrency=4))
        assert len(results) == 12
        assert not any(isinstance(r, Exception) for r in results)
        assert [r.text for r in results] == [f"Echo: {p}" for p in prompts]


def test_failed_item_kept_in_its_slot() -> None:
    with FakeOpenAIServer(model="m") as server:
        server.queue(Reply(status=400))
        chat = Chat(base_url=server.base_url, model="m", max_retries=0)
        results = map_items(chat, ["a", "b", "c"], concurrency=1)
        assert isinstance(results[0], APIError)
        assert [r.text for r in results[1:]] == ["Echo: b", "Echo: c"]
        with pytest.raises(APIError):
            server.queue(Reply(status=400))
            map_items(chat, ["a", "b"], concurrency=1, on_error="raise")
