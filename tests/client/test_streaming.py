"""Streaming: SSE spellings, usage chunks, errors and cuts, tool-call fragments, closing."""

from __future__ import annotations

import json

import httpx
import pytest

from lexilux_nb.client.errors import (
    APIError,
    ChatStreamInterruptedError,
    LexiluxConnectionError,
    RateLimitError,
    ServerError,
)
from lexilux_nb.client.models import ToolCall, Usage

from .scenario import (
    SSE_HEADERS,
    ChunkedStream,
    Scenario,
    run_path,
    sse_body,
    sse_event,
    sse_response,
    summary,
)

STREAM_PATHS = ("sync_stream", "async_stream")
USAGE = {"prompt_tokens": 9, "completion_tokens": 4, "total_tokens": 13}
SCENARIO = Scenario(text="Streaming works fine.", usage=USAGE)


@pytest.fixture
def route(router):
    return router.post("/chat/completions")


def events_of(body: bytes) -> list[str]:
    return [e for e in body.decode().split("\n\n") if e]


# -- SSE spellings ------------------------------------------------------------------------------


def nospace(body: bytes) -> bytes:
    return body.replace(b"data: ", b"data:")


def crlf(body: bytes) -> bytes:
    return body.replace(b"\n", b"\r\n")


def comments(body: bytes) -> bytes:
    return b"".join(b": keep-alive\n\n" + e.encode() + b"\n\n" for e in events_of(body))


def multiline(_body: bytes) -> bytes:
    out = ""
    for chunk in SCENARIO.chunks():
        lines = json.dumps(chunk, indent=1).split("\n")
        out += "".join(f"data: {line}\n" for line in lines) + "\n"
    return (out + "data: [DONE]\n\n").encode()


def comment_lines_inside_events(body: bytes) -> bytes:
    return body.replace(b"data: ", b": a comment line\ndata: ")


def event_names(body: bytes) -> bytes:
    return body.replace(b"data: {", b"event: message\nid: 7\ndata: {")


def bytewise(body: bytes) -> list[bytes]:
    return [body[i : i + 1] for i in range(len(body))]


VARIANTS = {
    "standard": lambda b: b,
    "data-without-space": nospace,
    "crlf": crlf,
    "comments": comments,
    "comment-lines-inside-events": comment_lines_inside_events,
    "multi-line-data": multiline,
    "event-and-id-fields": event_names,
    "crlf-without-space": lambda b: crlf(nospace(b)),
}


@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize("path", STREAM_PATHS)
async def test_sse_spellings_give_the_same_result(variant, path, chat, route):
    route.mock(return_value=sse_response(VARIANTS[variant](SCENARIO.sse())))

    outcome = await run_path(path, chat, "hi")

    assert outcome.error is None
    assert summary(outcome.result) == SCENARIO.expected()
    assert [c.done for c in outcome.chunks].count(True) == 1


@pytest.mark.parametrize("path", STREAM_PATHS)
async def test_events_split_across_reads_one_byte_at_a_time(path, chat, route):
    route.mock(
        return_value=httpx.Response(
            200, headers=SSE_HEADERS, stream=ChunkedStream(bytewise(crlf(SCENARIO.sse())))
        )
    )

    outcome = await run_path(path, chat, "hi")

    assert summary(outcome.result) == SCENARIO.expected()


# -- usage ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", STREAM_PATHS)
async def test_usage_only_final_chunk_is_read(path, chat, route):
    body = SCENARIO.sse()
    assert b'"choices": [], "usage"' in body  # the scenario really sends the OpenAI shape
    route.mock(return_value=sse_response(body))

    outcome = await run_path(path, chat, "hi")

    assert outcome.result.usage == Usage(9, 4, 13, {})
    assert outcome.chunks[-1].usage == Usage(9, 4, 13, {})
    assert outcome.chunks[-1].done


@pytest.mark.parametrize("path", STREAM_PATHS)
async def test_usage_on_the_finish_chunk_is_read(path, chat, route):
    chunks = Scenario(text="ab").content_chunks()
    final = Scenario()._chunk({}, "stop")
    final["usage"] = {"prompt_tokens": 0, "completion_tokens": 2, "total_tokens": 2}
    route.mock(return_value=sse_response(sse_body([*chunks, final])))

    outcome = await run_path(path, chat, "hi")

    assert outcome.result.usage == Usage(0, 2, 2, {})


