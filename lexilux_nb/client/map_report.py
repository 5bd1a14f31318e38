"""Progress of a batch: the counts (:class:`MapStats`), the protocol a display implements
(:class:`MapProgress`), and the terminal's text bar.

The client never imports a widget library: the notebook layer installs its widget factory with
:func:`use_progress` (``%load_ext lexilux_nb`` does), and ``progress=True`` picks it, else the
text bar on stderr.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, TextIO, runtime_checkable

__all__ = ["MapProgress", "MapStats", "TextBar", "resolve_progress", "use_progress"]


@dataclass(slots=True)
class MapStats:
    """Where a batch stands. ``cached`` items were taken from the resume cache, not sent."""

    total: int = 0
    done: int = 0
    failed: int = 0
    in_flight: int = 0
    cached: int = 0
    tokens: int = 0
    interrupted: bool = False
    finished: bool = False
    started: float = field(default_factory=time.monotonic)
    ended: float | None = None

    @property
    def elapsed(self) -> float:
        return (self.ended if self.ended is not None else time.monotonic()) - self.started

    @property
    def sent(self) -> int:
        """Items answered by the server in this run (done or failed, not from the cache)."""
        return self.done + self.failed - self.cached

    @property
    def rate(self) -> float:
        """Requests finished per second in this run."""
        elapsed = self.elapsed
        return self.sent / elapsed if elapsed > 0 else 0.0

    @property
    def eta(self) -> float | None:
        """Seconds left at the current rate (None before the first answer)."""
        left = self.total - self.done - self.failed
        rate = self.rate
        if left <= 0:
            return 0.0
        return left / rate if rate > 0 else None

    def describe(self) -> str:
        """``37/100 done · 2 failed · 8 in flight · 4,120 tokens · 12.3 req/s · ETA 5s``"""
        parts = [f"{self.done}/{self.total} done"]
        if self.failed:
            parts.append(f"{self.failed} failed")
        if self.in_flight:
            parts.append(f"{self.in_flight} in flight")
        if self.cached:
            parts.append(f"{self.cached} from cache")
        if self.tokens:
            parts.append(f"{self.tokens:,} tokens")
        parts.append(f"{self.rate:.1f} req/s")
        if self.interrupted:
            parts.append("interrupted")
        elif self.finished:
            parts.append(f"in {self.elapsed:.1f}s")
        elif (eta := self.eta) is not None:
            parts.append(f"ETA {eta:.0f}s")
        return " · ".join(parts)


@runtime_checkable
class MapProgress(Protocol):
    """A display of a batch. ``update`` is called at most ~10 times a second (and once at the end)
    from the thread running the batch; ``close`` once, with the final counts."""

    def update(self, stats: MapStats) -> None: ...

    def close(self, stats: MapStats) -> None: ...


class TextBar:
    """``[#####.....] 50/100 done · ...`` on stderr; redrawn in place only on a terminal,
    else one line at the end (logs stay readable)."""

    WIDTH = 24

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.live = bool(getattr(self.stream, "isatty", lambda: False)())

    def line(self, stats: MapStats) -> str:
        settled = stats.done + stats.failed
        filled = self.WIDTH * settled // stats.total if stats.total else self.WIDTH
        bar = "#" * filled + "." * (self.WIDTH - filled)
        return f"[{bar}] {stats.describe()}"

    def update(self, stats: MapStats) -> None:
        if self.live:
            self.stream.write("\r" + self.line(stats) + "\x1b[K")
            self.stream.flush()

    def close(self, stats: MapStats) -> None:
        self.stream.write(("\r" if self.live else "") + self.line(stats) + "\x1b[K\n")
        self.stream.flush()


class _Silent:
    def update(self, stats: MapStats) -> None:
        pass

    def close(self, stats: MapStats) -> None:
        pass


ProgressFactory = Callable[[int], MapProgress | None]
_factory: ProgressFactory | None = None


def use_progress(factory: ProgressFactory | None) -> None:
    """Install the display ``progress=True`` builds (called with the item count; returning None
    falls back to the text bar). ``None`` removes it. The notebook extension installs its widget."""
    global _factory
    _factory = factory


def resolve_progress(progress: Any, total: int) -> MapProgress:
    """``True``: the installed display or the text bar; ``False``/``None``: silent; or an object
    with ``update``/``close`` (a :class:`MapProgress`)."""
    if progress is True:
        shown = _factory(total) if _factory is not None else None
        return shown if shown is not None else TextBar()
    if progress is False or progress is None:
        return _Silent()
    if isinstance(progress, MapProgress):
        return progress
    raise TypeError(
        f"progress must be True, False or an object with update(stats) and close(stats), "
        f"got {type(progress).__name__}"
    )
