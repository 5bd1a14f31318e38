"""Throughput and memory of ``chat.amap`` against a loopback server that answers after 50 ms.

2,000 prompts at concurrency 64: the ideal wall time is N x 50 ms / 64 (the server's latency is
the only wait). Contenders, each in its own fresh process, side by side in one run:

- ``Chat.amap`` (concurrency=64, progress off), and the same over httpx (a given
  ``httpx.AsyncClient`` on the package's pooled transport: the path before ``client/h1.py``),
- ``Chat.map`` (the sync form, same settings),
- the ``openai`` SDK's ``AsyncOpenAI`` under ``asyncio.Semaphore(64)`` with ``gather``,
- bare ``httpx.AsyncClient`` (what the SDK and streams are built on) with 64 workers.

The server is a separate process (plain asyncio streams, keep-alive, one canned
``chat.completion``), so it shares no GIL with the client; its own capacity is shown by a raw
asyncio client row (sockets, no HTTP library). Peak RSS (``VmHWM`` growth) of ``Chat.map`` for
2,000 and 20,000 items is measured in fresh processes too, and split with ``tracemalloc`` into
what the returned results hold and what the run needed above that (flat in N is the target).

Run: ``python benchmarks/bench_map.py [--n 2000] [--repeat 3]`` (about a minute).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LATENCY = 0.05
ANSWER = json.dumps(
    {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 0,
        "model": "m",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "positive"},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 12, "completion_tokens": 1, "total_tokens": 13},
    }
).encode()
RESPONSE = (
    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: "
    + str(len(ANSWER)).encode()
    + b"\r\n\r\n"
    + ANSWER
)


async def _serve_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            if length:
                await reader.readexactly(length)
            await asyncio.sleep(LATENCY)
            writer.write(RESPONSE)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def _serve() -> None:
    server = await asyncio.start_server(_serve_connection, "127.0.0.1", 0, backlog=1024)
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()


CHILD = r"""
import asyncio, sys, time
sys.path.insert(0, {root!r})
def peak():
    return int(next(l for l in open("/proc/self/status") if l.startswith("VmHWM")).split()[1])
url, who, n, conc = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
prompts = [f"Classify ticket {{i}}: the app crashes when I press save" for i in range(n)]
import httpx  # imports are not part of the timed run
if who == "sdk":
    from openai import AsyncOpenAI
if who in ("map", "amap", "amap_httpx", "traced"):
    from lexilux_nb import Chat
    from lexilux_nb.client.pool import PooledAsyncTransport
before = peak()

