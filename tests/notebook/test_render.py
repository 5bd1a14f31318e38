"""Tests for incremental, throttled rendering (lexilux_nb.notebook.render)."""

from __future__ import annotations

import itertools
import random
import re

import pytest

from lexilux_nb.markup.html import render_markdown
from lexilux_nb.markup.style import wrap_answer
from lexilux_nb.notebook.render import IncrementalRenderer, StreamRenderer, Throttle

TYPICAL = """# Title

Intro paragraph with **bold**, `code` and a [link](https://example.com).
Second line of the same paragraph.

## Steps

- one
- two
  - nested

1. first
2. second

```python
def f(x):

    return x + 1  # blank line above is inside the fence
```

| a | b |
|---|--:|
| 1 | 2 |
| 3 | ~~4~~ |

~~~
tilde fence

with blank lines
~~~

````markdown
```
inner fence does not close the outer one

```
````

> quote
> more quote

   ```
   indented fence

   ```

Setext heading
--------------

***

Final *words* with <b>raw html</b> & entities &amp; stuff.
"""

# Loose lists and forward references are where block splitting approximates.
APPROXIMATE = """Intro.

- loose item one

- loose item two

Text using [ref] defined later.

[ref]: https://example.com/ref
"""


def feed_pieces(text: str, sizes: str, seed: int = 0) -> list[str]:
    if sizes == "char":
        return list(text)
    rng = random.Random(seed)
    pieces = []
    i = 0
    while i < len(text):
        n = rng.randint(1, 40)
        pieces.append(text[i : i + n])
        i += n
    return pieces


def visible_text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip()


