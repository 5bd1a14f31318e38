"""Views that follow a history (chat panels) are told when a turn is recorded in it.

``ChatHistory`` is unhashable (it compares by value), so watchers are keyed by identity, with a
weak reference so a dropped history takes its watchers with it.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable

from ..client.history import ChatHistory

_lock = threading.Lock()
_watchers: dict[int, tuple[weakref.ref[ChatHistory], list[Callable[[], None]]]] = {}


def _callbacks(history: ChatHistory) -> list[Callable[[], None]]:
    for key in [k for k, (ref, _) in _watchers.items() if ref() is None]:
        del _watchers[key]
    entry = _watchers.get(id(history))
    if entry is None or entry[0]() is not history:
        entry = _watchers[id(history)] = (weakref.ref(history), [])
    return entry[1]


def watch_history(history: ChatHistory, callback: Callable[[], None]) -> Callable[[], None]:
    """Call ``callback`` after every change recorded in ``history``; returns an unsubscribe."""
    with _lock:
        callbacks = _callbacks(history)
        callbacks.append(callback)

    def unsubscribe() -> None:
        with _lock:
            if callback in callbacks:
                callbacks.remove(callback)

    return unsubscribe


def history_changed(history: ChatHistory) -> None:
    """Tell every view of ``history`` that it changed (from whatever thread changed it)."""
    with _lock:
        callbacks = list(_callbacks(history))
    for callback in callbacks:
        callback()
