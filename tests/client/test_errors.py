"""HTTP and transport failures map to the error tree, with useful messages and no leaked key."""

from __future__ import annotations

import email.utils
import logging
import traceback
from datetime import datetime, timedelta, timezone

import httpx
import pytest

from lexilux_nb.client.errors import (
    APIError,
    AuthenticationError,
    ChatStreamInterruptedError,
    LexiluxConnectionError,
    LexiluxError,
    LexiluxTimeoutError,
    NetworkError,
    NotFoundError,
    RateLimitError,
    ServerError,
)

from .scenario import (
    PATHS,
    SSE_HEADERS,
    ChunkedStream,
    Scenario,
    assert_same_outcome,
    run_all_paths,
    run_path,
    sse_body,
    sse_event,
    sse_response,
)

SECRET = "sk-SECRET-abcdef123456"


@pytest.fixture
def route(router):
    return router.post("/chat/completions")


@pytest.fixture
def no_retry_chat(make_chat):
    return make_chat(max_retries=0)


# -- status codes --------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 502, 503, 504, 520])
def test_server_errors_keep_the_real_status(status, no_retry_chat, route):
    route.respond(status, json={"error": {"message": "upstream failed"}})

    with pytest.raises(ServerError) as info:
        no_retry_chat("hi")

    assert info.value.status_code == status
    assert str(info.value) == f"HTTP {status}: upstream failed"
    assert info.value.retryable


@pytest.mark.parametrize("status", [401, 403])
def test_auth_errors_hint_at_the_key(status, no_retry_chat, route):
    route.respond(status, json={"error": {"message": "Invalid key"}})

    with pytest.raises(AuthenticationError) as info:
        no_retry_chat("hi")

    assert "Invalid key" in info.value.message
    assert "API key" in info.value.message
    assert not info.value.retryable


def test_not_found_hints_at_the_base_url(no_retry_chat, route):
    route.respond(404, text="Not Found")

    with pytest.raises(NotFoundError) as info:
        no_retry_chat("hi")

    assert "base URL" in info.value.message


@pytest.mark.parametrize("status", [408, 409, 418])
def test_other_statuses_are_plain_api_errors(status, no_retry_chat, route):
    route.respond(status, text="nope")

    with pytest.raises(APIError) as info:
        no_retry_chat("hi")

    assert type(info.value) is APIError
    assert info.value.status_code == status


def test_every_error_is_a_lexilux_error(no_retry_chat, route):
    route.respond(500)

    with pytest.raises(LexiluxError):
        no_retry_chat("hi")


# -- messages ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"error": {"message": "The model is overloaded"}}, "The model is overloaded"),
        ({"error": "a bare string error"}, "a bare string error"),
        ({"detail": "FastAPI-style detail"}, "FastAPI-style detail"),
        ({"message": "top-level message"}, "top-level message"),
    ],
)
def test_message_from_a_json_body(body, message, no_retry_chat, route):
    route.respond(400, json=body)

    with pytest.raises(APIError) as info:
        no_retry_chat("hi")

    assert info.value.message == message
    assert str(info.value) == f"HTTP 400: {message}"


def test_type_and_code_from_a_json_body(no_retry_chat, route):
    error = {"message": "too long", "type": "invalid_request_error", "code": "context_length"}
    route.respond(400, json={"error": error})

    with pytest.raises(APIError) as info:
        no_retry_chat("hi")

    assert (info.value.error_type, info.value.code) == ("invalid_request_error", "context_length")
    assert '"too long"' in info.value.body


def test_message_from_a_plain_text_body(no_retry_chat, route):
    route.respond(502, text="  Bad gateway: upstream unreachable\n")

    with pytest.raises(ServerError) as info:
        no_retry_chat("hi")

    assert info.value.message == "Bad gateway: upstream unreachable"
    assert info.value.status_code == 502


def test_message_from_an_empty_body(no_retry_chat, route):
    route.respond(503)

    with pytest.raises(ServerError) as info:
        no_retry_chat("hi")

    assert info.value.message == "(empty response body)"


