"""Timeouts must be finite and positive: NaN, infinity, zero, negatives and non-numbers are refused
with a ValidationError naming the field, before any request. ``deadline_s`` bounds a whole call:
a server that trickles bytes (each read is quick, so the read timeout never trips) is stopped."""

import asyncio
import math
import time

import pytest

from lexilux_nb.client.chat import Chat
from lexilux_nb.client.errors import DeadlineExceededError, LexiluxError, ValidationError

from .hostile import hostile_server


@pytest.mark.parametrize("field", ["timeout_s", "connect_timeout_s", "read_timeout_s"])
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, 0, -1.0, True, "5"])
def test_bad_timeouts_are_refused(field: str, bad: object) -> None:
    with pytest.raises(ValidationError, match=field):
        Chat(base_url="http://127.0.0.1:9/v1", api_key="sk-test", model="m", **{field: bad})


def test_good_timeouts_are_kept() -> None:
    chat = Chat(base_url="http://127.0.0.1:9/v1", api_key="sk-test", model="m", timeout_s=2.5)
    assert chat.timeout.read == 2.5
    chat.close()


@pytest.mark.parametrize(
    "echo",
    [
        "sk-a/b+c=d",
        "sk-a\\/b+c=d",
        "sk-a%2Fb%2Bc%3Dd",
        "".join(f"\\u{ord(c):04x}" for c in "sk-a/b+c=d"),
    ],
)
def test_redact_matches_escaped_forms(echo: str) -> None:
    from lexilux_nb.client.errors import redact

    out = redact(f'{{"error": "bad key {echo}"}}', ["sk-a/b+c=d"])
    assert echo not in out


# -- deadline_s: the whole call -------------------------------------------------------------------

FOUR_PATHS = ["call", "stream", "acall", "astream"]


def _run(chat: Chat, path: str, **options: object) -> object:
    if path == "call":
        return chat("hi", **options)
    if path == "stream":
        return list(chat.stream("hi", **options))
    if path == "acall":
        return asyncio.run(chat.acall("hi", **options))

    async def consume() -> list[object]:
        return [chunk async for chunk in chat.astream("hi", **options)]

    return asyncio.run(consume())


@pytest.mark.parametrize("path", FOUR_PATHS)
@pytest.mark.parametrize("where", ["chat", "call"])
def test_a_trickling_server_is_stopped_by_the_deadline(path: str, where: str) -> None:
    """One byte every 0.3 s never trips a 5 s read timeout (the answer would take minutes);
    deadline_s=1 ends the call at about 1 s with an error that names the setting."""
    with hostile_server("trickle") as server:
        given = {"deadline_s": 1.0}
        chat = Chat(
            base_url=server.base_url,
            api_key="sk-test",
            model="m",
            timeout_s=5.0,
            **(given if where == "chat" else {}),
        )
        start = time.monotonic()
        with pytest.raises(DeadlineExceededError) as info:
            _run(chat, path, **(given if where == "call" else {}))
        elapsed = time.monotonic() - start
        chat.close()
    assert 0.9 <= elapsed < 4.0, elapsed  # the whole body would take over 30 s
    assert "deadline_s=1" in str(info.value)
    assert isinstance(info.value, TimeoutError) and isinstance(info.value, LexiluxError)
    assert len(server.auth) == 1  # never retried: the time it allowed is spent


@pytest.mark.parametrize("path", FOUR_PATHS)
def test_without_a_deadline_the_trickle_is_read_to_the_end(path: str) -> None:
    """The control: the per-read timeout alone does not stop the trickle (a quick one here)."""
    with hostile_server("trickle") as server:
        server.interval = 0.0005
        chat = Chat(base_url=server.base_url, api_key="sk-test", model="m", timeout_s=0.5)
        out = _run(chat, path)
        chat.close()
    assert out


@pytest.mark.parametrize("path", FOUR_PATHS)
def test_a_deadline_that_is_not_reached_changes_nothing(path: str) -> None:
    with hostile_server("trickle") as server:
        server.interval = 0.0005
        chat = Chat(base_url=server.base_url, api_key="sk-t", model="m", deadline_s=30)
        assert _run(chat, path)
        chat.close()


@pytest.mark.parametrize("bad", [math.nan, math.inf, 0, -1, True, "5"])
def test_bad_deadlines_are_refused(bad: object) -> None:
    with pytest.raises(ValidationError, match="deadline_s"):
        Chat(base_url="http://127.0.0.1:9/v1", model="m", deadline_s=bad)  # type: ignore[arg-type]
    chat = Chat(base_url="http://127.0.0.1:9/v1", model="m")
    with pytest.raises(ValidationError, match="deadline_s"):
        chat.prepare("hi", deadline_s=bad)  # type: ignore[typeddict-item]
    chat.close()


def test_a_retry_that_would_start_past_the_deadline_is_not_attempted() -> None:
    """A 503 with Retry-After: 5 under deadline_s=1: the error says why no retry was made."""
    import httpx

    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(
            503, headers={"Retry-After": "5"}, json={"error": {"message": "busy"}}
        )

    client = httpx.Client(transport=httpx.MockTransport(handler))
    chat = Chat(base_url="http://llm.test/v1", model="m", deadline_s=1, http_client=client)
    start = time.monotonic()
    with pytest.raises(DeadlineExceededError, match="retry") as info:
        chat("hi")
    assert time.monotonic() - start < 1.0  # no 5 s sleep first
    assert "busy" in str(info.value) and len(calls) == 1
    client.close()


def test_a_stream_stopped_by_the_deadline_keeps_what_arrived() -> None:
    with hostile_server("trickle") as server:
        server.first_at_once = True  # then the rest, a byte every 0.3 s
        chat = Chat(base_url=server.base_url, api_key="sk-t", model="m", deadline_s=1.0)
        stream = chat.stream("hi")
        with pytest.raises(DeadlineExceededError):
            for _ in stream:
                pass
        chat.close()
    assert stream.result.text.startswith("slow")  # the first event arrived, and is kept


@pytest.mark.parametrize("raw", ["nan", "inf", "0", "-2"])
def test_the_notebook_setting_refuses_bad_deadlines(raw: str) -> None:
    from traitlets import TraitError

    from lexilux_nb.notebook.settings import ChatConfig

    config = ChatConfig()
    with pytest.raises(TraitError, match="deadline_s"):
        config.assign("deadline_s", raw)
    assert config.assign("deadline_s", "2.5") == (None, 2.5)
    assert config.assign("deadline_s", "none") == (2.5, None)


def test_the_notebook_setting_reaches_the_client() -> None:
    from lexilux_nb.notebook.config import build_chat, resolve_endpoint

    endpoint = resolve_endpoint({}, base_url="http://127.0.0.1:9/v1", model="m")
    chat = build_chat(
        "http://127.0.0.1:9/v1",
        endpoint,
        provider=None,
        timeout=5,
        max_retries=0,
        model="m",
        deadline_s=3,
    )
    assert chat.deadline_s == 3 and chat.prepare("hi").deadline_s == 3
    assert chat.prepare("hi", deadline_s=1).deadline_s == 1  # a call's own wins
    chat.close()
