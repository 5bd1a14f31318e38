"""How a batch flow's steps are sent: one HTTP request per :class:`Call` under the API root, with
the client's headers, retries and body cap; a :class:`Sleep` sleeps on the client's clock.
The sync and async drivers run the same flow."""

from __future__ import annotations

import functools
import json
from collections.abc import Awaitable, Callable, Generator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import httpx

from .. import __version__
from .body import aread_bounded, read_bounded
from .errors import MalformedResponseError, error_from_response, error_from_transport, redact
from .retry import Clock
from .transport import HttpClients, PreparedRequest

T = TypeVar("T")


class Chat(Protocol):
    """What a batch needs of :class:`~.chat.Chat` (named here so chat.py can import this module
    without an import circle)."""

    base_url: str
    _http: HttpClients
    _clock: Clock

    def prepare(self, messages: Any, *, stream: bool = ...) -> PreparedRequest: ...

    def _retrying(self, attempt: Callable[[], T]) -> T: ...

    async def _aretrying(self, attempt: Callable[[], Awaitable[T]]) -> T: ...

    @property
    def api_key(self) -> str | None: ...

    @property
    def headers(self) -> dict[str, str]: ...

    @property
    def secrets(self) -> tuple[str, ...]: ...


@dataclass(frozen=True)
class Call:
    """One HTTP request under the API root; ``raw`` answers bytes instead of JSON."""

    method: str
    path: str
    json: Any = None
    files: Mapping[str, Any] | None = None
    data: Mapping[str, Any] | None = None
    raw: bool = False


@dataclass(frozen=True)
class Sleep:
    seconds: float


Flow = Generator[Call | Sleep, Any, T]


def _headers(chat: Chat) -> dict[str, str]:
    headers = {"User-Agent": f"lexilux-nb/{__version__}", "Accept": "application/json"}
    if chat.api_key:
        headers["Authorization"] = f"Bearer {chat.api_key}"
    for name, value in chat.headers.items():  # the caller's spelling wins, in any case
        for default in [k for k in headers if k.lower() == name.lower()]:
            del headers[default]
        headers[name] = value
    return headers


def _request(chat: Chat, client: httpx.Client | httpx.AsyncClient, call: Call) -> httpx.Request:
    root = chat.base_url.removesuffix("/chat/completions")
    return client.build_request(
        call.method,
        root + call.path,
        headers=_headers(chat),
        json=call.json,
        files=call.files,
        data=call.data,
    )


def _decode(chat: Chat, call: Call, response: httpx.Response, body: bytes) -> Any:
    if response.status_code >= 400:
        raise error_from_response(response.status_code, response.headers, body, chat.secrets)
    if call.raw:
        return body
    try:
        return json.loads(body)
    except ValueError:
        snippet = redact(body[:200].decode("utf-8", "replace"), chat.secrets)
        raise MalformedResponseError(f"expected JSON from {call.path}, got {snippet!r}") from None


def _send(chat: Chat, call: Call) -> Any:
    """One request; JSON answers are read up to the body cap, result files whole (they are
    the job's output, as large as the job)."""
    client = chat._http.sync
    try:
        response = client.send(_request(chat, client, call), stream=True)
        try:
            body = response.read() if call.raw else read_bounded(response)
        finally:
            response.close()
    except httpx.TransportError as exc:
        raise error_from_transport(exc, chat.secrets) from None
    return _decode(chat, call, response, body)


async def _asend(chat: Chat, call: Call) -> Any:
    client = chat._http.async_
    try:
        response = await client.send(_request(chat, client, call), stream=True)
        try:
            body = await response.aread() if call.raw else await aread_bounded(response)
        finally:
            await response.aclose()
    except httpx.TransportError as exc:
        raise error_from_transport(exc, chat.secrets) from None
    return _decode(chat, call, response, body)


def run(chat: Chat, flow: Flow[T]) -> T:
    reply: Any = None
    try:
        while True:
            step = flow.send(reply)
            if isinstance(step, Sleep):
                chat._clock.sleep(step.seconds)
                reply = None
            else:
                reply = chat._retrying(functools.partial(_send, chat, step))
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]


async def arun(chat: Chat, flow: Flow[T]) -> T:
    reply: Any = None
    try:
        while True:
            step = flow.send(reply)
            if isinstance(step, Sleep):
                await chat._clock.asleep(step.seconds)
                reply = None
            else:
                reply = await chat._aretrying(functools.partial(_asend, chat, step))
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]
