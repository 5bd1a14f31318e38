"""Secrets out of every log record, by construction: a log-record factory, installed when the first
``Chat`` is made, that masks the secrets of every live ``Chat`` in each record's message.

A filter on a logger would not do: it is not applied to records of child loggers
(``httpcore.http11`` logs the response headers at DEBUG, and a hostile server can echo the key
there), nor to loggers we do not know. The factory sees every record that is emitted, from any
logger, before any handler formats it; records that hold no secret are left as they are.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from .errors import known_secrets, redact, register_secrets

_LOCK = threading.Lock()
_installed: Callable[..., logging.LogRecord] | None = None


def register(holder: Any) -> None:
    """Mask ``holder.secrets`` in every error and log record while ``holder`` lives."""
    register_secrets(holder)
    install()


def redact_record(record: logging.LogRecord) -> logging.LogRecord:
    """The record with its message (and exception text) masked, formatted once if it must be."""
    secrets = known_secrets()
    if not secrets:
        return record
    try:
        message = record.getMessage()
    except Exception:  # a broken format string: leave it to logging to report
        return record
    masked = redact(message, secrets)
    if masked != message:
        record.msg, record.args = masked, None
    if record.exc_info and record.exc_info[1] is not None:
        import traceback

        text = "".join(traceback.format_exception(*record.exc_info))
        masked = redact(text, secrets)
        if masked != text:  # only then is the exception itself withheld from handlers
            record.exc_text, record.exc_info = masked.rstrip("\n"), None
    if record.stack_info:
        record.stack_info = redact(record.stack_info, secrets)
    return record


def install() -> None:
    """Wrap the current log-record factory (idempotent; a later factory wrapping ours keeps it)."""
    global _installed
    with _LOCK:
        if _installed is not None and logging.getLogRecordFactory() is _installed:
            return
        previous = logging.getLogRecordFactory()
        if getattr(previous, "_lexilux_redacting", False):
            _installed = previous
            return

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            return redact_record(previous(*args, **kwargs))

        factory._lexilux_redacting = True  # type: ignore[attr-defined]
        logging.setLogRecordFactory(factory)
        _installed = factory
