"""One prompt over many items: concurrent, rate-limited, resumable, ordered.

:func:`amap` is the engine: ``concurrency`` workers take items in order from one queue, each
call goes through the client's own retry flow (backoff, ``Retry-After``), and every answer
lands in its item's slot. :func:`map_items` is the sync form; it runs :func:`amap` with
``asyncio.run`` in plain Python, or on the client's loop thread inside a running loop (a
notebook cell), see :mod:`.loop_thread`.

An interrupt (Ctrl-C in the sync form, cancelling the task in the async one) stops sending,
cancels what is in flight and *returns* the :class:`MapResults` so far: finished slots hold
their results, the others an :class:`Unfinished` error, and ``results.interrupted`` is True.
Nothing else is touched (a ``history=`` option is only read).
"""

from __future__ import annotations

import asyncio
import copy
import logging
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from .cache import ResultCache
from .errors import LexiluxError, ValidationError
from .loop_thread import run as run_to_end
from .map_inputs import render_items
from .map_report import MapProgress, MapStats, resolve_progress
from .map_send import Valued, dump, item_key, load, sender
from .retry import RateLimiter

Chat = Any  # a lexilux_nb Chat; not imported: chat.py imports this module (no import circle)
__all__ = ["MapResults", "Unfinished", "amap", "map_items", "render_items"]
log = logging.getLogger("lexilux_nb")
REPORT_EVERY = 0.1  # seconds between progress updates
SHOWN = 3  # results a MapResults repr shows


class Unfinished(LexiluxError):
    """The slot of an item the batch did not finish before it was interrupted."""

    def __init__(
        self, message: str = "not finished: the batch was interrupted before this item was answered"
    ) -> None:
        super().__init__(message)


class MapResults(list[Any]):
    """The results in item order, plus how the run went (``stats``, ``interrupted``)."""

    stats: MapStats

    @property
    def interrupted(self) -> bool:
        return self.stats.interrupted

    def __repr__(self) -> str:
        """Bounded: a 20,000-row batch is not printed whole (``asyncio.run`` itself builds this
        repr once as it ends, through its SIGINT handler's repr: 6 MB of text, measured)."""
        shown = ", ".join(repr(r) for r in self[:SHOWN])
        more = f", ... {len(self) - SHOWN} more" if len(self) > SHOWN else ""
        failed = sum(isinstance(r, BaseException) for r in self)
        stats = getattr(self, "stats", None)
        stopped = ", interrupted" if stats is not None and stats.interrupted else ""
        return f"MapResults([{shown}{more}]; {len(self)} items, {failed} failed{stopped})"

    @property
    def errors(self) -> dict[int, BaseException]:
        """Failed (and unfinished) items by position."""
        return {i: r for i, r in enumerate(self) if isinstance(r, BaseException)}


def parse_rate_limit(rate_limit: Any) -> RateLimiter | None:
    """``rate_limit``: requests per second (``5``, ``0.5``: starts evenly spaced) or
    ``(max_requests, per_seconds)``, e.g. ``(600, 60)`` for 600 in any minute (bursts allowed).
    It counts every attempt, retries included."""
    if rate_limit is None:
        return None
    if isinstance(rate_limit, tuple) and len(rate_limit) == 2:
        count, per = rate_limit
        if isinstance(count, int) and count >= 1 and isinstance(per, (int, float)) and per > 0:
            return RateLimiter(count, float(per))
    elif (
        isinstance(rate_limit, (int, float)) and not isinstance(rate_limit, bool) and rate_limit > 0
    ):
        return RateLimiter(1, 1.0 / rate_limit)  # evenly spaced starts: one every 1/n seconds
    raise ValidationError(
        f"rate_limit must be requests per second (e.g. 5) or (max_requests, per_seconds) "
        f"(e.g. (600, 60) for 600 a minute), got {rate_limit!r}"
    )


class _Both:
    """The batch's limiter and the client's own: an attempt waits for both."""

    def __init__(self, first: RateLimiter, second: RateLimiter) -> None:
        self.first, self.second = first, second

    def reserve(self, now: float) -> float:
        return max(self.first.reserve(now), self.second.reserve(now))


def _batch_chat(chat: Chat, limiter: RateLimiter | None) -> Chat:
    """The client itself, or a shallow copy (same connections) whose retry flow also waits for
    the batch's limiter, so every attempt of every item counts against it."""
    if limiter is None:
        return chat
    view = copy.copy(chat)
    own = chat._limiter
    view._limiter = limiter if own is None else _Both(limiter, own)
    return view


def _open_cache(cache: Any) -> tuple[ResultCache | None, bool]:
    """The cache and whether this run opened it (and so closes it)."""
    if cache is None or cache is False:
        return None, False
    if isinstance(cache, ResultCache):
        return cache, False
    if isinstance(cache, (str, Path)):
        return ResultCache(cache), True
    raise ValidationError(
        f"cache must be a path such as 'batch.sqlite' or a ResultCache, got {type(cache).__name__}"
    )


