"""Benchmark: incremental vs naive rendering of a streamed markdown answer.

Streams a deterministic ~100 KB markdown answer (headings, paragraphs, lists,
code fences, tables, quotes) split into 20,000 chunks through
:class:`~lexilux_nb.notebook.render.StreamRenderer` at 1,000 and 20,000
chunks/s, and through a naive baseline that re-renders the whole text at every
throttled view update (same 50 ms throttle).

Method (default): the stream's *clock* is simulated — chunk ``i`` arrives at
``i / rate`` seconds and the throttle reads that clock — while the *cost* is
real: the CPU time (``time.process_time``) spent inside ``feed``/``finish`` is
measured around every call. "CPU share" is that CPU time divided by the
simulated streaming wall time (``chunks / rate``), i.e. the fraction of one
core the rendering would use while the answer streams. The final exact render
(``finish()``, after the last chunk) is reported separately and also folded
into a second share column. This avoids sleeping
for 20 s per run and is not distorted by sleep jitter. ``--realtime`` instead
paces the chunks with real sleeps and the real monotonic clock (slow: 20 s per
run at 1,000 chunks/s).

Usage::

    python benchmarks/bench_render.py            # full: 100 KB, 20,000 chunks
    python benchmarks/bench_render.py --quick    # 30 KB, 6,000 chunks
"""

from __future__ import annotations

import argparse
import itertools
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

# Run from a source checkout without installing the package.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lexilux_nb.markup.html import render_markdown
from lexilux_nb.markup.style import wrap_answer
from lexilux_nb.notebook.render import StreamRenderer, Throttle

WORDS = [
    "the",
    "model",
    "streams",
    "tokens",
    "into",
    "a",
    "notebook",
    "cell",
    "while",
    "kernel",
    "renders",
    "markdown",
    "incrementally",
    "so",
    "that",
    "finished",
    "blocks",
    "are",
    "cached",
    "and",
    "only",
    "tail",
    "is",
    "parsed",
    "again",
    "latency",
    "throughput",
    "buffer",
    "parser",
    "renderer",
    "widget",
    "update",
    "answer",
    "context",
    "window",
    "token",
    "budget",
    "request",
    "response",
    "stream",
    "chunk",
    "fence",
    "table",
    "list",
    "heading",
    "paragraph",
]


def _sentence(rng: random.Random) -> str:
    words = [rng.choice(WORDS) for _ in range(rng.randint(6, 18))]
    if rng.random() < 0.3:
        i = rng.randrange(len(words))
        words[i] = f"`{words[i]}()`"
    if rng.random() < 0.2:
        i = rng.randrange(len(words))
        words[i] = f"**{words[i]}**"
    if rng.random() < 0.1:
        i = rng.randrange(len(words))
        words[i] = f"[{words[i]}](https://example.com/{words[i]})"
    return " ".join(words).capitalize() + "."


def _paragraph(rng: random.Random) -> str:
    return " ".join(_sentence(rng) for _ in range(rng.randint(2, 6)))


def _code(rng: random.Random) -> str:
    lines = ["```python"]
    for k in range(rng.randint(8, 30)):
        kind = rng.random()
        if kind < 0.15:
            lines.append(f"def {rng.choice(WORDS)}_{k}(x, y={k}):")
        elif kind < 0.25:
            lines.append("")
        elif kind < 0.5:
            lines.append(f'    return {{"{rng.choice(WORDS)}": x + y * {k}}}  # comment')
        else:
            lines.append(f"    {rng.choice(WORDS)} = [i ** 2 for i in range({k})]")
    lines.append("```")
    return "\n".join(lines)


def _table(rng: random.Random) -> str:
    cols = rng.randint(3, 5)
    rows = ["| " + " | ".join(rng.choice(WORDS).title() for _ in range(cols)) + " |"]
    rows.append("|" + "|".join("---" for _ in range(cols)) + "|")
    for _ in range(rng.randint(3, 8)):
        rows.append(
            "| "
            + " | ".join(f"{rng.choice(WORDS)} {rng.randint(0, 999)}" for _ in range(cols))
            + " |"
        )
    return "\n".join(rows)


def _list(rng: random.Random) -> str:
    ordered = rng.random() < 0.4
    items = []
    for k in range(rng.randint(3, 7)):
        marker = f"{k + 1}." if ordered else "-"
        items.append(f"{marker} {_sentence(rng)}")
        if rng.random() < 0.2:
            items.append(f"   - {_sentence(rng)}")
    return "\n".join(items)


def make_answer(size: int = 100_000, seed: int = 42) -> str:
    """A deterministic markdown answer of about ``size`` characters."""
    rng = random.Random(seed)
    blocks: list[str] = []
    total = 0
    section = 0
    while total < size:
        if not blocks or rng.random() < 0.12:
            section += 1
            block = f"## {section}. {_sentence(rng)[:-1]}"
        else:
            kind = rng.random()
            if kind < 0.45:
                block = _paragraph(rng)
            elif kind < 0.65:
                block = _list(rng)
            elif kind < 0.82:
                block = _code(rng)
            elif kind < 0.93:
                block = _table(rng)
            else:
                block = "> " + _sentence(rng) + "\n> " + _sentence(rng)
        blocks.append(block)
        total += len(block) + 2
    return "\n\n".join(blocks) + "\n"


