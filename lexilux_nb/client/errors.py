"""The exception tree, and the one place that turns HTTP failures into it.

::

    LexiluxError
    ├── ValidationError            bad arguments, raised before any request (also a ValueError)
    ├── ConfigurationError         missing base URL / model, unusable settings
    ├── APIError                   the server answered with an error (status_code, retryable)
    │   ├── AuthenticationError    401, 403
    │   ├── NotFoundError          404
    │   ├── InvalidRequestError    400, 422
    │   ├── RateLimitError         429 (retry_after)
    │   ├── ServerError            5xx, with the real status
    │   └── MalformedResponseError the answer has not the shape the API describes
    │       └── ResponseTooLargeError  a line, an event or a body past its size cap
    ├── NetworkError
    │   ├── LexiluxTimeoutError
    │   └── LexiluxConnectionError
    ├── ChatStreamInterruptedError a stream ended before finish_reason / [DONE] (partial_result)
    └── ChatIncompleteResponseError continuation gave up while the answer was still cut off

Every message passes through :func:`redact` so an API key echoed by a server never reaches a
traceback, a log line or a notebook output.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from .models import ChatResult

RETRYABLE_STATUSES = frozenset({408, 409, 429})


def mask_secret(secret: str | None) -> str:
    """A recognisable but useless form of a secret: ``sk-…wxyz``."""
    if not secret:
        return "(not set)"
    if len(secret) <= 8:
        return "…" * 3
    return f"{secret[:3]}…{secret[-4:]}"


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """Replace every occurrence of each secret (and its obvious halves) in ``text``."""
    for secret in secrets:
        if not secret:
            continue
        # a header value such as "Bearer sk-..." also hides its bare token
        for part in (secret, secret.rpartition(" ")[2]):
            if len(part) >= 4:
                for form in _encoded_forms(part):
                    text = text.replace(form, mask_secret(part))
    return text


def _encoded_forms(secret: str) -> tuple[str, ...]:
    """The secret as it appears plain, JSON-escaped (``\\/``, ``\\uXXXX``) and URL-encoded."""
    from urllib.parse import quote

    json_form = json.dumps(secret)[1:-1]
    forms = {
        secret,
        json_form,
        json_form.replace("/", "\\/"),
        json.dumps(secret, ensure_ascii=True)[1:-1],
        "".join(f"\\u{ord(c):04x}" for c in secret),
        quote(secret, safe=""),
        quote(secret),
    }
    return tuple(sorted(forms, key=len, reverse=True))


class LexiluxError(Exception):
    """Base of every error this package raises."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"


class ValidationError(LexiluxError, ValueError):
    """An argument is out of range or of the wrong type; nothing was sent."""


class ConfigurationError(LexiluxError):
    """The client is not configured well enough to send anything."""


class APIError(LexiluxError):
    """The server answered with an error status or an error event."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        body: str | None = None,
        error_type: str | None = None,
        code: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.status_code = status_code
        self.body = body
        self.error_type = error_type
        self.code = code

    @property
    def retryable(self) -> bool:
        """Whether sending the same request again may succeed."""
        status = self.status_code
        return status is not None and (status in RETRYABLE_STATUSES or status >= 500)

    def __str__(self) -> str:
        prefix = f"HTTP {self.status_code}: " if self.status_code else ""
        return f"{prefix}{self.message}"


class AuthenticationError(APIError):
    """401/403: the key is missing, wrong, or lacks permission."""


class NotFoundError(APIError):
    """404: wrong base URL, endpoint or model name."""


class InvalidRequestError(APIError):
    """400/422: the server rejected the request body."""


class RateLimitError(APIError):
    """429: too many requests; ``retry_after`` is the server's advice in seconds."""


class ServerError(APIError):
    """5xx: the server failed; ``status_code`` is the real status."""


class MalformedResponseError(APIError):
    """The server's answer is not what the API describes (wrong types, broken JSON, ...).

    ``body`` quotes a bounded, redacted piece of what arrived, so the report names the culprit.
    """


class ResponseTooLargeError(MalformedResponseError):
    """A line, an event or a decompressed body went past its size cap (a hostile server)."""


class NetworkError(LexiluxError):
    """The request did not get an HTTP answer."""

    retryable = True


class LexiluxTimeoutError(NetworkError):
    """Connecting, writing or waiting for the next bytes took longer than the timeout."""


