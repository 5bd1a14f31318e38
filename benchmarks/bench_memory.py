"""Peak memory against hostile servers: a compression bomb, a stream with no newline, and
millions of tiny events.

A loopback server sends (a) a 300 KB gzip body that inflates to 300 MB, as the answer to a plain
request; (b) an SSE stream of 1 GB with no newline; (c) 4 M events of two characters each (an
8 MB answer in 400 MB of events). Each contender runs in its own fresh process and reports its
peak RSS growth (``VmHWM`` after minus before the call): ``Chat`` (caps: 32 MiB for a
decompressed body, inflated 64 KiB at a time; 8 MiB for a line; 64 Mi characters for an answer)
beside raw httpx reading the same bytes the obvious way (``response.json()``; ``iter_lines()``;
``iter_lines()`` with each delta appended to a list) — side by side in one run.

Run: ``python benchmarks/bench_memory.py`` (a few minutes).
"""

from __future__ import annotations

import gzip
import http.server
import json
import subprocess
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BOMB = gzip.compress(b'{"id": "x"' + b" " * (300 * 2**20) + b"}", compresslevel=9)
STREAM_BYTES = 2**30
TINY_EVENTS = 4_000_000
TINY = b'data: {"choices": [{"index": 0, "delta": {"content": "ab"}}]}\n\n'
TINY_END = (
    b'data: {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}\n\ndata: [DONE]\n\n'
)

CHILD = """
import json, sys, httpx
sys.path.insert(0, {root!r})
def peak():  # VmHWM: this process's peak RSS in kB (ru_maxrss would carry the parent's over exec)
    return int(next(l for l in open("/proc/self/status") if l.startswith("VmHWM")).split()[1])
from lexilux_nb import Chat
url, who, kind = sys.argv[1], sys.argv[2], sys.argv[3]
prompt = "tiny" if kind == "tiny" else "hi"
before = peak()
outcome = "read_everything"
try:
    if who == "Chat":
        chat = Chat(base_url=url, model="m", max_retries=0, timeout_s=60)
        if kind == "bomb":
            chat("hi")
        else:
            for _ in chat.stream(prompt):
                pass
    else:
        message = {{"role": "user", "content": prompt}}
        body = {{"model": "m", "messages": [message], "stream": kind != "bomb"}}
        with httpx.Client(timeout=60) as client:
            if kind == "bomb":
                client.post(url + "/chat/completions", json=body).json()
            else:
                with client.stream("POST", url + "/chat/completions", json=body) as r:
                    deltas = []
                    for line in r.iter_lines():
                        if kind == "tiny" and line.startswith("data: {{"):
                            delta = json.loads(line[6:])["choices"][0]["delta"]
                            deltas.append(delta.get("content") or "")
                    "".join(deltas)
except Exception as exc:
    outcome = type(exc).__name__
after = peak()
print(after - before, outcome)
"""


class Hostile(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        self.send_response(200)
        if not body.get("stream"):
            self.send_header("content-type", "application/json")
            self.send_header("content-encoding", "gzip")
            self.send_header("content-length", str(len(BOMB)))
            self.end_headers()
            self.wfile.write(BOMB)
            return
        self.send_header("content-type", "text/event-stream")
        self.end_headers()
        if body["messages"][0]["content"] == "tiny":
            batch = TINY * 10_000
            try:
                for _ in range(TINY_EVENTS // 10_000):
                    self.wfile.write(batch)
                self.wfile.write(TINY_END)
            except (BrokenPipeError, ConnectionResetError):
                pass
            return
        piece = b"data: " + b"x" * (2**20 - 6)
        try:
            for _ in range(STREAM_BYTES // len(piece)):
                self.wfile.write(piece)
        except (BrokenPipeError, ConnectionResetError):
            pass


def main() -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hostile)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    rows = []
    for kind, label in (
        ("bomb", f"gzip bomb, {len(BOMB) // 1024} KB → 300 MB"),
        ("line", "1 GB stream, no newline"),
        ("tiny", f"{TINY_EVENTS / 1e6:g} M two-character events"),
    ):
        for who in ("Chat", "raw httpx"):
            out = subprocess.run(
                [sys.executable, "-c", CHILD.format(root=str(ROOT)), url, who, kind],
                capture_output=True,
                text=True,
                timeout=600,
            )
            growth, outcome = out.stdout.split()[-2:]
            rows.append((label, who, int(growth) / 1024, outcome))
    server.shutdown()
    print("| hostile answer | reader | peak RSS growth, MB | outcome |")
    print("|---|---|---:|---|")
    for label, who, mb, outcome in rows:
        print(f"| {label} | {who} | {mb:,.0f} | {outcome.replace('_', ' ')} |")


if __name__ == "__main__":
    main()
