"""The lean HTTP/1.1 path (client/h1.py) against real loopback servers: what it sends, what it
reuses and drops, and that every outcome is the one the sync (httpx) path gives."""

from __future__ import annotations

import asyncio
import gzip
import json
import socket
import socketserver
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from lexilux_nb import defaults
from lexilux_nb.client import h1
from lexilux_nb.client.chat import Chat
from lexilux_nb.client.errors import LexiluxError

TLS = Path(__file__).resolve().parents[1] / "fixtures" / "tls"  # self-signed, for 127.0.0.1


def completion(text: str = "hi", **extra: Any) -> dict[str, Any]:
    return {
        "id": "c1",
        "object": "chat.completion",
        "model": "m",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
        **extra,
    }


def reply(
    body: bytes | dict[str, Any],
    status: str = "200 OK",
    *,
    headers: bytes = b"content-type: application/json\r\n",
    chunked: bool = False,
    close: bool = False,
) -> bytes:
    data = json.dumps(body).encode() if isinstance(body, dict) else body
    head = b"HTTP/1.1 " + status.encode() + b"\r\n" + headers
    if close:
        return head + b"connection: close\r\n\r\n" + data  # read until the server closes
    if chunked:
        chunks = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in (data[:7], data[7:]) if p)
        return head + b"transfer-encoding: chunked\r\n\r\n" + chunks + b"0\r\n\r\n"
    return head + b"content-length: %d\r\n\r\n" % len(data) + data


Answer = Callable[[bytes, bytes], "bytes | None"]


