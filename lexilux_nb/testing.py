"""A real HTTP server on 127.0.0.1 that speaks the OpenAI chat API, for tests and demos.

``FakeOpenAIServer`` listens on a free local port and answers ``POST /v1/chat/completions``
(streamed or not) and ``GET /v1/models`` exactly the way OpenAI-compatible servers do on the wire:
``chat.completion`` objects with ``usage``; Server-Sent Events whose first chunk carries only
``delta.role``, then content deltas, then an empty delta with the ``finish_reason``, an optional
usage chunk (``choices: []``) when the request asked ``stream_options.include_usage``, and
``data: [DONE]``. Every reply is scripted with :class:`Reply`, including faults (HTTP errors with
``Retry-After``, streams cut mid-way, error events, hangs, SSE spelling variants). Only the
standard library is used, so any client - ``httpx``, the ``openai`` SDK, ``curl``, a Jupyter
kernel in another process - can talk to it by URL.

Use it in your own tests::

    from lexilux_nb.testing import FakeOpenAIServer, Reply

    def test_my_code_handles_a_cut_answer():
        with FakeOpenAIServer(model="fake-model") as server:
            server.queue(Reply(text="Hello **world**, how are you?"))
            server.queue(lambda req: Reply(text=req.messages[-1]["content"].upper()))
            server.queue(Reply(status=429, headers={"Retry-After": "1"}))
            my_code(base_url=server.base_url, api_key="anything")
            assert server.requests[0].stream
            assert server.requests[0].messages[-1]["role"] == "user"

When the queue is empty, ``server.default`` answers (by default an echo of the last user message,
prefixed ``"Echo: "``). ``Reply(text=LONG, resume=True)`` as the default makes deterministic
continuation demos: a client asking ``max_tokens=20`` gets 20 "tokens" and ``finish_reason:
"length"``; sending the partial answer back as the last assistant message (optionally followed by a
user "continue" prompt) yields the next 20, and so on until ``"stop"``.

A "token" here is one piece of :func:`split_tokens` (a run of non-blank characters with the
blanks before it, like ``" world"``), so ``max_tokens`` cuts and usage counts are predictable.

From a shell (serves until Ctrl-C and prints the base URL first)::

    python -m lexilux_nb.testing --port 8765 --delay 0.05 --text "A long answer ..." --resume
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from socketserver import TCPServer
from typing import Any, TypeAlias

__all__ = [
    "FakeOpenAIServer",
    "RecordedRequest",
    "Reply",
    "ReplySource",
    "echo_reply",
    "main",
    "split_tokens",
]

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
    """A request the server received. Header names are lower-cased."""

    method: str
    path: str
    headers: dict[str, str]
    json: Any = None
    body: bytes = b""

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


# --------------------------------------------------------------------------------------------
# HTTP plumbing
# --------------------------------------------------------------------------------------------


class _Aborted(Exception):
    """The response was deliberately cut or the server is stopping."""


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, port: int, fake: FakeOpenAIServer) -> None:
        self.fake = fake
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(("127.0.0.1", port), _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind calls socket.getfqdn(), a possibly slow DNS lookup: skip it.
        TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def process_request(self, request: Any, client_address: Any) -> None:
        if isinstance(request, socket.socket):
            with self._connections_lock:
                self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        with self._connections_lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], OSError):
            return  # a client went away: not worth a traceback
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakeOpenAI/1.0"
    sys_version = ""
    disable_nagle_algorithm = True  # headers and small chunks go out at once, not after ~40 ms

    def log_message(self, format: str, *args: Any) -> None:
        pass

    @property
    def fake(self) -> FakeOpenAIServer:
        server = self.server
        assert isinstance(server, _HTTPServer)
        return server.fake

    def handle(self) -> None:
        with contextlib.suppress(OSError, _Aborted):
            super().handle()

    def handle_one_request(self) -> None:
        try:
            super().handle_one_request()
        except _Aborted:
            self._abort()
        except OSError:
            self.close_connection = True

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    # ---- plumbing --------------------------------------------------------------------------

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            data = bytearray()
            while True:
                size_line = self.rfile.readline(65537)
                size = int(size_line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(data)
                data += self.rfile.read(size)
                self.rfile.readline(65537)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _abort(self) -> None:
        """Close the connection at once, whatever was (not) sent."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def _send(
        self,
        status: int,
        body: bytes,
        content_type: str = "application/json",
        extra: dict[str, str] | None = None,
        cut: bool = False,
    ) -> None:
        self.send_response(status)
        headers = {"content-type": content_type, "content-length": str(len(body))}
        names = {"content-type": "Content-Type", "content-length": "Content-Length"}
        for key, value in (extra or {}).items():
            headers[key.lower()] = str(value)
            names[key.lower()] = key
        for key, value in headers.items():
            self.send_header(names.get(key, key), value)
        self.end_headers()
        if cut:
            self.wfile.write(body[: len(body) // 2])
            raise _Aborted
        self.wfile.write(body)

    def _send_json(self, status: int, obj: Any, extra: dict[str, str] | None = None) -> None:
        self._send(status, _dumps(obj).encode("utf-8"), extra=extra)

    def _send_error_reply(self, reply: Reply) -> None:
        body = reply.error_body
        if isinstance(body, str):
            try:
                json.loads(body)
                content_type = "application/json"
            except ValueError:
                content_type = "text/plain; charset=utf-8"
            self._send(reply.status, body.encode("utf-8"), content_type, reply.headers)
        else:
            obj = body if body is not None else _error_body(reply.status)
            self._send_json(reply.status, obj, reply.headers)

    def _wait(self, seconds: float) -> None:
        if seconds > 0 and self.fake._stopping.wait(seconds):
            raise _Aborted

    def _write_chunk(self, data: str) -> None:
        raw = data.encode("utf-8")
        if raw:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(raw), raw))

    # ---- routing ---------------------------------------------------------------------------

    def _dispatch(self) -> None:
        body = self._read_body()
        path = self.path.split("?", 1)[0].rstrip("/") or "/"
        parsed: Any = None
        bad_json = False
        if body:
            try:
                parsed = json.loads(body)
            except ValueError:
                bad_json = True
        request = RecordedRequest(
            method=self.command,
            path=self.path,
            headers={k.lower(): v for k, v in self.headers.items()},
            json=parsed,
            body=body,
        )
        fake = self.fake
        fake._record(request)

        if fake.api_key is not None:
            auth = request.headers.get("authorization", "")
            if auth != f"Bearer {fake.api_key}":
                shown = auth[7:] if auth.lower().startswith("bearer ") else ""
                masked = (shown[:3] + "*" * 4 + shown[-4:]) if len(shown) > 8 else "*" * len(shown)
                message = (
                    f"Incorrect API key provided: {masked}. You can find your API key at "
                    "https://platform.openai.com/account/api-keys."
                    if shown
                    else "Incorrect API key provided: you must provide an API key in an "
                    "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
                )
                self._send_json(401, _error_body(401, message))
                return

        if path in ("/v1/chat/completions", "/chat/completions"):
            if self.command != "POST":
                self._send_json(405, _error_body(405, f"Method {self.command} not allowed."))
            elif bad_json or not body:
                message = (
                    "We could not parse the JSON body of your request."
                    if bad_json
                    else "The request body is empty: expected a JSON object."
                )
                self._send_json(400, _error_body(400, message))
            elif not isinstance(parsed, dict) or not isinstance(parsed.get("messages"), list):
                message = "Invalid request: 'messages' must be a list of message objects."
                self._send_json(400, _error_body(400, message, code="invalid_value"))
            else:
                self._chat(request)
            return
        if path in ("/v1/models", "/models") and self.command == "GET":
            self._send_json(200, {"object": "list", "data": [fake._model_object()]})
            return
        for prefix in ("/v1/models/", "/models/"):
            if path.startswith(prefix) and self.command == "GET":
                if path[len(prefix) :] == fake.model:
                    self._send_json(200, fake._model_object())
                else:
                    message = f"The model '{path[len(prefix) :]}' does not exist"
                    self._send_json(404, _error_body(404, message, code="model_not_found"))
                return
        self._send_json(404, _error_body(404, f"Unknown request URL: {self.command} {self.path}"))

    def _chat(self, request: RecordedRequest) -> None:
        fake = self.fake
        try:
            reply = fake._next_reply(request)
        except Exception as exc:  # a scripted callable failed: tell the client why
            message = f"FakeOpenAIServer reply callable failed: {type(exc).__name__}: {exc}"
            self._send_json(500, _error_body(500, message))
            return
        if reply.hang:
            self._wait(reply.hang)
        self._wait(reply.latency)
        if reply.status >= 300:
            self._send_error_reply(reply)
            return
        plan = _plan(reply, request, fake.model)
        if not request.stream:
            obj = _completion_object(plan, reply)
            raw = _dumps(obj).encode("utf-8")
            cut = reply.cut_after is not None
            self._send(reply.status, raw, extra=reply.headers, cut=cut)
            return
        self._stream(plan, reply)

    def _stream(self, plan: _Plan, reply: Reply) -> None:
        writer = _EventWriter(plan, reply)
        head, body, tail = writer.head(), writer.body(), writer.tail()
        ending = "done"
        if reply.cut_after is not None and reply.cut_after <= len(body):
            body, tail, ending = body[: max(0, reply.cut_after)], [], "cut"
        elif reply.cut_after is not None:
            tail, ending = [], "cut"
        if reply.error_event_after is not None and ending == "done":
            body = body[: max(0, reply.error_event_after)]
            tail, ending = [writer.error("The server had an error while streaming.")], "error"

        self.send_response(reply.status)
        headers = {
            "Content-Type": "text/event-stream; charset=utf-8",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",
            "Transfer-Encoding": "chunked",
        }
        lowered = {k.lower() for k in reply.headers}
        for key, value in headers.items():
            if key.lower() not in lowered:
                self.send_header(key, value)
        for key, value in reply.headers.items():
            self.send_header(key, str(value))
        self.end_headers()

        events = head + body + tail
        if reply.delay > 0:
            for i, event in enumerate(events):
                if i:
                    self._wait(reply.delay)
                self._write_chunk(event)
        else:
            for start in range(0, len(events), _BATCH_EVENTS):
                if self.fake._stopping.is_set():
                    raise _Aborted
                self._write_chunk("".join(events[start : start + _BATCH_EVENTS]))
        if ending == "cut":
            raise _Aborted
        self.wfile.write(b"0\r\n\r\n")
        if ending == "error":
            self.close_connection = True


