"""The tool loop's four drivers over :class:`~.toolstate.Loop`: sync and async, streamed and not.

Each driver is given the request function of its path (``chat``, ``chat.complete``,
``chat.stream``... with ``tools=`` already turned into specs, so it does not loop again) and only
sends, asks and runs; every decision is the loop's. Sync tools run in a worker thread on the
async paths; an async tool (or approver) on a sync path runs to completion on its own loop.
A ``KeyboardInterrupt`` (Ctrl-C, or raised by a tool) becomes :class:`ToolLoopInterrupted`
carrying the consistent partial result; on the async paths a cancellation answers the open calls
the same way (the stream's ``result`` shows them) and propagates.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from typing import Any

from .approval import adecide, decide, run_sync
from .models import ChatResult, ChatStreamChunk, ToolCall
from .streaming import AsyncChunkGen, AsyncStreamingIterator, ChunkGen, StreamingIterator
from .toolstate import LOOP_OPTIONS as LOOP_OPTIONS
from .toolstate import Loop as Loop
from .toolstate import ToolActivity as ToolActivity
from .toolstate import ToolLoopInterrupted as ToolLoopInterrupted
from .toolstate import ToolLoopResult as ToolLoopResult
from .toolstate import uses_tools as uses_tools

Send = Callable[..., ChatResult]
ASend = Callable[..., Awaitable[ChatResult]]


def _loop(messages: Any, tools: Any, options: Mapping[str, Any]) -> Loop:
    settings = {k: v for k, v in options.items() if k in LOOP_OPTIONS}
    rest = {k: v for k, v in options.items() if k not in LOOP_OPTIONS}
    return Loop(messages, tools, rest, **settings)


# -- answering one call ---------------------------------------------------------------------


def _answer(loop: Loop, call: ToolCall) -> None:
    pending = loop.check(call)
    if pending is None:
        return
    args = loop.approved(pending, decide(loop.approve, call, pending.arguments))
    if args is None:
        return
    started = time.monotonic()
    try:
        value = pending.tool.function(**args)
        if inspect.isawaitable(value):
            value = run_sync(value)
    except Exception as exc:
        loop.ran(pending, started, error=exc)
    else:
        loop.ran(pending, started, value)


async def _aanswer(loop: Loop, call: ToolCall) -> None:
    pending = loop.check(call)
    if pending is None:
        return
    args = loop.approved(pending, await adecide(loop.approve, call, pending.arguments))
    if args is None:
        return
    started = time.monotonic()
    try:
        if pending.tool.is_async:
            value = await pending.tool.function(**args)
        else:
            value = await asyncio.to_thread(pending.tool.function, **args)
        if inspect.isawaitable(value):
            value = await value
    except Exception as exc:
        loop.ran(pending, started, error=exc)
    else:
        loop.ran(pending, started, value)


# -- not streamed ---------------------------------------------------------------------------


def run_tools(send: Send, messages: Any, tools: Any, **options: Any) -> ToolLoopResult:
    """Sync driver: ``send(messages, **options)`` answers each round."""
    loop = _loop(messages, tools, options)
    try:
        while True:
            request, round_options = loop.request()
            calls = loop.take(send(request, **round_options))
            if not calls:
                return loop.result()
            for call in calls:
                _answer(loop, call)
    except ToolLoopInterrupted:
        raise
    except KeyboardInterrupt:
        raise loop.interrupted() from None


async def arun_tools(send: ASend, messages: Any, tools: Any, **options: Any) -> ToolLoopResult:
    """Async driver: the same flow; sync tools run in a worker thread."""
    loop = _loop(messages, tools, options)
    try:
        while True:
            request, round_options = loop.request()
            calls = loop.take(await send(request, **round_options))
            if not calls:
                return loop.result()
            for call in calls:
                await _aanswer(loop, call)
    except ToolLoopInterrupted:
        raise
    except KeyboardInterrupt:
        raise loop.interrupted() from None
    except asyncio.CancelledError:
        loop.interrupted()
        raise


# -- streamed -------------------------------------------------------------------------------


def stream_tools(
    open_stream: Callable[..., StreamingIterator],
    messages: Any,
    tools: Any,
    **options: Any,
) -> StreamingIterator:
    """Every round's text chunks, then one done chunk with the loop's totals."""
    loop = _loop(messages, tools, options)
    request, round_options = loop.request()
    first = open_stream(request, **round_options)  # validates now; nothing is sent yet

    def rounds() -> Iterator[StreamingIterator]:
        yield first
        while True:
            request, round_options = loop.request()
            yield open_stream(request, **round_options)

    def run() -> ChunkGen:
        try:
            for stream in rounds():
                loop.current = lambda s=stream: s.result
                last: ChatStreamChunk | None = None
                with stream:
                    for chunk in stream:
                        if chunk.done:
                            last = chunk
                        else:
                            yield chunk
                calls = loop.take(stream.result)
                if not calls:
                    yield loop.done_chunk(last)
                    return
                for call in calls:
                    _answer(loop, call)
        except ToolLoopInterrupted:
            raise
        except KeyboardInterrupt:
            raise loop.interrupted() from None

    return StreamingIterator(run, loop.result)


def astream_tools(
    open_stream: Callable[..., AsyncStreamingIterator],
    messages: Any,
    tools: Any,
    **options: Any,
) -> AsyncStreamingIterator:
    """Async :func:`stream_tools`."""
    loop = _loop(messages, tools, options)
    request, round_options = loop.request()
    first = open_stream(request, **round_options)

    async def rounds() -> AsyncIterator[AsyncStreamingIterator]:
        yield first
        while True:
            request, round_options = loop.request()
            yield open_stream(request, **round_options)

    async def run() -> AsyncChunkGen:
        try:
            async for stream in rounds():
                loop.current = lambda s=stream: s.result
                last: ChatStreamChunk | None = None
                async with stream:
                    async for chunk in stream:
                        if chunk.done:
                            last = chunk
                        else:
                            yield chunk
                calls = loop.take(stream.result)
                if not calls:
                    yield loop.done_chunk(last)
                    return
                for call in calls:
                    await _aanswer(loop, call)
        except ToolLoopInterrupted:
            raise
        except KeyboardInterrupt:
            raise loop.interrupted() from None
        except asyncio.CancelledError:
            loop.interrupted()
            raise

    return AsyncStreamingIterator(run, loop.result)