@pytest.mark.parametrize("sizes", ["char", "random"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_incremental_equals_full_render_at_every_step(sizes: str, seed: int) -> None:
    r = IncrementalRenderer()
    text = ""
    for piece in feed_pieces(TYPICAL, sizes, seed):
        r.feed(piece)
        text += piece
        # While streaming, an unclosed trailing fence is shown unhighlighted.
        assert r.html() == render_markdown(text, highlight_open_fences=False)
    assert r.text == TYPICAL
    assert r.html() == render_markdown(TYPICAL)
    assert r.committed_chars > len(TYPICAL) // 2  # most of it was cached


def test_finish_is_exact_full_render() -> None:
    for doc in (TYPICAL, APPROXIMATE, "```py\nunclosed = 'fence\n\nstill code"):
        r = IncrementalRenderer()
        for piece in feed_pieces(doc, "random", 3):
            r.feed(piece)
            r.html()
        before = r.rendered_chars
        assert r.finish() == render_markdown(doc)
        assert r.rendered_chars == before + len(doc)  # one O(n) pass
        assert r.finish() == render_markdown(doc)  # cached
        assert r.rendered_chars == before + len(doc)
        assert r.html() == r.finish()


def test_approximate_blocks_are_equivalent() -> None:
    r = IncrementalRenderer(tail_soft_limit=0)  # force splitting at list items
    for piece in feed_pieces(APPROXIMATE, "char"):
        r.feed(piece)
        r.html()
    streamed = r.html()
    final = r.finish()
    # Same content; only the forward reference is unresolved while streaming.
    assert visible_text(streamed).replace("[ref]", "ref") == visible_text(final)
    assert streamed.count("<li>") == final.count("<li>") == 2
    assert 'href="https://example.com/ref"' not in streamed
    assert 'href="https://example.com/ref"' in final
    assert final == render_markdown(APPROXIMATE)


def test_references_defined_earlier_resolve_in_later_blocks() -> None:
    r = IncrementalRenderer()
    for piece in feed_pieces("[ref]: https://example.com/x\n\nSee [ref].\n\nMore.\n", "char"):
        r.feed(piece)
        r.html()
    assert r.committed_chars > 0
    assert 'href="https://example.com/x"' in r.html()


def test_unclosed_fence_with_blank_lines_is_never_split() -> None:
    r = IncrementalRenderer()
    r.feed("Intro paragraph.\n\n")
    r.feed("```python\n")
    for k in range(50):
        r.feed(f"x_{k} = {k}\n")
        r.feed("\n\n")
        r.feed("# not a heading\n\n")
        r.html()
        # The boundary may only advance up to the fence opener.
        assert r.committed_chars <= len("Intro paragraph.\n\n")
        assert r.html().count("<pre") == 1
        assert "<h1>" not in r.html()
    r.feed("```\n\nAfter.\n\nDone\n")
    html = r.html()
    assert html == render_markdown(r.text)
    assert r.committed_chars > len(r.text) - 10


@pytest.mark.parametrize(
    ("opener", "fake_closer", "closer"),
    [
        ("````", "```", "````"),
        ("~~~", "```", "~~~"),
        ("```", "~~~", "```"),
        ("~~~~~", "~~~~", "~~~~~~"),
        ("   ```", "    ```", "  ```"),
    ],
)
def test_fence_closers_must_match(opener: str, fake_closer: str, closer: str) -> None:
    doc = f"{opener}\ncode\n{fake_closer}\n\nstill code\n\n# still code\n{closer}\n\n# Heading\n"
    r = IncrementalRenderer()
    for piece in feed_pieces(doc, "char"):
        r.feed(piece)
        assert r.html() == render_markdown(r.text, highlight_open_fences=False)
    assert r.html().count("<pre") == 1
    assert r.html().endswith(render_markdown("# Heading\n"))


def test_backtick_info_with_backtick_is_not_a_fence() -> None:
    doc = "``` not `a fence\n\nparagraph\n\n# Heading\n"
    r = IncrementalRenderer()
    for piece in feed_pieces(doc, "char"):
        r.feed(piece)
        assert r.html() == render_markdown(r.text)
    assert r.committed_chars > 0


def test_indented_continuation_is_not_a_boundary() -> None:
    doc = "1. step\n\n    ```\n    code\n\n    more\n    ```\n\nafter\n"
    r = IncrementalRenderer()
    for piece in feed_pieces(doc, "char"):
        r.feed(piece)
        assert r.html() == render_markdown(r.text, highlight_open_fences=False)


def _make_answer(size: int, seed: int = 5) -> str:
    rng = random.Random(seed)
    words = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota"]
    blocks: list[str] = []
    total = 0
    while total < size:
        kind = rng.random()
        if kind < 0.1:
            block = "## " + " ".join(rng.choices(words, k=4))
        elif kind < 0.5:
            block = " ".join(rng.choices(words, k=rng.randint(20, 80))) + "."
        elif kind < 0.7:
            block = "\n".join(f"- {' '.join(rng.choices(words, k=6))}" for _ in range(5))
        elif kind < 0.9:
            lines = [
                f"    v{k} = {k} * 2  # {rng.choice(words)}" for k in range(rng.randint(5, 25))
            ]
            block = "```python\ndef f():\n" + "\n".join(lines) + "\n\n    return v0\n```"
        else:
            rows = [f"| {rng.choice(words)} | {k} |" for k in range(6)]
            block = "| name | n |\n|---|---|\n" + "\n".join(rows)
        blocks.append(block)
        total += len(block) + 2
    return "\n\n".join(blocks) + "\n"


def _split(text: str, n: int, seed: int = 9) -> list[str]:
    rng = random.Random(seed)
    cuts = sorted(rng.sample(range(1, len(text)), n - 1))
    bounds = [0, *cuts, len(text)]
    return [text[a:b] for a, b in itertools.pairwise(bounds)]


def test_work_is_linear_not_quadratic() -> None:
    text = _make_answer(100_000)
    chunks = _split(text, 20_000)
    r = IncrementalRenderer()
    quadratic = 0  # what re-rendering the whole text at each update would cost
    fed = 0
    for i, chunk in enumerate(chunks, 1):
        r.feed(chunk)
        fed += len(chunk)
        if i % 50 == 0:
            r.html()
            quadratic += fed
    r.html()
    assert r.text == text
    # 400 updates: a full re-render would pass ~200× the text through markdown-it.
    assert quadratic > 150 * len(text)
    assert r.rendered_chars < 5 * len(text)
    assert r.html() == render_markdown(text)


def test_html_after_every_feed_stays_bounded() -> None:
    text = _make_answer(20_000, seed=11)
    chunks = _split(text, 4_000, seed=3)
    r = IncrementalRenderer()
    max_tail = 0
    quadratic = 0
    for chunk in chunks:
        r.feed(chunk)
        r.html()
        quadratic += len(r.text)
        max_tail = max(max_tail, r.tail_chars)
    # The re-rendered tail is at most about one block, not the whole answer.
    assert max_tail < 2_000
    assert r.rendered_chars < quadratic / 10
    assert r.rendered_chars < len(chunks) * 2_000 + len(text)


def test_tail_soft_limit_bounds_giant_loose_lists() -> None:
    doc = "".join(f"- item {k} " + "word " * 20 + "\n\n" for k in range(400))
    r = IncrementalRenderer(tail_soft_limit=2_000)
    for piece in feed_pieces(doc, "random"):
        r.feed(piece)
        r.html()
        assert r.tail_chars < 2_000 + 400
    assert visible_text(r.html()) == visible_text(r.finish())


def test_empty_and_repeated_html_calls_do_not_rerender() -> None:
    r = IncrementalRenderer()
    assert r.html() == ""
    r.feed("")
    assert r.html() == ""
    assert r.render_calls == 0
    r.feed("Hello *world*")
    first = r.html()
    calls = r.render_calls
    assert r.html() == first
    assert r.render_calls == calls
    assert len(r) == len("Hello *world*")


def test_crlf_input() -> None:
    doc = "# T\r\n\r\n```\r\na\r\n\r\nb\r\n```\r\n\r\nend\r\n"
    r = IncrementalRenderer()
    for piece in feed_pieces(doc, "char"):
        r.feed(piece)
        r.html()
    assert r.html() == render_markdown(doc)


# --------------------------------------------------------------------------- #
# Throttle
# --------------------------------------------------------------------------- #


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_throttle_with_fake_clock() -> None:
    clock = FakeClock()
    t = Throttle(0.5, clock=clock)  # binary-exact steps below
    assert t.ready()  # first call
    assert not t.ready()
    clock.now += 0.25
    assert not t.ready()
    clock.now += 0.125
    assert not t.ready()
    clock.now += 0.125
    assert t.ready()
    assert not t.ready()
    clock.now += 10
    assert t.ready()
    t.reset()
    assert t.ready()


def test_throttle_caps_rate() -> None:
    clock = FakeClock()
    t = Throttle(0.05, clock=clock)
    ready = 0
    for _ in range(10_000):  # 10,000 polls over 1 s
        clock.now += 0.0001
        ready += t.ready()
    assert 19 <= ready <= 21


# --------------------------------------------------------------------------- #
# StreamRenderer
# --------------------------------------------------------------------------- #


def test_stream_renderer_throttles_and_always_finishes() -> None:
    clock = FakeClock()
    s = StreamRenderer(interval=0.05, clock=clock)
    first = s.feed("# Hi\n\n")
    assert first == wrap_answer(render_markdown("# Hi\n"))
    assert s.feed("some ") is None  # throttled
    assert s.feed("text") is None
    assert s.pending
    clock.now += 0.06
    assert s.poll() == wrap_answer(render_markdown("# Hi\n\nsome text"))
    assert not s.pending
    assert s.poll() is None  # nothing changed
    clock.now += 1
    assert s.poll() is None
    assert s.feed("") is None
    s.feed(" and more")  # allowed by throttle
    clock.now += 0.01
    assert s.feed("!") is None  # throttled: the final state is pending
    final = s.finish()
    assert final == wrap_answer(render_markdown("# Hi\n\nsome text and more!"))
    assert s.last_html == final


def test_stream_renderer_returns_none_when_render_unchanged() -> None:
    clock = FakeClock()
    s = StreamRenderer(clock=clock)
    assert s.feed("word") is not None
    clock.now += 1
    assert s.feed("   ") is None  # trailing spaces do not change the HTML
    clock.now += 1
    assert s.feed("s") is not None


def test_stream_renderer_update_rate_is_capped() -> None:
    clock = FakeClock()
    s = StreamRenderer(clock=clock)
    text = _make_answer(10_000, seed=2)
    updates = 0
    for chunk in _split(text, 5_000):
        clock.now += 0.0002  # 5,000 chunks/s for 1 s
        updates += s.feed(chunk) is not None
    assert updates <= 21
    assert s.finish() == wrap_answer(render_markdown(text))


def test_stream_renderer_reasoning_and_footer() -> None:
    clock = FakeClock()
    s = StreamRenderer(clock=clock, footer="model <x> · 12 tokens")
    html = s.feed_reasoning("Thinking about <script>alert(1)</script>")
    assert html is not None
    assert '<details class="lexilux-reasoning"><summary>Reasoning</summary>' in html
    assert "&lt;script&gt;" in html
    assert "<script>" not in html
    assert '<div class="lexilux-footer">model &lt;x&gt; · 12 tokens</div>' in html
    clock.now += 1
    html = s.feed("The answer.")
    assert html is not None
    answer = render_markdown("The answer.")
    assert html.index("<details") < html.index(answer)
    assert html.index(answer) < html.index('<div class="lexilux-footer"')
    final = s.finish(footer="done")
    assert '<div class="lexilux-footer">done</div>' in final
    assert " open" not in final.split("<summary>", 1)[0]
    assert answer in final


def test_stream_renderer_footer_change_marks_dirty() -> None:
    clock = FakeClock()
    s = StreamRenderer(clock=clock, wrap=False)
    assert s.feed("a") == render_markdown("a")
    s.footer = "f"
    assert s.pending
    clock.now += 1
    assert s.poll() == render_markdown("a") + '<div class="lexilux-footer">f</div>'


def test_stream_renderer_finish_without_feeds() -> None:
    s = StreamRenderer(clock=FakeClock(), wrap=False)
    assert s.finish() == ""
    assert s.updates == 1


def test_update_interval_stretches_as_the_html_grows() -> None:
    """Each update resends the whole HTML; a large answer is updated less often."""
    from lexilux_nb.notebook.render import StreamRenderer

    now = [0.0]
    renderer = StreamRenderer(
        interval=0.05, clock=lambda: now[0], bytes_per_second=10_000, wrap=False
    )
    assert renderer.feed("small") is not None
    assert renderer.throttle.interval == 0.05  # tiny HTML: the base rate
    renderer.feed("\n\n" + "word " * 400)
    now[0] += 0.05
    html = renderer.poll()
    assert html is not None and len(html) > 2_000
    assert renderer.throttle.interval == pytest.approx(len(html) / 10_000)
    now[0] += 0.05
    renderer.feed(" more")
    assert renderer.poll() is None  # too soon for this much HTML
    now[0] += renderer.throttle.interval
    assert renderer.poll() is not None
    assert "more" in renderer.finish()