# --------------------------------------------------------------------------------------------
# The public server
# --------------------------------------------------------------------------------------------


class FakeOpenAIServer:
    """An OpenAI-compatible chat server on ``127.0.0.1`` with scripted replies.

    Use as a context manager (``with FakeOpenAIServer() as server: ...``) or call
    :meth:`start` and :meth:`stop`. ``port=0`` (the default) picks a free port.
    ``api_key``: when set, requests without ``Authorization: Bearer <api_key>`` get a 401.
    """

    def __init__(
        self, model: str = "fake-model", api_key: str | None = None, *, port: int = 0
    ) -> None:
        self.model = model
        self.api_key = api_key
        self.default: ReplySource | None = None
        self._port = port
        self._lock = threading.Lock()
        self._queue: list[ReplySource] = []
        self._requests: list[RecordedRequest] = []
        self._stopping = threading.Event()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ---- lifecycle -------------------------------------------------------------------------

    def start(self) -> FakeOpenAIServer:
        """Bind and serve in a background thread (no-op when already running)."""
        if self._httpd is not None:
            return self
        self._stopping.clear()
        httpd = _HTTPServer(self._port, self)
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"FakeOpenAIServer:{httpd.server_port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, end in-flight responses and close every socket. Idempotent."""
        httpd, thread = self._httpd, self._thread
        if httpd is None:
            return
        self._httpd = self._thread = None
        self._stopping.set()
        httpd.shutdown()
        httpd.close_connections()
        httpd.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._httpd is not None

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("FakeOpenAIServer is not running: call start() first")
        return self._httpd.server_port

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` (no ``/v1``)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/v1``, what OpenAI clients take as ``base_url``."""
        return self.url + "/v1"

    # ---- scripting -------------------------------------------------------------------------

    def queue(self, *replies: ReplySource) -> None:
        """Append replies (a ``Reply``, a str, or a callable taking the ``RecordedRequest``).

        Each chat request consumes one, first in first out; then ``default`` answers.
        """
        with self._lock:
            self._queue.extend(replies)

    @property
    def pending(self) -> int:
        """How many queued replies are still unused."""
        with self._lock:
            return len(self._queue)

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of every request received so far, in order."""
        with self._lock:
            return list(self._requests)

    def clear(self) -> None:
        """Forget queued replies and recorded requests (``default`` stays)."""
        with self._lock:
            self._queue.clear()
            self._requests.clear()

    # ---- used by the handler ---------------------------------------------------------------

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def _next_reply(self, request: RecordedRequest) -> Reply:
        with self._lock:
            source = self._queue.pop(0) if self._queue else self.default
        return _as_reply(source, request)

    def _model_object(self) -> dict[str, Any]:
        return {"id": self.model, "object": "model", "created": 0, "owned_by": "lexilux-nb"}


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m lexilux_nb.testing``: serve until Ctrl-C, printing the base URL first."""
    parser = argparse.ArgumentParser(
        prog="python -m lexilux_nb.testing",
        description="Serve a fake OpenAI-compatible chat API on 127.0.0.1.",
    )
    parser.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    parser.add_argument("--model", default="fake-model", help="model name to report")
    parser.add_argument("--api-key", default=None, help="require this Bearer key")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds between chunks")
    parser.add_argument("--text", default=None, help="answer every request with this text")
    parser.add_argument(
        "--resume", action="store_true", help="continue --text after a partial assistant answer"
    )
    args = parser.parse_args(argv)

    delay: float = args.delay
    text: str | None = args.text
    resume: bool = args.resume
    server = FakeOpenAIServer(model=args.model, api_key=args.api_key, port=args.port)
    if text is not None:
        server.default = Reply(text=text, resume=resume, delay=delay)
    elif delay:
        server.default = lambda req: replace(echo_reply(req), delay=delay)
    server.start()
    print(server.base_url, flush=True)
    print("Fake OpenAI server running; press Ctrl-C to stop.", file=sys.stderr, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
