"""A hostile OpenAI-compatible server on 127.0.0.1: it echoes the planted key everywhere it can
(bodies, headers, every error field, JSON-escaped, ``\\uXXXX``-escaped, URL-encoded), trickles
bytes, or drops the connection mid-answer. Shared by the leak and deadline tests."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import quote

# A key with a "/" (JSON may escape it as "\/") and a "+" (URL-encoded as %2B).
KEY = "sk-planted-XYZ/9q+Lm0Rk7Tw2Vb"
JSON_ESCAPED = json.dumps(KEY)[1:-1].replace("/", "\\/")
U_ESCAPED = "".join(f"\\u{ord(c):04x}" for c in KEY)
URL_ENCODED = quote(KEY, safe="")
FORMS = (KEY, JSON_ESCAPED, U_ESCAPED, URL_ENCODED)
# What must never be found: the key and its distinctive middle (a half-masked key is a leak too).
NEEDLES = (KEY, "planted-XYZ", "9q+Lm0Rk7Tw2Vb", "9q%2BLm0Rk7Tw2Vb")

MODES = ("error", "stream_error", "echo", "stream_echo", "drop", "not_json", "bad_shape")


def found(text: str) -> list[str]:
    """The needles present in ``text`` (after undoing the escapes a leak could hide behind)."""
    from urllib.parse import unquote

    views = [text, unquote(text)]
    with suppress(ValueError):
        views.append(json.loads(f'"{text}"'))
    views.append(text.replace("\\/", "/"))
    return sorted({n for n in NEEDLES for v in views if n in v})


def error_fields() -> dict[str, Any]:
    """An OpenAI-style error with the key in every field, each in another form."""
    return {
        "message": f"Incorrect API key provided: {KEY}",
        "type": f"invalid_request_error {KEY}",
        "code": f"bad_key:{KEY}",
        "param": f"key={KEY}",
    }


def _raw_error_body() -> bytes:
    """The same error written with the escapes a server may use (parsed back to the key)."""
    return (
        '{"error": {"message": "Incorrect API key provided: ' + JSON_ESCAPED + '",'
        ' "type": "invalid_request_error ' + U_ESCAPED + '",'
        ' "code": "bad_key:' + JSON_ESCAPED + '",'
        ' "param": "key=' + URL_ENCODED + '", "echo": "' + KEY + '"}}'
    ).encode()


def _chunk(content: str | None = None, finish: str | None = None) -> str:
    """A stream chunk; an unknown field echoes the key (a successful answer's text, id and model
    are the server's data, shown as sent: the key is planted around them, not in them)."""
    delta = {"content": content} if content is not None else {}
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    body = {"id": "c1", "object": "chat.completion.chunk", "model": "m", "choices": [choice]}
    body["x_echo"] = KEY
    return "data: " + json.dumps(body) + "\n\n"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        self.server.auth.append(self.headers.get("authorization", ""))
        mode = self.server.mode
        stream = bool(body.get("stream"))
        getattr(self, f"_{mode}")(stream)

    # -- helpers -----------------------------------------------------------------------------

    def _head(self, status: int, ctype: str, length: int | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("X-Echo-Key", KEY)
        self.send_header("WWW-Authenticate", f'Bearer error="{KEY}"')
        if length is None:
            self.send_header("Connection", "close")
        else:
            self.send_header("Content-Length", str(length))
        self.end_headers()

    def _send(self, status: int, ctype: str, data: bytes) -> None:
        self._head(status, ctype, len(data))
        self.wfile.write(data)

    # -- modes -------------------------------------------------------------------------------

    def _error(self, stream: bool) -> None:
        self._send(self.server.status, "application/json", _raw_error_body())

    def _stream_error(self, stream: bool) -> None:
        event = "data: " + json.dumps({"error": error_fields()}) + "\n\n"
        data = (_chunk("partial ") + event).encode()
        self._send(200, "text/event-stream", data)

    def _echo(self, stream: bool) -> None:
        if stream:
            return self._stream_echo(stream)
        text = "Hello from a hostile server."
        completion = {
            "id": "c1",
            "system_fingerprint": JSON_ESCAPED,
            "object": "chat.completion",
            "model": "m",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}}],
        }
        completion["choices"][0]["finish_reason"] = "stop"
        self._send(200, "application/json", json.dumps(completion).encode())

    def _stream_echo(self, stream: bool) -> None:
        data = (_chunk("Hello, hostile") + _chunk(finish="stop") + "data: [DONE]\n\n").encode()
        self._send(200, "text/event-stream", data)

    def _drop(self, stream: bool) -> None:
        if stream:
            self._head(200, "text/event-stream")
            self.wfile.write(_chunk("partial ").encode())
        else:
            self._head(200, "application/json", 500)
            self.wfile.write(b'{"id": "' + KEY.encode())
        self.wfile.flush()
        self.connection.shutdown(socket.SHUT_RDWR)

    def _not_json(self, stream: bool) -> None:
        self._send(200, "application/json", f"<html>bad gateway {KEY}</html>".encode())

    def _bad_shape(self, stream: bool) -> None:
        body = {"choices": [{"message": {"content": 5, "role": KEY}, "index": KEY}]}
        if stream:
            self._send(200, "text/event-stream", ("data: " + json.dumps(body) + "\n\n").encode())
        else:
            self._send(200, "application/json", json.dumps(body).encode())

    def _trickle(self, stream: bool) -> None:
        """A valid answer, one byte every ``server.interval`` seconds."""
        if stream:
            data = (_chunk("slow " * 20) + _chunk(finish="stop") + "data: [DONE]\n\n").encode()
            ctype = "text/event-stream"
        else:
            completion = {
                "id": "c1",
                "object": "chat.completion",
                "model": "m",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "slow"}}],
            }
            data, ctype = json.dumps(completion).encode(), "application/json"
        self._head(200, ctype, len(data))
        first = data.index(b"\n\n") + 2 if self.server.first_at_once and stream else 0
        self.wfile.write(data[:first])  # the first event at once, when asked
        self.wfile.flush()
        try:
            for i in range(first, len(data)):
                if self.server.stopping.wait(self.server.interval):
                    return
                self.wfile.write(data[i : i + 1])
                self.wfile.flush()
        except OSError:
            return


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.mode = "error"
        self.status = 401
        self.interval = 0.3
        self.first_at_once = False
        self.auth: list[str] = []
        self.stopping = threading.Event()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"


@contextmanager
def hostile_server(mode: str = "error", *, status: int = 401) -> Iterator[_Server]:
    """Serve in a thread; stopped (and every trickle ended) on exit."""
    server = _Server()
    server.mode, server.status = mode, status
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield server
    finally:
        server.stopping.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        time.sleep(0)
