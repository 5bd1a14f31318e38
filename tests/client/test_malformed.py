"""Answers of the wrong shape: a MalformedResponseError quoting what arrived, on every path.

Never a ``TypeError``/``KeyError``/``AttributeError`` from deep inside, and never the key.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lexilux_nb.client.accumulate import StreamAccumulator
from lexilux_nb.client.errors import LexiluxError, MalformedResponseError
from lexilux_nb.client.responses import parse_completion

from .scenario import PATHS, Scenario, run_path, sse_body, sse_event

API_KEY = "sk-test-0123456789"  # the key make_chat uses (tests/conftest.py)
STREAM_PATHS = ("sync_stream", "async_stream")
ROLE = Scenario()._chunk({"role": "assistant", "content": ""})


def choice(**fields: Any) -> dict[str, Any]:
    return {"id": "c", "model": "m", "choices": [{"index": 0, **fields}]}


BAD_CHUNKS = {
    "choices-a-dict": {"choices": {"0": {"delta": {}}}},
    "choices-a-string": {"choices": "abc"},
    "choice-a-string": {"choices": ["x"]},
    "delta-a-string": choice(delta="text"),
    "delta-a-list": choice(delta=["content"]),
    "content-a-number": choice(delta={"content": 5}),
    "content-part-a-number": choice(delta={"content": [5]}),
    "content-part-text-a-number": choice(delta={"content": [{"type": "text", "text": 5}]}),
    "tool-calls-a-number": choice(delta={"tool_calls": 5}),
    "tool-call-delta-a-number": choice(delta={"tool_calls": [5]}),
    "function-a-string": choice(delta={"tool_calls": [{"index": 0, "function": "f"}]}),
    "tool-index-a-string": choice(delta={"tool_calls": [{"index": "0", "id": "a"}]}),
    "tool-arguments-a-number": choice(
        delta={"tool_calls": [{"index": 0, "function": {"arguments": 3}}]}
    ),
    "legacy-call-a-list": choice(delta={"function_call": ["f"]}),
    "choice-index-a-string": {"choices": [{"index": "1", "delta": {}}]},
    "choice-index-huge": {"choices": [{"index": 10**9, "delta": {}}]},
    "choice-index-negative": {"choices": [{"index": -1, "delta": {}}]},
    "finish-reason-a-number": choice(delta={}, finish_reason=3),
    "refusal-a-list": choice(delta={"refusal": []}),
    "reasoning-a-dict": choice(delta={"reasoning_content": {"x": 1}}),
    "logprobs-a-string": choice(delta={}, logprobs="x"),
    "filter-results-a-list": choice(delta={}, content_filter_results=[1]),
    "usage-a-string": {"choices": [], "usage": "lots"},
    "usage-count-a-string": {"choices": [], "usage": {"prompt_tokens": "12"}},
    "usage-count-a-fraction": {"choices": [], "usage": {"prompt_tokens": 1.5}},
    "id-a-number": {"id": 5, "choices": []},
    "prompt-filter-a-dict": {"choices": [], "prompt_filter_results": {"a": 1}},
    "an-array": [1, 2],
    "a-number": 5,
    "a-string": "text",
    "null": None,
}


@pytest.fixture
def route(router):
    return router.post("/chat/completions")


def check(error: Exception | None, needle: str) -> None:
    assert isinstance(error, MalformedResponseError), repr(error)
    assert error.body and len(error.body) <= 300
    assert needle in error.body
    assert "the server sent" in str(error)
    assert API_KEY not in str(error) + error.body


@pytest.mark.parametrize("name", list(BAD_CHUNKS))
@pytest.mark.parametrize("path", STREAM_PATHS)
@pytest.mark.parametrize("first", [True, False], ids=["after-a-chunk", "first"])
async def test_a_chunk_of_the_wrong_shape(name, path, first, chat, route):
    bad = BAD_CHUNKS[name]
    events = ([json.dumps(ROLE)] if first else []) + [json.dumps(bad)]
    body = "".join(sse_event(e) for e in events) + "data: [DONE]\n\n"
    route.respond(200, headers={"content-type": "text/event-stream"}, content=body.encode())

    outcome = await run_path(path, chat, "hi")

    check(outcome.error, json.dumps(bad)[:20])


@pytest.mark.parametrize("path", STREAM_PATHS)
async def test_the_key_in_a_malformed_event_is_not_quoted(path, chat, route):
    bad = choice(delta={"content": 5, "echo": f"Bearer {API_KEY}"})
    route.respond(200, headers={"content-type": "text/event-stream"}, content=sse_body([bad]))

    outcome = await run_path(path, chat, "hi")

    check(outcome.error, '"content": 5')


@pytest.mark.parametrize("path", STREAM_PATHS)
async def test_an_event_that_is_not_json(path, chat, route):
    route.respond(
        200, headers={"content-type": "text/event-stream"}, content=b"data: {not json\n\n"
    )

    check((await run_path(path, chat, "hi")).error, "{not json")


def message(**fields: Any) -> dict[str, Any]:
    return {"id": "c", "model": "m", "choices": [{"index": 0, "message": fields}]}


BAD_BODIES = {
    "an-array": [],
    "a-number": 5,
    "no-choices": {"id": "c"},
    "empty-choices": {"id": "c", "choices": []},
    "choices-a-dict": {"choices": {"0": {}}},
    "choice-a-number": {"choices": [5]},
    "message-a-string": {"choices": [{"message": "hi"}]},
    "content-a-number": message(content=5),
    "content-a-dict": message(content={"text": "x"}),
    "tool-calls-a-number": message(content=None, tool_calls=5),
    "tool-call-function-a-string": message(content=None, tool_calls=[{"function": "f"}]),
    "tool-call-arguments-a-number": message(
        content=None, tool_calls=[{"function": {"name": "f", "arguments": 1}}]
    ),
    "refusal-a-number": message(content=None, refusal=1),
    "annotations-a-string": message(content="x", annotations="cite"),
    "usage-a-list": {**message(content="x"), "usage": []},
    "same-index-twice": {"choices": [{"index": 0, "message": {}}, {"index": 0, "message": {}}]},
    "finish-reason-a-list": {"choices": [{"index": 0, "message": {}, "finish_reason": ["stop"]}]},
}


@pytest.mark.parametrize("name", list(BAD_BODIES))
@pytest.mark.parametrize("path", PATHS)
async def test_a_completion_of_the_wrong_shape(name, path, chat, route):
    """Also for a stream request answered with one JSON body (servers that ignore stream)."""
    route.respond(200, json=BAD_BODIES[name])

    check((await run_path(path, chat, "hi")).error, json.dumps(BAD_BODIES[name])[:3])


@pytest.mark.parametrize("path", STREAM_PATHS)
async def test_a_stream_request_answered_with_broken_json(path, chat, route):
    route.respond(200, headers={"content-type": "application/json"}, content=b'{"choices": [')

    check((await run_path(path, chat, "hi")).error, '{"choices": [')


@pytest.mark.parametrize("path", PATHS)
async def test_a_message_without_content_is_an_empty_answer_not_an_error(path, chat, route):
    """Seen from a server whose filter removed the message: the finish reason says why."""
    body = {"choices": [{"index": 0, "finish_reason": "content_filter"}]}
    route.mock(
        side_effect=lambda request: (
            httpx.Response(200, json=body)
            if not json.loads(request.content).get("stream")
            else httpx.Response(
                200,
                headers={"content-type": "text/event-stream"},
                content=sse_body([{"choices": [{"index": 0, "delta": {}, **body["choices"][0]}]}]),
            )
        )
    )

    result = (await run_path(path, chat, "hi")).result

    assert (result.text, result.finish_reason, result.filtered) == ("", "content_filter", True)


# -- fuzzing the sans-IO parsers ------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=12,
)
KEYS = ("choices", "usage", "id", "model", "error", "object", "prompt_filter_results")
CHOICE_KEYS = ("index", "delta", "message", "finish_reason", "logprobs", "content_filter_results")
DELTA_KEYS = ("content", "refusal", "reasoning", "reasoning_content", "tool_calls", "function_call")


@st.composite
def chunks(draw: Any) -> Any:
    """Chunk-like objects: the real keys, each holding any JSON value (or a plausible one)."""
    delta = {k: draw(json_values) for k in draw(st.lists(st.sampled_from(DELTA_KEYS), max_size=3))}
    ch = {k: draw(json_values) for k in draw(st.lists(st.sampled_from(CHOICE_KEYS), max_size=3))}
    ch.setdefault("delta", delta)
    top = {k: draw(json_values) for k in draw(st.lists(st.sampled_from(KEYS), max_size=3))}
    top.setdefault("choices", [ch])
    return draw(st.sampled_from([top, ch, delta])) if draw(st.booleans()) else top


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(chunks(), min_size=1, max_size=5), st.booleans())
def test_any_chunk_is_read_or_refused_with_our_error(objs: list[Any], keep_raw: bool) -> None:
    acc = StreamAccumulator(keep_raw=keep_raw)
    for obj in [ROLE, *objs]:
        try:
            acc.feed("message", json.dumps(obj))
        except LexiluxError:
            break
    acc.result()  # whatever came before stays readable
    with contextlib.suppress(LexiluxError):
        acc.end_of_stream()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(chunks())
def test_any_completion_is_parsed_or_refused_with_our_error(obj: Any) -> None:
    if isinstance(obj, dict) and isinstance(obj.get("choices"), list):
        obj["choices"] = [
            {**c, "message": c.pop("delta")} if isinstance(c, dict) and "delta" in c else c
            for c in obj["choices"]
        ]
    with contextlib.suppress(LexiluxError):
        parse_completion(obj)


@pytest.mark.parametrize("path", PATHS)
async def test_the_key_in_a_malformed_completion_is_not_quoted(path, chat, route):
    route.respond(200, json={"echo": f"Bearer {API_KEY}", "choices": [{"message": 5}]})

    outcome = await run_path(path, chat, "hi")

    check(outcome.error, '"echo"')