def split_chunks(text: str, n: int, seed: int = 7) -> list[str]:
    """Split ``text`` into exactly ``n`` non-empty chunks of varying size."""
    rng = random.Random(seed)
    cuts = sorted(rng.sample(range(1, len(text)), n - 1))
    bounds = [0, *cuts, len(text)]
    return [text[a:b] for a, b in itertools.pairwise(bounds)]


class NaiveStreamRenderer:
    """Baseline: re-render the full text at every throttled update."""

    def __init__(self, *, interval: float, clock: Callable[[], float]) -> None:
        self.throttle = Throttle(interval, clock)
        self.chunks: list[str] = []
        self.updates = 0
        self.rendered_chars = 0
        self._dirty = False

    def _render(self) -> str:
        text = "".join(self.chunks)
        self.rendered_chars += len(text)
        self.updates += 1
        return wrap_answer(render_markdown(text))

    def feed(self, delta: str) -> str | None:
        self.chunks.append(delta)
        self._dirty = True
        if self.throttle.ready():
            self._dirty = False
            return self._render()
        return None

    def finish(self) -> str:
        return self._render()


@dataclass
class Result:
    mode: str
    rate: int
    stream_s: float
    updates: int
    cpu_s: float  # feed() calls during the stream
    max_call_ms: float  # slowest feed() call
    finish_s: float  # the final exact render
    rendered_chars: int

    @property
    def updates_per_s(self) -> float:
        return self.updates / self.stream_s

    @property
    def cpu_share(self) -> float:
        return self.cpu_s / self.stream_s

    @property
    def cpu_share_with_finish(self) -> float:
        return (self.cpu_s + self.finish_s) / self.stream_s


def run(mode: str, chunks: list[str], rate: int, *, realtime: bool) -> Result:
    n = len(chunks)
    dt = 1.0 / rate
    now = [0.0]

    def sim_clock() -> float:
        return now[0]

    clock: Callable[[], float] = time.monotonic if realtime else sim_clock
    renderer: StreamRenderer | NaiveStreamRenderer
    if mode == "incremental":
        renderer = StreamRenderer(interval=0.05, clock=clock)
    else:
        renderer = NaiveStreamRenderer(interval=0.05, clock=clock)

    cpu = 0.0
    max_call = 0.0
    start = time.monotonic()
    for i, chunk in enumerate(chunks):
        if realtime:
            delay = start + i * dt - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        else:
            now[0] = i * dt
        t0 = time.process_time()
        renderer.feed(chunk)
        spent = time.process_time() - t0
        cpu += spent
        max_call = max(max_call, spent)
    t0 = time.process_time()
    renderer.finish()
    finish = time.process_time() - t0
    stream_s = (time.monotonic() - start) if realtime else n * dt
    if isinstance(renderer, StreamRenderer):
        rendered = renderer.answer.rendered_chars
    else:
        rendered = renderer.rendered_chars
    return Result(mode, rate, stream_s, renderer.updates, cpu, max_call * 1000, finish, rendered)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="30 KB / 6,000 chunks")
    parser.add_argument("--realtime", action="store_true", help="pace with real sleeps")
    parser.add_argument(
        "--rates", default="1000,20000", help="comma-separated chunk rates (chunks/s)"
    )
    args = parser.parse_args(argv)

    size, n = (30_000, 6_000) if args.quick else (100_000, 20_000)
    text = make_answer(size)
    chunks = split_chunks(text, n)
    rates = [int(r) for r in args.rates.split(",")]
    # Warm up caches (Pygments lexer lookup, regexes) outside the measurement.
    render_markdown(text[:5000])

    print(
        f"answer: {len(text):,} chars, {len(chunks):,} chunks, "
        f"{'real' if args.realtime else 'simulated'} clock, throttle 50 ms\n"
    )
    print(
        "| renderer | chunks/s | stream time | view updates | updates/s | render CPU "
        "| CPU share | slowest update | final render | CPU share incl. final "
        "| chars through markdown-it |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for rate in rates:
        for mode in ("incremental", "naive"):
            r = run(mode, chunks, rate, realtime=args.realtime)
            print(
                f"| {r.mode} | {r.rate:,} | {r.stream_s:.2f} s | {r.updates:,} "
                f"| {r.updates_per_s:.1f} | {r.cpu_s:.3f} s | {r.cpu_share:.1%} "
                f"| {r.max_call_ms:.1f} ms | {r.finish_s * 1000:.0f} ms "
                f"| {r.cpu_share_with_finish:.1%} | {r.rendered_chars:,} "
                f"({r.rendered_chars / len(text):.1f}×) |"
            )


if __name__ == "__main__":
    main()
