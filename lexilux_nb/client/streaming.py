"""Stream iterators: thin loops that move events from httpx into the accumulator.

``StreamingIterator`` and ``AsyncStreamingIterator`` wrap any chunk generator (one request, or
the rounds of a continuation) and expose ``.result``: everything accumulated so far, equal to
the non-streaming answer once the stream has ended. They open lazily on first use
(``await chat.astream(...)`` opens eagerly) and close their connection when exhausted, on
``close()`` and on error.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator, Iterator
from typing import Any

import httpx

from .accumulate import StreamAccumulator
from .errors import LexiluxError, error_from_transport, scrub
from .models import ChatResult, ChatStreamChunk
from .transport import OpenedStream

ChunkGen = Generator[ChatStreamChunk, None, None]
AsyncChunkGen = AsyncGenerator[ChatStreamChunk, None]


class StreamingIterator:
    """``for chunk in chat.stream(...)``; also a context manager that closes the connection."""

    def __init__(self, run: Callable[[], ChunkGen], result: Callable[[], ChatResult]) -> None:
        self._run = run
        self._result = result
        self._gen: ChunkGen | None = None
        self._closed = False
        self.done = False

    @property
    def result(self) -> ChatResult:
        """What has arrived so far; after the end, the whole answer."""
        return self._result()

    def __iter__(self) -> Iterator[ChatStreamChunk]:
        return self

    def __next__(self) -> ChatStreamChunk:
        if self._gen is None:
            if self._closed:
                raise StopIteration
            self._gen = self._run()
        try:
            chunk = next(self._gen)
        except LexiluxError as exc:  # nothing from httpx or the raw answer left in it
            raise scrub(exc)  # noqa: B904 - the same error, its chain already cut
        self.done = chunk.done
        return chunk

    def close(self) -> None:
        """Stop reading and free the connection; ``result`` keeps what arrived."""
        self._closed = True
        if self._gen is not None:
            self._gen.close()

    def __enter__(self) -> StreamingIterator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncStreamingIterator:
    """``async for c in chat.astream(...)``, or ``async for c in await chat.astream(...)``."""

    def __init__(self, run: Callable[[], AsyncChunkGen], result: Callable[[], ChatResult]) -> None:
        self._run = run
        self._result = result
        self._gen: AsyncChunkGen | None = None
        self._peeked: list[ChatStreamChunk] = []
        self._closed = False
        self.done = False

    @property
    def result(self) -> ChatResult:
        return self._result()

    def __await__(self) -> Generator[Any, None, AsyncStreamingIterator]:
        return self._open().__await__()

    async def _open(self) -> AsyncStreamingIterator:
        """Connect and read the first chunk now, so errors surface at ``await``."""
        if self._gen is None and not self._closed:
            with contextlib.suppress(StopAsyncIteration):
                self._peeked.append(await self.__anext__())
        return self

    def __aiter__(self) -> AsyncStreamingIterator:
        return self

    async def __anext__(self) -> ChatStreamChunk:
        if self._peeked:
            return self._peeked.pop()
        if self._gen is None:
            if self._closed:
                raise StopAsyncIteration
            self._gen = self._run()
        try:
            chunk = await self._gen.__anext__()
        except LexiluxError as exc:
            raise scrub(exc)  # noqa: B904
        self.done = chunk.done
        return chunk

    async def aclose(self) -> None:
        """Stop reading and free the connection; ``result`` keeps what arrived."""
        self._closed = True
        self._peeked.clear()
        if self._gen is not None:
            await self._gen.aclose()

    close = aclose

    async def __aenter__(self) -> AsyncStreamingIterator:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


def _transport_failure(
    acc: StreamAccumulator, exc: httpx.TransportError, secrets: tuple[str, ...]
) -> ChatStreamChunk | None:
    """A broken connection after the answer finished is harmless; before, it interrupts."""
    return acc.end_of_stream(error_from_transport(exc, secrets))


def single_stream(
    opener: Callable[[], OpenedStream], acc: StreamAccumulator, secrets: tuple[str, ...]
) -> ChunkGen:
    """The chunks of one streamed request."""
    opened = opener()
    try:
        if opened.json_body is not None:
            yield from _json_stream(acc, opened.json_body)
            return
        feed = acc.feed
        broken: httpx.TransportError | None = None
        try:
            for batch in opened.batches():
                for event, data in batch:
                    chunk = feed(event, data)
                    if chunk is not None:
                        yield chunk
                    if acc.finished:
                        return
        except httpx.TransportError as exc:
            broken = exc
        # decided outside the except block: no httpx exception becomes the error's __context__
        last = acc.end_of_stream() if broken is None else _transport_failure(acc, broken, secrets)
        del broken
        if last is not None:
            yield last
    finally:
        opened.response.close()


async def asingle_stream(
    opener: Callable[[], Awaitable[OpenedStream]], acc: StreamAccumulator, secrets: tuple[str, ...]
) -> AsyncChunkGen:
    """Async twin of :func:`single_stream`."""
    opened = await opener()
    try:
        if opened.json_body is not None:
            for whole in _json_stream(acc, opened.json_body):
                yield whole
            return
        feed = acc.feed
        broken: httpx.TransportError | None = None
        try:
            async for batch in opened.abatches():
                for event, data in batch:
                    chunk = feed(event, data)
                    if chunk is not None:
                        yield chunk
                    if acc.finished:
                        return
        except httpx.TransportError as exc:
            broken = exc
        last = acc.end_of_stream() if broken is None else _transport_failure(acc, broken, secrets)
        del broken
        if last is not None:
            yield last
    finally:
        await opened.response.aclose()


def _json_stream(acc: StreamAccumulator, body: bytes) -> Iterator[ChatStreamChunk]:
    """A server answered a stream request with one JSON completion: treat it as the stream."""
    chunk = acc.feed_json_body(body)
    if chunk is not None:
        yield chunk
    yield acc.finish()
