"""Replays of byte-exact llama.cpp (llama-cpp-python) responses."""

from __future__ import annotations

import json

import httpx
import pytest

from lexilux_nb.client.models import Usage

from .scenario import SSE_HEADERS, ChunkedStream, run_path

STREAM_PATHS = ("sync_stream", "async_stream")


def captured_headers(path) -> dict[str, str]:
    """The response headers of a ``.headers`` capture (status line skipped)."""
    lines = path.read_text().splitlines()[1:]
    pairs = (line.split(":", 1) for line in lines if ":" in line)
    skip = {"transfer-encoding", "content-length"}
    return {k.strip(): v.strip() for k, v in pairs if k.strip().lower() not in skip}


def stream_response(path) -> httpx.Response:
    return httpx.Response(200, headers=SSE_HEADERS, content=path.read_bytes())


@pytest.fixture
def nonstream(llamacpp_dir) -> dict:
    return json.loads((llamacpp_dir / "llamacpp_nonstream_length.json").read_text())


@pytest.fixture
def route(router):
    return router.post("/chat/completions")


def test_the_nonstream_capture_parses(nonstream, chat, route):
    route.respond(200, json=nonstream)

    result = chat("Write a poem about the sea.", max_tokens=40)

    assert result.finish_reason == "length"
    assert result.usage == Usage(38, 40, 78, {})
    assert result.text.startswith("In the depths of the blue,")
    assert result.model == "smollm2"


@pytest.mark.parametrize("path", STREAM_PATHS)
async def test_length_stream_matches_the_nonstream_text(path, llamacpp_dir, nonstream, chat, route):
    route.mock(return_value=stream_response(llamacpp_dir / "llamacpp_stream_length.sse"))

    outcome = await run_path(path, chat, "Write a poem about the sea.", max_tokens=40)

    assert outcome.error is None
    result = outcome.result
    assert result.finish_reason == "length"
    assert not result.usage.reported  # this server sends no usage chunk even when asked
    assert result.text == nonstream["choices"][0]["message"]["content"]
    assert result.model == "smollm2"
    assert [c.done for c in outcome.chunks].count(True) == 1
    assert outcome.chunks[-1].finish_reason == "length"


@pytest.mark.parametrize("path", STREAM_PATHS)
async def test_stop_stream(path, llamacpp_dir, chat, route):
    sse = llamacpp_dir / "llamacpp_stream_stop.sse"
    route.mock(return_value=stream_response(sse))

    outcome = await run_path(path, chat, "hi", max_tokens=60)

    events = [json.loads(e[6:]) for e in sse.read_text().split("\n\n") if e.startswith("data: {")]
    expected = "".join(e["choices"][0]["delta"].get("content", "") for e in events)
    assert outcome.error is None
    assert outcome.result.finish_reason == "stop"
    assert outcome.result.text == expected
    assert expected  # the capture has text


@pytest.mark.parametrize("name", ["llamacpp_stream_length.sse", "llamacpp_stream_stop.sse"])
def test_role_only_first_chunk_yields_no_content_chunk(name, llamacpp_dir, chat, route):
    sse = llamacpp_dir / name
    events = [json.loads(e[6:]) for e in sse.read_text().split("\n\n") if e.startswith("data: {")]
    assert events[0]["choices"][0]["delta"] == {"role": "assistant"}
    content_events = [e for e in events if e["choices"][0]["delta"].get("content")]
    route.mock(return_value=stream_response(sse))

    chunks = list(chat.stream("hi"))

    assert chunks[0].delta == content_events[0]["choices"][0]["delta"]["content"]
    assert [c.delta for c in chunks[:-1]] == [
        e["choices"][0]["delta"]["content"] for e in content_events
    ]
    assert all(c.delta for c in chunks[:-1])
    assert chunks[-1].done and chunks[-1].delta == ""


def test_replay_with_the_captured_headers_in_small_reads(llamacpp_dir, nonstream, chat, route):
    headers = captured_headers(llamacpp_dir / "llamacpp_stream_length.headers")
    assert headers["content-type"] == "text/event-stream; charset=utf-8"
    body = (llamacpp_dir / "llamacpp_stream_length.sse").read_bytes()
    parts = [body[i : i + 97] for i in range(0, len(body), 97)]  # reads split mid-event
    route.mock(return_value=httpx.Response(200, headers=headers, stream=ChunkedStream(parts)))

    stream = chat.stream("hi")
    text = "".join(c.delta for c in stream)

    assert text == nonstream["choices"][0]["message"]["content"]
    assert stream.result.finish_reason == "length"


def test_llamacpp_stream_asked_for_usage(llamacpp_dir, chat, route):
    route.mock(return_value=stream_response(llamacpp_dir / "llamacpp_stream_length.sse"))

    list(chat.stream("hi", max_tokens=40))

    body = json.loads(route.calls.last.request.content)
    assert body["stream_options"] == {"include_usage": True}
    assert body["max_tokens"] == 40
