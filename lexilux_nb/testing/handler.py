"""The fake server's HTTP side: one threaded server, and a handler that routes and replies.

Kept apart from :class:`~.server.FakeOpenAIServer` (scripting and lifecycle): the handler reads
the server's state only through the ``fake`` it belongs to.
"""

from __future__ import annotations

import contextlib
import json
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from socketserver import TCPServer
from typing import TYPE_CHECKING, Any

from .replies import _BATCH_EVENTS, RecordedRequest, Reply, _dumps
from .wire import _completion_object, _error_body, _EventWriter, _Plan, _plan

if TYPE_CHECKING:
    from .server import FakeOpenAIServer


class Aborted(Exception):
    """The response was deliberately cut or the server is stopping."""


class HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 128  # many clients connecting at once (a batch) are not dropped

    def __init__(self, port: int, fake: FakeOpenAIServer) -> None:
        self.fake = fake
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(("127.0.0.1", port), Handler)

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


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakeOpenAI/1.0"
    sys_version = ""
    disable_nagle_algorithm = True  # headers and small chunks go out at once, not after ~40 ms

    def log_message(self, format: str, *args: Any) -> None:
        pass

    @property
    def fake(self) -> FakeOpenAIServer:
        server = self.server
        assert isinstance(server, HTTPServer)
        return server.fake

    def handle(self) -> None:
        with contextlib.suppress(OSError, Aborted):
            super().handle()

    def handle_one_request(self) -> None:
        try:
            super().handle_one_request()
        except Aborted:
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
            raise Aborted
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
            raise Aborted

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
                fake._count_answering(+1)
                try:
                    self._chat(request)
                finally:
                    fake._count_answering(-1)
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
        answer = fake.batches.answer(request, path)  # /v1/files and /v1/batches
        if answer is not None:
            self._send(answer[0], answer[1], answer[2])
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
        fake = self.fake
        with fake._lock:
            fake._streaming += 1
        try:
            self._stream_events(plan, reply)
        finally:
            with fake._lock:
                fake._streaming -= 1

    def _stream_events(self, plan: _Plan, reply: Reply) -> None:
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
                    raise Aborted
                self._write_chunk("".join(events[start : start + _BATCH_EVENTS]))
        if ending == "cut":
            raise Aborted
        self.wfile.write(b"0\r\n\r\n")
        if ending == "error":
            self.close_connection = True
