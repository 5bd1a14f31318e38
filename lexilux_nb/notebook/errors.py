"""Errors and interrupts as a notebook user should see them: a few lines, no library frames.

``ChatCellError`` and ``ChatInterrupted`` still fail the cell (so Run All stops there), but IPython
shows only what ``_render_traceback_`` returns: what happened, the server's message and the fix
that fits what the user did, every secret masked.
"""

from __future__ import annotations

from ..client.errors import (
    AuthenticationError,
    ChatStreamInterruptedError,
    DeadlineExceededError,
    LexiluxError,
    NetworkError,
    NotFoundError,
    RateLimitError,
    redact,
)
from .config import EMBEDDED, LINE, Endpoint

RED = "\x1b[0;31m"
RESET = "\x1b[0m"


class ChatCellError(Exception):
    """The chat in this cell failed; the message says why and what to do."""

    def _render_traceback_(self) -> list[str]:
        return [f"{RED}ChatError{RESET}: {self}"]


class ChatInterrupted(KeyboardInterrupt):
    """Ctrl-C or the stop button ended an answer; the message says where the partial answer is."""

    def _render_traceback_(self) -> list[str]:
        return [f"{RED}Interrupted{RESET}: {self}"]


def interrupted_message(chars: int, *, recorded: bool, history: str | None, out: str | None) -> str:
    """At most two lines: what happened, and where what arrived is."""
    where = "_chat" + (f" (and {out})" if out else "")
    kept = (
        f"it was added to {history}, marked interrupted"
        if recorded
        else ("nothing was added to " + history if history else "no history was used")
    )
    return (
        f"the answer was stopped after {chars} characters.\n"
        f"The partial answer is in {where}; {kept}."
    )


def _where(endpoint: Endpoint) -> str:
    """How the user chose this endpoint, for the fix that fits it."""
    source = endpoint.base_url.source
    if source == LINE:
        return "given with --base-url"
    if source == EMBEDDED:
        return "the embedded model"
    return f"from {source}"


def _hint(exc: LexiluxError, endpoint: Endpoint) -> str:
    url = endpoint.base_url.value
    if isinstance(exc, DeadlineExceededError):
        return "the answer took longer than deadline_s: %chat_config deadline_s=SECONDS (or none)."
    if isinstance(exc, NetworkError):
        if url is None:
            return "the embedded model did not answer; %chat_local --status shows it."
        return f"could not reach {url} ({_where(endpoint)}); is that server running?"
    if isinstance(exc, AuthenticationError):
        if not endpoint.api_key.value:
            return (
                "no API key was sent: set LEXILUX_API_KEY (or OPENAI_API_KEY), "
                "or name the variable that holds it with --api-key-env NAME."
            )
        return f"the server refused the key from {endpoint.api_key.source}."
    if isinstance(exc, NotFoundError):
        return (
            f"model {endpoint.model.value!r} at {url} ({_where(endpoint)}): check both "
            "(%chat_config shows them)."
        )
    if isinstance(exc, RateLimitError):
        return "the server is rate limiting; wait a little and run the cell again."
    if isinstance(exc, ChatStreamInterruptedError):
        return "the partial answer is kept in _chat; nothing was added to the history."
    return ""


def describe_error(exc: LexiluxError, endpoint: Endpoint) -> str:
    """One readable paragraph for a failed call, with every secret masked."""
    hint = _hint(exc, endpoint)
    message = f"{type(exc).__name__}: {exc}" + (f"\n{hint}" if hint else "")
    return redact(message, [endpoint.api_key.value])
