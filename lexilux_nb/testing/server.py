"""``FakeOpenAIServer``: scripting, recording and lifecycle; and ``main`` for a terminal."""

from __future__ import annotations

import argparse
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from .batches import FakeBatches
from .handler import HTTPServer
from .replies import (
    RecordedRequest,
    Reply,
    ReplySource,
    _as_reply,
    echo_reply,
)

# --------------------------------------------------------------------------------------------
# The public server
# --------------------------------------------------------------------------------------------


class FakeOpenAIServer:
    """An OpenAI-compatible chat server on ``127.0.0.1`` with scripted replies.

    Use as a context manager (``with FakeOpenAIServer() as server: ...``) or call
    :meth:`start` and :meth:`stop`. ``port=0`` (the default) picks a free port.
    ``api_key``: when set, requests without ``Authorization: Bearer <api_key>`` get a 401.
    ``context_window``: when set, ``/v1/models`` reports it as llama.cpp does (``meta.n_ctx``).
    """

    def __init__(
        self,
        model: str = "fake-model",
        api_key: str | None = None,
        *,
        port: int = 0,
        context_window: int | None = None,
    ) -> None:
        self.model = model
        self.api_key = api_key
        self.context_window = context_window
        self.default: ReplySource | None = None
        self._port = port
        self._lock = threading.Lock()
        self._queue: list[ReplySource] = []
        self._requests: list[RecordedRequest] = []
        self._stopping = threading.Event()
        self._streaming = 0
        self._answering = 0
        self._max_answering = 0
        self._httpd: HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.batches = FakeBatches(self)  # /v1/files and /v1/batches (see testing/batches.py)

    # ---- lifecycle -------------------------------------------------------------------------

    def start(self) -> FakeOpenAIServer:
        """Bind and serve in a background thread (no-op when already running)."""
        if self._httpd is not None:
            return self
        self._stopping.clear()
        httpd = HTTPServer(self._port, self)
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

    @property
    def streaming(self) -> int:
        """How many streamed answers are being written right now (a client that stopped reading
        ends its stream at the next write)."""
        with self._lock:
            return self._streaming

    @property
    def max_concurrent(self) -> int:
        """The most chat requests that were being answered at the same time (since ``clear``)."""
        with self._lock:
            return self._max_answering

    def clear(self) -> None:
        """Forget queued replies and recorded requests (``default`` stays)."""
        with self._lock:
            self._queue.clear()
            self._requests.clear()
            self._max_answering = self._answering
        self.batches.clear()

    # ---- used by the handler ---------------------------------------------------------------

    def _record(self, request: RecordedRequest) -> None:
        request.received = time.monotonic()
        with self._lock:
            self._requests.append(request)

    def _count_answering(self, delta: int) -> None:
        """Count chat requests being answered (+1 on arrival, -1 when answered)."""
        with self._lock:
            self._answering += delta
            self._max_answering = max(self._max_answering, self._answering)

    def _next_reply(self, request: RecordedRequest) -> Reply:
        with self._lock:
            source = self._queue.pop(0) if self._queue else self.default
        return _as_reply(source, request)

    def _model_object(self) -> dict[str, Any]:
        found: dict[str, Any] = {
            "id": self.model,
            "object": "model",
            "created": 0,
            "owned_by": "lexilux-nb",
        }
        if self.context_window is not None:  # llama.cpp's shape (n_ctx: what one request may use)
            found["meta"] = {"n_ctx": self.context_window, "n_ctx_train": self.context_window}
        return found


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
