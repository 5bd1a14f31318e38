"""Plain HTTP/1.1 for the JSON answers of ``acall`` and ``amap``: h11 on an asyncio protocol.

Why not httpx here: at 64 requests in flight, httpx's request and response objects, httpcore's
pool and anyio cost ``chat.amap`` 0.82 ms of CPU per request, which held a batch at 0.84x of the
ideal throughput against a loopback server answering after 50 ms; here a request costs 0.25 ms
and the batch runs at 0.94x, level with raw sockets (``benchmarks/bench_map.py``). h11
(httpx's own HTTP/1.1 parser, already installed) does the protocol; this module only keeps
connections and timeouts.

It behaves as the httpx path does: the same timeouts (connect, write, each read, pool) capped by
the call's deadline, failures raised as httpx's exception types (so they are mapped by the same
code, :func:`.deadline.network_error`), the same body cap and inflation (:mod:`.body`), and
idle connections kept for 5 s (httpcore's default). httpx stays the driver where this path would
differ (:func:`encode` returns ``None``, :func:`patched`, ``HttpClients.lean``): streams,
clients the caller gave, proxies (given or from the environment), user names in the URL,
non-ASCII URLs or header values, a Host or Content-Length of the caller's, and whenever a test
library (respx) patched httpx or httpcore, so the mock sees every request.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
import os
import ssl
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar
from urllib.parse import urlsplit

import h11
import httpcore
import httpx

from .body import Body, decode_json
from .deadline import MIN_WAIT_S, Deadline, current, network_error
from .errors import error_from_response
from .inflate import inflater

KEEPALIVE_S = 5.0  # httpcore's keepalive_expiry: servers close idle connections soon after
MAX_CONNECTIONS = 128  # in use at once per pool; more requests wait (the pool timeout)
PAUSE_AT = 1 << 20  # unread bytes at which the socket stops being read until they are parsed
FRAMING = frozenset({b"host", b"content-length", b"transfer-encoding"})
T = TypeVar("T")
Origin = tuple[str, str, int]
ACCEPT_ENCODING = b"gzip, deflate, br" if inflater("br") is not None else b"gzip, deflate"


class Request:
    """What one POST puts on the wire, built before a connection is taken."""

    __slots__ = ("body", "head", "origin")

    def __init__(self, origin: Origin, head: h11.Request, body: bytes) -> None:
        self.origin, self.head, self.body = origin, head, body


@functools.lru_cache(maxsize=64)
def _target(url: str) -> tuple[Origin, bytes, bytes] | None:
    """(origin, Host header, request target) of a URL this path can carry as it is."""
    if not url.isascii():
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or parts.username or parts.password:
        return None
    host, default = parts.hostname, 443 if parts.scheme == "https" else 80
    if not host:
        return None
    port = parts.port or default
    shown = f"[{host}]" if ":" in host else host
    host_header = shown if port == default else f"{shown}:{port}"
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return (parts.scheme, host, port), host_header.encode(), target.encode()


def encode(url: str, headers: Mapping[str, str], payload: Any) -> Request | None:
    """The request as bytes, or ``None`` where httpx should send it (it would differ here)."""
    found = _target(url)
    if found is None:
        return None
    origin, host, target = found
    try:
        pairs = [(k.encode("ascii"), v.encode("ascii")) for k, v in headers.items()]
    except UnicodeEncodeError:
        return None
    named = {k.lower() for k, _ in pairs}
    if named & FRAMING:  # the caller's own framing: httpx decides what that means
        return None
    pairs.insert(0, (b"Host", host))
    if b"accept-encoding" not in named:
        pairs.append((b"Accept-Encoding", ACCEPT_ENCODING))
    if b"connection" not in named:
        pairs.append((b"Connection", b"keep-alive"))
    # httpx's JSON encoding, byte for byte
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    data = body.encode("utf-8")
    pairs.append((b"Content-Length", str(len(data)).encode()))
    try:
        head = h11.Request(method=b"POST", target=target, headers=pairs)
    except h11.LocalProtocolError:  # a header httpx would refuse in its own words
        return None
    return Request(origin, head, data)


def _genuine(owner: type, name: str) -> bool:
    found = getattr(owner, name, None)
    return inspect.isfunction(found) and found.__module__.startswith(("httpx", "httpcore"))


def patched() -> bool:
    """Is httpx or httpcore patched (respx, the default or ``using="httpx"``)? Then their mock
    must see the request."""
    return not (
        _genuine(httpx.AsyncClient, "_transport_for_url")
        and _genuine(httpcore.AsyncConnectionPool, "handle_async_request")
    )


if sys.version_info >= (3, 11):

    async def _within(awaitable: Awaitable[T], seconds: float | None) -> T:
        async with asyncio.timeout(seconds):
            return await awaitable

else:  # pragma: no cover - Python 3.10

    async def _within(awaitable: Awaitable[T], seconds: float | None) -> T:
        return await asyncio.wait_for(awaitable, seconds)


class _Connection(asyncio.Protocol):
    """One socket and its h11 state; bytes go straight from the loop into h11."""

    def __init__(self) -> None:
        self.h11 = h11.Connection(h11.CLIENT)
        self.transport: asyncio.Transport | None = None
        self.lost: str | None = None  # why the socket is gone, once it is
        self.eof = False
        self.idle_since = 0.0
        self._waiter: asyncio.Future[None] | None = None
        self._drained: asyncio.Future[None] | None = None
        self._unread = 0

    # -- the loop's callbacks --
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.h11.receive_data(data)
        self._unread += len(data)
        if self._unread > PAUSE_AT and self.transport is not None:
            self.transport.pause_reading()  # bounded: resumed once h11 asks for more
        self._wake()

    def eof_received(self) -> bool | None:
        self.eof = True  # given to h11 when it asks for more (see next_event)
        self._wake()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = str(exc) if exc else "the server closed the connection"
        self._wake()
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)

    def pause_writing(self) -> None:
        self._drained = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    # -- used by a request --
    @property
    def reusable(self) -> bool:
        return (
            not self.lost
            and not self.eof
            and self.h11.our_state is h11.IDLE
            and self.h11.their_state is h11.IDLE
            and not self.h11.trailing_data[0]
            and time.monotonic() - self.idle_since < KEEPALIVE_S
        )

    async def send(self, data: bytes, seconds: float | None) -> None:
        if self.lost or self.transport is None:
            raise httpx.WriteError("the connection was closed")
        self.transport.write(data)
        drained = self._drained
        if drained is not None and not drained.done():
            try:
                await _within(asyncio.shield(drained), seconds)
            except asyncio.TimeoutError:  # (not the builtin on 3.10)
                raise httpx.WriteTimeout("timed out") from None
        if self.lost:
            raise httpx.WriteError(self.lost)

    async def next_event(self, seconds: Callable[[], float | None]) -> Any:
        """The next h11 event, reading as needed (each wait bounded by ``seconds()``)."""
        while True:
            try:
                event = self.h11.next_event()
            except h11.RemoteProtocolError as exc:
                raise httpx.RemoteProtocolError(str(exc)) from None
            if event is not h11.NEED_DATA:
                return event
            if self.eof:  # httpcore's words for a server that hung up before answering
                if self.h11.their_state is h11.SEND_RESPONSE:
                    raise httpx.RemoteProtocolError(
                        "Server disconnected without sending a response."
                    )
                self.h11.receive_data(b"")
                continue
            if self.lost:  # reset without an EOF: what arrived is all there is
                raise httpx.ReadError(self.lost)
            self._unread = 0
            assert self.transport is not None
            if not self.transport.is_reading():
                self.transport.resume_reading()
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await _within(self._waiter, seconds())
            except asyncio.TimeoutError:
                raise httpx.ReadTimeout("timed out") from None
            finally:
                self._waiter = None

    def close(self) -> None:
        if self.transport is not None:
            self.transport.abort()  # nothing of a failed exchange is worth flushing
        self.lost = self.lost or "closed"


def _said(exc: OSError) -> str:
    """The socket's own words, as a blocking connect (httpx's sync path) gives them: asyncio
    says "Connect call failed (host, port)" where the socket says "Connection refused"."""
    if exc.errno and (isinstance(exc, ConnectionError) or type(exc) is OSError):
        return f"[Errno {exc.errno}] {os.strerror(exc.errno)}"
    return str(exc)


class Pool:
    """The keep-alive connections of one event loop, idle ones by origin (the newest reused
    first), and at most :data:`MAX_CONNECTIONS` in use."""

    def __init__(self, ssl_context: Callable[[], ssl.SSLContext]) -> None:
        self._ssl = ssl_context
        self._idle: dict[Origin, list[_Connection]] = {}
        self._slots = asyncio.Semaphore(MAX_CONNECTIONS)
        self.opened = 0  # connections opened so far (for tests and benchmarks)
        self.closed = False

    async def _connect(self, origin: Origin, seconds: float | None) -> _Connection:
        scheme, host, port = origin
        context = self._ssl() if scheme == "https" else None
        loop = asyncio.get_running_loop()
        try:
            _, conn = await _within(
                loop.create_connection(
                    _Connection, host, port, ssl=context, server_hostname=host if context else None
                ),
                seconds,
            )
        except asyncio.TimeoutError:
            raise httpx.ConnectTimeout("timed out") from None
        except OSError as exc:  # refused, unreachable, a name that does not resolve, TLS
            raise httpx.ConnectError(_said(exc)) from None
        self.opened += 1
        return conn

    def _take(self, origin: Origin) -> _Connection | None:
        idle = self._idle.get(origin)
        while idle:
            conn = idle.pop()
            if conn.reusable:
                return conn
            conn.close()  # expired, or closed by the server while idle
        return None

    def _give_back(self, origin: Origin, conn: _Connection) -> None:
        h = conn.h11
        if h.our_state is h11.DONE and h.their_state is h11.DONE:
            h.start_next_cycle()
            conn.idle_since = time.monotonic()
            idle = self._idle.setdefault(origin, [])
            if conn.reusable and not self.closed and len(idle) < MAX_CONNECTIONS:
                idle.append(conn)
                return
        conn.close()

    async def exchange(
        self, request: Request, timeouts: Mapping[str, float | None], deadline: Deadline | None
    ) -> tuple[int, dict[str, str], bytes]:
        """Send ``request`` and read its answer (status, headers, decoded body); the connection
        is kept only when the whole exchange completed."""
        if not self._slots.locked():
            await self._slots.acquire()  # free: returns at once
        else:
            try:
                await _within(self._slots.acquire(), timeouts["pool"])
            except asyncio.TimeoutError:
                raise httpx.PoolTimeout("timed out waiting for a connection") from None
        try:
            conn = self._take(request.origin) or await self._connect(
                request.origin, timeouts["connect"]
            )
            try:
                h = conn.h11
                data = h.send(request.head) + h.send(h11.Data(data=request.body))
                await conn.send(data + h.send(h11.EndOfMessage()), timeouts["write"])
                result = await _answer(conn, timeouts, deadline)
            except BaseException:  # a failure, a timeout or a cancel: the socket is unusable
                conn.close()
                raise
            self._give_back(request.origin, conn)
            return result
        finally:
            self._slots.release()

    async def aclose(self) -> None:
        self.closed = True
        idle, self._idle = self._idle, {}
        for conns in idle.values():
            for conn in conns:
                conn.close()


def _read_seconds(
    timeouts: Mapping[str, float | None], deadline: Deadline | None
) -> Callable[[], float | None]:
    """Each read's timeout: the read timeout, and never past the call's deadline."""
    read = timeouts["read"]
    if deadline is None:
        return lambda: read
    return lambda: max(min(read or deadline.remaining(), deadline.remaining()), MIN_WAIT_S)


async def _answer(
    conn: _Connection, timeouts: Mapping[str, float | None], deadline: Deadline | None
) -> tuple[int, dict[str, str], bytes]:
    seconds = _read_seconds(timeouts, deadline)
    head = await conn.next_event(seconds)
    while isinstance(head, h11.InformationalResponse):  # 100 Continue and the like
        head = await conn.next_event(seconds)
    if isinstance(head, h11.ConnectionClosed):
        raise httpx.RemoteProtocolError("Server disconnected without sending a response.")
    if deadline is not None:
        deadline.check("while waiting for the answer's headers")
    headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in head.headers}
    body = Body(headers.get("content-encoding", ""))
    while True:
        event = await conn.next_event(seconds)
        if isinstance(event, h11.EndOfMessage):
            return head.status_code, headers, body.end()
        if isinstance(event, h11.Data):
            body.feed(bytes(event.data))
            if deadline is not None:
                deadline.check("while reading the answer")


async def send_json(
    pool: Pool, request: Request, timeouts: Mapping[str, float | None], secrets: tuple[str, ...]
) -> Any:
    """POST and return the decoded JSON body; raise our errors for anything else (as
    :func:`.transport.asend_json` does)."""
    deadline = current()
    if deadline is not None:
        deadline.check("before sending the request")
        timeouts = deadline.cap(dict(timeouts))
    failure = None
    try:
        status, headers, body = await pool.exchange(request, timeouts, deadline)
    except httpx.TransportError as exc:
        failure = network_error(exc, secrets)
    if failure is not None:  # raised here, so no httpx exception is its __context__
        raise failure
    if status >= 400:
        raise error_from_response(status, headers, body, secrets)
    return decode_json(body, secrets)
