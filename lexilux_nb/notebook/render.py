"""Incremental, throttled rendering of streamed markdown answers (pure code).

Fully re-rendering a growing answer at every view update is quadratic: a 100 KB
answer updated 20×/s costs most of a core. :class:`IncrementalRenderer` renders
each *finished* block once and caches its HTML; only the unfinished tail is
re-rendered. :class:`Throttle` caps view updates (~20/s by default) and
:class:`StreamRenderer` combines both for the notebook views.

A block boundary is the start of a line that follows a blank line outside a
fenced code block and itself starts in column 0 (not indented, so it cannot
continue a list item or an indented code block). Lines starting with a list
marker are only *weak* boundaries (splitting there turns one loose list into two
tight ones); they are used only when the tail grows beyond ``tail_soft_limit``.
Splitting can still approximate CommonMark (e.g. forward link references), so
:meth:`IncrementalRenderer.finish` does one exact full render at the end.
"""

from __future__ import annotations

import html as _html
import re
import time
from collections.abc import Callable
from typing import Any

from lexilux_nb.markup.html import render_markdown
from lexilux_nb.markup.style import reasoning_details, wrap_answer

__all__ = ["IncrementalRenderer", "StreamRenderer", "Throttle"]

_FENCE_OPEN_RE = re.compile(r"^ {0,3}(`{3,}|~{3,})(.*)$")
_FENCE_CLOSE_RE = re.compile(r"^ {0,3}(`{3,}|~{3,})[ \t]*$")
_LIST_MARKER_RE = re.compile(r"^(?:[-+*]|\d{1,9}[.)])(?:[ \t]|$)")

DEFAULT_TAIL_SOFT_LIMIT = 4096
LIVE_BYTES_PER_SECOND = 1_000_000  # 20 Hz up to ~50 KB of HTML, then proportionally slower