def test_llamacpp_500_for_a_bad_request(llamacpp_dir, no_retry_chat, route):
    body = (llamacpp_dir / "llamacpp_error_invalid_request.json").read_bytes()
    route.respond(500, content=body, headers={"content-type": "application/json"})

    with pytest.raises(ServerError) as info:
        no_retry_chat("hi")

    assert info.value.status_code == 500
    assert info.value.message.startswith("1 validation error:")
    assert "Input should be a valid list" in info.value.message
    assert info.value.error_type == "internal_server_error"


async def test_llamacpp_500_is_the_same_on_every_path(llamacpp_dir, no_retry_chat, route):
    body = (llamacpp_dir / "llamacpp_error_invalid_request.json").read_bytes()
    route.respond(500, content=body, headers={"content-type": "application/json"})

    outcomes = await run_all_paths(no_retry_chat, "hi")

    cls, _, status, *_ = assert_same_outcome(outcomes)
    assert (cls, status) == (ServerError, 500)


def test_non_json_success_body_is_an_api_error(no_retry_chat, route):
    route.respond(200, text="<html>captive portal</html>")

    with pytest.raises(APIError, match="not JSON"):
        no_retry_chat("hi")


# -- Retry-After ---------------------------------------------------------------------------------


def http_date(delta_s: float, *, usegmt: bool = True) -> str:
    when = datetime.now(timezone.utc) + timedelta(seconds=delta_s)
    return email.utils.format_datetime(when, usegmt=usegmt)


def rate_limited(no_retry_chat, route, headers) -> RateLimitError:
    route.respond(429, json={"error": {"message": "slow down"}}, headers=headers)
    with pytest.raises(RateLimitError) as info:
        no_retry_chat("hi")
    return info.value


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "3"}, 3.0),
        ({"Retry-After": "0.5"}, 0.5),
        ({"retry-after-ms": "1500"}, 1.5),
        ({"Retry-After": "10", "retry-after-ms": "250"}, 0.25),
        ({"Retry-After": "-5"}, 0.0),
        ({"Retry-After": "soon"}, None),
        ({}, None),
    ],
)
def test_retry_after(headers, expected, no_retry_chat, route):
    assert rate_limited(no_retry_chat, route, headers).retry_after == expected


def test_retry_after_as_an_http_date(no_retry_chat, route):
    retry_after = rate_limited(no_retry_chat, route, {"Retry-After": http_date(120)}).retry_after

    assert retry_after is not None
    assert 60 < retry_after <= 120


def test_retry_after_as_a_past_http_date_is_zero(no_retry_chat, route):
    headers = {"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}

    assert rate_limited(no_retry_chat, route, headers).retry_after == 0.0


def test_retry_after_as_an_http_date_with_minus_zero_zone(no_retry_chat, route):
    # RFC 2822 "-0000" (unknown zone) makes parsedate_to_datetime return a naive datetime
    headers = {"Retry-After": http_date(120, usegmt=False).replace("+0000", "-0000")}

    retry_after = rate_limited(no_retry_chat, route, headers).retry_after

    assert retry_after is not None
    assert 60 < retry_after <= 120


# -- HTTP errors in streams raise, they do not look like empty streams --------------------------


@pytest.mark.parametrize("status", [401, 429, 500, 503])
def test_sync_stream_raises_on_error_status(status, no_retry_chat, route):
    route.respond(status, json={"error": {"message": "failed"}})

    with pytest.raises(APIError) as info:
        list(no_retry_chat.stream("hi"))

    assert info.value.status_code == status


@pytest.mark.parametrize("status", [401, 429, 500, 503])
async def test_async_stream_raises_on_error_status(status, no_retry_chat, route):
    route.respond(status, json={"error": {"message": "failed"}})

    with pytest.raises(APIError) as info:
        async for _ in no_retry_chat.astream("hi"):
            pass

    assert info.value.status_code == status


# -- transport failures --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raised", "cls"),
    [
        (httpx.ConnectError("connection refused"), LexiluxConnectionError),
        (httpx.RemoteProtocolError("server disconnected"), LexiluxConnectionError),
        (httpx.ReadError("reset by peer"), LexiluxConnectionError),
        (httpx.ReadTimeout("read timed out"), LexiluxTimeoutError),
        (httpx.ConnectTimeout("connect timed out"), LexiluxTimeoutError),
        (httpx.PoolTimeout("pool timed out"), LexiluxTimeoutError),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, Exception) else v.__name__,
)
async def test_transport_failures_map_to_network_errors(raised, cls, no_retry_chat, route):
    route.mock(side_effect=raised)

    outcomes = await run_all_paths(no_retry_chat, "hi")

    assert assert_same_outcome(outcomes)[0] is cls
    for outcome in outcomes.values():
        assert isinstance(outcome.error, NetworkError)
        assert type(raised).__name__ in str(outcome.error)
        assert outcome.error.retryable


