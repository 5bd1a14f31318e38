"""Provider quirks: reused tool-call indexes, typed content parts, annotations, empty identities,
``[DONE]`` with blanks, a byte-order mark, several choices in one chunk."""

from __future__ import annotations

import json

import httpx
import pytest

from lexilux_nb.client.models import ToolCall

from .scenario import Scenario, run_path, sse_body, sse_response

STREAM_PATHS = ("sync_stream", "async_stream")
BASE = Scenario()


def chunk(delta: dict, finish: str | None = None, **top) -> dict:
    return {**BASE._chunk(delta, finish), **top}


def call(index, call_id=None, name=None, arguments=None) -> dict:
    fn = {k: v for k, v in (("name", name), ("arguments", arguments)) if v is not None}
    delta = {"index": index, "function": fn}
    if call_id is not None:
        delta["id"] = call_id
    return chunk({"tool_calls": [delta]})


@pytest.fixture
def route(router):
    return router.post("/chat/completions")


@pytest.mark.parametrize("path", STREAM_PATHS)
async def test_a_new_id_at_a_used_index_starts_a_new_call(path, chat, route):
    """Seen from OpenAI-compatible local servers: every parallel call at index 0."""
    chunks = [
        call(0, "call_1", "get_weather", ""),
        call(0, None, None, '{"city": '),
        call(0, "", None, '"Paris"}'),  # an empty id continues the call
        call(0, "call_1", None, ""),  # the same id continues it too
        call(0, "call_2", "get_time", '{"tz": "UTC"}'),
        call(0, None, None, ""),
        chunk({}, "tool_calls"),
    ]
    route.mock(return_value=sse_response(sse_body(chunks)))

    result = (await run_path(path, chat, "hi")).result

    assert result.tool_calls == [
        ToolCall("call_1", "get_weather", '{"city": "Paris"}'),
        ToolCall("call_2", "get_time", '{"tz": "UTC"}'),
    ]
    assert result.finish_reason == "tool_calls"


@pytest.mark.parametrize("path", STREAM_PATHS)
async def test_typed_content_parts_in_deltas_are_text(path, chat, route):
    chunks = [
        chunk({"role": "assistant", "content": []}),
        chunk({"content": [{"type": "text", "text": "Hel"}]}),
        chunk({"content": [{"type": "text", "text": "lo"}, {"type": "text", "text": ", "}]}),
        chunk({"content": [{"type": "image_url", "image_url": {"url": "u"}}]}),
        chunk({"content": [{"type": "text", "text": "world"}]}),
        chunk({}, "stop"),
    ]
    route.mock(return_value=sse_response(sse_body(chunks)))

    outcome = await run_path(path, chat, "hi")

    assert outcome.error is None
    assert outcome.result.text == "Hello, world"
    assert [c.delta for c in outcome.chunks if not c.done] == ["Hel", "lo, ", "world"]


@pytest.mark.parametrize("path", ["sync", "async", *STREAM_PATHS])
async def test_message_annotations_are_kept(path, chat, route):
    cite = {
        "type": "url_citation",
        "url_citation": {
            "url": "https://example.org",
            "title": "E",
            "start_index": 0,
            "end_index": 4,
        },
    }
    body = BASE.completion()
    body["choices"][0]["message"]["annotations"] = [cite]
    chunks = [chunk({"content": "Text"}), chunk({"annotations": [cite]}), chunk({}, "stop")]

    def respond(request: httpx.Request) -> httpx.Response:
        if json.loads(request.content).get("stream"):
            return sse_response(sse_body(chunks))
        return httpx.Response(200, json=body)

    route.mock(side_effect=respond)

    result = (await run_path(path, chat, "hi")).result

    assert result.annotations == [cite]


@pytest.mark.parametrize("path", STREAM_PATHS)
async def test_empty_identity_fields_never_win(path, chat, route):
    chunks = [
        chunk({}, None, id="", model="", object="", choices=[]),
        chunk({"content": "a"}, None, id="", model=""),
        chunk({"content": "b"}, None, id="chatcmpl-real", model="real-model"),
        chunk({}, "stop", id="", model=""),
    ]
    route.mock(return_value=sse_response(sse_body(chunks)))

    result = (await run_path(path, chat, "hi")).result

    assert (result.text, result.id, result.model) == ("ab", "chatcmpl-real", "real-model")


@pytest.mark.parametrize("done", ["[DONE] ", "[DONE]\t ", " [DONE]"])
@pytest.mark.parametrize("path", STREAM_PATHS)
async def test_done_with_blanks_ends_the_stream(done, path, chat, route):
    chunks = [chunk({"content": "whole answer"})]  # no finish_reason: only [DONE] ends it
    body = sse_body(chunks, done=False) + f"data: {done}\n\n".encode()
    route.mock(return_value=sse_response(body))

    outcome = await run_path(path, chat, "hi")

    assert outcome.error is None
    assert outcome.result.text == "whole answer"
    assert outcome.chunks[-1].done


@pytest.mark.parametrize("path", STREAM_PATHS)
async def test_a_leading_byte_order_mark_keeps_the_first_event(path, chat, route):
    chunks = [chunk({"content": "first"}), chunk({"content": " second"}), chunk({}, "stop")]
    route.mock(return_value=sse_response(b"\xef\xbb\xbf" + sse_body(chunks)))

    result = (await run_path(path, chat, "hi")).result

    assert result.text == "first second"


@pytest.mark.parametrize("path", STREAM_PATHS)
async def test_several_choices_in_one_chunk(path, chat, route):
    both = {
        "choices": [
            {"index": 0, "delta": {"content": "zero"}, "finish_reason": None},
            {"index": 1, "delta": {"content": "one"}, "finish_reason": None},
        ]
    }
    ends = {
        "choices": [
            {"index": 0, "delta": {}, "finish_reason": "stop"},
            {"index": 1, "delta": {}, "finish_reason": "length"},
        ]
    }
    route.mock(return_value=sse_response(sse_body([both, ends])))

    result = (await run_path(path, chat, "hi", n=2)).result

    assert [(c.text, c.finish_reason) for c in result.choices] == [
        ("zero", "stop"),
        ("one", "length"),
    ]


@pytest.mark.parametrize("path", STREAM_PATHS)
async def test_a_cut_before_every_choice_finished_is_an_interruption(path, chat, route):
    chunks = [
        {"choices": [{"index": 0, "delta": {"content": "a"}, "finish_reason": "stop"}]},
        {"choices": [{"index": 1, "delta": {"content": "b"}, "finish_reason": None}]},
    ]
    route.mock(return_value=sse_response(sse_body(chunks, done=False)))

    outcome = await run_path(path, chat, "hi", n=2)

    assert type(outcome.error).__name__ == "ChatStreamInterruptedError"
    assert [c.text for c in outcome.error.partial_result.choices] == ["a", "b"]