class IncrementalRenderer:
    """Markdown → HTML for a growing text, rendering finished blocks only once.

    ``feed`` is O(len(delta)); ``html`` costs O(new text + unfinished tail): each
    line is scanned once (fence state is tracked incrementally) and each
    finished block goes through markdown-it once, so the total work of a stream
    is linear in its length plus one tail render per ``html`` call.

    While streaming, a trailing fence that is still open is shown without syntax
    highlighting (Pygments is ~2× slower than markdown-it per KB); it is
    highlighted once closed, and always in :meth:`finish`.
    """

    def __init__(
        self,
        *,
        tail_soft_limit: int = DEFAULT_TAIL_SOFT_LIMIT,
        highlight_open_fence: bool = False,
        live: bool = False,
    ) -> None:
        self.tail_soft_limit = tail_soft_limit
        self.live = live  # the live view's lighter HTML (see render_markdown)
        self._untaken: list[str] = []  # committed HTML not yet handed out by take()
        self.commits = 0
        """Committed pieces handed out by :meth:`take` so far."""
        self.highlight_open_fence = highlight_open_fence
        # All text, as fed.
        self._chunks: list[str] = []
        self._text: str | None = ""
        self._length = 0
        # Text fed but not yet scanned.
        self._pending: list[str] = []
        # Uncommitted text (scanned), starting at a block boundary.
        self._tail = ""
        self._line_start = 0  # offset in _tail of the first incomplete line
        # Line scanner state.
        self._fence: tuple[str, int] | None = None  # (char, length) of open fence
        self._prev_blank = False
        self._strong = 0  # latest strong boundary in _tail (0: none)
        self._weak = 0  # latest weak boundary in _tail (0: none)
        # Committed output.
        self._prefix_parts: list[str] = []
        self._prefix_html = ""
        self._prefix_dirty = False
        self._env: dict[str, Any] = {}  # shared by committed chunks (references)
        # Caches.
        self._html: str | None = ""
        self._final: str | None = None
        # Counters.
        self.rendered_chars = 0
        """Total characters passed to markdown-it so far."""
        self.render_calls = 0
        """Number of markdown-it renders so far."""
        self.committed_chars = 0
        """Characters of the text whose HTML is final and cached."""

    # -- input ----------------------------------------------------------------

    def feed(self, delta: str) -> None:
        """Append ``delta`` to the text."""
        if not delta:
            return
        self._chunks.append(delta)
        self._pending.append(delta)
        self._length += len(delta)
        self._text = None
        self._html = None
        self._final = None

    @property
    def text(self) -> str:
        """All text fed so far."""
        if self._text is None:
            joined = "".join(self._chunks)
            self._chunks = [joined]
            self._text = joined
        return self._text

    def __len__(self) -> int:
        return self._length

    @property
    def tail_chars(self) -> int:
        """Length of the uncommitted tail (re-rendered by each ``html`` call)."""
        return len(self._tail) + sum(len(p) for p in self._pending)

    # -- output ---------------------------------------------------------------

    def html(self) -> str:
        """Current HTML: cached finished blocks + a fresh render of the tail."""
        if self._final is not None:
            return self._final
        if self._html is not None:
            return self._html
        self._scan()
        self._commit()
        self._untaken.clear()  # a whole-HTML view never asks for pieces
        prefix = self.committed_html
        tail_html = ""
        if self._tail:
            env = {k: (dict(v) if isinstance(v, dict) else v) for k, v in self._env.items()}
            tail_html = self._render(
                self._tail, env, highlight_open_fences=self.highlight_open_fence
            )
        self._html = prefix + tail_html
        return self._html

    def take(self) -> tuple[str, str]:
        """(HTML of blocks finished since the last call, HTML of the unfinished tail).

        What a live view that appends needs: every finished block is handed out exactly once, and
        only the tail is rendered again each time.
        """
        self._scan()
        self._commit()
        new = "".join(self._untaken)
        self._untaken.clear()
        if new:
            self.commits += 1
        tail = ""
        if self._tail:
            env = {k: (dict(v) if isinstance(v, dict) else v) for k, v in self._env.items()}
            tail = self._render(self._tail, env, highlight_open_fences=self.highlight_open_fence)
        return new, tail

    @property
    def committed_html(self) -> str:
        """The HTML of every finished block so far (what a view that missed pieces resets to)."""
        if self._prefix_dirty:
            self._prefix_html = "".join(self._prefix_parts)
            self._prefix_parts = [self._prefix_html]
            self._prefix_dirty = False
        return self._prefix_html

    def finish(self) -> str:
        """One exact, full render of the whole text (cached until the next feed)."""
        if self._final is None:
            self._final = self._render(self.text, {}, highlight_open_fences=True)
        return self._final

    # -- internals ------------------------------------------------------------

    def _render(self, src: str, env: dict[str, Any], *, highlight_open_fences: bool) -> str:
        self.rendered_chars += len(src)
        self.render_calls += 1
        return render_markdown(
            src, env=env, highlight_open_fences=highlight_open_fences, live=self.live
        )

    def _scan(self) -> None:
        """Scan the complete lines received since the last scan."""
        if not self._pending:
            return
        self._tail += "".join(self._pending)
        self._pending.clear()
        tail = self._tail
        start = self._line_start
        while (nl := tail.find("\n", start)) != -1:
            self._scan_line(tail[start:nl].rstrip("\r"), start)
            start = nl + 1
        self._line_start = start

    def _scan_line(self, line: str, start: int) -> None:
        if self._fence is not None:
            m = _FENCE_CLOSE_RE.match(line)
            if m and m.group(1)[0] == self._fence[0] and len(m.group(1)) >= self._fence[1]:
                self._fence = None
            return
        if not line.strip(" \t"):
            self._prev_blank = True
            return
        if self._prev_blank and start > 0 and line[0] not in " \t":
            if _LIST_MARKER_RE.match(line):
                self._weak = start
            else:
                self._strong = start
        self._prev_blank = False
        m = _FENCE_OPEN_RE.match(line)
        if m:
            marker = m.group(1)
            if not (marker[0] == "`" and "`" in m.group(2)):
                self._fence = (marker[0], len(marker))

    def _commit(self) -> None:
        """Render and cache everything before the latest usable boundary."""
        cut = self._strong
        if self._weak > cut and len(self._tail) - cut > self.tail_soft_limit:
            cut = self._weak
        if cut <= 0:
            return
        chunk = self._tail[:cut]
        rendered = self._render(chunk, self._env, highlight_open_fences=True)
        self._prefix_parts.append(rendered)
        self._untaken.append(rendered)
        self._prefix_dirty = True
        self.committed_chars += cut
        self._tail = self._tail[cut:]
        self._line_start -= cut
        self._strong = 0
        self._weak = self._weak - cut if self._weak > cut else 0


