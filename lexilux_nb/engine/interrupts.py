"""Hold Ctrl-C back while a turn is being recorded, so "recorded" and "interrupted" never disagree.

Jupyter's stop button and Ctrl-C in a terminal send SIGINT, which Python turns into a
``KeyboardInterrupt`` at whatever line runs next. Around the few lines that record a turn (history,
``_chat``, the output) the handler is swapped for one that only notes the signal; what happens to a
noted signal is the caller's choice. Only the main thread receives signals, so elsewhere (the
panel's loop thread) this is a no-op.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any


class Held:
    """What a :func:`deferred_interrupts` block saw."""

    def __init__(self) -> None:
        self.interrupted = False


@contextmanager
def deferred_interrupts(*, reraise: bool) -> Iterator[Held]:
    """Run the block without being interrupted; ``reraise=True`` raises a noted Ctrl-C after it."""
    held = Held()
    if threading.current_thread() is not threading.main_thread():
        yield held
        return

    def note(signum: int, frame: FrameType | None) -> None:
        held.interrupted = True

    previous: Any = signal.signal(signal.SIGINT, note)
    try:
        yield held
    finally:  # None: the previous handler was not set from Python (the default one then)
        signal.signal(signal.SIGINT, signal.default_int_handler if previous is None else previous)
    if held.interrupted and reraise:
        raise KeyboardInterrupt
