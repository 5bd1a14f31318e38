"""Benchmark: what the budget meter costs per cell, and why tiktoken is used only near the window.

For prompts of 1 KB, 100 KB and 1 MB (a DataFrame-like CSV in a ``{df}`` placeholder, after a
20-turn history), times :func:`lexilux_nb.context.budget.estimate` with the heuristic counter
(what every cell pays) and with tiktoken (what a prompt near the window pays), side by side in one
run, and tiktoken's first use in a fresh process (it loads, or tries to fetch, its encoding).
Prints a markdown table.

Usage::

    python benchmarks/bench_budget.py
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lexilux_nb.client.tokens import _tiktoken_encoder, estimate_tokens
from lexilux_nb.context.budget import estimate


def messages(size: int) -> tuple[list[dict[str, str]], str]:
    row = "2025-01-01,North,101.3,17,ok\n"
    table = (row * (size // len(row) + 1))[:size]
    history = []
    for i in range(20):
        history += [
            {"role": "user", "content": f"question {i} about the sales"},
            {"role": "assistant", "content": "an answer of a few sentences. " * 6},
        ]
    return [
        *history,
        {"role": "user", "content": f"Check {table} for anomalies."},
    ], "Check {df} for anomalies."


def best(fn, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def first_use() -> float:
    code = (
        "import time; t = time.perf_counter();"
        "from lexilux_nb.client.tokens import default_counter; default_counter('hello');"
        "print(time.perf_counter() - t)"
    )
    root = str(Path(__file__).resolve().parent.parent)
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=root, check=True
    )
    return float(out.stdout.strip())


def main() -> None:
    encode = _tiktoken_encoder()
    tiktoken = None if encode is None else (lambda text: len(encode(text, disallowed_special=())))
    print("| prompt | heuristic estimate | tiktoken estimate | ratio |")
    print("|---|--:|--:|--:|")
    for size, label in ((1_000, "1 KB"), (100_000, "100 KB"), (1_000_000, "1 MB")):
        wire, typed = messages(size)
        cheap = best(lambda w=wire, t=typed: estimate(w, raw_prompt=t, counter=estimate_tokens))
        if tiktoken is None:
            print(f"| {label} | {cheap * 1000:.2f} ms | (encoding not available) | - |")
            continue
        exact = best(lambda w=wire, t=typed: estimate(w, raw_prompt=t, counter=tiktoken))
        ratio = exact / cheap
        print(f"| {label} | {cheap * 1000:.2f} ms | {exact * 1000:.2f} ms | {ratio:.0f}× |")
    print()
    state = "available" if tiktoken is not None else "not available (offline, not cached)"
    print(f"tiktoken's first count in a fresh process: {first_use():.2f} s (encoding {state})")


if __name__ == "__main__":
    main()
