"""Retry and rate-limit decisions, with no sleeping inside.

:func:`retry_flow` is a generator in the style of httpx's ``auth_flow``: it yields how long to
wait before each attempt and is sent the error of a failed attempt. The sync and async drivers
run the same flow and differ only in how they sleep, so they retry identically.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Protocol

from . import deadline as deadlines
from .errors import APIError, LexiluxError, NetworkError, scrub


class Clock(Protocol):
    """Time as the client sees it; tests pass a fake one instead of sleeping."""

    def monotonic(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...

    async def asleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clock."""

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)

    async def asleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with jitter; the server's ``Retry-After`` wins when it is given."""

    max_retries: int = 2
    base_delay: float = 0.5
    max_delay: float = 8.0
    max_server_delay: float = 60.0
    jitter: float = 0.25

    def delay(
        self, retries_done: int, error: LexiluxError, rand: Callable[[], float] = random.random
    ) -> float | None:
        """Seconds to wait before the next try, or ``None`` to give up and raise ``error``."""
        if retries_done >= self.max_retries or not is_retryable(error):
            return None
        advised: float | None = getattr(error, "retry_after", None)
        if advised is not None:
            return advised if advised <= self.max_server_delay else None
        backoff = min(self.max_delay, self.base_delay * 2.0**retries_done)
        return backoff * (1 - self.jitter + 2 * self.jitter * rand())


def is_retryable(error: LexiluxError) -> bool:
    """Connection errors, timeouts, 408, 409, 429 and 5xx."""
    if isinstance(error, NetworkError):
        return True
    return isinstance(error, APIError) and error.retryable


class RateLimiter:
    """At most ``max_requests`` starts in any ``per_seconds`` window; thread-safe, never sleeps."""

    def __init__(self, max_requests: int, per_seconds: float) -> None:
        if max_requests < 1 or per_seconds <= 0:
            raise ValueError("rate_limit must be (max_requests >= 1, per_seconds > 0)")
        self.max_requests = max_requests
        self.per_seconds = per_seconds
        self._starts: deque[float] = deque()
        self._lock = threading.Lock()

    def reserve(self, now: float) -> float:
        """Book the next free slot at or after ``now``; return how long to wait for it."""
        with self._lock:
            starts = self._starts
            while starts and starts[0] <= now - self.per_seconds:
                starts.popleft()
            if len(starts) < self.max_requests:
                at = now
            else:
                at = starts[-self.max_requests] + self.per_seconds
            starts.append(at)
            return max(0.0, at - now)


RetryFlow = Generator[float, LexiluxError, None]


def retry_flow(
    policy: RetryPolicy,
    limiter: RateLimiter | None,
    clock: Clock,
    rand: Callable[[], float] = random.random,
) -> RetryFlow:
    """Yield the wait before each attempt; re-raise the error when no retry is left, or when the
    call's deadline (``deadline_s``) would pass before the next attempt starts."""
    retries = 0
    backoff = 0.0
    error: LexiluxError | None = None
    while True:
        wait = backoff
        if limiter is not None:
            wait += limiter.reserve(clock.monotonic() + backoff)
        deadline = deadlines.current()
        if deadline is not None:
            deadline.allow_wait(wait, str(error) if error else "waiting for the rate limit")
        error = yield wait
        delay = policy.delay(retries, error, rand)
        if delay is None:
            raise scrub(error)
        retries += 1
        backoff = delay
