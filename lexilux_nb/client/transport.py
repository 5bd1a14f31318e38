"""Where requests leave: build httpx clients (and :mod:`.h1`'s pools) and perform one attempt.

An *attempt* is one request: send it, turn an error status or a transport failure into our
exceptions, and for streams read up to the first event, so that a stream that failed before
anything arrived can be retried like any other request. Everything else is in the pure modules.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import urllib.request
import weakref
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from . import h1
from .body import aread_bounded, decode_json, read_bounded
from .deadline import bind_request, guard, network_error, within
from .errors import (
    APIError,
    ConfigurationError,
    LexiluxError,
    error_from_response,
    redact,
    url_secrets,
)
from .pool import PooledAsyncTransport
from .sse import Event, SSEDecoder


@dataclass(frozen=True)
class PreparedRequest:
    """Everything one POST needs; built by the pure layer, sent by the drivers."""

    url: str
    headers: Mapping[str, str]
    body: dict[str, Any]
    stream: bool
    secrets: tuple[str, ...] = field(default=(), repr=False)
    deadline_s: float | None = None  # the whole call, retries included (see deadline.py)

    def __repr__(self) -> str:  # the Authorization header must not reach a notebook output
        fields = f"url={self.url!r}, headers={dict(self.headers)!r}, body={self.body!r}"
        return redact(f"PreparedRequest({fields}, stream={self.stream!r})", self.secrets)


@dataclass
class OpenedStream:
    """A stream whose status was OK and whose first events (if any) have been read."""

    response: httpx.Response
    decoder: SSEDecoder | None = None
    texts: Iterator[str] | AsyncIterator[str] | None = None
    first: list[Event] = field(default_factory=list)
    json_body: bytes | None = None

    def batches(self) -> Iterator[list[Event]]:
        """The events, one list per network read (sync)."""
        assert self.decoder is not None and isinstance(self.texts, Iterator)
        yield self.first
        for text in self.texts:
            events = self.decoder.feed(text)
            if events:
                yield events
        yield self.decoder.flush()

    async def abatches(self) -> AsyncIterator[list[Event]]:
        """The events, one list per network read (async)."""
        assert self.decoder is not None and isinstance(self.texts, AsyncIterator)
        yield self.first
        async for text in self.texts:
            events = self.decoder.feed(text)
            if events:
                yield events
        yield self.decoder.flush()


def _content_type(response: httpx.Response) -> str:
    content_type: str = response.headers.get("content-type", "")
    return content_type.split(";")[0].strip().lower()


def _not_sse(response: httpx.Response, content_type: str) -> APIError:
    return APIError(
        f"expected a server-sent event stream (text/event-stream), got {content_type!r}",
        status_code=response.status_code,
    )


def _build_request(client: httpx.Client | httpx.AsyncClient, req: PreparedRequest) -> httpx.Request:
    request = client.build_request("POST", req.url, headers=dict(req.headers), json=req.body)
    bind_request(request)  # timeouts capped by the call's deadline_s, when it has one
    return request


class HttpClients:
    """One pooled sync client, and one async client per event loop (``asyncio.run`` twice works).

    Clients the caller gives (``Chat(http_client=..., async_http_client=...)``: limits, event
    hooks, a transport for tests) are used as they are and never closed here: they are theirs.
    """

    def __init__(
        self,
        *,
        timeout: httpx.Timeout,
        proxies: Mapping[str, str] | None,
        verify: bool | str,
        given: httpx.Client | None = None,
        agiven: httpx.AsyncClient | None = None,
    ) -> None:
        if given is not None and not isinstance(given, httpx.Client):
            raise ConfigurationError(
                f"http_client must be an httpx.Client, got {type(given).__name__}"
                " (an httpx.AsyncClient goes in async_http_client=)"
            )
        if agiven is not None and not isinstance(agiven, httpx.AsyncClient):
            raise ConfigurationError(
                f"async_http_client must be an httpx.AsyncClient, got {type(agiven).__name__}"
            )
        self._given, self._agiven = given, agiven
        self._timeout = timeout
        self._proxies = proxies
        for scheme in proxies or {}:
            _mount_key(scheme)  # a bad key fails at Chat(...), not at the first call
        self._verify = verify
        self.timeouts: dict[str, float | None] = timeout.as_dict()
        self._ssl: ssl.SSLContext | None = None  # one for every async path: loading CAs takes 40 ms
        self._sync: httpx.Client | None = None
        self._lean: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, tuple[h1.Pool | None, AsyncGenerator[None, None] | None]
        ] = weakref.WeakKeyDictionary()
        self._async: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, tuple[httpx.AsyncClient, AsyncGenerator[None, None]]
        ] = weakref.WeakKeyDictionary()

    def _kwargs(self, transport_cls: type[Any]) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"timeout": self._timeout, "verify": self._verify}
        if self._proxies is not None:  # {} means: no proxies, not even from the environment
            kwargs["trust_env"] = False
            kwargs["mounts"] = {
                _mount_key(scheme): transport_cls(proxy=url, verify=self._verify)
                for scheme, url in self._proxies.items()
            }
        return kwargs

    @property
    def sync(self) -> httpx.Client:
        if self._given is not None:
            return self._given
        if self._sync is None or self._sync.is_closed:
            self._sync = httpx.Client(**self._kwargs(httpx.HTTPTransport))
        return self._sync

    @property
    def secrets(self) -> tuple[str, ...]:
        """Credentials written in the proxy URLs (masked wherever they could be shown)."""
        return tuple(s for url in (self._proxies or {}).values() for s in url_secrets(url))

    @property
    def async_(self) -> httpx.AsyncClient:
        if self._agiven is not None:
            return self._agiven
        loop = asyncio.get_running_loop()
        entry = self._async.get(loop)
        if entry is None or entry[0].is_closed:
            kwargs = self._kwargs(httpx.AsyncHTTPTransport)
            if not self._env_proxied():  # a transport given to httpx turns the environment's off
                kwargs["transport"] = PooledAsyncTransport(ssl_context=self._ssl_context)
            client = httpx.AsyncClient(**kwargs)
            closer = _closed_with_loop(client, lambda: self._async.pop(loop, None))
            entry = self._async[loop] = (client, closer)
        return entry[0]

    def _env_proxied(self) -> bool:
        """Would httpx send through HTTP_PROXY, HTTPS_PROXY or ALL_PROXY (``proxies=None``)?"""
        found = urllib.request.getproxies() if self._proxies is None else {}
        return any(found.get(scheme) for scheme in ("http", "https", "all"))

    def _ssl_context(self) -> ssl.SSLContext:
        if self._ssl is None:
            self._ssl = httpx.create_ssl_context(verify=self._verify)
            self._ssl.set_alpn_protocols(["http/1.1"])
        return self._ssl

    def lean(self) -> h1.Pool | None:
        """The running loop's :mod:`.h1` pool, or ``None`` where httpx must send: a client the
        caller gave, proxies (given or from the environment), httpx patched by a mock."""
        if self._agiven is not None or self._proxies or h1.patched():
            return None
        loop = asyncio.get_running_loop()
        entry = self._lean.get(loop)
        if entry is None or (entry[0] is not None and entry[0].closed):
            if self._env_proxied():  # read once per loop, as httpx reads it once per client
                entry = (None, None)
            else:
                pool = h1.Pool(self._ssl_context)
                entry = (pool, _closed_with_loop(pool, lambda: self._lean.pop(loop, None)))
            self._lean[loop] = entry
        return entry[0]

    def close(self) -> None:
        if self._sync is not None:
            self._sync.close()
        self._async.clear()  # their loops may be gone; connections are dropped with them
        self._lean.clear()

    async def aclose(self) -> None:
        loop = asyncio.get_running_loop()
        entry = self._async.pop(loop, None)
        if entry is not None:
            await entry[0].aclose()
            await entry[1].aclose()
        lean = self._lean.pop(loop, None)
        if lean is not None and lean[0] is not None and lean[1] is not None:
            await lean[0].aclose()
            await lean[1].aclose()
        self.close()


class _Closable(Protocol):
    async def aclose(self) -> None: ...


async def _closing(client: _Closable, forget: Callable[[], object]) -> AsyncGenerator[None, None]:
    try:
        yield
    finally:
        forget()
        await client.aclose()


def _closed_with_loop(
    client: _Closable, forget: Callable[[], object]
) -> AsyncGenerator[None, None]:
    """An async generator, started on the running loop, whose ``finally`` closes ``client``:
    ``asyncio.run`` (``loop.shutdown_asyncgens``) finalizes it before closing the loop, so each
    ``asyncio.run(chat.acall(...))`` closes its own client and sockets."""
    gen = _closing(client, forget)
    step = gen.asend(None)  # runs to the yield without suspending: registers it with the loop
    with contextlib.suppress(StopIteration):
        step.send(None)
    return gen


def _mount_key(scheme: str) -> str:
    if scheme in {"http", "https", "all"}:
        return f"{scheme}://"
    if not scheme.endswith("://") and "://" not in scheme:
        raise ConfigurationError(
            "proxies keys must be 'http', 'https', 'all' or URL patterns like 'https://', "
            f"got {scheme!r}"
        )
    return scheme


# -- one attempt, sync ----------------------------------------------------------------------------


def send_json(client: httpx.Client, req: PreparedRequest) -> Any:
    """POST and return the decoded JSON body; raise our errors for anything else."""
    failure: LexiluxError | None = None
    try:
        response = client.send(_build_request(client, req), stream=True)
        try:
            guard(response)
            body = read_bounded(response)
        finally:
            response.close()
    except httpx.TransportError as exc:
        failure = network_error(exc, req.secrets)
    if failure is not None:  # raised here, so no httpx exception is its __context__
        raise failure
    if response.status_code >= 400:
        raise error_from_response(response.status_code, response.headers, body, req.secrets)
    return decode_json(body, req.secrets)


def open_stream(client: httpx.Client, req: PreparedRequest) -> OpenedStream:
    """Send a streaming request and read until its first event (or its JSON body)."""
    failure: LexiluxError | None = None
    try:
        response = client.send(_build_request(client, req), stream=True)
    except httpx.TransportError as exc:
        failure = network_error(exc, req.secrets)
    if failure is not None:
        raise failure
    try:
        return _open_sync(response, req)
    except httpx.TransportError as exc:
        response.close()
        failure = network_error(exc, req.secrets)
    except BaseException:
        response.close()
        raise
    raise failure


def _open_sync(response: httpx.Response, req: PreparedRequest) -> OpenedStream:
    guard(response)
    if response.status_code >= 400:
        body = read_bounded(response)
        raise error_from_response(response.status_code, response.headers, body, req.secrets)
    content_type = _content_type(response)
    if content_type == "application/json":
        return OpenedStream(response, json_body=read_bounded(response))
    if content_type != "text/event-stream":
        raise _not_sse(response, content_type)
    decoder = SSEDecoder()
    texts = response.iter_text()
    for text in texts:  # read up to the first event, so a silent failure can be retried
        first = decoder.feed(text)
        if first:
            return OpenedStream(response, decoder, texts, first)
    return OpenedStream(response, decoder, texts, decoder.flush())


# -- one attempt, async ---------------------------------------------------------------------------


async def asend(http: HttpClients, req: PreparedRequest) -> Any:
    """One non-streamed attempt on the running loop: on :mod:`.h1` where it carries the request
    (the same errors, faster), else on httpx (:func:`asend_json`)."""
    pool = http.lean()
    request = None if pool is None else h1.encode(req.url, req.headers, req.body)
    if pool is None or request is None:
        return await asend_json(http.async_, req)
    return await h1.send_json(pool, request, http.timeouts, req.secrets)


async def asend_json(client: httpx.AsyncClient, req: PreparedRequest) -> Any:
    """Async twin of :func:`send_json`."""
    failure: LexiluxError | None = None
    try:
        response = await within(client.send(_build_request(client, req), stream=True))
        try:
            guard(response)
            body = await aread_bounded(response)
        finally:
            await response.aclose()
    except httpx.TransportError as exc:
        failure = network_error(exc, req.secrets)
    if failure is not None:
        raise failure
    if response.status_code >= 400:
        raise error_from_response(response.status_code, response.headers, body, req.secrets)
    return decode_json(body, req.secrets)


async def aopen_stream(client: httpx.AsyncClient, req: PreparedRequest) -> OpenedStream:
    """Async twin of :func:`open_stream`."""
    failure: LexiluxError | None = None
    try:
        response = await within(client.send(_build_request(client, req), stream=True))
    except httpx.TransportError as exc:
        failure = network_error(exc, req.secrets)
    if failure is not None:
        raise failure
    try:
        return await _open_async(response, req)
    except httpx.TransportError as exc:
        await response.aclose()
        failure = network_error(exc, req.secrets)
    except BaseException:
        await response.aclose()
        raise
    raise failure


async def _open_async(response: httpx.Response, req: PreparedRequest) -> OpenedStream:
    guard(response)
    if response.status_code >= 400:
        body = await aread_bounded(response)
        raise error_from_response(response.status_code, response.headers, body, req.secrets)
    content_type = _content_type(response)
    if content_type == "application/json":
        return OpenedStream(response, json_body=await aread_bounded(response))
    if content_type != "text/event-stream":
        raise _not_sse(response, content_type)
    decoder = SSEDecoder()
    texts = response.aiter_text()
    async for text in texts:
        first = decoder.feed(text)
        if first:
            return OpenedStream(response, decoder, texts, first)
    return OpenedStream(response, decoder, texts, decoder.flush())
