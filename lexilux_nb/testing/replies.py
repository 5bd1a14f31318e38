"""What the fake server is told to answer (``Reply``) and what it received (``RecordedRequest``)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeAlias

_TOKEN_RE = re.compile(r"\s*\S+|\s+")
_SSE_STYLES = ("space", "nospace", "crlf")
_BATCH_EVENTS = 256
_ARG_FRAGMENT = 8
_PLACEHOLDER = "\x00lexilux-piece\x00"


def split_tokens(text: str) -> list[str]:
    """Split ``text`` into the pieces the server streams, one "token" each.

    A piece is a run of non-blank characters together with the blanks before it (``"Hello"``,
    ``" **world**"``, ``"\\n\\n-"``); trailing blanks form a last piece of their own. Joining
    the pieces gives ``text`` back exactly.
    """
    return _TOKEN_RE.findall(text)


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def _content_text(content: Any) -> str:
    """The text of a message's ``content``: a string or a list of ``{"type": "text"}`` parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, str):
                parts.append(part)
            elif isinstance(part, dict) and isinstance(part.get("text"), str):
                parts.append(part["text"])
        return "".join(parts)
    return ""


@dataclass
class Reply:
    """One scripted answer of the fake server.

    Content:
        ``text`` - the answer; ``chunks`` - an explicit streaming split (defaults to
        :func:`split_tokens` of ``text``; if ``text`` is empty it becomes ``"".join(chunks)``);
        ``reasoning`` - streamed as ``delta.reasoning_content`` before the text
        (``message.reasoning_content`` when not streamed); ``tool_calls`` - a list of
        ``{"id", "name", "arguments"}`` (``arguments`` JSON text or a dict), streamed with
        ``index`` and the arguments in several fragments; ``finish_reason`` - default ``"stop"``
        (``"tool_calls"`` with tool calls); ``model`` - default the request's model.

    Length and continuation:
        a request's ``max_tokens``/``max_completion_tokens`` smaller than the number of content
        pieces sends only that many and finishes with ``"length"`` (reasoning pieces do not
        count against it). ``resume=True``: when the last assistant message(s) of the request
        (possibly followed by user "continue" prompts) are a prefix of ``text``, only the rest
        is sent, after repeating ``overlap`` pieces of the prefix's tail; when nothing is left
        the whole text is sent again (a new question).

    Usage:
        ``usage`` - include ``usage`` in non-streamed responses; in streams a usage chunk
        (``choices: []``) comes only when the request asked ``stream_options.include_usage``,
        unless ``usage_chunk`` forces it on (True) or off (False).

    Timing:
        ``latency`` seconds before the response starts, ``delay`` seconds between streamed events.

    Faults:
        ``status`` other than 200 answers with ``error_body`` (default an OpenAI-style
        ``{"error": {...}}``; a str is sent verbatim) and ``headers`` (also added to successful
        responses, e.g. ``{"Retry-After": "2"}``); ``cut_after=N`` closes the connection abruptly
        after N delta events (reasoning, content and tool-call events all count; no
        finish_reason, no ``[DONE]``, no end of the chunked body; a non-streamed response is cut
        half-way through its body); ``error_event_after=N`` sends
        ``data: {"error": {...}}`` after N delta events and ends the stream; ``hang`` seconds of
        silence before anything is sent (ends at once when the server stops); ``sse_style``
        ``"space"`` (``data: {...}``), ``"nospace"`` (``data:{...}``) or ``"crlf"`` (CRLF line
        endings); ``comments=True`` puts a ``: keep-alive`` comment before every event.
    """

    text: str = ""
    chunks: list[str] | None = None
    reasoning: str | None = None
    tool_calls: list[dict[str, Any]] | None = None
    finish_reason: str | None = None
    model: str | None = None
    resume: bool = False
    overlap: int = 0
    usage: bool = True
    usage_chunk: bool | None = None
    delay: float = 0.0
    latency: float = 0.0
    status: int = 200
    error_body: dict[str, Any] | str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    cut_after: int | None = None
    error_event_after: int | None = None
    hang: float | None = None
    sse_style: str = "space"
    comments: bool = False

    def __post_init__(self) -> None:
        if self.chunks is not None:
            self.chunks = [str(c) for c in self.chunks]
            joined = "".join(self.chunks)
            if not self.text:
                self.text = joined
            elif joined != self.text:
                raise ValueError("Reply: ''.join(chunks) must equal text when both are given")
        if self.sse_style not in _SSE_STYLES:
            raise ValueError(
                f"Reply: sse_style must be one of {_SSE_STYLES}, got {self.sse_style!r}"
            )
        if self.overlap < 0:
            raise ValueError("Reply: overlap must be >= 0")


@dataclass
class RecordedRequest:
    """A request the server received. Header names are lower-cased; ``received`` is its
    ``time.monotonic()`` on arrival."""

    method: str
    path: str
    headers: dict[str, str]
    json: Any = None
    body: bytes = b""
    received: float = 0.0

    @property
    def _body(self) -> dict[str, Any]:
        return self.json if isinstance(self.json, dict) else {}

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The request's ``messages`` (``[]`` when absent or malformed)."""
        msgs = self._body.get("messages")
        return [m for m in msgs if isinstance(m, dict)] if isinstance(msgs, list) else []

    @property
    def stream(self) -> bool:
        return bool(self._body.get("stream", False))

    @property
    def max_tokens(self) -> int | None:
        """``max_completion_tokens`` or ``max_tokens`` (the smaller when both are set)."""
        values = []
        for key in ("max_tokens", "max_completion_tokens"):
            value = self._body.get(key)
            if isinstance(value, int) and not isinstance(value, bool):
                values.append(value)
        return min(values) if values else None

    @property
    def model(self) -> str | None:
        model = self._body.get("model")
        return model if isinstance(model, str) else None

    @property
    def include_usage(self) -> bool:
        opts = self._body.get("stream_options")
        return isinstance(opts, dict) and bool(opts.get("include_usage"))

    @property
    def last_user_text(self) -> str:
        for message in reversed(self.messages):
            if message.get("role") == "user":
                return _content_text(message.get("content"))
        return ""


ReplyFactory: TypeAlias = Callable[[RecordedRequest], Reply | str]
"""A callable answering a request: gets the ``RecordedRequest``, returns a ``Reply`` or str."""
ReplySource: TypeAlias = Reply | str | ReplyFactory
"""What ``queue()`` and ``default`` accept."""


def echo_reply(request: RecordedRequest) -> Reply:
    """The default answer: ``"Echo: "`` + the last user message."""
    return Reply(text="Echo: " + request.last_user_text)


def _as_reply(source: ReplySource | None, request: RecordedRequest) -> Reply:
    if source is None:
        return echo_reply(request)
    if isinstance(source, Reply):
        return source
    if isinstance(source, str):
        return Reply(text=source)
    result = source(request)
    if isinstance(result, str):
        return Reply(text=result)
    if not isinstance(result, Reply):
        raise TypeError(f"a reply callable must return a Reply or str, got {type(result).__name__}")
    return result
