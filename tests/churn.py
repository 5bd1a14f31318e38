"""Run one step over and over in another thread while a test reads: the races a panel meets."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager


@contextmanager
def churning(step: Callable[[], object], join_s: float = 30.0) -> Iterator[None]:
    """``step()`` repeats in a thread for the ``with`` body; what it raised is raised after."""
    stop = threading.Event()
    errors: list[BaseException] = []

    def run() -> None:
        try:
            while not stop.is_set():
                step()
        except BaseException as exc:
            errors.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    try:
        yield
    finally:
        stop.set()
        worker.join(join_s)
    assert not worker.is_alive(), f"the churning thread still runs after {join_s:g}s"
    if errors:
        raise errors[0]