class Wire:
    """A loopback HTTP/1.1 server in a thread. ``answer(head, body)`` gives the raw reply (or
    ``None``: close without one); it records every request and counts connections."""

    def __init__(self, answer: Answer, *, tls: bool = False, delay: float = 0.0) -> None:
        self.answer, self.delay = answer, delay
        self.requests: list[tuple[bytes, bytes]] = []
        self.connections = 0
        self.closed = threading.Event()  # set when a client dropped a connection mid-request
        wire = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                wire.connections += 1
                sock, buf = self.request, b""
                while True:
                    while b"\r\n\r\n" not in buf:
                        data = sock.recv(65536)
                        if not data:
                            return
                        buf += data
                    head, buf = buf.split(b"\r\n\r\n", 1)
                    length = 0
                    for line in head.split(b"\r\n")[1:]:
                        name, _, value = line.partition(b":")
                        if name.strip().lower() == b"content-length":
                            length = int(value)
                    while len(buf) < length:
                        buf += sock.recv(65536)
                    body, buf = buf[:length], buf[length:]
                    wire.requests.append((head, body))
                    if wire.delay:
                        sock.settimeout(wire.delay)
                        try:
                            if sock.recv(1) == b"":
                                wire.closed.set()
                                return
                        except TimeoutError:
                            pass
                        sock.settimeout(None)
                    out = wire.answer(head, body)
                    if out is None:
                        return
                    sock.sendall(out)
                    if b"connection: close" in out.lower() or b"x-then-close" in out:
                        return

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        if tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(TLS / "cert.pem", TLS / "key.pem")
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        scheme = "https" if tls else "http"
        self.base_url = f"{scheme}://127.0.0.1:{self.server.server_address[1]}/v1"

    def __enter__(self) -> Wire:
        threading.Thread(target=self.server.serve_forever, args=(0.01,), daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def headers(self, i: int = -1) -> dict[str, str]:
        lines = self.requests[i][0].decode().split("\r\n")[1:]
        return {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}


def always(raw: bytes) -> Answer:
    return lambda head, body: raw


@pytest.fixture
def wire() -> Iterator[Wire]:
    with Wire(always(reply(completion("hello")))) as server:
        yield server


_MADE: list[Chat] = []


def make(url: str, **kwargs: Any) -> Chat:
    kwargs.setdefault("max_retries", 0)
    chat = Chat(base_url=url, model="m", api_key="sk-h1-test", **kwargs)
    _MADE.append(chat)
    return chat


@pytest.fixture(autouse=True)
def _close_made() -> Iterator[None]:
    """Each test's clients are closed with it (their sync pools hold sockets)."""
    yield
    while _MADE:
        _MADE.pop().close()


def described(exc: LexiluxError) -> tuple[str, str, dict[str, Any]]:
    """An error as a caller sees it: its class, message and the fields it reads."""
    fields = {k: getattr(exc, k, None) for k in ("status_code", "retry_after", "error_type")}
    return type(exc).__name__, str(exc), fields


def outcome(run: Callable[[], Any]) -> Any:
    """The answer's text, or the error :func:`described`."""
    try:
        return run().text
    except LexiluxError as exc:
        return described(exc)


def both(chat: Chat, prompt: str = "hello") -> tuple[Any, Any, int]:
    """The sync outcome, the async one, and how many async attempts went the lean way."""
    sync = outcome(lambda: chat.call(prompt))
    before = _SENDS[0]
    lean = asyncio.run(_aoutcome(chat.acall(prompt)))
    return sync, lean, _SENDS[0] - before


async def _aoutcome(call: Any) -> Any:
    try:
        return (await call).text
    except LexiluxError as exc:
        return described(exc)


_SENDS = [0]
_real_send_json = h1.send_json


async def _counting_send_json(*args: Any, **kwargs: Any) -> Any:
    _SENDS[0] += 1
    return await _real_send_json(*args, **kwargs)


@pytest.fixture(autouse=True)
def _count_lean(monkeypatch: pytest.MonkeyPatch) -> None:
    """Count the attempts that took the lean path (the function stays the real one)."""
    monkeypatch.setattr(h1, "send_json", _counting_send_json)


# -- what goes on the wire --------------------------------------------------------------------


def test_the_request_bytes_are_the_ones_httpx_sends(wire: Wire) -> None:
    chat = make(wire.base_url, headers={"X-Team": "ml"})
    sync, lean, sends = both(chat, "héllo {json} \u2028")
    assert sync == lean == "hello" and sends == 1
    (sync_head, sync_body), (lean_head, lean_body) = wire.requests
    assert lean_body == sync_body  # httpx's JSON encoding, byte for byte
    assert (
        lean_head.split(b"\r\n")[0]
        == sync_head.split(b"\r\n")[0]
        == b"POST /v1/chat/completions HTTP/1.1"
    )
    sync_headers, lean_headers = wire.headers(0), wire.headers(1)
    for name in ("host", "authorization", "user-agent", "content-type", "accept", "x-team"):
        assert lean_headers[name] == sync_headers[name], name
    assert lean_headers["content-length"] == str(len(lean_body))
    assert {"gzip", "deflate"} <= {e.strip() for e in lean_headers["accept-encoding"].split(",")}


def test_a_large_body_is_written_in_full_while_the_server_reads_slowly() -> None:
    got: list[int] = []

    def answer(head: bytes, body: bytes) -> bytes:
        got.append(len(body))
        return reply(completion(f"read {len(body)} bytes"))

    with Wire(answer) as server:
        big = "x" * (8 << 20)  # an image's worth, past the socket buffers: writing pauses
        sync, lean, sends = both(make(server.base_url), big)
    assert sync == lean and sends == 1 and got[0] == got[1] > 8 << 20


def test_a_server_that_never_reads_is_a_write_timeout_on_both_paths() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)  # accepted by the kernel, never read
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/v1"
        sync, lean, sends = both(make(url, timeout_s=0.5), "x" * (64 << 20))
    assert sends == 1 and lean == sync
    assert sync[0] == "LexiluxTimeoutError" and "WriteTimeout" in sync[1]


def test_connections_are_kept_alive_and_reused(wire: Wire) -> None:
    chat = make(wire.base_url)

    async def run() -> tuple[list[str], int]:
        texts = [(await chat.acall(f"q{i}")).text for i in range(5)]
        pool = chat._http.lean()
        assert pool is not None
        return texts, pool.opened

    texts, opened = asyncio.run(run())
    assert texts == ["hello"] * 5 and opened == 1 and wire.connections == 1


def test_concurrent_requests_open_one_connection_each_then_reuse_them(wire: Wire) -> None:
    chat = make(wire.base_url)
    wire.delay = 0.05

    async def run() -> tuple[int, int]:
        await asyncio.gather(*(chat.acall(f"q{i}") for i in range(8)))
        pool = chat._http.lean()
        assert pool is not None
        first = pool.opened
        await asyncio.gather(*(chat.acall(f"r{i}") for i in range(8)))
        return first, pool.opened

    assert asyncio.run(run()) == (8, 8)
    assert wire.connections == 8


