"""Where `chat.amap`'s CPU goes, per library: ``python benchmarks/profile_map.py``.

The same job as ``bench_map.py`` (2,000 prompts, concurrency 64, a loopback server answering after
50 ms, in its own process), under ``cProfile``; each function's own time is summed by the package
it lives in. Profiling slows every call down, so read the shares, not the seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import cProfile
import pstats
import sys
import time
from pathlib import Path

from bench_map import serving  # this folder is on sys.path when the script runs

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("lexilux_nb", "httpcore", "httpx", "h11", "anyio", "sniffio", "asyncio", "json")


def package_of(filename: str) -> str:
    for name in PACKAGES:
        if f"/{name}/" in filename or filename.endswith(f"/{name}.py"):
            return name
    return "other (builtins, stdlib)"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from lexilux_nb import Chat

    with serving() as url:
        prompts = [f"Classify ticket {i}: the app crashes when I press save" for i in range(args.n)]
        chat = Chat(base_url=url, model="m", max_retries=0)
        profile = cProfile.Profile()
        start = time.perf_counter()
        profile.enable()
        out = asyncio.run(chat.amap(prompts, concurrency=args.concurrency, progress=False))
        profile.disable()
        wall = time.perf_counter() - start
    assert len(out) == args.n and not out.errors
    own: collections.Counter[str] = collections.Counter()
    for (filename, _, _), (_, _, tottime, _, _) in pstats.Stats(profile).stats.items():
        own[package_of(filename)] += tottime
    total = sum(own.values())
    print(f"{args.n} requests, {wall:.1f} s under the profiler\n")
    print("| package | share of CPU | profiled ms per request |\n|---|---:|---:|")
    for name, seconds in own.most_common():
        print(f"| {name} | {seconds / total:.0%} | {seconds / args.n * 1000:.2f} |")


if __name__ == "__main__":
    main()
