"""One scenario, four paths: sync/async × streamed/not give the same result or the same error."""

from __future__ import annotations

import json

import httpx
import pytest

from lexilux_nb.client.errors import (
    AuthenticationError,
    InvalidRequestError,
    LexiluxConnectionError,
    NotFoundError,
    RateLimitError,
    ServerError,
    ValidationError,
)

from .scenario import PATHS, Scenario, assert_same_outcome, run_all_paths, run_path

SCENARIOS = {
    "plain": Scenario(text="The quick brown fox jumps.", usage=None),
    "usage": Scenario(
        text="Two words.",
        usage={"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15},
    ),
    "usage-details": Scenario(
        text="Cached.",
        usage={
            "prompt_tokens": 0,
            "completion_tokens": 2,
            "total_tokens": 2,
            "prompt_tokens_details": {"cached_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 1},
        },
    ),
    "length": Scenario(text="Cut off in the mid", finish_reason="length"),
    "max_tokens-alias": Scenario(text="Cut off too", finish_reason="max_tokens"),
    "reasoning_content": Scenario(text="42.", reasoning="Let me think about it."),
    "reasoning-field": Scenario(
        text="42.", reasoning="Thinking, other name.", reasoning_field="reasoning"
    ),
    "one-tool": Scenario(
        text="",
        tool_calls=[("call_1", "get_weather", '{"city": "Paris", "unit": "C"}')],
        finish_reason="tool_calls",
        usage={"prompt_tokens": 30, "completion_tokens": 10, "total_tokens": 40},
    ),
    "parallel-tools-interleaved": Scenario(
        text="",
        tool_calls=[
            ("call_a", "get_weather", '{"city": "Paris"}'),
            ("call_b", "get_time", '{"timezone": "Europe/Berlin"}'),
        ],
        finish_reason="tool_calls",
        interleave_tools=True,
    ),
    "text-and-tool": Scenario(
        text="Let me look that up.",
        tool_calls=[("call_x", "search", '{"q": "lexilux"}')],
        finish_reason="tool_calls",
    ),
    "empty-reasoning": Scenario(text="No thinking shown.", reasoning=""),
    "unicode": Scenario(text="Grüße 🌍 — «ok»\n\n```py\nprint(1)\n```"),
}


@pytest.mark.parametrize("name", list(SCENARIOS))
async def test_all_paths_agree_with_the_scenario(name, chat, router):
    scenario = SCENARIOS[name]
    route = router.post("/chat/completions").mock(side_effect=scenario.responder())

    outcomes = await run_all_paths(chat, "hi")

    common = assert_same_outcome(outcomes)
    assert common == scenario.expected()
    assert route.call_count == len(PATHS)
    sent = [json.loads(call.request.content) for call in route.calls]
    assert [body.get("stream", False) for body in sent] == [False, True, False, True]


@pytest.mark.parametrize("name", list(SCENARIOS))
@pytest.mark.parametrize("path", ["sync_stream", "async_stream"])
async def test_stream_chunks_rebuild_the_result(name, path, chat, router):
    scenario = SCENARIOS[name]
    router.post("/chat/completions").mock(side_effect=scenario.responder())

    outcome = await run_path(path, chat, "hi")

    assert outcome.error is None
    chunks = outcome.chunks
    assert [c.done for c in chunks].count(True) == 1
    assert chunks[-1].done
    assert "".join(c.delta for c in chunks) == scenario.text
    reasoning = "".join(c.reasoning for c in chunks)
    assert reasoning == (scenario.reasoning or "")
    calls = [call for c in chunks for call in c.tool_calls]
    assert calls == scenario.expected()["tool_calls"]
    assert chunks[-1].finish_reason == scenario.expected()["finish_reason"]
    assert chunks[-1].usage == scenario.expected()["usage"]
    assert all(c.delta or c.reasoning_content or c.done for c in chunks)


ERRORS = [
    (401, AuthenticationError),
    (403, AuthenticationError),
    (404, NotFoundError),
    (400, InvalidRequestError),
    (422, InvalidRequestError),
    (429, RateLimitError),
    (500, ServerError),
    (502, ServerError),
    (503, ServerError),
]


@pytest.mark.parametrize(("status", "cls"), ERRORS)
async def test_all_paths_raise_the_same_error(status, cls, make_chat, router):
    chat = make_chat(max_retries=0)
    body = {"error": {"message": f"failure {status}", "type": "some_type", "code": "c1"}}
    headers = {"Retry-After": "7"} if status == 429 else {}
    router.post("/chat/completions").respond(status, json=body, headers=headers)

    outcomes = await run_all_paths(chat, "hi")

    exc_type, _text, status_code, retry_after, error_type, code, _ = assert_same_outcome(outcomes)
    assert exc_type is cls
    assert status_code == status
    assert error_type == "some_type"
    assert code == "c1"
    assert retry_after == (7.0 if status == 429 else None)
    for outcome in outcomes.values():
        assert f"failure {status}" in outcome.error.message
        assert outcome.chunks == []  # a failed stream raises; it never looks like an empty one


async def test_all_paths_raise_the_same_connection_error(make_chat, router):
    chat = make_chat(max_retries=0)
    router.post("/chat/completions").mock(side_effect=httpx.ConnectError("refused"))

    outcomes = await run_all_paths(chat, "hi")

    assert assert_same_outcome(outcomes)[0] is LexiluxConnectionError


async def test_all_paths_validate_the_same_way(chat, router):
    route = router.post("/chat/completions")

    outcomes = await run_all_paths(chat, "hi", temperature=5)

    assert assert_same_outcome(outcomes)[0] is ValidationError
    assert not route.called


@pytest.mark.parametrize("path", PATHS)
async def test_return_raw_keeps_what_the_server_sent(path, chat, router):
    scenario = SCENARIOS["usage"]
    router.post("/chat/completions").mock(side_effect=scenario.responder())

    outcome = await run_path(path, chat, "hi", return_raw=True)

    raw = outcome.result.raw
    if path in {"sync", "async"}:
        assert raw == scenario.completion()
    else:
        assert raw == {"chunks": scenario.chunks()}


@pytest.mark.parametrize("path", PATHS)
async def test_without_return_raw_there_is_no_raw(path, chat, router):
    router.post("/chat/completions").mock(side_effect=SCENARIOS["plain"].responder())

    outcome = await run_path(path, chat, "hi")

    assert outcome.result.raw is None