@pytest.mark.parametrize(
    "raw",
    [
        reply(completion("chunked answer"), chunked=True),
        reply(completion("closing answer"), close=True),
        reply(
            gzip.compress(json.dumps(completion("gzipped")).encode()),
            headers=b"content-type: application/json\r\ncontent-encoding: gzip\r\n",
        ),
    ],
    ids=["chunked", "read-until-close", "gzip"],
)
def test_every_body_framing_reads_the_same_on_both_paths(raw: bytes) -> None:
    with Wire(always(raw)) as server:
        sync, lean, sends = both(make(server.base_url))
    assert sync == lean and sends == 1
    assert sync in ("chunked answer", "closing answer", "gzipped")


def test_a_connection_the_server_closes_is_not_reused() -> None:
    with Wire(always(reply(completion("one"), close=True))) as server:
        chat = make(server.base_url)

        async def run() -> int:
            for _ in range(3):
                assert (await chat.acall("q")).text == "one"
            pool = chat._http.lean()
            assert pool is not None
            return pool.opened

        assert asyncio.run(run()) == 3 == server.connections


def test_an_idle_connection_past_its_keep_alive_is_replaced(
    wire: Wire, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(h1, "KEEPALIVE_S", 0.05)
    chat = make(wire.base_url)

    async def run() -> int:
        await chat.acall("a")
        await asyncio.sleep(0.1)
        await chat.acall("b")
        pool = chat._http.lean()
        assert pool is not None
        return pool.opened

    assert asyncio.run(run()) == 2


def test_a_connection_the_server_closed_while_idle_is_dropped_before_reuse() -> None:
    # the server hangs up after answering, without saying so (its own keep-alive ran out)
    raw = reply(
        completion("fresh"), headers=b"content-type: application/json\r\nx-then-close: 1\r\n"
    )
    with Wire(always(raw)) as server:
        chat = make(server.base_url)

        async def run() -> tuple[list[str], int]:
            texts = []
            for _ in range(3):
                texts.append((await chat.acall("q")).text)
                await asyncio.sleep(0.05)  # the hang-up reaches the client's loop
            pool = chat._http.lean()
            assert pool is not None
            return texts, pool.opened

        assert asyncio.run(run()) == (["fresh"] * 3, 3)


def test_a_server_hanging_up_on_a_request_is_a_connection_error() -> None:
    answers = iter([reply(completion("first")), None])  # the second request: closed unanswered
    with Wire(lambda head, body: next(answers, reply(completion("again")))) as server:
        chat = make(server.base_url)

        async def run() -> tuple[str, Any, str]:
            first = (await chat.acall("a")).text
            second = await _aoutcome(chat.acall("b"))
            return first, second, (await chat.acall("c")).text

        first, second, third = asyncio.run(run())
    assert first == "first" and third == "again"
    assert second[0] == "LexiluxConnectionError"
    assert "Server disconnected without sending a response" in second[1]


# -- the same outcome as httpx, failure by failure ---------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        reply(
            {"error": {"message": "slow down", "type": "rate_limit"}},
            "429 Too Many Requests",
            headers=b"content-type: application/json\r\nretry-after: 7\r\n",
        ),
        reply(
            {"error": {"message": "bad key", "type": "invalid_request_error"}}, "401 Unauthorized"
        ),
        reply({"error": {"message": "boom"}}, "500 Internal Server Error", chunked=True),
        reply(b"<html>not json</html>", headers=b"content-type: text/html\r\n"),
        reply(b'{"choices": 3}'),
        b'HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 50\r\n\r\n{"id": 1',  # cut
        b"NOT HTTP AT ALL\r\n\r\n",
        None,  # closed with no answer
    ],
    ids=["429", "401", "500-chunked", "html", "bad-shape", "cut-body", "garbage", "hang-up"],
)
def test_each_failure_is_the_same_error_as_on_the_sync_path(raw: bytes | None) -> None:
    with Wire(lambda head, body: raw) as server:
        sync, lean, sends = both(make(server.base_url))
    assert isinstance(sync, tuple) and sends == 1
    assert lean == sync


