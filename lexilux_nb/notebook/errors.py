"""Errors as a notebook user should see them: one short paragraph, no library frames.

``ChatCellError`` still fails the cell (so Run All stops), but IPython shows only what
``_render_traceback_`` returns: what failed, the server's message and a hint, key masked.
"""

from __future__ import annotations

from ..client.errors import (
    AuthenticationError,
    ChatStreamInterruptedError,
    LexiluxError,
    NetworkError,
    NotFoundError,
    RateLimitError,
    redact,
)
from .config import Endpoint


class ChatCellError(Exception):
    """The chat in this cell failed; the message says why and what to do."""

    def _render_traceback_(self) -> list[str]:
        return [f"\x1b[0;31mChatError\x1b[0m: {self}"]


def _hint(exc: LexiluxError, endpoint: Endpoint) -> str:
    url = endpoint.base_url.value or "the local model"
    if isinstance(exc, NetworkError):
        return (
            f"could not get an answer from {url}; is the server running? "
            "Set LEXILUX_BASE_URL or use --base-url."
        )
    if isinstance(exc, AuthenticationError) and not endpoint.api_key.value:
        return (
            "no API key was sent: set LEXILUX_API_KEY (or OPENAI_API_KEY), or --api-key-env NAME."
        )
    if isinstance(exc, NotFoundError):
        return f"model {endpoint.model.value!r} at {url}: check both (%chat_config shows them)."
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