@pytest.mark.parametrize("path", STREAM_PATHS)
async def test_no_usage_chunk_leaves_usage_unreported(path, chat, route):
    route.mock(return_value=sse_response(Scenario(text="x y").sse()))

    outcome = await run_path(path, chat, "hi")

    assert not outcome.result.usage.reported


# -- endings -------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", STREAM_PATHS)
async def test_finish_reason_without_done_ends_fine(path, chat, route):
    route.mock(return_value=sse_response(SCENARIO.sse(done=False)))

    outcome = await run_path(path, chat, "hi")

    assert outcome.error is None
    assert summary(outcome.result) == SCENARIO.expected()
    assert [c.done for c in outcome.chunks] == [False] * (len(outcome.chunks) - 1) + [True]


@pytest.mark.parametrize("path", STREAM_PATHS)
async def test_stream_cut_before_finish_raises_with_the_partial_text(path, chat, route):
    scenario = Scenario(text="This answer is cut")
    route.mock(return_value=sse_response(sse_body(scenario.content_chunks(), done=False)))

    outcome = await run_path(path, chat, "hi")

    exc = outcome.error
    assert isinstance(exc, ChatStreamInterruptedError)
    assert exc.partial_result.text == "This answer is cut"
    assert exc.get_partial_text() == "This answer is cut"
    assert exc.partial_result.interrupted
    assert exc.partial_result.finish_reason is None
    assert "".join(c.delta for c in outcome.chunks) == "This answer is cut"
    assert not any(c.done for c in outcome.chunks)


@pytest.mark.parametrize("path", STREAM_PATHS)
async def test_empty_stream_is_an_interruption(path, chat, route):
    route.mock(return_value=sse_response(b""))

    outcome = await run_path(path, chat, "hi")

    assert isinstance(outcome.error, ChatStreamInterruptedError)
    assert outcome.error.partial_result.text == ""


def test_iterator_result_after_a_cut_says_interrupted(chat, route):
    route.mock(
        return_value=sse_response(sse_body(Scenario(text="cut").content_chunks(), done=False))
    )
    stream = chat.stream("hi")

    with pytest.raises(ChatStreamInterruptedError):
        list(stream)

    assert stream.result.text == "cut"
    assert stream.result.interrupted


async def test_async_iterator_result_after_a_cut_says_interrupted(chat, route):
    route.mock(
        return_value=sse_response(sse_body(Scenario(text="cut").content_chunks(), done=False))
    )
    stream = chat.astream("hi")

    with pytest.raises(ChatStreamInterruptedError):
        async for _ in stream:
            pass

    assert stream.result.text == "cut"
    assert stream.result.interrupted


@pytest.mark.parametrize("path", STREAM_PATHS)
async def test_done_without_finish_reason_completes(path, chat, route):
    route.mock(return_value=sse_response(sse_body(Scenario(text="a b").content_chunks())))

    outcome = await run_path(path, chat, "hi")

    assert outcome.error is None
    assert outcome.result.text == "a b"
    assert outcome.result.finish_reason is None
    assert outcome.chunks[-1].done


@pytest.mark.parametrize("path", STREAM_PATHS)
async def test_role_only_and_empty_chunks_yield_nothing(path, chat, route):
    scenario = Scenario(text="one two")
    route.mock(return_value=sse_response(scenario.sse()))

    outcome = await run_path(path, chat, "hi")

    assert [c.delta for c in outcome.chunks] == ["one", " two", ""]
    assert [c.done for c in outcome.chunks] == [False, False, True]


def test_stream_is_not_sent_until_iterated(chat, route):
    route.mock(return_value=sse_response(SCENARIO.sse()))

    stream = chat.stream("hi")
    assert not route.called

    next(stream)
    assert route.call_count == 1


def test_iterating_a_finished_stream_stops(chat, route):
    route.mock(return_value=sse_response(SCENARIO.sse()))
    stream = chat.stream("hi")

    assert list(stream)
    assert stream.done
    assert list(stream) == []
    with pytest.raises(StopIteration):
        next(stream)
    assert route.call_count == 1


# -- errors inside a stream ---------------------------------------------------------------------