def test_retry_after_drives_the_retry_the_same_way() -> None:
    answers = [
        reply(
            {"error": {"message": "wait"}},
            "429 Too Many Requests",
            headers=b"content-type: application/json\r\nretry-after-ms: 10\r\n",
        ),
        reply(completion("after the wait")),
    ]

    def answer(head: bytes, body: bytes) -> bytes:
        return answers[(len(server.requests) - 1) % 2]  # a 429, then the answer, each call

    with Wire(answer) as server:
        chat = make(server.base_url, max_retries=1)
        sync, lean, sends = both(chat)
    assert sync == lean == "after the wait" and sends == 2
    assert len(server.requests) == 4


def test_a_refused_connection_is_the_same_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again: nothing listens there
    sync, lean, sends = both(make(f"http://127.0.0.1:{port}/v1"))
    assert sends == 1 and lean == sync
    assert sync[0] == "LexiluxConnectionError" and "Connection refused" in sync[1]


def test_a_read_timeout_is_the_same_error(wire: Wire) -> None:
    wire.delay = 1.0
    chat = make(wire.base_url, read_timeout_s=0.2)
    start = time.monotonic()
    sync, lean, sends = both(chat)
    assert sends == 1 and lean == sync and sync[0] == "LexiluxTimeoutError"
    assert time.monotonic() - start < 1.5  # neither waited for the server


def test_the_deadline_stops_a_slow_server_with_the_deadline_error(wire: Wire) -> None:
    wire.delay = 1.0
    sync, lean, sends = both(make(wire.base_url, deadline_s=0.2))
    assert sends == 1 and lean == sync and sync[0] == "DeadlineExceededError"


