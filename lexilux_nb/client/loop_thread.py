"""One daemon thread running its own asyncio loop: for ``map`` from a cell, the panel, MCP.

Plain Python has no running loop: :func:`run` ``asyncio.run``s the coroutine. A notebook cell
runs inside the kernel's loop, where ``asyncio.run`` refuses: the coroutine goes to this
thread's loop and the cell waits for it. Ctrl-C while waiting cancels the coroutine on that loop
and still waits for what it returns, so a coroutine that answers cancellation with a partial
result (``amap``) hands it back.

Work that must outlive the cell runs here too. Measured in a real kernel
(``benchmarks/bench_panel_loop.py``): a task on the kernel's own loop consumed 0 of ~200
streamed chunks while another cell was busy for 2 s; a coroutine on this loop consumed 181. The
chat panel therefore streams here, and MCP sessions live here. Nothing patches any loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import Future
from typing import Any, TypeVar

T = TypeVar("T")
THREAD_NAME = "lexilux-nb-loop"
_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None


def loop() -> asyncio.AbstractEventLoop:
    """The dedicated loop, started on first use."""
    global _loop
    with _lock:
        if _loop is None or _loop.is_closed():
            _loop = asyncio.new_event_loop()
            threading.Thread(target=_loop.run_forever, name=THREAD_NAME, daemon=True).start()
        return _loop


def on_loop_thread() -> bool:
    """True in a coroutine (or callback) running on the dedicated loop."""
    return threading.current_thread().name == THREAD_NAME


def submit(coro: Coroutine[Any, Any, T]) -> Future[T]:
    """Run ``coro`` on the dedicated loop; the returned future is thread-safe."""
    return asyncio.run_coroutine_threadsafe(coro, loop())


def cancel(task: asyncio.Task[Any] | None) -> None:
    """Cancel a task running on the dedicated loop, from any thread."""
    if task is not None and not task.done():
        task.get_loop().call_soon_threadsafe(task.cancel)


def stop(timeout: float = 5.0) -> None:
    """Cancel what runs on the loop, then stop and close it (``%unload_ext``)."""
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


def in_running_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def run(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run ``make()`` to completion from sync code and return its result."""
    if not in_running_loop():
        return asyncio.run(make())  # Ctrl-C: asyncio.run cancels it and returns what it returns
    target = loop()
    holder: list[asyncio.Task[T]] = []
    started = threading.Event()

    async def main() -> T:
        task = asyncio.ensure_future(make())
        holder.append(task)
        started.set()
        return await task

    future = asyncio.run_coroutine_threadsafe(main(), target)
    try:
        return future.result()
    except KeyboardInterrupt:
        started.wait(5.0)
        if holder:
            target.call_soon_threadsafe(holder[0].cancel)
        return future.result()  # a second Ctrl-C here leaves at once
