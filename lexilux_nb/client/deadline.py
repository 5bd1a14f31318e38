"""``deadline_s``: one limit for a whole call, beside the per-read timeouts.

A read timeout restarts with every byte, so a server that trickles one byte at a time holds a
call forever. A :class:`Deadline` is started when a call begins and bounds everything after it:
connecting (every timeout of a request is capped at the time left), the wait before a retry (a
retry that would start past it is not attempted), and the answer itself (the response's byte
stream checks it after every piece, for the whole stream). The drivers set it for the duration of
their retry loop (:func:`scope`, a context variable, so threads and tasks each see their own);
a response keeps a reference to it, so a stream read later is still bound.

Limit: in a sync call, a server that trickles its status line and headers is stopped by h11's
header-size limit, not the deadline (httpcore reads them in one call); async calls are bounded
there too (``asyncio.wait_for``).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import AsyncIterator, Awaitable, Iterator
from contextvars import ContextVar
from typing import Any, Protocol, TypeVar

import httpx

from .errors import DeadlineExceededError, LexiluxError, ValidationError, error_from_transport


class Clock(Protocol):
    """What a deadline needs of the client's clock (``retry.Clock`` has it)."""

    def monotonic(self) -> float: ...


T = TypeVar("T")
MIN_WAIT_S = 0.001  # a timeout of 0 would make the socket non-blocking, not time out
_ACTIVE: ContextVar[Deadline | None] = ContextVar("lexilux_deadline", default=None)


def check_deadline(value: Any, name: str = "deadline_s") -> float | None:
    """``None`` (no limit) or a finite number of seconds above 0."""
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ValidationError(
            f"{name} must be a finite positive number of seconds (or None for no limit), "
            f"got {value!r}"
        )
    return float(value)


class Deadline:
    """The moment a call must be over by, on the client's clock."""

    def __init__(self, seconds: float, clock: Clock) -> None:
        self.seconds = seconds
        self._clock = clock
        self.at = clock.monotonic() + seconds

    def remaining(self) -> float:
        return self.at - self._clock.monotonic()

    @property
    def expired(self) -> bool:
        return self.remaining() <= 0

    def error(self, doing: str) -> DeadlineExceededError:
        return DeadlineExceededError(
            f"the call took longer than deadline_s={self.seconds:g} s ({doing}); "
            "give it more time with deadline_s=..., or deadline_s=None for no whole-call limit"
        )

    def check(self, doing: str) -> None:
        if self.expired:
            raise self.error(doing)

    def cap(self, timeouts: dict[str, float | None]) -> dict[str, float | None]:
        """httpx's per-request timeouts, none longer than the time left."""
        left = max(self.remaining(), MIN_WAIT_S)
        return {k: left if v is None else min(v, left) for k, v in timeouts.items()}

    def allow_wait(self, seconds: float, why: str) -> None:
        """Refuse a wait (before a retry) that would end past the deadline."""
        if seconds > 0 and seconds >= self.remaining():
            raise self.error(f"a retry after {seconds:.2f} s would start past it; last: {why}")


def current() -> Deadline | None:
    """The deadline of the call running in this thread or task, if it has one."""
    return _ACTIVE.get()


@contextlib.contextmanager
def scope(seconds: float | None, clock: Clock) -> Iterator[Deadline | None]:
    """Start a deadline for a call's retry loop (``None``: no limit, nothing changes)."""
    deadline = Deadline(seconds, clock) if seconds is not None else None
    token = _ACTIVE.set(deadline)
    try:
        yield deadline
    finally:
        _ACTIVE.reset(token)


def network_error(exc: httpx.TransportError, secrets: tuple[str, ...]) -> LexiluxError:
    """Our error for a transport failure (a copy: the httpx exception holds the headers); one
    that came once the deadline was spent says so. Raise it outside the ``except`` block."""
    deadline = current()
    if deadline is not None and deadline.expired:
        return deadline.error(f"{type(exc).__name__} once the time was spent")
    return error_from_transport(exc, secrets)


def bind_request(request: httpx.Request) -> None:
    """Cap the request's timeouts at the time left (or fail when none is)."""
    deadline = current()
    if deadline is None:
        return
    deadline.check("before sending the request")
    timeouts = request.extensions.get("timeout")
    if isinstance(timeouts, dict):
        request.extensions["timeout"] = deadline.cap(timeouts)


def guard(response: httpx.Response) -> None:
    """Bind the response's body to the deadline: checked after every piece, for the whole
    stream, and its read timeout capped at what is left once the headers are in."""
    deadline = current()
    if deadline is None:
        return
    deadline.check("while waiting for the answer's headers")
    timeouts = response.request.extensions.get("timeout")
    if isinstance(timeouts, dict):  # httpcore reads it when the body starts: same dict
        timeouts.update(deadline.cap(timeouts))
    if isinstance(response.stream, httpx.SyncByteStream):
        response.stream = _SyncBound(response.stream, deadline)
    elif isinstance(response.stream, httpx.AsyncByteStream):
        response.stream = _AsyncBound(response.stream, deadline)


async def within(awaitable: Awaitable[T]) -> T:
    """Await ``awaitable`` (an async send) no longer than the current deadline allows."""
    deadline = current()
    if deadline is None:
        return await awaitable
    expired = False
    try:
        return await asyncio.wait_for(awaitable, max(deadline.remaining(), MIN_WAIT_S))
    except asyncio.TimeoutError:
        expired = True
    if expired:  # raised here, outside the except: no TimeoutError as its __context__
        raise deadline.error("while waiting for the answer's headers")
    raise AssertionError("unreachable")


def _timed_out(deadline: Deadline, exc: BaseException) -> bool:
    return isinstance(exc, httpx.TimeoutException) and deadline.expired


class _SyncBound(httpx.SyncByteStream):
    def __init__(self, inner: httpx.SyncByteStream, deadline: Deadline) -> None:
        self._inner, self._deadline = inner, deadline

    def __iter__(self) -> Iterator[bytes]:
        pieces = iter(self._inner)
        while True:
            self._deadline.check("while reading the answer")
            failed = False
            try:
                piece = next(pieces)
            except StopIteration:
                return
            except httpx.TimeoutException as exc:
                if not _timed_out(self._deadline, exc):
                    raise
                failed = True
            if failed:
                raise self._deadline.error("while reading the answer")
            yield piece

    def close(self) -> None:
        self._inner.close()


class _AsyncBound(httpx.AsyncByteStream):
    def __init__(self, inner: httpx.AsyncByteStream, deadline: Deadline) -> None:
        self._inner, self._deadline = inner, deadline

    async def __aiter__(self) -> AsyncIterator[bytes]:
        pieces = self._inner.__aiter__()
        while True:
            self._deadline.check("while reading the answer")
            failed = False
            try:
                piece = await pieces.__anext__()
            except StopAsyncIteration:
                return
            except httpx.TimeoutException as exc:
                if not _timed_out(self._deadline, exc):
                    raise
                failed = True
            if failed:
                raise self._deadline.error("while reading the answer")
            yield piece

    async def aclose(self) -> None:
        await self._inner.aclose()