ERROR_STREAMS = {
    "event-error": sse_event({"error": {"message": "model overloaded"}}, event="error"),
    "event-error-flat": sse_event({"message": "model overloaded"}, event="error"),
    "event-error-text": "event: error\ndata: model overloaded\n\n",
    "error-object": sse_event({"error": {"message": "model overloaded", "type": "server_error"}}),
}


@pytest.mark.parametrize("kind", list(ERROR_STREAMS))
@pytest.mark.parametrize("path", STREAM_PATHS)
async def test_error_mid_stream_raises_api_error(kind, path, chat, route):
    head = sse_body(Scenario(text="partial text").content_chunks(), done=False).decode()
    route.mock(return_value=sse_response(head + ERROR_STREAMS[kind] + "data: [DONE]\n\n"))

    outcome = await run_path(path, chat, "hi")

    assert isinstance(outcome.error, APIError)
    assert "model overloaded" in str(outcome.error)
    assert "".join(c.delta for c in outcome.chunks) == "partial text"
    assert not any(c.done for c in outcome.chunks)


@pytest.mark.parametrize("path", STREAM_PATHS)
async def test_error_as_the_first_event_raises_api_error(path, chat, route):
    route.mock(return_value=sse_response(ERROR_STREAMS["error-object"]))

    outcome = await run_path(path, chat, "hi")

    assert isinstance(outcome.error, APIError)
    assert outcome.chunks == []


@pytest.mark.parametrize(
    ("status", "cls"), [(429, RateLimitError), (500, ServerError), (503, ServerError)]
)
@pytest.mark.parametrize("path", STREAM_PATHS)
async def test_error_event_with_a_status_maps_to_its_class(status, cls, path, chat, route):
    error = {"error": {"message": "nope", "code": status, "status_code": status}}
    route.mock(return_value=sse_response(sse_event(error)))

    outcome = await run_path(path, chat, "hi")

    assert type(outcome.error) is cls
    assert outcome.error.status_code == status


@pytest.mark.parametrize("path", STREAM_PATHS)
async def test_malformed_event_raises_api_error(path, chat, route):
    route.mock(return_value=sse_response("data: {not json\n\n"))

    outcome = await run_path(path, chat, "hi")

    assert isinstance(outcome.error, APIError)


# -- tool calls ---------------------------------------------------------------------------------

PARALLEL = Scenario(
    text="",
    tool_calls=[
        ("call_a", "get_weather", '{"city": "Paris", "unit": "celsius"}'),
        ("call_b", "get_time", '{"timezone": "Asia/Tokyo"}'),
    ],
    finish_reason="tool_calls",
    interleave_tools=True,
)


@pytest.mark.parametrize("path", STREAM_PATHS)
async def test_parallel_tool_calls_accumulate_separately(path, chat, route):
    route.mock(return_value=sse_response(PARALLEL.sse()))

    outcome = await run_path(path, chat, "hi")

    expected = [
        ToolCall("call_a", "get_weather", '{"city": "Paris", "unit": "celsius"}'),
        ToolCall("call_b", "get_time", '{"timezone": "Asia/Tokyo"}'),
    ]
    assert outcome.result.tool_calls == expected
    assert outcome.result.finish_reason == "tool_calls"
    assert [c.get_arguments() for c in outcome.result.tool_calls] == [
        {"city": "Paris", "unit": "celsius"},
        {"timezone": "Asia/Tokyo"},
    ]
    # each complete call appears in exactly one chunk, and no chunk carries a partial one
    seen = [call for chunk in outcome.chunks for call in chunk.tool_calls]
    assert seen == expected
    assert sum(1 for chunk in outcome.chunks if chunk.tool_calls) == 1


def test_fragments_really_are_split(chat, route):
    deltas = [c["choices"][0]["delta"].get("tool_calls") for c in PARALLEL.chunks()]
    fragments = [d[0] for d in deltas if d]
    assert len(fragments) > 4
    assert fragments[0]["index"] == 0
    assert fragments[1]["index"] == 1  # interleaved: the two calls alternate