# -- the key never leaks -------------------------------------------------------------------------


@pytest.fixture
def secret_chat(make_chat):
    return make_chat(api_key=SECRET)


def assert_no_secret(*texts: object) -> None:
    for text in texts:
        assert SECRET not in str(text)


def assert_exception_is_clean(exc: BaseException) -> None:
    assert_no_secret(
        str(exc),
        repr(exc),
        exc.args,
        getattr(exc, "message", ""),
        getattr(exc, "body", ""),
        "".join(traceback.format_exception(exc)),
    )
    if isinstance(exc, ChatStreamInterruptedError):
        assert_no_secret(exc.partial_result.text, exc.cause)


ECHOES = {
    "json-401": (401, {"json": {"error": {"message": f"Incorrect API key provided: {SECRET}"}}}),
    "json-500": (500, {"json": {"error": {"message": f"crash with Bearer {SECRET}"}}}),
    "text-429": (429, {"text": f"too many requests for key {SECRET}"}),
    "headers-echo-400": (400, {"json": {"headers": {"Authorization": f"Bearer {SECRET}"}}}),
}


@pytest.mark.parametrize("echo", list(ECHOES))
async def test_key_echoed_in_an_error_body_never_leaks(echo, secret_chat, route, caplog):
    caplog.set_level(logging.DEBUG)
    status, kwargs = ECHOES[echo]
    route.respond(status, **kwargs)

    outcomes = await run_all_paths(secret_chat, "hi")

    assert_same_outcome(outcomes)
    for outcome in outcomes.values():
        assert isinstance(outcome.error, APIError)
        assert outcome.error.status_code == status
        assert_exception_is_clean(outcome.error)
        assert "sk-…3456" in outcome.error.body  # recognisably masked, not dropped
    assert_no_secret(caplog.text, *(r.getMessage() for r in caplog.records))


async def test_key_echoed_in_a_stream_error_event_never_leaks(secret_chat, route, caplog):
    caplog.set_level(logging.DEBUG)
    event = sse_event({"error": {"message": f"bad key {SECRET}"}}, event="error")
    route.mock(return_value=sse_response(event))

    for path in ("sync_stream", "async_stream"):
        outcome = await run_path(path, secret_chat, "hi")
        assert isinstance(outcome.error, APIError)
        assert_exception_is_clean(outcome.error)
    assert_no_secret(caplog.text)


async def test_key_in_a_transport_error_never_leaks(secret_chat, route, caplog):
    caplog.set_level(logging.DEBUG)
    route.mock(side_effect=httpx.ConnectError(f"proxy refused Authorization: Bearer {SECRET}"))

    outcomes = await run_all_paths(secret_chat, "hi")

    for outcome in outcomes.values():
        assert isinstance(outcome.error, LexiluxConnectionError)
        assert_exception_is_clean(outcome.error)
    assert_no_secret(caplog.text)


async def test_key_in_a_mid_stream_drop_never_leaks(secret_chat, route):
    head = sse_body(Scenario(text="partial").content_chunks(), done=False)
    body = ChunkedStream([head], error=httpx.ReadError(f"reset ({SECRET})"))
    route.mock(return_value=httpx.Response(200, headers=SSE_HEADERS, stream=body))

    outcome = await run_path("sync_stream", secret_chat, "hi")

    assert isinstance(outcome.error, ChatStreamInterruptedError)
    assert_exception_is_clean(outcome.error)


