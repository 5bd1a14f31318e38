"""The fake OpenAI server in ``lexilux_nb.testing`` speaks the real wire format and faults."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from lexilux_nb.testing import FakeOpenAIServer, RecordedRequest, Reply, split_tokens

LONG = (
    "The sea is vast and deep, and under its waves live creatures of every shape. "
    "Some glow in the dark, some hide in the sand, and some travel thousands of miles "
    "every year. **Whales** sing to each other across whole oceans.\n\n"
    "- Coral reefs shelter a quarter of marine species.\n"
    "- The deepest point is almost eleven kilometres down.\n"
)
USER = [{"role": "user", "content": "Tell me about the sea"}]


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(model="fake-model") as srv:
        yield srv


def chat_url(server: FakeOpenAIServer) -> str:
    return server.base_url + "/chat/completions"


def post(server: FakeOpenAIServer, **body: Any) -> httpx.Response:
    body.setdefault("model", "fake-model")
    body.setdefault("messages", USER)
    return httpx.post(chat_url(server), json=body, timeout=10)


def stream_raw(server: FakeOpenAIServer, **body: Any) -> bytes:
    body.setdefault("model", "fake-model")
    body.setdefault("messages", USER)
    body["stream"] = True
    with httpx.stream("POST", chat_url(server), json=body, timeout=30) as resp:
        assert resp.status_code == 200
        assert resp.headers["content-type"].startswith("text/event-stream")
        return resp.read()


def parse_sse(raw: bytes) -> list[str]:
    """The ``data`` payloads, for the default spelling (``data: ...`` + blank line)."""
    text = raw.decode("utf-8")
    assert text.endswith("\n\n")
    events = text[:-2].split("\n\n")
    out = []
    for event in events:
        assert event.startswith("data: "), event
        assert "\n" not in event
        out.append(event[len("data: ") :])
    return out


def stream_chunks(server: FakeOpenAIServer, **body: Any) -> list[dict[str, Any]]:
    """The decoded chunks of a stream that must end with ``data: [DONE]``."""
    payloads = parse_sse(stream_raw(server, **body))
    assert payloads[-1] == "[DONE]"
    assert "[DONE]" not in payloads[:-1]
    return [json.loads(p) for p in payloads[:-1]]


def content_of(chunks: list[dict[str, Any]]) -> str:
    return "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])


# ---- non-streaming -------------------------------------------------------------------------


def test_non_stream_shape_and_usage(server: FakeOpenAIServer) -> None:
    server.queue(Reply(text="Hello **world**"))
    resp = post(server)
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "application/json"
    data = resp.json()
    assert data["object"] == "chat.completion"
    assert data["id"].startswith("chatcmpl-")
    assert isinstance(data["created"], int)
    assert data["model"] == "fake-model"
    (choice,) = data["choices"]
    assert choice["index"] == 0
    assert choice["message"] == {"role": "assistant", "content": "Hello **world**"}
    assert choice["finish_reason"] == "stop"
    usage = data["usage"]
    assert usage["completion_tokens"] == len(split_tokens("Hello **world**")) == 2
    assert usage["prompt_tokens"] > 0
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def test_default_reply_echoes_last_user_message(server: FakeOpenAIServer) -> None:
    messages = [
        {"role": "system", "content": "be nice"},
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": [{"type": "text", "text": "second question"}]},
    ]
    data = post(server, messages=messages).json()
    assert data["choices"][0]["message"]["content"] == "Echo: second question"


def test_usage_can_be_left_out_and_model_overridden(server: FakeOpenAIServer) -> None:
    server.queue(Reply(text="x", usage=False, model="other-model"))
    data = post(server, model="asked-model").json()
    assert "usage" not in data
    assert data["model"] == "other-model"
    assert post(server, model="asked-model").json()["model"] == "asked-model"


def test_prompt_tokens_are_deterministic(server: FakeOpenAIServer) -> None:
    short = post(server, messages=[{"role": "user", "content": "hi"}]).json()["usage"]
    again = post(server, messages=[{"role": "user", "content": "hi"}]).json()["usage"]
    longer = post(server, messages=[{"role": "user", "content": "hi " * 50}]).json()["usage"]
    assert short["prompt_tokens"] == again["prompt_tokens"]
    assert longer["prompt_tokens"] > short["prompt_tokens"]


def test_models_endpoint(server: FakeOpenAIServer) -> None:
    data = httpx.get(server.base_url + "/models").json()
    assert data["object"] == "list"
    assert [m["id"] for m in data["data"]] == ["fake-model"]
    assert httpx.get(server.base_url + "/models/fake-model").json()["id"] == "fake-model"
    assert httpx.get(server.base_url + "/models/nope").status_code == 404


# ---- streaming -----------------------------------------------------------------------------


def test_split_tokens_round_trips() -> None:
    for text in (LONG, "", "  lead", "trail  ", "a\n\nb", "Hello **world**"):
        assert "".join(split_tokens(text)) == text
    assert split_tokens("Hello **world**, ok") == ["Hello", " **world**,", " ok"]


def test_stream_event_shapes(server: FakeOpenAIServer) -> None:
    server.queue(Reply(text=LONG))
    raw = stream_raw(server)
    assert raw.startswith(b"data: {")
    assert raw.endswith(b"\n\ndata: [DONE]\n\n")
    assert b"\r" not in raw
    chunks = [json.loads(p) for p in parse_sse(raw)[:-1]]
    first, *middle, last = chunks
    assert first["object"] == "chat.completion.chunk"
    assert first["choices"] == [
        {"index": 0, "delta": {"role": "assistant"}, "logprobs": None, "finish_reason": None}
    ]
    assert all(list(c["choices"][0]["delta"]) == ["content"] for c in middle)
    assert all(c["choices"][0]["finish_reason"] is None for c in middle)
    assert [c["choices"][0]["delta"]["content"] for c in middle] == split_tokens(LONG)
    assert last["choices"][0]["delta"] == {}
    assert last["choices"][0]["finish_reason"] == "stop"
    assert len({c["id"] for c in chunks}) == 1
    assert all(c["model"] == "fake-model" for c in chunks)
    # Without include_usage there is no usage anywhere, as with OpenAI.
    assert all("usage" not in c for c in chunks)


def test_explicit_chunks(server: FakeOpenAIServer) -> None:
    server.queue(Reply(chunks=["Hel", "lo ", "wo", "rld"]))
    chunks = stream_chunks(server)
    assert [c["choices"][0]["delta"].get("content") for c in chunks[1:-1]] == [
        "Hel",
        "lo ",
        "wo",
        "rld",
    ]
    with pytest.raises(ValueError):
        Reply(text="abc", chunks=["x"])


def test_unicode_survives(server: FakeOpenAIServer) -> None:
    text = "Grüße 🌊 海は広い — ok"
    server.queue(Reply(text=text), Reply(text=text))
    assert content_of(stream_chunks(server)) == text
    assert post(server).json()["choices"][0]["message"]["content"] == text


def test_include_usage_chunk_only_when_requested(server: FakeOpenAIServer) -> None:
    server.default = Reply(text="one two three")
    chunks = stream_chunks(server, stream_options={"include_usage": True})
    *rest, usage_chunk = chunks
    assert usage_chunk["choices"] == []
    assert usage_chunk["usage"]["completion_tokens"] == 3
    assert usage_chunk["usage"]["total_tokens"] == (
        usage_chunk["usage"]["prompt_tokens"] + usage_chunk["usage"]["completion_tokens"]
    )
    assert rest[-1]["choices"][0]["finish_reason"] == "stop"
    assert all(c["usage"] is None for c in rest)  # OpenAI sends usage: null on the others

    chunks = stream_chunks(server, stream_options={"include_usage": False})
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert all(c["choices"] for c in chunks)


def test_usage_chunk_override(server: FakeOpenAIServer) -> None:
    server.queue(Reply(text="a b", usage_chunk=True), Reply(text="a b", usage_chunk=False))
    assert stream_chunks(server)[-1]["choices"] == []
    chunks = stream_chunks(server, stream_options={"include_usage": True})
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


# ---- max_tokens and continuation -----------------------------------------------------------


def test_max_tokens_cut_stream_and_non_stream(server: FakeOpenAIServer) -> None:
    server.default = Reply(text=LONG)
    pieces = split_tokens(LONG)
    chunks = stream_chunks(server, max_tokens=5, stream_options={"include_usage": True})
    assert content_of(chunks) == "".join(pieces[:5])
    assert chunks[-2]["choices"][0]["finish_reason"] == "length"
    assert chunks[-1]["usage"]["completion_tokens"] == 5

    data = post(server, max_completion_tokens=7).json()
    assert data["choices"][0]["message"]["content"] == "".join(pieces[:7])
    assert data["choices"][0]["finish_reason"] == "length"
    assert data["usage"]["completion_tokens"] == 7

    # Not cut when the answer fits.
    data = post(server, max_tokens=len(pieces)).json()
    assert data["choices"][0]["finish_reason"] == "stop"
    assert data["choices"][0]["message"]["content"] == LONG


@pytest.mark.parametrize("with_continue_prompt", [True, False])
@pytest.mark.parametrize("stream", [True, False])
def test_resume_reconstructs_the_full_text(
    server: FakeOpenAIServer, stream: bool, with_continue_prompt: bool
) -> None:
    server.default = Reply(text=LONG, resume=True)
    answer = ""
    rounds = 0
    finish = "length"
    while finish == "length":
        rounds += 1
        assert rounds < 50
        messages = list(USER)
        if answer:
            messages.append({"role": "assistant", "content": answer})
            if with_continue_prompt:
                messages.append({"role": "user", "content": "Continue."})
        if stream:
            chunks = stream_chunks(server, messages=messages, max_tokens=10)
            answer += content_of(chunks)
            finish = chunks[-1]["choices"][0]["finish_reason"]
        else:
            choice = post(server, messages=messages, max_tokens=10).json()["choices"][0]
            answer += choice["message"]["content"]
            finish = choice["finish_reason"]
    assert finish == "stop"
    assert answer == LONG
    assert rounds == -(-len(split_tokens(LONG)) // 10)


def test_resume_with_chained_partial_answers(server: FakeOpenAIServer) -> None:
    """Clients that keep each partial answer as its own assistant message also work."""
    server.default = Reply(text=LONG, resume=True)
    messages = list(USER)
    parts = []
    for _ in range(100):
        choice = post(server, messages=messages, max_tokens=8).json()["choices"][0]
        parts.append(choice["message"]["content"])
        if choice["finish_reason"] == "stop":
            break
        messages += [
            {"role": "assistant", "content": parts[-1].strip()},
            {"role": "user", "content": "continue"},
        ]
    assert "".join(parts) == LONG


def test_resume_tolerates_stripped_trailing_whitespace(server: FakeOpenAIServer) -> None:
    text = "alpha beta\n\ngamma delta"
    server.default = Reply(text=text, resume=True)
    prefix = "alpha beta\n\n"
    messages = [*USER, {"role": "assistant", "content": prefix.rstrip()}]
    rest = post(server, messages=messages).json()["choices"][0]["message"]["content"]
    assert prefix.rstrip() + rest == text


def test_resume_overlap_repeats_the_tail(server: FakeOpenAIServer) -> None:
    pieces = split_tokens(LONG)
    server.default = Reply(text=LONG, resume=True, overlap=2)
    first = "".join(pieces[:6])
    messages = [*USER, {"role": "assistant", "content": first}, {"role": "user", "content": "go"}]
    chunks = stream_chunks(server, messages=messages, max_tokens=5)
    sent = [c["choices"][0]["delta"]["content"] for c in chunks[1:-1]]
    assert sent == pieces[4:9]  # two pieces already sent, then three new ones
    assert chunks[-1]["choices"][0]["finish_reason"] == "length"


def test_resume_starts_over_for_a_new_question(server: FakeOpenAIServer) -> None:
    server.default = Reply(text="short answer", resume=True)
    messages = [
        *USER,
        {"role": "assistant", "content": "short answer"},
        {"role": "user", "content": "And again?"},
    ]
    assert post(server, messages=messages).json()["choices"][0]["message"]["content"] == (
        "short answer"
    )
    unrelated = [*USER, {"role": "assistant", "content": "something else"}]
    assert post(server, messages=unrelated).json()["choices"][0]["message"]["content"] == (
        "short answer"
    )


# ---- tool calls and reasoning --------------------------------------------------------------


TOOLS: list[dict[str, Any]] = [
    {"id": "call_a", "name": "get_weather", "arguments": '{"city": "Paris", "unit": "celsius"}'},
    {"id": "call_b", "name": "get_time", "arguments": {"tz": "Europe/Paris"}},
]


def test_tool_call_stream(server: FakeOpenAIServer) -> None:
    server.queue(Reply(tool_calls=TOOLS))
    chunks = stream_chunks(server)
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant"}
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"
    assert chunks[-1]["choices"][0]["delta"] == {}
    deltas = [c["choices"][0]["delta"]["tool_calls"] for c in chunks[1:-1]]
    assert all(len(d) == 1 for d in deltas)
    calls: dict[int, dict[str, Any]] = {}
    fragments: dict[int, int] = {}
    for (delta,) in deltas:
        index = delta["index"]
        if index not in calls:
            assert delta["id"] and delta["type"] == "function"
            assert delta["function"]["arguments"] == ""
            calls[index] = {"id": delta["id"], "name": delta["function"]["name"], "args": ""}
            fragments[index] = 0
        else:
            assert set(delta) == {"index", "function"}
            assert set(delta["function"]) == {"arguments"}
            calls[index]["args"] += delta["function"]["arguments"]
            fragments[index] += 1
    assert sorted(calls) == [0, 1]
    assert calls[0] == {"id": "call_a", "name": "get_weather", "args": TOOLS[0]["arguments"]}
    assert calls[1]["name"] == "get_time"
    assert json.loads(calls[1]["args"]) == {"tz": "Europe/Paris"}
    assert fragments[0] >= 3 and fragments[1] >= 2


def test_tool_call_non_stream(server: FakeOpenAIServer) -> None:
    server.queue(Reply(tool_calls=TOOLS[:1]))
    choice = post(server).json()["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] is None
    assert choice["message"]["tool_calls"] == [
        {
            "id": "call_a",
            "type": "function",
            "function": {"name": "get_weather", "arguments": TOOLS[0]["arguments"]},
        }
    ]


def test_reasoning_deltas(server: FakeOpenAIServer) -> None:
    server.queue(Reply(text="Answer.", reasoning="Let me think about it."))
    chunks = stream_chunks(server, stream_options={"include_usage": True})
    deltas = [c["choices"][0]["delta"] for c in chunks[1:-2]]
    reasoning = [d["reasoning_content"] for d in deltas if "reasoning_content" in d]
    assert "".join(reasoning) == "Let me think about it."
    first_content = next(i for i, d in enumerate(deltas) if "content" in d)
    assert all("reasoning_content" in d for d in deltas[:first_content])
    assert content_of(chunks) == "Answer."
    assert chunks[-1]["usage"]["completion_tokens"] == len(reasoning) + 1

    server.queue(Reply(text="Answer.", reasoning="Hmm."))
    message = post(server).json()["choices"][0]["message"]
    assert message == {"role": "assistant", "content": "Answer.", "reasoning_content": "Hmm."}


# ---- faults --------------------------------------------------------------------------------


def test_error_status_with_headers(server: FakeOpenAIServer) -> None:
    server.queue(
        Reply(status=429, headers={"Retry-After": "2"}),
        Reply(
            status=503, headers={"retry-after-ms": "150"}, error_body={"error": {"message": "x"}}
        ),
        Reply(status=502, error_body="<html>Bad gateway</html>"),
    )
    resp = post(server, stream=True)
    assert resp.status_code == 429
    assert resp.headers["retry-after"] == "2"
    assert resp.headers["content-type"] == "application/json"
    error = resp.json()["error"]
    assert error["code"] == "rate_limit_exceeded"
    assert error["message"] and error["type"]

    resp = post(server)
    assert resp.status_code == 503
    assert resp.headers["retry-after-ms"] == "150"
    assert resp.json() == {"error": {"message": "x"}}

    resp = post(server)
    assert resp.status_code == 502
    assert resp.text == "<html>Bad gateway</html>"
    assert resp.headers["content-type"].startswith("text/plain")


def test_cut_after_closes_the_connection_without_done(server: FakeOpenAIServer) -> None:
    server.queue(Reply(text=LONG, cut_after=4))
    received = b""
    with (
        pytest.raises(httpx.RemoteProtocolError),
        httpx.stream(
            "POST", chat_url(server), json={"model": "m", "messages": USER, "stream": True}
        ) as resp,
    ):
        assert resp.status_code == 200
        for data in resp.iter_bytes():
            received += data
    text = received.decode()
    assert "[DONE]" not in text
    assert 'finish_reason":"stop' not in text
    events = [json.loads(e[len("data: ") :]) for e in text.strip().split("\n\n")]
    assert len(events) == 5  # the role chunk and four content chunks
    assert content_of(events) == "".join(split_tokens(LONG)[:4])


def test_cut_after_on_raw_socket_ends_without_final_chunk(server: FakeOpenAIServer) -> None:
    server.queue(Reply(text=LONG, cut_after=2, delay=0.01))
    body = json.dumps({"model": "m", "messages": USER, "stream": True}).encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
        )
        data = b""
        while chunk := sock.recv(65536):  # ends: the server closed the connection
            data += chunk
    assert b"transfer-encoding: chunked" in data.lower()
    assert b"[DONE]" not in data
    assert not data.endswith(b"0\r\n\r\n")
    assert data.count(b"data: ") == 3


def test_cut_after_non_stream(server: FakeOpenAIServer) -> None:
    server.queue(Reply(text=LONG, cut_after=0))
    with pytest.raises(httpx.RemoteProtocolError):
        post(server)


def test_error_event_after(server: FakeOpenAIServer) -> None:
    server.queue(Reply(text=LONG, error_event_after=3))
    payloads = parse_sse(stream_raw(server))
    assert "[DONE]" not in payloads
    *chunks, error = (json.loads(p) for p in payloads)
    assert error["error"]["type"] == "server_error"
    assert error["error"]["message"]
    assert len(chunks) == 4
    assert all(c["choices"][0]["finish_reason"] is None for c in chunks)


def test_hang_ends_promptly_when_the_server_stops() -> None:
    server = FakeOpenAIServer().start()
    server.queue(Reply(text="never", hang=60))
    outcome: list[BaseException | int] = []

    def client() -> None:
        try:
            outcome.append(post(server).status_code)
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=client, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.requests and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.requests
    started = time.monotonic()
    server.stop()
    thread.join(10)
    assert not thread.is_alive()
    assert time.monotonic() - started < 5
    assert len(outcome) == 1 and isinstance(outcome[0], httpx.HTTPError)


def test_stop_during_a_slow_stream() -> None:
    server = FakeOpenAIServer().start()
    server.default = Reply(text=LONG, delay=0.2)
    got: list[bytes] = []
    errors: list[BaseException] = []

    def client() -> None:
        try:
            with httpx.stream(
                "POST", chat_url(server), json={"model": "m", "messages": USER, "stream": True}
            ) as resp:
                for data in resp.iter_bytes():
                    got.append(data)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=client, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not got and time.monotonic() < deadline:
        time.sleep(0.01)
    started = time.monotonic()
    server.stop()
    thread.join(10)
    assert not thread.is_alive()
    assert time.monotonic() - started < 5
    assert b"[DONE]" not in b"".join(got)
    assert errors and isinstance(errors[0], httpx.HTTPError)


def test_latency_and_delay_still_deliver(server: FakeOpenAIServer) -> None:
    server.queue(Reply(text="a b c", latency=0.05, delay=0.01))
    assert content_of(stream_chunks(server)) == "a b c"
    server.queue(Reply(text="a b c", latency=0.05))
    assert post(server).json()["choices"][0]["message"]["content"] == "a b c"


def test_sse_style_variants(server: FakeOpenAIServer) -> None:
    server.queue(
        Reply(text="a b", sse_style="nospace"),
        Reply(text="a b", sse_style="crlf"),
        Reply(text="a b", comments=True),
    )
    raw = stream_raw(server)
    assert raw.startswith(b"data:{") and raw.endswith(b"\n\ndata:[DONE]\n\n")
    assert b"data: " not in raw
    assert raw.count(b"data:{") == 4

    raw = stream_raw(server)
    assert raw.startswith(b"data: {") and raw.endswith(b"\r\n\r\ndata: [DONE]\r\n\r\n")
    assert raw.count(b"\r\n\r\n") == 5
    assert raw.replace(b"\r\n", b"").count(b"\n") == 0

    raw = stream_raw(server)
    assert raw.startswith(b": keep-alive\n\ndata: {")
    assert raw.count(b": keep-alive\n\n") == 5
    assert raw.endswith(b": keep-alive\n\ndata: [DONE]\n\n")
    with pytest.raises(ValueError):
        Reply(sse_style="weird")


# ---- auth, routing, recording --------------------------------------------------------------


def test_api_key_required() -> None:
    with FakeOpenAIServer(api_key="sk-secret") as server:
        resp = post(server)
        assert resp.status_code == 401
        assert "Incorrect API key provided" in resp.json()["error"]["message"]
        resp = httpx.post(
            chat_url(server),
            json={"model": "m", "messages": USER},
            headers={"Authorization": "Bearer sk-wrong-key-123"},
        )
        assert resp.status_code == 401
        assert "Incorrect API key provided" in resp.json()["error"]["message"]
        assert httpx.get(server.base_url + "/models").status_code == 401
        resp = httpx.post(
            chat_url(server),
            json={"model": "m", "messages": USER},
            headers={"Authorization": "Bearer sk-secret"},
        )
        assert resp.status_code == 200


def test_unknown_path_and_invalid_json(server: FakeOpenAIServer) -> None:
    resp = httpx.post(server.base_url + "/nope", json={})
    assert resp.status_code == 404
    assert resp.json()["error"]["message"]
    resp = httpx.post(
        chat_url(server), content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert resp.status_code == 400
    assert resp.json()["error"]["type"] == "invalid_request_error"
    resp = httpx.post(chat_url(server), json={"model": "m", "messages": "oops"})
    assert resp.status_code == 400
    assert server.pending == 0
    assert server.requests[1].json is None and server.requests[1].body == b"{not json"


def test_queue_is_fifo_with_callables_and_default(server: FakeOpenAIServer) -> None:
    seen: list[RecordedRequest] = []

    def shout(req: RecordedRequest) -> Reply:
        seen.append(req)
        return Reply(text=req.messages[-1]["content"].upper())

    server.queue(Reply(text="one"), shout, "three")
    server.default = Reply(text="fallback")
    texts = [
        post(server, messages=[{"role": "user", "content": f"msg {i}"}]).json()["choices"][0][
            "message"
        ]["content"]
        for i in range(5)
    ]
    assert texts == ["one", "MSG 1", "three", "fallback", "fallback"]
    assert seen[0].messages[-1]["content"] == "msg 1"


def test_failing_callable_gives_500(server: FakeOpenAIServer) -> None:
    def boom(req: RecordedRequest) -> Reply:
        raise RuntimeError("scripted failure")

    server.queue(boom)
    resp = post(server)
    assert resp.status_code == 500
    assert "scripted failure" in resp.json()["error"]["message"]


def test_requests_are_recorded_and_cleared(server: FakeOpenAIServer) -> None:
    server.queue(Reply(text="queued"), Reply(text="queued too"))
    post(server, max_tokens=12, stream=False, temperature=0.5)
    stream_raw(server, max_completion_tokens=20)
    httpx.get(server.base_url + "/models")
    reqs = server.requests
    assert [(r.method, r.path) for r in reqs] == [
        ("POST", "/v1/chat/completions"),
        ("POST", "/v1/chat/completions"),
        ("GET", "/v1/models"),
    ]
    assert reqs[0].messages == USER
    assert reqs[0].stream is False and reqs[1].stream is True
    assert reqs[0].max_tokens == 12 and reqs[1].max_tokens == 20
    assert reqs[0].json["temperature"] == 0.5
    assert reqs[0].headers["content-type"] == "application/json"
    assert reqs[2].json is None
    server.queue(Reply(text="left over"))
    server.clear()
    assert server.requests == [] and server.pending == 0


def test_keep_alive_and_chunked_request_body(server: FakeOpenAIServer) -> None:
    with httpx.Client(base_url=server.base_url) as client:
        for i in range(3):
            resp = client.post(
                "/chat/completions",
                json={"model": "m", "messages": [{"role": "user", "content": str(i)}]},
            )
            assert resp.json()["choices"][0]["message"]["content"] == f"Echo: {i}"
        body = json.dumps({"model": "m", "messages": USER}).encode()
        resp = client.post("/chat/completions", content=iter([body[:10], body[10:]]))
        assert resp.status_code == 200
        assert server.requests[-1].messages == USER


def test_start_stop_closes_the_port() -> None:
    server = FakeOpenAIServer()
    with pytest.raises(RuntimeError):
        _ = server.base_url
    server.start()
    port = server.port
    assert server.base_url == f"http://127.0.0.1:{port}/v1"
    # An idle keep-alive connection must not keep the server alive.
    client = httpx.Client()
    assert client.get(server.base_url + "/models").status_code == 200
    started = time.monotonic()
    server.stop()
    server.stop()  # idempotent
    assert time.monotonic() - started < 5
    assert not server.running
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    client.close()


def test_twenty_thousand_chunk_stream(server: FakeOpenAIServer) -> None:
    n = 20_000
    server.queue(Reply(chunks=[f"w{i} " for i in range(n)]))
    started = time.monotonic()
    with httpx.stream(
        "POST",
        chat_url(server),
        json={"model": "m", "messages": USER, "stream": True},
        timeout=60,
    ) as resp:
        events = [line for line in resp.iter_lines() if line.startswith("data: ")]
    assert time.monotonic() - started < 60
    assert len(events) == n + 3  # role, n contents, finish, [DONE]
    assert events[-1] == "data: [DONE]"
    assert json.loads(events[n][6:])["choices"][0]["delta"]["content"] == f"w{n - 1} "


# ---- the real OpenAI SDK -------------------------------------------------------------------


def test_openai_sdk_non_stream_and_stream(server: FakeOpenAIServer) -> None:
    openai = pytest.importorskip("openai")
    client = openai.OpenAI(base_url=server.base_url, api_key="x", max_retries=0)
    server.queue(Reply(text="Hello **world**"), Reply(text=LONG, reasoning="Hmm, the sea."))

    result = client.chat.completions.create(model="fake-model", messages=USER)
    assert result.choices[0].message.content == "Hello **world**"
    assert result.choices[0].finish_reason == "stop"
    assert result.usage is not None and result.usage.completion_tokens == 2

    stream = client.chat.completions.create(
        model="fake-model",
        messages=USER,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == LONG
    finish = [
        c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason
    ]
    assert finish == ["stop"]
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == len(split_tokens(LONG)) + len(
        split_tokens("Hmm, the sea.")
    )
    assert [m.id for m in client.models.list()] == ["fake-model"]


def test_openai_sdk_sees_errors_and_tool_calls(server: FakeOpenAIServer) -> None:
    openai = pytest.importorskip("openai")
    client = openai.OpenAI(base_url=server.base_url, api_key="x", max_retries=0)
    server.queue(Reply(status=429, headers={"Retry-After": "1"}), Reply(tool_calls=TOOLS))
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(model="fake-model", messages=USER)
    result = client.chat.completions.create(model="fake-model", messages=USER)
    calls = result.choices[0].message.tool_calls
    assert calls is not None
    assert [c.function.name for c in calls] == ["get_weather", "get_time"]
    assert result.choices[0].finish_reason == "tool_calls"


# ---- command line --------------------------------------------------------------------------


def test_command_line_serves_until_interrupted() -> None:
    root = Path(__file__).resolve().parents[1]
    env = dict(os.environ, PYTHONPATH=str(root) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen(
        [sys.executable, "-m", "lexilux_nb.testing", "--port", "0", "--text", LONG, "--resume"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=root,
    )
    try:
        assert proc.stdout is not None
        base_url = proc.stdout.readline().strip()
        assert base_url.startswith("http://127.0.0.1:") and base_url.endswith("/v1")
        resp = httpx.post(
            base_url + "/chat/completions",
            json={"model": "m", "messages": USER, "max_tokens": 3},
            timeout=10,
        )
        choice = resp.json()["choices"][0]
        assert choice["message"]["content"] == "".join(split_tokens(LONG)[:3])
        assert choice["finish_reason"] == "length"
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