def test_an_answer_over_the_cap_is_refused_the_same_way(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(defaults, "MAX_RESPONSE_BYTES", 4096)
    bomb = gzip.compress(json.dumps(completion("x" * 100_000)).encode())
    raw = reply(bomb, headers=b"content-type: application/json\r\ncontent-encoding: gzip\r\n")
    with Wire(always(raw)) as server:
        sync, lean, sends = both(make(server.base_url))
    assert sends == 1 and lean == sync and sync[0] == "ResponseTooLargeError"


def test_tls_with_a_trusted_certificate_and_a_refused_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    built: list[object] = []
    real = httpx.create_ssl_context

    def counted(*args: Any, **kwargs: Any) -> ssl.SSLContext:
        built.append(kwargs.get("verify"))
        return real(*args, **kwargs)

    monkeypatch.setattr(httpx, "create_ssl_context", counted)
    with Wire(always(reply(completion("over tls"))), tls=True) as server:
        trusted = make(server.base_url, verify=str(TLS / "cert.pem"))
        with pytest.warns(DeprecationWarning):  # httpx's word on verify=<path>
            ok = both(trusted)

        async def streamed() -> str:  # httpx's async path (a stream), after h1's
            return "".join([c.delta async for c in trusted.astream("q")])

        stream = asyncio.run(streamed())
        contexts = built.count(str(TLS / "cert.pem"))
        refused = both(make(server.base_url))
    assert ok[0] == ok[1] == "over tls" and ok[2] == 1
    assert stream == "over tls"
    assert contexts == 1  # h1 and httpx's async pools share one context (each costs 40 ms)
    assert refused[2] == 1 and refused[0] == refused[1]
    assert (
        refused[0][0] == "LexiluxConnectionError" and "CERTIFICATE_VERIFY_FAILED" in refused[0][1]
    )


# -- interrupts and the pool ------------------------------------------------------------------


def test_a_cancelled_request_drops_its_connection_and_frees_its_slot(wire: Wire) -> None:
    wire.delay = 2.0
    chat = make(wire.base_url)

    async def run() -> tuple[bool, int, str]:
        task = asyncio.ensure_future(chat.acall("slow"))
        await asyncio.sleep(0.2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        seen = await asyncio.get_running_loop().run_in_executor(None, wire.closed.wait, 2.0)
        pool = chat._http.lean()
        assert pool is not None
        free = pool._slots._value  # type: ignore[attr-defined]
        wire.delay = 0.0
        return seen, free, (await chat.acall("next")).text

    seen, free, text = asyncio.run(run())
    assert seen  # the server saw the socket close, not a request left hanging
    assert free == h1.MAX_CONNECTIONS and text == "hello"


def test_requests_past_the_pool_wait_for_a_slot_then_time_out(wire: Wire) -> None:
    wire.delay = 0.3
    request = h1.encode(wire.base_url + "/chat/completions", {}, {"model": "m"})
    assert request is not None

    async def run() -> list[str]:
        pool = h1.Pool(ssl.create_default_context)
        pool._slots = asyncio.Semaphore(1)
        timeouts = {"connect": 1.0, "read": 1.0, "write": 1.0, "pool": 0.05}
        outcomes = await asyncio.gather(
            h1.send_json(pool, request, timeouts, ()),
            h1.send_json(pool, request, timeouts, ()),
            return_exceptions=True,
        )
        await pool.aclose()
        return [
            o["choices"][0]["message"]["content"] if isinstance(o, dict) else str(o)
            for o in outcomes
        ]

    first, second = asyncio.run(run())
    assert first == "hello"
    assert "PoolTimeout" in second


def test_each_asyncio_run_closes_its_pool_with_its_loop(wire: Wire) -> None:
    chat = make(wire.base_url)
    for i in range(3):
        assert asyncio.run(chat.acall(f"run {i}")).text == "hello"
    assert len(chat._http._lean) == 0 and wire.connections == 3
    chat.close()


# -- where httpx keeps sending ----------------------------------------------------------------


@pytest.mark.parametrize("using", ["httpcore", "httpx"])
def test_respx_still_sees_every_request(using: str) -> None:
    with respx.mock(using=using) as router:
        route = router.post("http://127.0.0.1:9/v1/chat/completions").mock(
            return_value=httpx.Response(200, json=completion("mocked"))
        )
        sync, lean, sends = both(make("http://127.0.0.1:9/v1"))
    assert sync == lean == "mocked" and sends == 0 and route.call_count == 2


def test_an_environment_proxy_is_used_by_both_paths(
    wire: Wire, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = wire.base_url.split(":")[2].split("/")[0]
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{port}")  # the server plays the proxy
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    sync, lean, sends = both(make("http://llm.invalid/v1"))
    assert sync == lean == "hello" and sends == 0
    targets = [head.split(b" ")[1] for head, _ in wire.requests]
    assert targets == [b"http://llm.invalid/v1/chat/completions"] * 2  # absolute form: proxied


@pytest.mark.parametrize(
    ("url", "headers"),
    [
        ("http://user:pw@127.0.0.1:9/v1/chat/completions", {}),
        ("http://127.0.0.1:9/v1/chät/completions", {}),
        ("http://127.0.0.1:9/v1/chat/completions", {"X-Name": "Zoë"}),
        ("http://127.0.0.1:9/v1/chat/completions", {"X-Bad": "a\r\nInjected: 1"}),
        ("ftp://127.0.0.1:9/v1/chat/completions", {}),
        ("http://127.0.0.1:9/v1/chat/completions", {"Host": "elsewhere"}),
        ("http://127.0.0.1:9/v1/chat/completions", {"content-length": "3"}),
    ],
    ids=[
        "userinfo",
        "non-ascii-path",
        "non-ascii-header",
        "crlf-header",
        "scheme",
        "host",
        "length",
    ],
)
def test_requests_httpx_would_send_differently_are_left_to_httpx(
    url: str, headers: dict[str, str]
) -> None:
    assert h1.encode(url, headers, {"model": "m"}) is None


def test_given_clients_and_proxies_keep_httpx(wire: Wire) -> None:
    mine = httpx.AsyncClient()
    given = make(wire.base_url, async_http_client=mine)
    proxied = make(wire.base_url, proxies={"http": "http://127.0.0.1:9"})
    plain = make(wire.base_url, proxies={})  # {}: no proxies at all, so the lean path

    async def pools() -> list[bool]:
        return [c._http.lean() is not None for c in (given, proxied, plain)]

    assert asyncio.run(pools()) == [False, False, True]
    asyncio.run(mine.aclose())
