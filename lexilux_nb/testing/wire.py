"""Turning a ``Reply`` into OpenAI wire bytes: plan the pieces, then JSON or SSE events."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from .replies import (
    _ARG_FRAGMENT,
    _PLACEHOLDER,
    RecordedRequest,
    Reply,
    _content_text,
    _dumps,
    split_tokens,
)

# --------------------------------------------------------------------------------------------
# Planning an answer: pieces, finish reason, usage
# --------------------------------------------------------------------------------------------


def _match_parts(text: str, parts: Sequence[str]) -> int | None:
    """Where ``parts`` (partial answers in order) end if together they are a prefix of ``text``.

    Blanks at the seams between parts are tolerated (clients may strip them).
    """
    pos = 0
    matched = False
    for part in parts:
        piece = part.rstrip()
        if not piece:
            continue
        if text.startswith(piece, pos):
            pos += len(piece)
        else:
            piece = piece.lstrip()
            skip = pos
            while skip < len(text) and text[skip].isspace():
                skip += 1
            if not text.startswith(piece, skip):
                return None
            pos = skip + len(piece)
        matched = True
    return pos if matched else None


def _resume_position(text: str, messages: list[dict[str, Any]]) -> int | None:
    """End of the already-sent prefix of ``text`` in the request's assistant messages, if any."""
    last_assistant = None
    for i in range(len(messages) - 1, -1, -1):
        role = messages[i].get("role")
        if role == "assistant":
            last_assistant = i
            break
        if role != "user":
            return None
    if last_assistant is None:
        return None
    contents = [
        _content_text(m.get("content"))
        for m in messages[: last_assistant + 1]
        if m.get("role") == "assistant"
    ]
    for start in range(len(contents)):  # the longest chain of partial answers first
        pos = _match_parts(text, contents[start:])
        if pos is not None:
            return pos
    return None


