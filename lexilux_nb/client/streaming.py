"""Stream iterators: a thin loop that moves events from httpx into the accumulator.

Both open lazily on first use (``await chat.astream(...)`` opens eagerly), close their
connection when exhausted, on ``close()`` and on error, and expose ``.result``: everything
accumulated so far, equal to the non-streaming answer once the stream has ended.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterator
from typing import Any

import httpx
from httpx_sse import ServerSentEvent

from .accumulate import StreamAccumulator
from .errors import error_from_transport
from .models import ChatResult, ChatStreamChunk
from .transport import OpenedStream


class _StreamBase:
    def __init__(self, accumulator: StreamAccumulator, secrets: tuple[str, ...]) -> None:
        self._acc = accumulator
        self._secrets = secrets
        self._opened: OpenedStream | None = None
        self._closed = False

    @property
    def result(self) -> ChatResult:
        """What has arrived so far; after the end, the whole answer."""
        return self._acc.result()

    @property
    def done(self) -> bool:
        return self._acc.finished

    def _steps(self, sse: ServerSentEvent | None) -> ChatStreamChunk | None:
        """Feed one event (``None`` = bytes ran out); the caller yields what comes back."""
        if sse is None:
            return self._acc.end_of_stream()
        return self._acc.feed(sse.event, sse.data)

    def _on_transport_error(self, exc: httpx.TransportError) -> ChatStreamChunk | None:
        """A broken connection after the answer finished is harmless; before, it interrupts."""
        return self._acc.end_of_stream(error_from_transport(exc, self._secrets))


class StreamingIterator(_StreamBase):
    """``for chunk in chat.stream(...)``; also a context manager that closes the connection."""

    def __init__(
        self,
        opener: Callable[[], OpenedStream],
        accumulator: StreamAccumulator,
        secrets: tuple[str, ...] = (),
    ) -> None:
        super().__init__(accumulator, secrets)
        self._opener = opener
        self._gen: Generator[ChatStreamChunk, None, None] | None = None

    def __iter__(self) -> Iterator[ChatStreamChunk]:
        return self

    def __next__(self) -> ChatStreamChunk:
        if self._gen is None:
            if self._closed:
                raise StopIteration
            self._gen = self._run()
        return next(self._gen)

    def _run(self) -> Generator[ChatStreamChunk, None, None]:
        opened = self._opened = self._opener()
        try:
            if opened.json_body is not None:
                chunk = self._acc.feed_json_body(opened.json_body)
                if chunk is not None:
                    yield chunk
                yield self._acc.finish()
                return
            events: Any = opened.events
            sse = opened.first
            while True:
                chunk = self._steps(sse)
                if chunk is not None:
                    yield chunk
                if sse is None or self._acc.finished:
                    return
                try:
                    sse = next(events, None)
                except httpx.TransportError as exc:
                    chunk = self._on_transport_error(exc)
                    if chunk is not None:
                        yield chunk
                    return
        finally:
            opened.response.close()
            self._closed = True

    def close(self) -> None:
        """Stop reading and free the connection; ``result`` keeps what arrived."""
        self._closed = True
        if self._gen is not None:
            self._gen.close()
        elif self._opened is not None:
            self._opened.response.close()

    def __enter__(self) -> StreamingIterator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncStreamingIterator(_StreamBase):
    """``async for c in chat.astream(...)``, or ``async for c in await chat.astream(...)``."""

    def __init__(
        self,
        opener: Callable[[], Awaitable[OpenedStream]],
        accumulator: StreamAccumulator,
        secrets: tuple[str, ...] = (),
    ) -> None:
        super().__init__(accumulator, secrets)
        self._opener = opener
        self._agen: AsyncIterator[ChatStreamChunk] | None = None

    def __await__(self) -> Generator[Any, None, AsyncStreamingIterator]:
        return self._open_eagerly().__await__()

    async def _open_eagerly(self) -> AsyncStreamingIterator:
        if self._opened is None and not self._closed:
            self._opened = await self._opener()
        return self

    def __aiter__(self) -> AsyncStreamingIterator:
        return self

    async def __anext__(self) -> ChatStreamChunk:
        if self._agen is None:
            if self._closed:
                raise StopAsyncIteration
            self._agen = self._run()
        return await self._agen.__anext__()

    async def _run(self) -> AsyncIterator[ChatStreamChunk]:
        opened = self._opened or await self._opener()
        self._opened = opened
        try:
            if opened.json_body is not None:
                chunk = self._acc.feed_json_body(opened.json_body)
                if chunk is not None:
                    yield chunk
                yield self._acc.finish()
                return
            events: Any = opened.events
            sse = opened.first
            while True:
                chunk = self._steps(sse)
                if chunk is not None:
                    yield chunk
                if sse is None or self._acc.finished:
                    return
                try:
                    sse = await anext(events, None)
                except httpx.TransportError as exc:
                    chunk = self._on_transport_error(exc)
                    if chunk is not None:
                        yield chunk
                    return
        finally:
            await opened.response.aclose()
            self._closed = True

    async def aclose(self) -> None:
        """Stop reading and free the connection; ``result`` keeps what arrived."""
        self._closed = True
        if self._agen is not None:
            await self._agen.aclose()  # type: ignore[attr-defined]
        elif self._opened is not None:
            await self._opened.response.aclose()

    close = aclose

    async def __aenter__(self) -> AsyncStreamingIterator:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
