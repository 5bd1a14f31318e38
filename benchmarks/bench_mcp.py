"""What the dedicated MCP loop costs per tool call, beside the SDK's own client, in one run.

Both talk to the same kind of server (``tests/fixtures/mcp_server.py`` over stdio, one process
each). ``lexilux_nb.mcp_tools`` hands every call from the caller's loop to its own loop thread and
back; the SDK's ``mcp.Client`` is awaited directly in the caller's loop. N calls of ``add`` one
after the other, then N at once (``asyncio.gather``); the table gives the median per call
(sequential) and the wall time (concurrent), best of three alternated runs, and the ratio
ours / SDK.

Run: ``python benchmarks/bench_mcp.py [N]`` (needs the mcp extra).
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mcp import Client, StdioServerParameters  # noqa: E402

from lexilux_nb.client.mcp import mcp_tools  # noqa: E402

SERVER = [sys.executable, str(ROOT / "tests" / "fixtures" / "mcp_server.py")]


async def measure(call: Any, n: int) -> tuple[float, float]:
    await call(a=0, b=0)  # warm up (the server's first call imports things)
    times = []
    for i in range(n):
        start = time.perf_counter()
        await call(a=i, b=1)
        times.append(time.perf_counter() - start)
    start = time.perf_counter()
    await asyncio.gather(*(call(a=i, b=2) for i in range(n)))
    return statistics.median(times), time.perf_counter() - start


async def sdk(n: int) -> tuple[float, float]:
    params = StdioServerParameters(command=SERVER[0], args=SERVER[1:])
    async with Client(params) as client:

        async def call(**arguments: Any) -> Any:
            return await client.call_tool("add", arguments)

        return await measure(call, n)


async def ours(n: int) -> tuple[float, float]:
    with mcp_tools(SERVER, timeout_s=120) as tools:
        tool = tools.tool("add")
        assert tool is not None
        return await measure(tool.function, n)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    runs: dict[str, list[tuple[float, float]]] = {"ours": [], "sdk": []}
    for _ in range(3):  # alternated, best of three: the machine's load moves
        runs["ours"].append(asyncio.run(ours(n)))
        runs["sdk"].append(asyncio.run(sdk(n)))
    mine = (min(r[0] for r in runs["ours"]), min(r[1] for r in runs["ours"]))
    theirs = (min(r[0] for r in runs["sdk"]), min(r[1] for r in runs["sdk"]))
    print(f"| {n} calls of `add` over stdio | lexilux_nb.mcp_tools | mcp.Client | ratio |")
    print("|---|---:|---:|---:|")
    print(
        f"| sequential, median per call | {mine[0] * 1e3:.2f} ms | {theirs[0] * 1e3:.2f} ms |"
        f" {mine[0] / theirs[0]:.2f} |"
    )
    print(
        f"| concurrent, wall time | {mine[1] * 1e3:.0f} ms | {theirs[1] * 1e3:.0f} ms |"
        f" {mine[1] / theirs[1]:.2f} |"
    )


if __name__ == "__main__":
    main()
