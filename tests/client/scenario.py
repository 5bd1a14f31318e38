"""Test helpers: one scenario, both wire forms, and the four ways to call ``Chat``.

A :class:`Scenario` describes an answer (text, reasoning, tool calls, usage, finish reason) and
renders it as a ``chat.completion`` JSON body *and* as the equivalent Server-Sent Events stream,
so the same scenario drives the sync/async, streamed/non-streamed paths and their results can be
compared with each other and with :meth:`Scenario.expected`.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from lexilux_nb.client.chat import Chat
from lexilux_nb.client.models import ChatResult, ChatStreamChunk, ToolCall, Usage

PATHS = ("sync", "sync_stream", "async", "async_stream")
SSE_HEADERS = {"content-type": "text/event-stream; charset=utf-8"}
USAGE_KEYS = ("prompt_tokens", "completion_tokens", "total_tokens")
FINISH_ALIASES = {"max_tokens": "length"}


def pieces(text: str) -> list[str]:
    """Word-sized pieces (blanks kept with the following word) that join back to ``text``."""
    return re.findall(r"\s*\S+|\s+", text)


def fragments(arguments: str, size: int = 4) -> list[str]:
    return [arguments[i : i + size] for i in range(0, len(arguments), size)]


@dataclass
class Scenario:
    text: str = "Hello there, world."
    reasoning: str | None = None
    reasoning_field: str = "reasoning_content"
    tool_calls: list[tuple[str, str, str]] = field(default_factory=list)  # (id, name, arguments)
    usage: dict[str, Any] | None = None
    finish_reason: str | None = "stop"
    interleave_tools: bool = False  # stream parallel calls' fragments interleaved
    model: str = "test-model"
    id: str = "chatcmpl-scenario"

    # -- non-streamed -----------------------------------------------------------------------

    def completion(self) -> dict[str, Any]:
        message: dict[str, Any] = {
            "role": "assistant",
            "content": self.text if self.text or not self.tool_calls else None,
        }
        if self.reasoning is not None:
            message[self.reasoning_field] = self.reasoning
        if self.tool_calls:
            message["tool_calls"] = [
                {"id": i, "type": "function", "function": {"name": n, "arguments": a}}
                for i, n, a in self.tool_calls
            ]
        body: dict[str, Any] = {
            "id": self.id,
            "object": "chat.completion",
            "created": 1700000000,
            "model": self.model,
            "choices": [{"index": 0, "message": message, "finish_reason": self.finish_reason}],
        }
        if self.usage is not None:
            body["usage"] = self.usage
        return body

    # -- streamed ---------------------------------------------------------------------------

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": 1700000000,
            "model": self.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }

    def content_chunks(self) -> list[dict[str, Any]]:
        """Role chunk, reasoning, content and tool-call deltas: everything before the finish."""
        out = [self._chunk({"role": "assistant", "content": ""})]
        out += [self._chunk({self.reasoning_field: p}) for p in pieces(self.reasoning or "")]
        out += [self._chunk({"content": p}) for p in pieces(self.text)]
        per_call: list[list[dict[str, Any]]] = []
        for index, (call_id, name, arguments) in enumerate(self.tool_calls):
            head = {
                "index": index,
                "id": call_id,
                "type": "function",
                "function": {"name": name, "arguments": ""},
            }
            tail = [{"index": index, "function": {"arguments": f}} for f in fragments(arguments)]
            per_call.append([head, *tail])
        if self.interleave_tools:
            longest = max((len(c) for c in per_call), default=0)
            ordered = [c[i] for i in range(longest) for c in per_call if i < len(c)]
        else:
            ordered = [d for c in per_call for d in c]
        out += [self._chunk({"tool_calls": [d]}) for d in ordered]
        return out

    def chunks(self) -> list[dict[str, Any]]:
        """Every chunk object of the stream, in order (the ``[DONE]`` marker excluded)."""
        out = self.content_chunks()
        out.append(self._chunk({}, self.finish_reason))
        if self.usage is not None:
            usage_chunk = self._chunk({})
            usage_chunk["choices"] = []
            usage_chunk["usage"] = self.usage
            out.append(usage_chunk)
        return out

    def sse(self, *, done: bool = True) -> bytes:
        return sse_body(self.chunks(), done=done)

    def responder(self, **sse_options: Any) -> Any:
        """A respx side effect answering stream requests with SSE and others with JSON."""

        def respond(request: httpx.Request) -> httpx.Response:
            if json.loads(request.content).get("stream"):
                return httpx.Response(200, headers=SSE_HEADERS, content=self.sse(**sse_options))
            return httpx.Response(200, json=self.completion())

        return respond

    # -- what the client should make of it --------------------------------------------------

    def expected(self) -> dict[str, Any]:
        usage = Usage()
        if self.usage is not None:
            usage = Usage(
                self.usage.get("prompt_tokens"),
                self.usage.get("completion_tokens"),
                self.usage.get("total_tokens"),
                {k: v for k, v in self.usage.items() if k not in USAGE_KEYS},
            )
        return {
            "text": self.text,
            "finish_reason": FINISH_ALIASES.get(self.finish_reason or "", self.finish_reason),
            "usage": usage,
            "tool_calls": [ToolCall(i, n, a) for i, n, a in self.tool_calls],
            "reasoning": self.reasoning or None,  # an empty reasoning field is no reasoning
        }


def sse_event(obj: Any, *, event: str | None = None) -> str:
    data = obj if isinstance(obj, str) else json.dumps(obj)
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {data}\n\n"


def sse_body(chunks: list[Any], *, done: bool = True) -> bytes:
    text = "".join(sse_event(c) for c in chunks)
    if done:
        text += "data: [DONE]\n\n"
    return text.encode()


def sse_response(body: bytes | str, **kwargs: Any) -> httpx.Response:
    content = body.encode() if isinstance(body, str) else body
    return httpx.Response(200, headers=SSE_HEADERS, content=content, **kwargs)


def summary(result: ChatResult) -> dict[str, Any]:
    return {
        "text": result.text,
        "finish_reason": result.finish_reason,
        "usage": result.usage,
        "tool_calls": result.tool_calls,
        "reasoning": result.reasoning,
    }


class ChunkedStream(httpx.SyncByteStream, httpx.AsyncByteStream):
    """A response body served part by part, sync or async, that may then fail with ``error``.

    It records whether the client closed it, so tests can see the connection being released.
    """

    def __init__(self, parts: list[bytes], error: Exception | None = None) -> None:
        self.parts = parts
        self.error = error
        self.sent = 0
        self.closed = False

    def __iter__(self) -> Iterator[bytes]:
        for part in self.parts:
            self.sent += 1
            yield part
        if self.error is not None:
            raise self.error

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for part in self.parts:
            self.sent += 1
            yield part
        if self.error is not None:
            raise self.error

    def close(self) -> None:
        self.closed = True

    async def aclose(self) -> None:
        self.closed = True


# -- the four paths --------------------------------------------------------------------------


@dataclass
class Outcome:
    """What one call produced: a result (and the stream's chunks), or an exception."""

    result: ChatResult | None = None
    chunks: list[ChatStreamChunk] = field(default_factory=list)
    error: Exception | None = None

    def signature(self) -> Any:
        """Comparable across paths: the result summary, or the exception class and attributes."""
        if self.error is not None:
            return error_signature(self.error)
        assert self.result is not None
        return summary(self.result)


def error_signature(exc: Exception) -> tuple[Any, ...]:
    return (
        type(exc),
        str(exc),
        getattr(exc, "status_code", None),
        getattr(exc, "retry_after", None),
        getattr(exc, "error_type", None),
        getattr(exc, "code", None),
        getattr(exc, "body", None),
    )


async def run_path(path: str, chat: Chat, messages: Any, **options: Any) -> Outcome:
    """Run one call through ``path`` (one of :data:`PATHS`), catching whatever it raises."""
    chunks: list[ChatStreamChunk] = []
    try:
        if path == "sync":
            return Outcome(chat(messages, **options))
        if path == "async":
            return Outcome(await chat.acall(messages, **options))
        if path == "sync_stream":
            it = chat.stream(messages, **options)
            for chunk in it:
                chunks.append(chunk)
            return Outcome(it.result, chunks)
        if path == "async_stream":
            ait = chat.astream(messages, **options)
            async for chunk in ait:
                chunks.append(chunk)
            return Outcome(ait.result, chunks)
    except Exception as exc:
        return Outcome(None, chunks, exc)
    raise AssertionError(f"unknown path {path!r}")


async def run_all_paths(chat: Chat, messages: Any, **options: Any) -> dict[str, Outcome]:
    return {path: await run_path(path, chat, messages, **options) for path in PATHS}


def assert_same_outcome(outcomes: dict[str, Outcome]) -> Any:
    """Every path gave the same result (or the same error); returns that common signature."""
    signatures = {path: outcome.signature() for path, outcome in outcomes.items()}
    first = signatures[PATHS[0]]
    for path, signature in signatures.items():
        assert signature == first, f"{path} differs from {PATHS[0]}"
    return first