def test_key_in_a_non_json_success_body_never_leaks(secret_chat, route):
    route.respond(200, text=f"oops {SECRET}")

    with pytest.raises(APIError) as info:
        secret_chat("hi")

    assert_exception_is_clean(info.value)


def test_key_never_leaks_into_logs_while_retrying(make_chat, route, caplog):
    caplog.set_level(logging.DEBUG)
    chat = make_chat(api_key=SECRET, max_retries=2)
    route.respond(503, json={"error": {"message": f"overloaded, key={SECRET}"}})

    with pytest.raises(ServerError) as info:
        chat("hi")

    assert route.call_count == 3
    assert any("retrying" in r.getMessage() for r in caplog.records)
    assert_no_secret(caplog.text, *(r.getMessage() for r in caplog.records))
    assert_exception_is_clean(info.value)


def test_repr_of_chat_masks_the_key(secret_chat):
    assert SECRET not in repr(secret_chat)
    assert "sk-…3456" in repr(secret_chat)


def test_repr_of_a_prepared_request_masks_the_key(secret_chat):
    req = secret_chat.prepare("hi")

    assert req.headers["Authorization"] == f"Bearer {SECRET}"  # what is sent is intact
    assert SECRET not in repr(req)
    assert SECRET not in str(req)


async def test_secret_custom_header_never_leaks(make_chat, route):
    chat = make_chat(api_key=None, headers={"X-Api-Key": SECRET}, max_retries=0)
    route.respond(401, json={"error": {"message": f"key {SECRET} is revoked"}})

    outcomes = await run_all_paths(chat, "hi")

    for outcome in outcomes.values():
        assert isinstance(outcome.error, AuthenticationError)
        assert_exception_is_clean(outcome.error)
    assert route.calls.last.request.headers["X-Api-Key"] == SECRET


async def test_key_given_as_an_authorization_header_never_leaks(make_chat, route, caplog):
    caplog.set_level(logging.DEBUG)
    chat = make_chat(api_key=None, headers={"Authorization": f"Bearer {SECRET}"})
    route.respond(401, json={"error": {"message": f"Incorrect API key provided: {SECRET}"}})

    outcomes = await run_all_paths(chat, "hi")

    for outcome in outcomes.values():
        assert isinstance(outcome.error, AuthenticationError)
        assert_exception_is_clean(outcome.error)
    assert_no_secret(caplog.text, repr(chat), repr(chat.prepare("hi")))
    assert route.calls.last.request.headers["Authorization"] == f"Bearer {SECRET}"


@pytest.mark.parametrize("path", PATHS)
async def test_masked_key_is_still_recognisable(path, secret_chat, route):
    route.respond(401, json={"error": {"message": f"bad key {SECRET}"}})

    outcome = await run_path(path, secret_chat, "hi")

    assert "sk-…3456" in outcome.error.message


# -- every field of an error payload, the chain, proxies, pickles ---------------------------------

SLASHED = "sk-a/b+c=dEFGH12345"
SLASHED_FORMS = {
    "plain": SLASHED,
    "json-slash": SLASHED.replace("/", "\\/"),
    "u-escaped": "".join(f"\\u{ord(c):04x}" for c in SLASHED),
    "url-encoded": "sk-a%2Fb%2Bc%3DdEFGH12345",
}


def _fields_text(exc: APIError) -> str:
    return " ".join(
        str(v) for v in (exc, repr(exc), exc.message, exc.body, exc.error_type, exc.code, exc.param)
    )


