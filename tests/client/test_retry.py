"""Retries with a fake clock: which failures are retried, how long the client waits, streams."""

from __future__ import annotations

import httpx
import pytest

from lexilux_nb.client.errors import (
    APIError,
    AuthenticationError,
    ChatStreamInterruptedError,
    InvalidRequestError,
    LexiluxConnectionError,
    LexiluxTimeoutError,
    NotFoundError,
    RateLimitError,
    ServerError,
)

from .scenario import (
    PATHS,
    SSE_HEADERS,
    ChunkedStream,
    Scenario,
    run_path,
    sse_body,
    summary,
)

OK = Scenario(text="finally", usage={"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2})


@pytest.fixture
def route(router):
    return router.post("/chat/completions")


def fail(status: int, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, json={"error": {"message": f"error {status}"}}, headers=headers)


def success(request: httpx.Request) -> httpx.Response:
    return OK.responder()(request)


@pytest.mark.parametrize("path", PATHS)
async def test_default_is_three_attempts_then_the_error(path, chat, clock, route):
    route.mock(return_value=fail(500))

    outcome = await run_path(path, chat, "hi")

    assert type(outcome.error) is ServerError
    assert outcome.error.status_code == 500
    assert route.call_count == 3
    assert len(clock.sleeps) == 2


@pytest.mark.parametrize("path", PATHS)
async def test_succeeds_when_the_third_attempt_does(path, chat, clock, route):
    route.side_effect = [fail(500), fail(502), success]

    outcome = await run_path(path, chat, "hi")

    assert outcome.error is None
    assert summary(outcome.result) == OK.expected()
    assert route.call_count == 3
    assert len(clock.sleeps) == 2


@pytest.mark.parametrize("status", [408, 409, 429, 500, 502, 503, 504])
@pytest.mark.parametrize("path", PATHS)
async def test_retried_statuses(status, path, chat, route):
    route.side_effect = [fail(status), success]

    outcome = await run_path(path, chat, "hi")

    assert outcome.error is None
    assert outcome.result.text == "finally"
    assert route.call_count == 2


@pytest.mark.parametrize(
    "raised",
    [httpx.ConnectError("refused"), httpx.ReadTimeout("slow"), httpx.ConnectTimeout("slow")],
    ids=lambda e: type(e).__name__,
)
@pytest.mark.parametrize("path", PATHS)
async def test_retried_transport_failures(raised, path, chat, route):
    route.side_effect = [raised, success]

    outcome = await run_path(path, chat, "hi")

    assert outcome.error is None
    assert route.call_count == 2


@pytest.mark.parametrize(
    ("raised", "cls"),
    [
        (httpx.ConnectError("refused"), LexiluxConnectionError),
        (httpx.ReadTimeout("slow"), LexiluxTimeoutError),
    ],
    ids=["connect", "timeout"],
)
async def test_transport_failures_give_up_after_the_retries(raised, cls, chat, route):
    route.mock(side_effect=raised)

    outcome = await run_path("sync", chat, "hi")

    assert type(outcome.error) is cls
    assert route.call_count == 3


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, InvalidRequestError),
        (401, AuthenticationError),
        (403, AuthenticationError),
        (404, NotFoundError),
        (422, InvalidRequestError),
    ],
)
@pytest.mark.parametrize("path", PATHS)
async def test_client_errors_are_not_retried(status, cls, path, chat, clock, route):
    route.side_effect = [fail(status), success]

    outcome = await run_path(path, chat, "hi")

    assert type(outcome.error) is cls
    assert route.call_count == 1
    assert clock.sleeps == []


@pytest.mark.parametrize(
    ("headers", "wait"),
    [({"Retry-After": "3"}, 3.0), ({"retry-after-ms": "1500"}, 1.5), ({"Retry-After": "0"}, 0.0)],
)
@pytest.mark.parametrize("path", PATHS)
async def test_server_advice_sets_the_wait(headers, wait, path, chat, clock, route):
    route.side_effect = [fail(429, headers), success]

    outcome = await run_path(path, chat, "hi")

    assert outcome.error is None
    assert route.call_count == 2
    assert clock.sleeps == ([wait] if wait else [])


async def test_retry_after_on_a_server_error_is_honoured(chat, clock, route):
    route.side_effect = [fail(503, {"Retry-After": "2"}), success]

    await run_path("sync", chat, "hi")

    assert clock.sleeps == [2.0]


def test_retry_after_too_long_gives_up_at_once(chat, clock, route):
    route.side_effect = [fail(429, {"Retry-After": "3600"}), success]

    with pytest.raises(RateLimitError) as info:
        chat("hi")

    assert info.value.retry_after == 3600
    assert route.call_count == 1
    assert clock.sleeps == []


