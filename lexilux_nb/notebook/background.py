"""One daemon thread running its own asyncio loop, for work that must outlive the cell.

Measured in a real kernel (``benchmarks/bench_panel_loop.py``): a task on the kernel's own loop
consumed 0 of ~200 streamed chunks while another cell was busy for 2 s; a coroutine on this
thread's loop consumed 181. The chat panel therefore streams here. Nothing patches any loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Coroutine
from concurrent.futures import Future
from typing import Any, TypeVar

T = TypeVar("T")
THREAD_NAME = "lexilux-nb-background"
_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None


def loop() -> asyncio.AbstractEventLoop:
    """The background loop, started on first use."""
    global _loop
    with _lock:
        if _loop is None or _loop.is_closed():
            _loop = asyncio.new_event_loop()
            thread = threading.Thread(target=_loop.run_forever, name=THREAD_NAME, daemon=True)
            thread.start()
        return _loop


def stop(timeout: float = 5.0) -> None:
    """Cancel what runs on the background loop, then stop and close it (``%unload_ext``)."""
    global _loop
    with _lock:
        running, _loop = _loop, None
    if running is None or running.is_closed():
        return

    async def _cancel_all() -> None:
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await running.shutdown_asyncgens()

    with contextlib.suppress(Exception):  # a stuck task: stop the loop anyway
        asyncio.run_coroutine_threadsafe(_cancel_all(), running).result(timeout)
    running.call_soon_threadsafe(running.stop)
    for thread in threading.enumerate():
        if thread.name == THREAD_NAME:
            thread.join(timeout)
    if not running.is_running():
        running.close()


def submit(coro: Coroutine[Any, Any, T]) -> Future[T]:
    """Run ``coro`` on the background loop; the returned future is thread-safe."""
    return asyncio.run_coroutine_threadsafe(coro, loop())


def cancel(task: asyncio.Task[Any] | None) -> None:
    """Cancel a task running on the background loop, from any thread."""
    if task is not None and not task.done():
        task.get_loop().call_soon_threadsafe(task.cancel)
