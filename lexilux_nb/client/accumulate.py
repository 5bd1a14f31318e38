"""Fold streamed ``chat.completion.chunk`` events into chunks for the caller and one result.

Pure: the drivers feed it SSE events (name and data text) and ask for the final chunk at the
end of the byte stream. It guarantees what the lexilux client got wrong: usage-only chunks
are read, error events raise, a stream cut short is reported, and each complete tool call
appears in exactly one chunk (the final one), parallel calls kept apart by ``index``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from .errors import APIError, ChatStreamInterruptedError, error_from_event
from .models import ChatResult, ChatStreamChunk, ToolCall, Usage
from .protocol import normalize_finish_reason, parse_completion, parse_usage

_loads = json.loads
# json.loads minus its wrappers: about 0.6 µs a chunk (measured; see benchmarks/)
_scan: Callable[[str, int], tuple[Any, int]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]


def _parse(data: str) -> Any:
    """The event's JSON; a malformed event is the server's error."""
    try:
        obj, end = _scan(data, 0)
        if end == len(data):
            return obj
    except (StopIteration, ValueError):
        pass
    try:
        return _loads(data)  # trailing whitespace and the like; the exact error otherwise
    except ValueError:
        raise APIError(f"the server sent a malformed stream event: {data[:200]!r}") from None


class _PartialToolCall:
    __slots__ = ("arguments", "id", "name", "type")

    def __init__(self) -> None:
        self.id = ""
        self.name = ""
        self.type = "function"
        self.arguments: list[str] = []

    def add(self, delta: dict[str, Any]) -> None:
        if delta.get("id"):
            self.id = delta["id"]
        if delta.get("type"):
            self.type = delta["type"]
        fn = delta.get("function") or {}
        if fn.get("name"):
            self.name = fn["name"]
        if fn.get("arguments"):
            self.arguments.append(fn["arguments"])

    def build(self) -> ToolCall:
        return ToolCall(self.id, self.name, "".join(self.arguments), self.type)


class StreamAccumulator:
    """Turns one stream's events into :class:`ChatStreamChunk` objects and a :class:`ChatResult`."""

    def __init__(self, *, secrets: Iterable[str | None] = (), keep_raw: bool = False) -> None:
        self._secrets = tuple(secrets)
        self._keep_raw = keep_raw
        self._text: list[str] = []
        self._reasoning: list[str] = []
        self._calls: dict[Any, _PartialToolCall] = {}
        self._raw: list[Any] = []
        self.finish_reason: str | None = None
        self.usage = Usage()
        self.model: str | None = None
        self.id: str | None = None
        self.events = 0
        self.finished = False  # the done chunk was produced
        self._started = False  # the first object (id, model) has been read
        self.interrupted = False  # the bytes ran out before the answer was finished

    # -- feeding -----------------------------------------------------------------------------

    def feed(self, event: str, data: str) -> ChatStreamChunk | None:
        """One SSE event. Returns a chunk worth showing, or ``None``."""
        self.events += 1
        if data == "[DONE]":
            return self.finish()
        if event == "error":
            raise self._error(data)
        if not data:
            return None
        obj = _parse(data)
        if type(obj) is not dict:
            return None
        choices = obj.get("choices")
        if choices and self._started and not self._keep_raw:
            # The hot path: a plain content delta, nothing else to look at.
            choice = choices[0]
            delta = choice.get("delta")
            if (
                delta
                and len(delta) == 1
                and not choice.get("finish_reason")
                and not obj.get("usage")
            ):
                content = delta.get("content")
                if content:
                    self._text.append(content)
                    return ChatStreamChunk(content, False, None, Usage(), [], None, None)
        return self._feed_object(obj, choices)

    def _feed_object(self, obj: dict[str, Any], choices: Any) -> ChatStreamChunk | None:
        """Everything but a plain content delta: errors, usage, reasoning, tool calls, ends."""
        self._started = True
        if obj.get("error"):
            raise error_from_event(obj, self._secrets)
        if self._keep_raw:
            self._raw.append(obj)
        if self.id is None:
            self.id = obj.get("id")
            self.model = obj.get("model")
        usage = obj.get("usage")
        if usage:
            self.usage = parse_usage(usage)
        if not choices:
            return None
        choice = choices[0]
        if obj.get("object") == "chat.completion":  # a server that ignored stream=True
            result = parse_completion(obj, keep_raw=False)
            self._absorb(result)
            return ChatStreamChunk(result.text, False, None, Usage(), [], result.reasoning, None)
        delta = choice.get("delta") or {}
        content = delta.get("content")
        reasoning = delta.get("reasoning_content") or delta.get("reasoning")
        tool_deltas = delta.get("tool_calls")
        if tool_deltas:
            self._add_tool_deltas(tool_deltas)
        reason = choice.get("finish_reason")
        if reason:
            self.finish_reason = normalize_finish_reason(reason)
        if content:
            self._text.append(content)
        if reasoning:
            self._reasoning.append(reasoning)
        if content or reasoning:
            return ChatStreamChunk(
                content or "",
                False,
                None,
                Usage(),
                [],
                reasoning or None,
                obj if self._keep_raw else None,
            )
        return None

    def feed_json_body(self, body: bytes) -> ChatStreamChunk | None:
        """A server answered a stream request with one JSON completion: treat it as the stream."""
        data = _loads(body)
        if isinstance(data, dict) and data.get("error"):
            raise error_from_event(data, self._secrets)
        result = parse_completion(data, keep_raw=self._keep_raw)
        self._absorb(result)
        self.finish_reason = result.finish_reason
        self.usage = result.usage
        self.events += 1
        return ChatStreamChunk(result.text, False, None, Usage(), [], result.reasoning, None)

    def _absorb(self, result: ChatResult) -> None:
        self._text.append(result.text)
        if result.reasoning:
            self._reasoning.append(result.reasoning)
        for i, call in enumerate(result.tool_calls):
            partial = self._calls.setdefault(("parsed", i), _PartialToolCall())
            partial.add(call.to_dict())
        self.id, self.model = result.id, result.model
        if result.finish_reason:
            self.finish_reason = result.finish_reason

    def _add_tool_deltas(self, deltas: list[dict[str, Any]]) -> None:
        for delta in deltas:
            key: Any = delta.get("index")
            if (
                key is None
            ):  # some servers omit index: a new id starts a call, else continue the last
                key = delta.get("id") or self._last_key()
            call = self._calls.get(key)
            if call is None:
                call = self._calls[key] = _PartialToolCall()
            call.add(delta)

    def _last_key(self) -> Any:
        return next(reversed(self._calls)) if self._calls else 0

    def _error(self, data: str) -> APIError:
        try:
            payload: Any = _loads(data)
        except ValueError:
            payload = {"message": data}
        return error_from_event(payload, self._secrets)

    # -- ending ------------------------------------------------------------------------------

    @property
    def complete(self) -> bool:
        """The server said the answer is over (finish_reason or ``[DONE]``)."""
        return self.finished or self.finish_reason is not None

    def finish(self) -> ChatStreamChunk:
        """The single ``done`` chunk: finish reason, usage and every complete tool call."""
        if self.finished:
            raise RuntimeError("stream already finished")
        self.finished = True
        return ChatStreamChunk(
            "",
            True,
            self.finish_reason,
            self.usage,
            [c.build() for c in self._calls.values()],
            None,
            None,
        )

    def end_of_stream(self, cause: Exception | None = None) -> ChatStreamChunk | None:
        """The bytes ran out. A finished answer gets its done chunk; a cut one raises."""
        if self.finished:
            return None
        if self.finish_reason is not None:
            return self.finish()
        reason = f": {cause}" if cause else ""
        self.interrupted = True
        raise ChatStreamInterruptedError(
            f"the stream ended before the server finished the answer{reason} "
            f"({len(self.text)} characters received; they are kept in partial_result)",
            partial_result=self.result(interrupted=True),
            cause=cause,
        ) from cause  # the redacted error, not the raw httpx one (it may echo the key)

    @property
    def text(self) -> str:
        return "".join(self._text)

    def result(self, *, interrupted: bool = False) -> ChatResult:
        """Everything so far as one :class:`ChatResult`."""
        reasoning = "".join(self._reasoning) if self._reasoning else None
        return ChatResult(
            text=self.text,
            finish_reason=self.finish_reason,
            usage=self.usage,
            tool_calls=[c.build() for c in self._calls.values()],
            reasoning=reasoning,
            model=self.model,
            id=self.id,
            raw={"chunks": list(self._raw)} if self._keep_raw else None,
            interrupted=interrupted or self.interrupted,
        )