@pytest.mark.parametrize("path", STREAM_PATHS)
async def test_tool_calls_without_index_fall_back_to_id(path, chat, route):
    base = Scenario()

    def tool_chunk(delta):
        return base._chunk({"tool_calls": [delta]})

    chunks = [
        base._chunk({"role": "assistant"}),
        tool_chunk(
            {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": ""}}
        ),
        tool_chunk({"function": {"arguments": '{"x": '}}),
        tool_chunk({"function": {"arguments": "1}"}}),
        tool_chunk({"id": "call_2", "type": "function", "function": {"name": "g"}}),
        tool_chunk({"id": "call_2", "function": {"arguments": '{"y": 2}'}}),
        base._chunk({}, "tool_calls"),
    ]
    route.mock(return_value=sse_response(sse_body(chunks)))

    outcome = await run_path(path, chat, "hi")

    assert outcome.result.tool_calls == [
        ToolCall("call_1", "f", '{"x": 1}'),
        ToolCall("call_2", "g", '{"y": 2}'),
    ]
    assert [call for c in outcome.chunks for call in c.tool_calls] == outcome.result.tool_calls


@pytest.mark.parametrize("path", STREAM_PATHS)
async def test_several_calls_in_one_delta(path, chat, route):
    base = Scenario()
    both = [
        {"index": 0, "id": "a", "function": {"name": "f", "arguments": "{}"}},
        {"index": 1, "id": "b", "function": {"name": "g", "arguments": "{}"}},
    ]
    chunks = [base._chunk({"tool_calls": both}), base._chunk({}, "tool_calls")]
    route.mock(return_value=sse_response(sse_body(chunks)))

    outcome = await run_path(path, chat, "hi")

    assert outcome.result.tool_calls == [ToolCall("a", "f", "{}"), ToolCall("b", "g", "{}")]


# -- reasoning ----------------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["reasoning_content", "reasoning"])
@pytest.mark.parametrize("path", STREAM_PATHS)
async def test_reasoning_deltas_are_their_own_chunks(field, path, chat, route):
    scenario = Scenario(text="Answer.", reasoning="Step one. Step two.", reasoning_field=field)
    route.mock(return_value=sse_response(scenario.sse()))

    outcome = await run_path(path, chat, "hi")

    reasoning_chunks = [c for c in outcome.chunks if c.reasoning_content]
    assert "".join(c.reasoning for c in reasoning_chunks) == "Step one. Step two."
    assert all(c.delta == "" for c in reasoning_chunks)
    assert outcome.result.reasoning == "Step one. Step two."
    assert outcome.result.text == "Answer."


# -- a server that ignores stream=True ----------------------------------------------------------


@pytest.mark.parametrize("path", STREAM_PATHS)
async def test_json_answer_to_a_stream_request(path, chat, route):
    scenario = Scenario(
        text="Not streamed.",
        reasoning="thought",
        usage=USAGE,
        tool_calls=[("c1", "f", '{"a": 1}')],
        finish_reason="tool_calls",
    )
    route.respond(200, json=scenario.completion())

    outcome = await run_path(path, chat, "hi")

    assert outcome.error is None
    assert summary(outcome.result) == scenario.expected()
    assert outcome.chunks[0].delta == "Not streamed."
    assert [c.done for c in outcome.chunks].count(True) == 1
    assert [call for c in outcome.chunks for call in c.tool_calls] == scenario.expected()[
        "tool_calls"
    ]


@pytest.mark.parametrize("path", STREAM_PATHS)
async def test_json_error_object_with_200_to_a_stream_request(path, chat, route):
    route.respond(200, json={"error": {"message": "bad things"}})

    outcome = await run_path(path, chat, "hi")

    assert isinstance(outcome.error, APIError)
    assert "bad things" in str(outcome.error)


@pytest.mark.parametrize("path", STREAM_PATHS)
async def test_a_non_sse_answer_is_an_api_error(path, make_chat, route):
    chat = make_chat(max_retries=0)
    route.respond(200, text="<html>proxy login</html>", headers={"content-type": "text/html"})

    outcome = await run_path(path, chat, "hi")

    assert isinstance(outcome.error, APIError)


# -- closing ------------------------------------------------------------------------------------


def many_events(n: int = 50) -> list[bytes]:
    scenario = Scenario(text=" ".join(f"w{i}" for i in range(n)))
    return [e.encode() + b"\n\n" for e in events_of(scenario.sse())]


def test_close_mid_stream_stops_and_closes_the_response(chat, route):
    body = ChunkedStream(many_events())
    route.mock(return_value=httpx.Response(200, headers=SSE_HEADERS, stream=body))
    stream = chat.stream("hi")

    first, second = next(stream), next(stream)
    response = route.calls.last.response
    assert not response.is_closed

    stream.close()

    assert response.is_closed
    assert body.closed
    assert body.sent < len(body.parts)
    assert list(stream) == []
    assert first.delta + second.delta == "w0 w1"
    assert stream.result.text == "w0 w1"


def test_close_before_iterating_sends_nothing(chat, route):
    stream = chat.stream("hi")
    stream.close()

    assert list(stream) == []
    assert not route.called


def test_with_block_closes_the_stream(chat, route):
    body = ChunkedStream(many_events())
    route.mock(return_value=httpx.Response(200, headers=SSE_HEADERS, stream=body))

    with chat.stream("hi") as stream:
        next(stream)

    assert route.calls.last.response.is_closed
    assert body.closed


def test_breaking_out_and_exhausting_closes_the_response(chat, route):
    route.mock(return_value=sse_response(SCENARIO.sse()))

    list(chat.stream("hi"))

    assert route.calls.last.response.is_closed


async def test_async_close_mid_stream_stops_and_closes_the_response(chat, route):
    body = ChunkedStream(many_events())
    route.mock(return_value=httpx.Response(200, headers=SSE_HEADERS, stream=body))
    stream = chat.astream("hi")

    texts = []
    async for chunk in stream:
        texts.append(chunk.delta)
        if len(texts) == 2:
            break
    response = route.calls.last.response
    assert not response.is_closed

    await stream.aclose()

    assert response.is_closed
    assert body.closed
    assert body.sent < len(body.parts)
    assert [c async for c in stream] == []
    assert stream.result.text == "w0 w1"


async def test_async_with_block_closes_the_stream(chat, route):
    body = ChunkedStream(many_events())
    route.mock(return_value=httpx.Response(200, headers=SSE_HEADERS, stream=body))

    async with chat.astream("hi") as stream:
        await stream.__anext__()

    assert route.calls.last.response.is_closed
    assert body.closed


# -- the two async spellings --------------------------------------------------------------------


async def test_async_for_directly(chat, route):
    route.mock(return_value=sse_response(SCENARIO.sse()))

    text = "".join([c.delta async for c in chat.astream("hi")])

    assert text == SCENARIO.text


async def test_async_for_over_awaited_stream_connects_first(chat, route):
    route.mock(return_value=sse_response(SCENARIO.sse()))

    stream = await chat.astream("hi")
    assert route.call_count == 1  # awaiting connected eagerly

    text = "".join([c.delta async for c in stream])

    assert text == SCENARIO.text
    assert stream.result.usage == Usage(9, 4, 13, {})
    assert route.call_count == 1


async def test_awaited_stream_raises_http_errors_at_await(make_chat, route):
    chat = make_chat(max_retries=0)
    route.respond(429, json={"error": {"message": "slow down"}})

    with pytest.raises(RateLimitError):
        await chat.astream("hi")


@pytest.mark.parametrize("path", STREAM_PATHS)
async def test_connection_dropped_mid_stream_keeps_the_partial_text(path, chat, route):
    parts = [e.encode() + b"\n\n" for e in events_of(Scenario(text="so far so good").sse())][:4]
    body = ChunkedStream(parts, error=httpx.ReadError("connection reset"))
    route.mock(return_value=httpx.Response(200, headers=SSE_HEADERS, stream=body))

    outcome = await run_path(path, chat, "hi")

    exc = outcome.error
    assert isinstance(exc, ChatStreamInterruptedError)
    assert exc.partial_result.text == "so far so"
    assert isinstance(exc.cause, LexiluxConnectionError)
    assert body.closed


@pytest.mark.parametrize("path", STREAM_PATHS)
async def test_connection_dropped_after_finish_is_harmless(path, chat, route):
    scenario = Scenario(text="complete answer")
    parts = [sse_body(scenario.chunks(), done=False)]
    body = ChunkedStream(parts, error=httpx.ReadError("connection reset"))
    route.mock(return_value=httpx.Response(200, headers=SSE_HEADERS, stream=body))

    outcome = await run_path(path, chat, "hi")

    assert outcome.error is None
    assert summary(outcome.result) == scenario.expected()