class Throttle:
    """Rate limiter: :meth:`ready` is True at most once per ``interval``.

    The first call is always True. ``clock`` is injectable for tests.
    """

    def __init__(self, interval: float = 0.05, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self.clock = clock
        self._last: float | None = None

    def ready(self) -> bool:
        now = self.clock()
        if self._last is None or now - self._last >= self.interval:
            self._last = now
            return True
        return False

    def reset(self) -> None:
        """Make the next :meth:`ready` call return True."""
        self._last = None


class StreamRenderer:
    """Throttled HTML for a streamed answer (plus optional reasoning and footer).

    ``feed``/``feed_reasoning`` return the new HTML when the throttle allows and
    something changed since the last returned HTML, else None. Call ``poll``
    (e.g. on a timer or when the stream stalls) to flush a throttled change, and
    ``finish`` at the end: it always returns the final, exact HTML.

    Output is wrapped in ``.lexilux-answer`` (see :func:`wrap_answer`) unless
    ``wrap=False``. Reasoning is shown above the answer in a collapsed
    ``<details>``; the footer is plain text (escaped).
    """

    def __init__(
        self,
        *,
        interval: float = 0.05,
        clock: Callable[[], float] = time.monotonic,
        footer: str = "",
        wrap: bool = True,
        reasoning_open: bool = False,
        tail_soft_limit: int = DEFAULT_TAIL_SOFT_LIMIT,
        bytes_per_second: float = LIVE_BYTES_PER_SECOND,
    ) -> None:
        self.answer = IncrementalRenderer(tail_soft_limit=tail_soft_limit)
        self.reasoning = IncrementalRenderer(tail_soft_limit=tail_soft_limit)
        self.throttle = Throttle(interval, clock)
        self.interval = interval
        self.bytes_per_second = bytes_per_second
        self.wrap = wrap
        self.reasoning_open = reasoning_open
        self._footer = footer
        self._dirty = False
        self._last: str | None = None
        self.updates = 0
        """Number of HTML updates returned (including the final one)."""

    @property
    def footer(self) -> str:
        return self._footer

    @footer.setter
    def footer(self, value: str) -> None:
        if value != self._footer:
            self._footer = value
            self._dirty = True

    @property
    def pending(self) -> bool:
        """True if there is a change not yet returned (held back by the throttle)."""
        return self._dirty

    @property
    def last_html(self) -> str | None:
        """The last HTML returned by any method."""
        return self._last

    def feed(self, delta: str) -> str | None:
        if delta:
            self.answer.feed(delta)
            self._dirty = True
        return self.poll()

    def feed_reasoning(self, delta: str) -> str | None:
        if delta:
            self.reasoning.feed(delta)
            self._dirty = True
        return self.poll()

    def poll(self) -> str | None:
        """Return new HTML if something changed and the throttle allows."""
        if not self._dirty or not self.throttle.ready():
            return None
        self._dirty = False
        html = self._compose(self.answer.html(), self.reasoning.html())
        if html == self._last:
            return None
        self._last = html
        self.updates += 1
        # Each update resends the whole HTML: past interval * budget bytes, update less often,
        # so a long answer costs at most ~bytes_per_second of IOPub traffic.
        if self.interval > 0:  # 0 means "no throttling" and stays so
            self.throttle.interval = max(self.interval, len(html) / self.bytes_per_second)
        return html

    def finish(self, footer: str | None = None) -> str:
        """Final exact HTML of everything streamed; always returns it."""
        if footer is not None:
            self._footer = footer
        reasoning = self.reasoning.finish() if len(self.reasoning) else ""
        html = self._compose(self.answer.finish(), reasoning)
        self._dirty = False
        self._last = html
        self.updates += 1
        return html

    def _compose(self, answer_html: str, reasoning_html: str) -> str:
        parts: list[str] = []
        if reasoning_html:
            parts.append(reasoning_details(reasoning_html, opened=self.reasoning_open))
        parts.append(answer_html)
        if self._footer:
            parts.append(f'<div class="lexilux-footer">{_html.escape(self._footer)}</div>')
        body = "".join(parts)
        return wrap_answer(body) if self.wrap else body


class Update:
    """What changed since the last update, per section ("answer", "reasoning").

    ``commit`` is the HTML of blocks finished since then (to append), ``tail`` the unfinished
    tail (to replace), ``n`` the number of commits including this one (a view that missed one
    waits for a reset). ``reset`` asks the view to replace everything with ``commit``.
    """

    __slots__ = ("reset", "sections")

    def __init__(self, sections: dict[str, tuple[str, str, int]], reset: bool = False) -> None:
        self.sections = sections  # name -> (commit, tail, n)
        self.reset = reset

    def message(self) -> dict[str, Any]:
        """The JSON a live widget receives."""
        out: dict[str, Any] = {"reset": self.reset}
        for name, (commit, tail, n) in self.sections.items():
            out[name] = {"commit": commit, "tail": tail, "n": n}
        return out


class LiveRenderer:
    """Throttled incremental updates of a streamed answer and its reasoning.

    Each finished block leaves the kernel once; only the unfinished tail is rendered and sent again,
    so a live view's traffic grows with the answer, not with its square. Twice, at 0.5 s and 2 s
    of streaming, an update resets the whole view instead, so a view that missed the first
    messages (its code was still loading) catches up; a view that starts later still shows the
    rest as it comes, and the saved output replaces it at the end.
    """

    def __init__(
        self,
        *,
        interval: float = 0.05,
        clock: Callable[[], float] = time.monotonic,
        resets: tuple[float, ...] = (0.5, 2.0),
    ) -> None:
        self.sections = {
            "reasoning": IncrementalRenderer(live=True),
            "answer": IncrementalRenderer(live=True),
        }
        self.throttle = Throttle(interval, clock)
        self._clock = clock
        self._started = clock()
        self._resets = list(resets)  # seconds after the start, soonest first
        self._dirty = False
        self.updates = 0

    def feed(self, delta: str, section: str = "answer") -> Update | None:
        if delta:
            self.sections[section].feed(delta)
            self._dirty = True
        return self.poll()

    @property
    def pending(self) -> bool:
        """Something changed that no update has carried yet (held back by the throttle)."""
        return self._dirty

    def poll(self) -> Update | None:
        """An update if something changed and the throttle allows, else None."""
        if not self._dirty or not self.throttle.ready():
            return None
        return self.update()

    def update(self) -> Update:
        """An update now, whatever the throttle says."""
        self._dirty = False
        elapsed = self._clock() - self._started
        reset = bool(self._resets) and elapsed >= self._resets[0]
        while self._resets and self._resets[0] <= elapsed:
            self._resets.pop(0)
        sections: dict[str, tuple[str, str, int]] = {}
        for name, renderer in self.sections.items():
            if not len(renderer):
                continue
            commit, tail = renderer.take()
            sections[name] = (renderer.committed_html if reset else commit, tail, renderer.commits)
        self.updates += 1
        return Update(sections, reset)

    def whole(self, update: Update) -> dict[str, str]:
        """Each section's whole HTML after ``update`` (for a view that can only replace)."""
        return {
            name: self.sections[name].committed_html + tail
            for name, (_, tail, _) in update.sections.items()
        }