class LexiluxConnectionError(NetworkError):
    """The server could not be reached, or dropped the connection."""


class ChatStreamInterruptedError(LexiluxError):
    """A stream ended before the server said it was finished; ``partial_result`` keeps the text."""

    def __init__(
        self, message: str, *, partial_result: ChatResult, cause: Exception | None = None
    ) -> None:
        super().__init__(message)
        self.partial_result = partial_result
        self.cause = cause

    def get_partial_text(self) -> str:
        return self.partial_result.text


class ChatIncompleteResponseError(LexiluxError):
    """Continuation stopped (error or round limit) while the answer was still incomplete."""

    def __init__(
        self,
        message: str,
        *,
        partial_result: ChatResult,
        continues: int,
        cause: BaseException | None = None,
    ) -> None:
        super().__init__(message)
        self.partial_result = partial_result
        self.continues = continues
        self.cause = cause

    def get_final_text(self) -> str:
        return self.partial_result.text


_STATUS_CLASSES: dict[int, type[APIError]] = {
    400: InvalidRequestError,
    401: AuthenticationError,
    403: AuthenticationError,
    404: NotFoundError,
    422: InvalidRequestError,
    429: RateLimitError,
}


def _class_for(status_code: int | None) -> type[APIError]:
    """The error class for an HTTP status (``None``: no status, a plain ``APIError``)."""
    if status_code is None:
        return APIError
    return _STATUS_CLASSES.get(status_code) or (ServerError if status_code >= 500 else APIError)


_HINTS: dict[type[APIError], str] = {
    AuthenticationError: "check the API key (LEXILUX_API_KEY or OPENAI_API_KEY)",
    NotFoundError: "check the base URL (it usually ends in /v1) and the model name",
}


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``Retry-After`` (seconds or an HTTP date)."""
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    from datetime import datetime, timezone

    if when.tzinfo is None:  # "-0000" parses to a naive datetime; HTTP dates are UTC
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


def _server_message(body: str) -> tuple[str, str | None, str | None]:
    """The human message from an OpenAI-style JSON error, or the plain-text body."""
    text = body.strip()
    try:
        data = json.loads(text)
    except ValueError:
        return (text[:500] or "(empty response body)", None, None)
    err = data.get("error", data) if isinstance(data, dict) else data
    if isinstance(err, dict):
        message = err.get("message") or err.get("detail") or err.get("msg") or json.dumps(err)
        code = err.get("code")
        return (str(message), err.get("type"), None if code is None else str(code))
    if isinstance(err, str):
        return (err, None, None)
    return (text[:500], None, None)


def error_from_response(
    status_code: int,
    headers: Mapping[str, str],
    body: bytes | str,
    secrets: Iterable[str | None] = (),
) -> APIError:
    """Map an error status and its body to the right :class:`APIError` subclass."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    text = redact(text, secrets)
    message, error_type, code = _server_message(text)
    cls = _class_for(status_code)
    hint = _HINTS.get(cls)
    if hint:
        message = f"{message} ({hint})"
    kwargs: dict[str, Any] = {
        "status_code": status_code,
        "body": text,
        "error_type": error_type,
        "code": code,
        "retry_after": parse_retry_after(headers),
    }
    return cls(message, **kwargs)


def error_from_event(data: Any, secrets: Iterable[str | None] = ()) -> APIError:
    """An ``{"error": ...}`` object received inside a stream."""
    err = data.get("error", data) if isinstance(data, dict) else data
    text = json.dumps(err) if not isinstance(err, str) else err
    message, error_type, code = _server_message(json.dumps({"error": err}))
    status = err.get("status_code") or err.get("status") if isinstance(err, dict) else None
    status_code = status if isinstance(status, int) else None
    cls = _class_for(status_code)
    return cls(
        redact(f"error in stream: {message}", secrets),
        status_code=status_code,
        body=redact(text, secrets),
        error_type=error_type,
        code=code,
    )


def error_from_transport(
    exc: httpx.TransportError, secrets: Iterable[str | None] = ()
) -> NetworkError:
    """Map an httpx transport failure to our network errors, keeping the cause."""
    detail = redact(str(exc) or type(exc).__name__, secrets)
    if isinstance(exc, httpx.TimeoutException):
        return LexiluxTimeoutError(f"timed out ({type(exc).__name__}): {detail}")
    return LexiluxConnectionError(f"connection failed ({type(exc).__name__}): {detail}")
