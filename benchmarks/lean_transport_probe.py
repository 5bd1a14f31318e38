"""How fast `chat.amap` gets with httpcore and anyio out of the path: a measurement, not a
feature. ``python benchmarks/lean_transport_probe.py``.

The probe transport is h11 on asyncio streams under ``httpx.AsyncClient`` (plain HTTP only, no
timeouts, proxies or TLS: just enough for this job). It runs the ``bench_map.py`` job side by
side with the shipped transport, each in a fresh process, median of ``--repeat`` runs.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
from pathlib import Path

from bench_map import LATENCY, serving  # this folder is on sys.path when the script runs

ROOT = Path(__file__).resolve().parents[1]
N, CONCURRENCY = 2000, 64

CHILD = r"""
import asyncio, sys, time
sys.path.insert(0, {root!r})
import h11, httpx
from lexilux_nb import Chat

class Lean(httpx.AsyncBaseTransport):
    def __init__(self):
        self.idle = {{}}

    async def handle_async_request(self, request):
        key = (request.url.host, request.url.port)
        idle = self.idle.setdefault(key, [])
        if idle:
            reader, writer, conn = idle.pop()
        else:
            reader, writer = await asyncio.open_connection(*key)
            conn = h11.Connection(h11.CLIENT)
        body = await request.aread()
        headers = [(k, v) for k, v in request.headers.raw]
        target = request.url.raw_path
        writer.write(conn.send(h11.Request(method=request.method, target=target, headers=headers)))
        writer.write(conn.send(h11.Data(data=body)) + conn.send(h11.EndOfMessage()))
        head, chunks = None, []
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(await reader.read(65536))
            elif isinstance(event, h11.Response):
                head = event
            elif isinstance(event, h11.Data):
                chunks.append(event.data)
            elif isinstance(event, h11.EndOfMessage):
                break
        conn.start_next_cycle()
        idle.append((reader, writer, conn))
        return httpx.Response(head.status_code, headers=head.headers, content=b"".join(chunks))

url, who, n, conc = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
prompts = [f"Classify ticket {{i}}: the app crashes when I press save" for i in range(n)]
given = httpx.AsyncClient(transport=Lean()) if who == "lean" else None
chat = Chat(base_url=url, model="m", max_retries=0, async_http_client=given)
start = time.perf_counter()
out = asyncio.run(chat.amap(prompts, concurrency=conc, progress=False))
assert len(out) == n and not out.errors and out[0].text == "positive", out.errors
print(time.perf_counter() - start)
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with serving() as url:
        walls: dict[str, list[float]] = {"shipped": [], "lean": []}
        for _ in range(args.repeat):
            for who in walls:  # interleaved, so both see the same machine
                code = CHILD.format(root=str(ROOT))
                argv = [sys.executable, "-c", code, url, who, str(N), str(CONCURRENCY)]
                out = subprocess.run(argv, check=True, capture_output=True, text=True).stdout
                walls[who].append(float(out))
    ideal = N * LATENCY / CONCURRENCY
    print(f"{N} prompts, concurrency {CONCURRENCY}, ideal {ideal:.2f} s\n")
    print("| `chat.amap` transport | wall (s) | vs ideal |\n|---|---:|---:|")
    for who, found in walls.items():
        wall = statistics.median(found)
        print(f"| {who} | {wall:.2f} | {ideal / wall:.2f}x |")


if __name__ == "__main__":
    main()