class _Reporter:
    """Throttles progress updates; a failing display is logged, never fatal to the batch."""

    def __init__(self, progress: MapProgress, stats: MapStats) -> None:
        self.progress, self.stats = progress, stats
        self.last = 0.0

    def tick(self, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self.last >= REPORT_EVERY:
            self.last = now
            try:
                self.progress.update(self.stats)
            except Exception:
                log.exception("map progress display failed")

    def close(self) -> None:
        self.stats.ended = time.monotonic()
        self.stats.finished = True
        try:
            self.progress.close(self.stats)
        except Exception:
            log.exception("map progress display failed")


def _tokens(result: Any) -> int:
    usage = getattr(result, "usage", None)
    if usage is None:
        return 0
    total = usage.total_tokens
    if total is None:
        total = (usage.input_tokens or 0) + (usage.output_tokens or 0)
    return int(total)


async def amap(
    chat: Chat,
    items: Iterable[Any],
    template: str | None = None,
    *,
    concurrency: int = 8,
    rate_limit: float | tuple[int, float] | None = None,
    on_error: str = "keep",
    progress: Any = True,
    cache: Any = None,
    schema: Any = None,
    column: str | None = None,
    **options: Any,
) -> MapResults:
    """Async :func:`map_items` (``chat.amap``): results in item order."""
    if on_error not in ("keep", "raise"):
        raise ValidationError(f"on_error must be 'keep' or 'raise', got {on_error!r}")
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise ValidationError(f"concurrency must be an integer >= 1, got {concurrency!r}")
    prompts = render_items(items, template, column=column)
    batch_chat = _batch_chat(chat, parse_rate_limit(rate_limit))
    send = sender(batch_chat, schema, options)
    if prompts:  # a bad option fails here, once, not in every slot
        item_key(chat, prompts[0], schema, options)
    store, owned = _open_cache(cache)
    try:  # with a cache every item's exact request is built (and so checked) before sending
        keys = [item_key(chat, p, schema, options) for p in prompts] if store is not None else []
    except BaseException:
        if owned and store is not None:
            store.close()
        raise
    stats = MapStats(total=len(prompts))
    results = MapResults([None] * len(prompts))
    results.stats = stats
    pending: list[int] = []
    try:
        for i in range(len(prompts)):
            found = store.get(keys[i]) if store is not None else None
            if found is None:
                pending.append(i)
                continue
            results[i] = load(found, schema)
            stats.done += 1
            stats.cached += 1
        reporter = _Reporter(resolve_progress(progress, len(prompts)), stats)
        stats.started = time.monotonic()
        reporter.tick(force=True)
        queue = iter(pending)

        async def worker() -> None:
            for i in queue:
                stats.in_flight += 1
                reporter.tick()
                try:
                    answer = await send(prompts[i])
                except Exception as exc:
                    stats.failed += 1
                    results[i] = exc
                    if on_error == "raise":
                        raise
                else:
                    stats.tokens += _tokens(answer)
                    if isinstance(answer, Valued):
                        answer = answer.value
                    results[i] = answer
                    stats.done += 1
                    if store is not None:
                        store.put(keys[i], dump(answer))
                finally:
                    stats.in_flight -= 1
                    reporter.tick()

        workers = [asyncio.ensure_future(worker()) for _ in range(min(concurrency, len(pending)))]
        try:
            if workers:
                await asyncio.wait(workers, return_when=asyncio.FIRST_EXCEPTION)
        except asyncio.CancelledError:
            stats.interrupted = True
        await _stop(workers)
        failure = next((w.exception() for w in workers if _failed(w)), None)
        if failure is not None:
            reporter.close()
            raise failure
        if stats.interrupted:
            for i in pending:
                if results[i] is None:
                    results[i] = Unfinished()
        reporter.close()
        return results
    finally:
        if owned and store is not None:
            store.close()


def _failed(task: asyncio.Future[Any]) -> bool:
    return task.done() and not task.cancelled() and task.exception() is not None


async def _stop(workers: Sequence[asyncio.Future[Any]]) -> None:
    """Cancel the workers still running and wait until they have ended."""
    for w in workers:
        if not w.done():
            w.cancel()
    if workers:
        await asyncio.gather(*workers, return_exceptions=True)


def map_items(
    chat: Chat,
    items: Iterable[Any],
    template: str | None = None,
    *,
    concurrency: int = 8,
    rate_limit: float | tuple[int, float] | None = None,
    on_error: str = "keep",
    progress: Any = True,
    cache: Any = None,
    schema: Any = None,
    column: str | None = None,
    **options: Any,
) -> MapResults:
    """One prompt per item (a list, a pandas Series, or a DataFrame with ``template``), sent
    ``concurrency`` at a time; results in item order. Works with and without a running loop
    (a notebook cell needs no ``await``); Ctrl-C returns the finished slots (the others hold
    ``Unfinished``). ``chat.map``; :func:`amap` is ``chat.amap``. See the module docstring."""
    prompts = render_items(items, template, column=column)
    shown = resolve_progress(progress, len(prompts))  # built here: a widget is displayed by
    # the caller's thread, in the caller's cell
    return run_to_end(
        lambda: amap(
            chat,
            prompts,
            None,
            concurrency=concurrency,
            rate_limit=rate_limit,
            on_error=on_error,
            progress=shown,
            cache=cache,
            schema=schema,
            **options,
        )
    )