async def raw():
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    body = b'{{"model":"m","messages":[{{"role":"user","content":"x"}}]}}'
    req = (b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
           b"content-length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    todo = iter(range(n))
    async def worker():
        r, w = await asyncio.open_connection("127.0.0.1", port)
        for _ in todo:
            w.write(req)
            head = await r.readuntil(b"\r\n\r\n")
            length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
            await r.readexactly(length)
        w.close()
    await asyncio.gather(*(worker() for _ in range(conc)))

async def bare_httpx():
    async with httpx.AsyncClient() as client:
        todo = iter(prompts)
        async def worker():
            for p in todo:
                r = await client.post(url + "/chat/completions",
                    json={{"model": "m", "messages": [{{"role": "user", "content": p}}]}})
                r.json()
        await asyncio.gather(*(worker() for _ in range(conc)))

async def sdk():
    client = AsyncOpenAI(base_url=url, api_key="k", max_retries=0)
    gate = asyncio.Semaphore(conc)
    async def one(p):
        async with gate:
            r = await client.chat.completions.create(
                model="m", messages=[{{"role": "user", "content": p}}])
            return r.choices[0].message.content
    out = await asyncio.gather(*(one(p) for p in prompts))
    assert len(out) == n and out[0] == "positive"

start, cpu = time.perf_counter(), time.process_time()
if who == "raw":
    asyncio.run(raw())
elif who == "sdk":
    asyncio.run(sdk())
elif who == "httpx":
    asyncio.run(bare_httpx())
else:
    given = httpx.AsyncClient(transport=PooledAsyncTransport()) if who == "amap_httpx" else None
    chat = Chat(base_url=url, model="m", max_retries=0, async_http_client=given)
    if who in ("amap", "amap_httpx"):
        out = asyncio.run(chat.amap(prompts, concurrency=conc, progress=False))
    elif who == "traced":  # Python's own allocations: what the results hold vs the run's peak
        import tracemalloc
        tracemalloc.start()
        out = chat.map(prompts, concurrency=conc, progress=False)
        held, top = tracemalloc.get_traced_memory()
        print(time.perf_counter() - start, held, top)
        raise SystemExit
    else:
        out = chat.map(prompts, concurrency=conc, progress=False)
    assert len(out) == n and not out.errors and out[0].text == "positive", out.errors
wall = time.perf_counter() - start
print(wall, peak() - before, (time.process_time() - cpu) / n * 1000)
"""


def _child(url: str, who: str, n: int, concurrency: int) -> list[float]:
    """What the child printed: wall seconds, then its memory figures."""
    code = CHILD.format(root=str(ROOT))
    out = subprocess.run(
        [sys.executable, "-c", code, url, who, str(n), str(concurrency)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    return [float(x) for x in out]


@contextlib.contextmanager
def serving() -> Iterator[str]:
    """The answering server in a process of its own, for as long as the block runs: its URL."""
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve-only"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None
        yield f"http://127.0.0.1:{server.stdout.readline().strip()}/v1"
    finally:
        server.terminate()
        server.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--big", type=int, default=20000, help="items for the second RSS row")
    args = parser.parse_args()
    with serving() as url:
        n, conc = args.n, args.concurrency
        ideal = n * LATENCY / conc
        names = {
            "raw": "raw asyncio sockets (the server's ceiling)",
            "httpx": "bare `httpx.AsyncClient`, 64 workers (the HTTP library's ceiling)",
            "amap": "`await chat.amap(...)`",
            "amap_httpx": "`await chat.amap(...)` over httpx (`async_http_client=`)",
            "map": "`chat.map(...)` (sync)",
            "sdk": "`AsyncOpenAI` + `Semaphore`",
        }
        walls: dict[str, list[float]] = {k: [] for k in names}
        rss: dict[str, list[float]] = {k: [] for k in names}
        cpu: dict[str, list[float]] = {k: [] for k in names}
        for _ in range(args.repeat):  # interleaved, so machine load hits every contender alike
            for who in names:
                wall, grown, ms = _child(url, who, n, conc)
                walls[who].append(wall)
                rss[who].append(grown)
                cpu[who].append(ms)
        print(f"\n{n} prompts, concurrency {conc}, server latency 50 ms: ideal {ideal:.2f} s")
        print(f"(median of {args.repeat} runs, each in a fresh process)\n")
        print(
            "| client | wall (s) | throughput vs ideal | req/s | client CPU per request (ms) "
            "| peak RSS growth (MB) |"
        )
        print("|---|---|---|---|---|---|")
        for who, label in names.items():
            wall = statistics.median(walls[who])
            print(
                f"| {label} | {wall:.2f} | {ideal / wall:.2f}x | {n / wall:.0f} | "
                f"{statistics.median(cpu[who]):.2f} | {statistics.median(rss[who]) / 1024:.1f} |"
            )
        sdk, ours = statistics.median(walls["sdk"]), statistics.median(walls["amap"])
        print(f"\n`chat.amap` is {sdk / ours:.2f}x the SDK's speed.\n")
        print(
            "| items | `chat.map` peak RSS growth (MB) | traced: results held (MB) "
            "| traced: peak above the results (MB) |"
        )
        print("|---|---|---|---|")
        for size in (n, args.big):
            _, grown, _ = _child(url, "map", size, conc)
            _, held, top = _child(url, "traced", size, conc)
            print(
                f"| {size:,} | {grown / 1024:.1f} | {held / 2**20:.1f} | "
                f"{(top - held) / 2**20:.1f} |"
            )


if __name__ == "__main__":
    if sys.argv[1:] == ["--serve-only"]:
        asyncio.run(_serve())
    else:
        main()
