"""Run a coroutine to the end from sync code, whether or not this thread already runs a loop.

Plain Python has no running loop: ``asyncio.run`` it. A notebook cell runs inside the kernel's
loop, where ``asyncio.run`` refuses: the coroutine goes to one daemon thread with its own loop,
owned here (the client layer knows nothing of IPython), and this thread waits for it.

Ctrl-C while waiting cancels the coroutine on that loop and still waits for what it returns,
so a coroutine that answers cancellation with a partial result (``amap``) hands it back.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")
THREAD_NAME = "lexilux-nb-map-loop"
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