@pytest.mark.parametrize("form", list(SLASHED_FORMS))
@pytest.mark.parametrize("field", ["message", "type", "code", "param"])
def test_a_key_in_any_field_of_an_error_body_is_masked(form, field, make_chat, route):
    echoed = SLASHED_FORMS[form]
    fields = {"message": "refused", "type": "auth", "code": "bad", "param": "key"}
    fields[field] = f"{fields[field]} {echoed}"
    raw = "{" + ", ".join(f'"{k}": "{v}"' for k, v in fields.items()) + "}"
    route.respond(401, text='{"error": ' + raw + "}", headers={"content-type": "application/json"})
    chat = make_chat(api_key=SLASHED, max_retries=0)

    with pytest.raises(AuthenticationError) as info:
        chat("hi")

    text = _fields_text(info.value)
    assert SLASHED not in text and echoed not in text
    assert getattr(info.value, {"type": "error_type"}.get(field, field)) is not None


@pytest.mark.parametrize("field", ["message", "type", "code", "param"])
@pytest.mark.parametrize("path", PATHS)
async def test_a_key_in_any_field_of_a_stream_error_event_is_masked(field, path, make_chat, route):
    fields = {"message": "refused", "type": "auth", "code": "bad", "param": "key"}
    fields[field] = f"{fields[field]} {SLASHED}"
    event = sse_event({"error": fields})
    if path in ("sync", "async"):
        route.respond(200, json={"error": fields})
    else:
        route.mock(return_value=sse_response(event))
    chat = make_chat(api_key=SLASHED, max_retries=0)

    outcome = await run_path(path, chat, "hi")

    assert isinstance(outcome.error, APIError), outcome
    assert SLASHED not in _fields_text(outcome.error)


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    todo: list[BaseException | None] = [exc]
    while todo:
        node = todo.pop()
        if node is None or any(node is s for s in seen):
            continue
        seen.append(node)
        todo += [node.__cause__, node.__context__, getattr(node, "cause", None)]
    return seen


def _holds_httpx(value: object) -> bool:
    return type(value).__module__.split(".")[0] in {"httpx", "httpcore", "h11"}


BREAKS = {
    "connect": lambda: httpx.ConnectError("refused"),
    "timeout": lambda: httpx.ReadTimeout("slow"),
    "protocol": lambda: httpx.RemoteProtocolError("bad"),
}


@pytest.mark.parametrize("kind", list(BREAKS))
@pytest.mark.parametrize("path", PATHS)
async def test_no_httpx_object_anywhere_in_the_error_chain(kind, path, make_chat, route):
    route.mock(side_effect=BREAKS[kind]())
    chat = make_chat(api_key=SECRET, max_retries=1)

    outcome = await run_path(path, chat, "hi")

    assert isinstance(outcome.error, NetworkError)
    for node in _chain(outcome.error):
        assert not _holds_httpx(node), node
        assert not any(_holds_httpx(v) for v in vars(node).values()), vars(node)


@pytest.mark.parametrize("path", ["sync_stream", "async_stream"])
async def test_a_stream_cut_mid_answer_keeps_no_httpx_error(path, make_chat, route):
    head = sse_body(Scenario(text="partial").content_chunks(), done=False)
    body = ChunkedStream([head], error=httpx.ReadError("reset"))
    route.mock(return_value=httpx.Response(200, headers=SSE_HEADERS, stream=body))
    chat = make_chat(api_key=SECRET, max_retries=0)

    outcome = await run_path(path, chat, "hi")

    assert isinstance(outcome.error, ChatStreamInterruptedError)
    assert isinstance(outcome.error.cause, LexiluxConnectionError)
    chain = _chain(outcome.error)
    assert outcome.error.cause in chain  # ours stays, as the cause
    assert not any(_holds_httpx(node) for node in chain), chain


@pytest.mark.parametrize("path", PATHS)
async def test_a_malformed_answer_keeps_no_foreign_context(path, make_chat, route):
    """``from None`` hides a JSONDecodeError, but it would still hold the whole body in ``.doc``."""
    bad = {"choices": {"0": SECRET}}
    if path in ("sync", "async"):
        route.respond(200, json=bad)
    else:
        route.mock(return_value=sse_response(sse_event(bad)))
    chat = make_chat(api_key=SECRET, max_retries=0)

    outcome = await run_path(path, chat, "hi")

    assert isinstance(outcome.error, LexiluxError)
    for node in _chain(outcome.error):
        assert isinstance(node, LexiluxError), node
        assert SECRET not in repr(vars(node))