@pytest.mark.parametrize("path", PATHS)
async def test_backoff_grows_without_server_advice(path, make_chat, clock, route):
    chat = make_chat(max_retries=4)
    route.mock(return_value=fail(500))

    outcome = await run_path(path, chat, "hi")

    assert isinstance(outcome.error, ServerError)
    assert route.call_count == 5
    assert len(clock.sleeps) == 4
    assert all(s > 0 for s in clock.sleeps)
    assert clock.sleeps == sorted(clock.sleeps)
    assert all(b > a for a, b in zip(clock.sleeps, clock.sleeps[1:], strict=False))
    assert clock.sleeps[-1] <= 8.0 * 1.25  # capped


@pytest.mark.parametrize("path", PATHS)
async def test_max_retries_zero_is_one_attempt(path, make_chat, clock, route):
    chat = make_chat(max_retries=0)
    route.side_effect = [fail(503), success]

    outcome = await run_path(path, chat, "hi")

    assert type(outcome.error) is ServerError
    assert route.call_count == 1
    assert clock.sleeps == []


@pytest.mark.parametrize("value", [-1, 1.5, True, "2"])
def test_bad_max_retries_is_refused(value, make_chat):
    with pytest.raises(ValueError, match="max_retries"):
        make_chat(max_retries=value)


# -- streams -------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["sync_stream", "async_stream"])
async def test_stream_failing_before_its_first_event_is_retried(path, chat, clock, route):
    route.side_effect = [fail(503), httpx.ConnectError("refused"), success]

    outcome = await run_path(path, chat, "hi")

    assert outcome.error is None
    assert summary(outcome.result) == OK.expected()
    assert route.call_count == 3
    assert len(clock.sleeps) == 2
    assert [c.done for c in outcome.chunks].count(True) == 1


@pytest.mark.parametrize("path", ["sync_stream", "async_stream"])
async def test_stream_dropped_before_any_event_is_retried(path, chat, route):
    half_event = b'data: {"choices": [{"index": 0, "del'
    dropped = httpx.Response(
        200,
        headers=SSE_HEADERS,
        stream=ChunkedStream([half_event], error=httpx.ReadError("reset")),
    )
    route.side_effect = [dropped, success]

    outcome = await run_path(path, chat, "hi")

    assert outcome.error is None
    assert outcome.result.text == "finally"
    assert route.call_count == 2


@pytest.mark.parametrize("path", ["sync_stream", "async_stream"])
async def test_stream_dropped_after_the_first_event_is_not_retried(path, chat, clock, route):
    scenario = Scenario(text="Some words arrived before")
    parts = [sse_body(scenario.content_chunks(), done=False)]
    body = ChunkedStream(parts, error=httpx.ReadError("connection reset"))
    route.side_effect = [
        httpx.Response(200, headers=SSE_HEADERS, stream=body),
        success,
    ]

    outcome = await run_path(path, chat, "hi")

    assert isinstance(outcome.error, ChatStreamInterruptedError)
    assert outcome.error.partial_result.text == "Some words arrived before"
    assert outcome.error.partial_result.interrupted
    assert route.call_count == 1
    assert clock.sleeps == []
    assert body.closed


@pytest.mark.parametrize("path", ["sync_stream", "async_stream"])
async def test_error_event_in_a_stream_is_not_retried(path, chat, route):
    error = b'data: {"error": {"message": "overloaded", "code": 503}}\n\n'
    route.side_effect = [httpx.Response(200, headers=SSE_HEADERS, content=error), success]

    outcome = await run_path(path, chat, "hi")

    assert isinstance(outcome.error, APIError)
    assert route.call_count == 1


# -- rate limit ----------------------------------------------------------------------------------


def test_rate_limit_makes_the_third_request_wait(make_chat, clock, route):
    chat = make_chat(rate_limit=(2, 1.0))
    route.mock(side_effect=success)

    chat("one")
    chat("two")
    assert clock.sleeps == []
    chat("three")

    assert clock.sleeps == [pytest.approx(1.0)]
    assert route.call_count == 3


async def test_async_rate_limit_makes_the_third_request_wait(make_chat, clock, route):
    chat = make_chat(rate_limit=(2, 1.0))
    route.mock(side_effect=success)

    await chat.acall("one")
    async for _ in chat.astream("two"):
        pass
    assert clock.sleeps == []
    await chat.acall("three")

    assert clock.sleeps == [pytest.approx(1.0)]


def test_rate_limit_window_frees_up_as_time_passes(make_chat, clock, route):
    chat = make_chat(rate_limit=(2, 1.0))
    route.mock(side_effect=success)

    chat("one")
    chat("two")
    clock.now += 5.0
    chat("three")

    assert clock.sleeps == []


def test_rate_limit_counts_retries(make_chat, clock, route):
    chat = make_chat(rate_limit=(1, 10.0))
    route.side_effect = [fail(429, {"Retry-After": "1"}), success]

    chat("hi")

    assert sum(clock.sleeps) == pytest.approx(10.0)
