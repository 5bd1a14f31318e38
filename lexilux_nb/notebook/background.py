"""One daemon thread running its own asyncio loop, for work that must outlive the cell.

Measured in a real kernel (``benchmarks/bench_panel_loop.py``): a task on the kernel's own loop
consumed 0 of ~200 streamed chunks while another cell was busy for 2 s; a coroutine on this
thread's loop consumed 181. The chat panel therefore streams here. Nothing patches any loop.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from concurrent.futures import Future
from typing import Any, TypeVar

T = TypeVar("T")
_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None


def loop() -> asyncio.AbstractEventLoop:
    """The background loop, started on first use."""
    global _loop
    with _lock:
        if _loop is None or _loop.is_closed():
            _loop = asyncio.new_event_loop()
            thread = threading.Thread(
                target=_loop.run_forever, name="lexilux-nb-background", daemon=True
            )
            thread.start()
        return _loop


def submit(coro: Coroutine[Any, Any, T]) -> Future[T]:
    """Run ``coro`` on the background loop; the returned future is thread-safe."""
    return asyncio.run_coroutine_threadsafe(coro, loop())


def cancel(task: asyncio.Task[Any] | None) -> None:
    """Cancel a task running on the background loop, from any thread."""
    if task is not None and not task.done():
        task.get_loop().call_soon_threadsafe(task.cancel)