def test_proxy_credentials_never_shown():
    from lexilux_nb.client.chat import Chat
    from lexilux_nb.client.errors import redact_url

    proxy = "http://alice:s3cret-Pa55@127.0.0.1:9"
    assert redact_url(proxy) == "http://***@127.0.0.1:9"
    chat = Chat(base_url="http://127.0.0.1:1/v1", model="m", proxies={"all": proxy}, max_retries=0)
    assert "s3cret-Pa55" in chat.secrets
    with pytest.raises(NetworkError) as info:
        chat("hi")
    chat.close()
    for node in _chain(info.value):
        assert "s3cret-Pa55" not in f"{node} {node!r} {vars(node)!r}"
    assert "s3cret-Pa55" not in repr(chat)


def test_credentials_in_a_url_of_a_transport_message_are_stripped():
    from lexilux_nb.client.errors import error_from_transport

    exc = httpx.ProxyError("cannot reach http://bob:hunter2xyz@proxy.local:3128/")
    error = error_from_transport(exc)
    assert "hunter2xyz" not in str(error) and "http://***@proxy.local:3128/" in str(error)


def _all_subclasses(cls: type) -> list[type]:
    found = []
    for sub in cls.__subclasses__():
        found += [sub, *_all_subclasses(sub)]
    return found


def _example(cls: type) -> LexiluxError:
    from lexilux_nb.client.errors import ChatIncompleteResponseError
    from lexilux_nb.client.models import ChatResult

    partial = ChatResult(text="half an answer")
    if issubclass(cls, ChatStreamInterruptedError):
        return cls("cut", partial_result=partial, cause=LexiluxConnectionError("reset"))
    if issubclass(cls, ChatIncompleteResponseError):
        return cls("gave up", partial_result=partial, continues=3, cause=ServerError("down"))
    if cls.__name__ == "ExtractError":
        return cls("did not validate", result=partial, errors=["age: not an integer"])
    if issubclass(cls, APIError):
        return cls(
            "refused",
            status_code=429,
            body="{}",
            error_type="t",
            code="c",
            retry_after=2.0,
            param="p",
        )
    return cls(f"a {cls.__name__}")


SUBCLASSES = sorted(
    {c for c in _all_subclasses(LexiluxError) if c.__module__.startswith("lexilux_nb")},
    key=lambda c: c.__name__,
)


@pytest.mark.parametrize("cls", [LexiluxError, *SUBCLASSES], ids=lambda c: c.__name__)
def test_every_error_survives_a_pickle_round_trip(cls):
    import pickle

    error = _example(cls)
    back = pickle.loads(pickle.dumps(error))

    assert type(back) is cls
    assert str(back) == str(error) and repr(back) == repr(error)
    assert back.args == error.args and back.message == error.message
    plain = {k: v for k, v in vars(error).items() if k not in ("partial_result", "cause")}
    assert {k: vars(back)[k] for k in plain} == plain
    if hasattr(error, "partial_result"):
        assert back.partial_result.text == error.partial_result.text
        assert type(back.cause) is type(error.cause) and str(back.cause) == str(error.cause)


def test_the_subclass_list_is_complete():
    from lexilux_nb.client import errors

    names = {c.__name__ for c in SUBCLASSES}
    assert {
        "DeadlineExceededError",
        "ResponseTooLargeError",
        "ChatIncompleteResponseError",
    } <= names
    declared = {
        n for n, v in vars(errors).items() if isinstance(v, type) and issubclass(v, LexiluxError)
    }
    assert declared - {"LexiluxError"} <= names


def test_an_error_keeps_a_bounded_redacted_excerpt_of_a_huge_body(make_chat, route):
    route.respond(500, text=f"{SECRET} " + "x" * 100_000)
    chat = make_chat(api_key=SECRET, max_retries=0)
    with pytest.raises(ServerError) as info:
        chat("hi")
    assert info.value.body.startswith("sk-…3456 x") and len(info.value.body) <= 4000