def _split_fragments(arguments: str) -> list[str]:
    if not arguments:
        return []
    size = max(1, min(_ARG_FRAGMENT, -(-len(arguments) // 3)))
    return [arguments[i : i + size] for i in range(0, len(arguments), size)]


@dataclass
class _ToolCall:
    id: str
    name: str
    arguments: str


def _tool_calls(reply: Reply) -> list[_ToolCall]:
    out = []
    for i, call in enumerate(reply.tool_calls or []):
        function = call.get("function") if isinstance(call.get("function"), dict) else call
        assert isinstance(function, dict)
        arguments = function.get("arguments", "")
        if not isinstance(arguments, str):
            arguments = _dumps(arguments)
        out.append(
            _ToolCall(
                id=str(call.get("id") or f"call_{i}"),
                name=str(function.get("name", "")),
                arguments=arguments,
            )
        )
    return out


def _prompt_tokens(messages: list[dict[str, Any]]) -> int:
    total = 3
    for message in messages:
        total += 4 + len(split_tokens(_content_text(message.get("content"))))
        for call in message.get("tool_calls") or []:
            if isinstance(call, dict) and isinstance(call.get("function"), dict):
                total += 4 + len(split_tokens(str(call["function"].get("arguments", ""))))
    return total


@dataclass
class _Plan:
    model: str
    reasoning: list[str]
    pieces: list[str]
    tools: list[_ToolCall]
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int
    include_usage_chunk: bool

    @property
    def usage(self) -> dict[str, int]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.prompt_tokens + self.completion_tokens,
        }


def _plan(reply: Reply, request: RecordedRequest, server_model: str) -> _Plan:
    text = reply.text
    pieces = list(reply.chunks) if reply.chunks is not None else split_tokens(text)
    if reply.resume and text:
        pos = _resume_position(text, request.messages)
        if pos is not None and text[pos:].strip():
            tail = split_tokens(text[:pos])[-reply.overlap :] if reply.overlap else []
            pieces = tail + split_tokens(text[pos:])
    tools = _tool_calls(reply)
    finish = reply.finish_reason or ("tool_calls" if tools else "stop")
    limit = request.max_tokens
    if limit is not None and limit > 0 and len(pieces) > limit:
        pieces = pieces[:limit]
        tools = []
        finish = "length"
    reasoning = split_tokens(reply.reasoning) if reply.reasoning else []
    completion = len(reasoning) + len(pieces)
    completion += sum(1 + len(_split_fragments(t.arguments)) for t in tools)
    usage_chunk = reply.usage_chunk if reply.usage_chunk is not None else request.include_usage
    return _Plan(
        model=reply.model or request.model or server_model,
        reasoning=reasoning,
        pieces=pieces,
        tools=tools,
        finish_reason=finish,
        prompt_tokens=_prompt_tokens(request.messages),
        completion_tokens=completion,
        include_usage_chunk=usage_chunk,
    )


def _completion_id() -> str:
    return "chatcmpl-" + uuid.uuid4().hex[:24]


def _completion_object(plan: _Plan, reply: Reply) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant"}
    content = "".join(plan.pieces)
    message["content"] = content if content or not plan.tools else None
    if plan.reasoning:
        message["reasoning_content"] = "".join(plan.reasoning)
    if plan.tools:
        message["tool_calls"] = [
            {"id": t.id, "type": "function", "function": {"name": t.name, "arguments": t.arguments}}
            for t in plan.tools
        ]
    out: dict[str, Any] = {
        "id": _completion_id(),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": plan.model,
        "choices": [
            {"index": 0, "message": message, "logprobs": None, "finish_reason": plan.finish_reason}
        ],
    }
    if reply.usage:
        out["usage"] = plan.usage
    return out


class _EventWriter:
    """Serializes stream chunks as SSE events in one of the supported spellings."""

    def __init__(self, plan: _Plan, reply: Reply) -> None:
        self.plan = plan
        eol = "\r\n" if reply.sse_style == "crlf" else "\n"
        self.data = "data:" if reply.sse_style == "nospace" else "data: "
        self.end = eol + eol
        self.comment = ": keep-alive" + self.end if reply.comments else ""
        self.base: dict[str, Any] = {
            "id": _completion_id(),
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": plan.model,
        }
        self.null_usage = plan.include_usage_chunk

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        obj = dict(self.base)
        obj["choices"] = [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]
        if self.null_usage:
            obj["usage"] = None
        return obj

    def event(self, obj: Any) -> str:
        payload = obj if isinstance(obj, str) else _dumps(obj)
        return self.comment + self.data + payload + self.end

    def delta_events(self, key: str, pieces: Iterable[str]) -> list[str]:
        """Events for ``{"delta": {key: piece}}``, fast: one template, one dumps per piece."""
        template = self.event(self._chunk({key: _PLACEHOLDER}))
        before, after = template.split(_dumps(_PLACEHOLDER))
        return [before + _dumps(piece) + after for piece in pieces]

    def head(self) -> list[str]:
        return [self.event(self._chunk({"role": "assistant"}))]

    def body(self) -> list[str]:
        plan = self.plan
        events = self.delta_events("reasoning_content", plan.reasoning)
        events += self.delta_events("content", plan.pieces)
        for index, tool in enumerate(plan.tools):
            first = {
                "index": index,
                "id": tool.id,
                "type": "function",
                "function": {"name": tool.name, "arguments": ""},
            }
            events.append(self.event(self._chunk({"tool_calls": [first]})))
            for fragment in _split_fragments(tool.arguments):
                part = {"index": index, "function": {"arguments": fragment}}
                events.append(self.event(self._chunk({"tool_calls": [part]})))
        return events

    def tail(self) -> list[str]:
        events = [self.event(self._chunk({}, self.plan.finish_reason))]
        if self.plan.include_usage_chunk:
            obj = dict(self.base)
            obj["choices"] = []
            obj["usage"] = self.plan.usage
            events.append(self.event(obj))
        events.append(self.event("[DONE]"))
        return events

    def error(self, message: str) -> str:
        return self.event({"error": {"message": message, "type": "server_error", "code": None}})


# --------------------------------------------------------------------------------------------
# Error bodies
# --------------------------------------------------------------------------------------------

_ERROR_DEFAULTS: dict[int, tuple[str, str, str | None]] = {
    400: ("Invalid request.", "invalid_request_error", None),
    401: ("Incorrect API key provided.", "invalid_request_error", "invalid_api_key"),
    403: ("You are not allowed to access this resource.", "permission_error", None),
    404: ("The requested resource was not found.", "invalid_request_error", "not_found"),
    408: ("Request timed out.", "timeout", None),
    409: ("Conflict.", "invalid_request_error", None),
    413: ("Request too large.", "invalid_request_error", None),
    422: ("Unprocessable request.", "invalid_request_error", None),
    429: (
        "Rate limit reached for requests. Please try again later.",
        "requests",
        "rate_limit_exceeded",
    ),
    500: ("The server had an error while processing your request.", "server_error", None),
    502: ("Bad gateway.", "server_error", None),
    503: ("The engine is currently overloaded, please try again later.", "server_error", None),
    504: ("Gateway timeout.", "server_error", None),
}


def _error_body(
    status: int, message: str | None = None, type_: str | None = None, code: str | None = None
) -> dict[str, Any]:
    default_message, default_type, default_code = _ERROR_DEFAULTS.get(
        status,
        (
            f"HTTP {status}",
            "server_error" if status >= 500 else "invalid_request_error",
            None,
        ),
    )
    return {
        "error": {
            "message": message or default_message,
            "type": type_ or default_type,
            "param": None,
            "code": code if code is not None else default_code,
        }
    }
