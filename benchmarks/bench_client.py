"""Streaming throughput: ``Chat.stream`` vs raw ``httpx`` + ``json.loads`` vs the ``openai`` SDK.

Not a test: a measurement. A local SSE server streams one answer of N content chunks (default
20,000) and every contender reads the whole stream, in the same process, against the same server,
interleaved (A B C D, A B C D, ... for ``--repeat`` rounds after one untimed warm-up round). The
table reports the median wall time per stream, chunks/s, and ratios of chunks/s against raw
``httpx`` and against the ``openai`` SDK; the targets from the project issue are checked at the
end (``Chat.stream`` >= 0.8x raw httpx and >= 2x the openai SDK). The exit code is 0 whatever
the outcome.

Contenders (each reuses one pooled client for every repetition, like a real program):

* ``Chat.stream`` - ``lexilux_nb.Chat(...).stream("hi")``, summing ``len(chunk.delta)``, then
  ``len(stream.result.text)`` once at the end.
* ``raw httpx`` - ``httpx.Client.stream`` + ``iter_lines`` + ``json.loads`` per ``data:`` line.
* ``openai SDK`` - ``openai.OpenAI(...).chat.completions.create(..., stream=True)``.
* ``transport floor`` - ``httpx`` ``iter_bytes`` with no parsing at all: what the server and
  the HTTP stack cost, so a slow server cannot hide behind the ratios.

Every contender must see all N content chunks and the full text length, or the run aborts.

Server: ``lexilux_nb.testing.FakeOpenAIServer`` (``fake``), or the very same SSE body bytes
pre-built once and served by a tiny stdlib ``http.server`` (``static``). With ``--server auto``
(the default) both are timed with the byte drain first and the faster one is used; the output
says which. All requests ask ``stream_options.include_usage`` (``Chat`` does by default), so
every contender receives the same events.

Usage::

    python benchmarks/bench_client.py                # 20,000 chunks, 5 rounds
    python benchmarks/bench_client.py --quick        # 2,000 chunks, 3 rounds
    python benchmarks/bench_client.py --json out.json --chunks 50000 --repeat 7
    python benchmarks/bench_client.py --profile      # + cProfile of Chat.stream and raw httpx
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import json
import os
import platform
import pstats
import statistics
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # `python benchmarks/bench_client.py` from a checkout
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx

from lexilux_nb import Chat
from lexilux_nb.testing import FakeOpenAIServer, Reply

MODEL = "m"
API_KEY = "x"
PROMPT = "hi"
EVENTS_PER_WRITE = 256  # like FakeOpenAIServer: one chunked-encoding chunk per 256 events

CHAT = "Chat.stream"
RAW = "raw httpx"
OPENAI = "openai SDK"
FLOOR = "transport floor"


def make_pieces(n: int) -> list[str]:
    """N non-empty, token-like pieces (1-9 characters, some non-ASCII) so every one counts."""
    words = ["The", " quick", " brown", " fox", " jumps", " over", " the", " lazy", " dog", ","]
    words += [" naïve", " café", " 東京", "\n\n-", " **bold**", " `code`", ".", " 42"]
    return [words[i % len(words)] for i in range(n)]


@dataclass(frozen=True)
class Expected:
    chunks: int
    text_len: int


def request_body() -> dict[str, Any]:
    return {
        "model": MODEL,
        "messages": [{"role": "user", "content": PROMPT}],
        "stream": True,
        "stream_options": {"include_usage": True},
    }


# --------------------------------------------------------------------------------------------
# Servers
# --------------------------------------------------------------------------------------------


class StaticSSEServer:
    """Serves one pre-built HTTP response (chunked SSE) to every POST .../chat/completions."""

    def __init__(self, sse_body: bytes) -> None:
        events = sse_body.split(b"\n\n")
        tail = events.pop()  # b"" after the last event's blank line
        events = [e + b"\n\n" for e in events]
        if tail:
            events.append(tail)
        wire = bytearray(
            b"HTTP/1.1 200 OK\r\n"
            b"Content-Type: text/event-stream; charset=utf-8\r\n"
            b"Cache-Control: no-cache\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        for start in range(0, len(events), EVENTS_PER_WRITE):
            part = b"".join(events[start : start + EVENTS_PER_WRITE])
            wire += b"%x\r\n%s\r\n" % (len(part), part)
        wire += b"0\r\n\r\n"
        response = bytes(wire)

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                if not self.path.rstrip("/").endswith("/chat/completions"):
                    self.send_error(404)
                    return
                self.wfile.write(response)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def __enter__(self) -> StaticSSEServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


def capture_body(base_url: str) -> bytes:
    """The de-chunked SSE body the fake server sends for our request."""
    with httpx.Client(timeout=60) as client:
        r = client.post(base_url + "/chat/completions", json=request_body())
        r.raise_for_status()
        return r.content


# --------------------------------------------------------------------------------------------
# Contenders: each returns (content chunks seen, total content length)
# --------------------------------------------------------------------------------------------


class Contenders:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.url = base_url + "/chat/completions"
        self.chat = Chat(base_url=base_url, model=MODEL, api_key=API_KEY)
        self.httpx_client = httpx.Client(timeout=60)
        self.floor_client = httpx.Client(timeout=60)
        self.headers = {"Authorization": f"Bearer {API_KEY}", "Accept": "text/event-stream"}
        self.body = request_body()
        self.openai_client: Any = None
        self.openai_error: str | None = None
        try:
            import openai

            self.openai_client = openai.OpenAI(base_url=base_url, api_key=API_KEY, max_retries=0)
        except Exception as exc:  # not installed, or an incompatible version
            self.openai_error = f"{type(exc).__name__}: {exc}"

    def close(self) -> None:
        self.chat.close()
        self.httpx_client.close()
        self.floor_client.close()
        if self.openai_client is not None:
            self.openai_client.close()

    def table(self) -> dict[str, Callable[[], tuple[int, int]]]:
        runs = {CHAT: self.run_chat, RAW: self.run_raw}
        if self.openai_client is not None:
            runs[OPENAI] = self.run_openai
        runs[FLOOR] = self.run_floor
        return runs

    def run_chat(self) -> tuple[int, int]:
        n = total = 0
        stream = self.chat.stream(PROMPT)
        for chunk in stream:
            delta = chunk.delta
            if delta:
                n += 1
                total += len(delta)
        text_len = len(stream.result.text)
        if text_len != total:
            raise AssertionError(f"{CHAT}: result.text has {text_len} chars, deltas {total}")
        return n, text_len

    def run_raw(self) -> tuple[int, int]:
        n = total = 0
        loads = json.loads
        with self.httpx_client.stream("POST", self.url, json=self.body, headers=self.headers) as r:
            r.raise_for_status()
            for line in r.iter_lines():
                if line.startswith("data: ") and line != "data: [DONE]":
                    obj = loads(line[6:])
                    choices = obj.get("choices")
                    if choices:
                        content = choices[0]["delta"].get("content") or ""
                        if content:
                            n += 1
                            total += len(content)
        return n, total

    def run_openai(self) -> tuple[int, int]:
        n = total = 0
        stream = self.openai_client.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": PROMPT}],
            stream=True,
            stream_options={"include_usage": True},
        )
        for chunk in stream:
            if chunk.choices:
                content = chunk.choices[0].delta.content
                if content:
                    n += 1
                    total += len(content)
        return n, total

    def run_floor(self) -> tuple[int, int]:
        size = 0
        with self.floor_client.stream("POST", self.url, json=self.body, headers=self.headers) as r:
            r.raise_for_status()
            for data in r.iter_bytes():
                size += len(data)
        return -1, size  # bytes only: nothing to check per chunk


# --------------------------------------------------------------------------------------------
# Measuring
# --------------------------------------------------------------------------------------------


@dataclass
class Series:
    name: str
    seconds: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


def timed(run: Callable[[], tuple[int, int]]) -> tuple[float, tuple[int, int]]:
    gc.collect()  # garbage left by the previous contender must not be charged to this one
    start = time.perf_counter()
    out = run()
    return time.perf_counter() - start, out


def check(name: str, out: tuple[int, int], expected: Expected, body_len: int | None) -> None:
    chunks, size = out
    if name == FLOOR:
        if body_len is not None and size != body_len:
            raise AssertionError(f"{FLOOR}: got {size} bytes, expected {body_len}")
        return
    if chunks != expected.chunks or size != expected.text_len:
        raise AssertionError(
            f"{name}: got {chunks} chunks / {size} chars, "
            f"expected {expected.chunks} / {expected.text_len}"
        )


def measure(
    runs: dict[str, Callable[[], tuple[int, int]]],
    repeat: int,
    expected: Expected,
    body_len: int | None,
) -> dict[str, Series]:
    series = {name: Series(name) for name in runs}
    for name, run in runs.items():  # warm-up: connections, lazy imports, caches
        check(name, run(), expected, body_len)
    for _ in range(repeat):
        for name, run in runs.items():
            seconds, out = timed(run)
            check(name, out, expected, body_len)
            series[name].seconds.append(seconds)
    return series


def drain_seconds(base_url: str, repeat: int) -> float:
    with httpx.Client(timeout=60) as client:
        url = base_url + "/chat/completions"

        def drain() -> tuple[int, int]:
            size = 0
            with client.stream("POST", url, json=request_body()) as r:
                for data in r.iter_bytes():
                    size += len(data)
            return 0, size

        drain()
        return statistics.median(timed(drain)[0] for _ in range(repeat))


# --------------------------------------------------------------------------------------------
# Reporting
# --------------------------------------------------------------------------------------------


def ratio(a: float, b: float | None) -> str:
    return "-" if b is None else f"{a / b:.2f}x"


def report(
    series: dict[str, Series], expected: Expected, repeat: int, server_note: str
) -> tuple[str, dict[str, Any]]:
    rate = {name: expected.chunks / s.median for name, s in series.items()}
    raw = rate.get(RAW)
    sdk = rate.get(OPENAI)
    lines = [
        "| contender | median seconds | chunks/s | ratio vs raw httpx | ratio vs openai SDK |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, s in series.items():
        label = f"{name} (bytes only)" if name == FLOOR else name
        lines.append(
            f"| {label} | {s.median:.4f} | {rate[name]:,.0f} | "
            f"{ratio(rate[name], raw)} | {ratio(rate[name], sdk)} |"
        )
    cpus = os.cpu_count()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    busy = load is not None and cpus is not None and load > cpus
    lines.append("")
    lines.append(
        f"Python {platform.python_version()} ({platform.python_implementation()}), "
        f"{cpus} CPUs, {expected.chunks:,} chunks, {repeat} repetitions (+1 warm-up), "
        f"httpx {httpx.__version__}, server: {server_note}"
    )
    if load is not None:
        note = " - busy machine: absolute times are noisy, the ratios less so" if busy else ""
        lines.append(f"Load average (1 min) at the end: {load:.2f}{note}")
    targets: dict[str, Any] = {}
    chat = rate.get(CHAT)
    if chat is not None and raw is not None:
        ok = chat >= 0.8 * raw
        targets["chat_vs_raw_httpx"] = {"ratio": chat / raw, "target": 0.8, "pass": ok}
        lines.append(
            f"{'PASS' if ok else 'FAIL'}: Chat.stream >= 0.8x raw httpx chunks/s "
            f"(got {chat / raw:.2f}x)"
        )
    if chat is not None and sdk is not None:
        ok = chat >= 2.0 * sdk
        targets["chat_vs_openai_sdk"] = {"ratio": chat / sdk, "target": 2.0, "pass": ok}
        lines.append(
            f"{'PASS' if ok else 'FAIL'}: Chat.stream >= 2x openai SDK chunks/s "
            f"(got {chat / sdk:.2f}x)"
        )
    elif chat is not None:
        lines.append("SKIPPED: Chat.stream >= 2x openai SDK (openai SDK unavailable)")
    data = {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "cpus": cpus,
        "chunks": expected.chunks,
        "repeat": repeat,
        "server": server_note,
        "load_average_1min": load,
        "results": {
            name: {
                "seconds": s.seconds,
                "median_seconds": s.median,
                "chunks_per_s": rate[name],
                "ratio_vs_raw_httpx": rate[name] / raw if raw else None,
                "ratio_vs_openai_sdk": rate[name] / sdk if sdk else None,
            }
            for name, s in series.items()
        },
        "targets": targets,
    }
    return "\n".join(lines), data


def profile(runs: dict[str, Callable[[], tuple[int, int]]], names: list[str], top: int) -> None:
    for name in names:
        profiler = cProfile.Profile()
        profiler.runcall(runs[name])
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        stats.sort_stats("tottime").print_stats(top)
        print(f"\n### cProfile: {name} (one stream, sorted by tottime, top {top})\n")
        print(out.getvalue().strip())


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chunks", type=int, default=None, help="content chunks (20000)")
    parser.add_argument("--repeat", type=int, default=None, help="timed rounds (5)")
    parser.add_argument("--quick", action="store_true", help="2,000 chunks, 3 rounds")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    parser.add_argument(
        "--server",
        choices=("auto", "fake", "static"),
        default="auto",
        help="FakeOpenAIServer, the pre-built static server, or the faster one (default)",
    )
    parser.add_argument(
        "--profile", action="store_true", help="also cProfile one Chat.stream and one raw run"
    )
    args = parser.parse_args(argv)
    chunks = args.chunks if args.chunks is not None else (2000 if args.quick else 20000)
    repeat = args.repeat if args.repeat is not None else (3 if args.quick else 5)
    if chunks < 1 or repeat < 1:
        parser.error("--chunks and --repeat must be >= 1")

    pieces = make_pieces(chunks)
    expected = Expected(chunks, sum(len(p) for p in pieces))

    with FakeOpenAIServer(model=MODEL) as fake:
        fake.default = Reply(chunks=pieces)
        body = capture_body(fake.base_url)
        with StaticSSEServer(body) as static:
            probes = 3
            fake_s = drain_seconds(fake.base_url, probes) if args.server != "static" else None
            static_s = drain_seconds(static.base_url, probes) if args.server != "fake" else None
            if args.server == "fake" or (
                args.server == "auto"
                and fake_s is not None
                and static_s is not None
                and fake_s < static_s
            ):
                base_url, chosen = fake.base_url, "FakeOpenAIServer"
            else:
                base_url, chosen = static.base_url, "static pre-built bytes (stdlib http.server)"
            probe = ", ".join(
                f"{label} {s * 1000:.1f} ms"
                for label, s in (("FakeOpenAIServer", fake_s), ("static", static_s))
                if s is not None
            )
            server_note = f"{chosen} [byte-drain probe, median of {probes}: {probe}]"
            print(
                f"Streaming {chunks:,} chunks ({len(body):,} bytes of SSE) x {repeat} rounds "
                f"from {chosen}...",
                file=sys.stderr,
                flush=True,
            )

            contenders = Contenders(base_url)
            try:
                runs = contenders.table()
                series = measure(runs, repeat, expected, len(body))
                text, data = report(series, expected, repeat, server_note)
                sys.stderr.flush()
                print(text, flush=True)
                if contenders.openai_error:
                    print(f"openai SDK unavailable: {contenders.openai_error}")
                if args.profile:
                    profile(runs, [CHAT, RAW], 25)
            finally:
                contenders.close()

    if args.json:
        data["sse_body_bytes"] = len(body)
        data["openai_version"] = _version("openai")
        data["httpx_version"] = httpx.__version__
        Path(args.json).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return 0


def _version(module: str) -> str | None:
    try:
        return str(__import__(module).__version__)
    except Exception:
        return None


if __name__ == "__main__":
    sys.exit(main())
