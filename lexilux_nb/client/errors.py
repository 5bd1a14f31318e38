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
    ├── DeadlineExceededError      the whole call took longer than ``deadline_s`` (a TimeoutError)
    ├── ChatStreamInterruptedError a stream ended before finish_reason / [DONE] (partial_result)
    └── ChatIncompleteResponseError continuation gave up while the answer was still cut off

Every message and every field of a server's error passes through :func:`redact` so an API key
echoed by a server never reaches a traceback, a log line or a notebook output. Errors hold no
httpx object (their requests carry the headers): what is needed is copied, and they are raised
outside the ``except`` block so ``__context__`` stays empty. They pickle (for process pools and
error trackers) as their type, message and attributes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

import httpx

# re-exported: errors is where callers have always imported them from
from .redaction import Secret as Secret
from .redaction import known_secrets as known_secrets
from .redaction import mask_secret as mask_secret
from .redaction import redact as redact
from .redaction import redact_url as redact_url
from .redaction import register_secrets as register_secrets
from .redaction import url_secrets as url_secrets

if TYPE_CHECKING:
    from .models import ChatResult

RETRYABLE_STATUSES = frozenset({408, 409, 429})
E = TypeVar("E", bound=BaseException)
T = TypeVar("T")


def _rebuild(cls: type[LexiluxError], args: tuple[Any, ...]) -> LexiluxError:
    """Unpickle without calling ``__init__`` (its keyword arguments are in the state)."""
    error = cls.__new__(cls, *args)
    error.args = args
    return error


class LexiluxError(Exception):
    """Base of every error this package raises; its message is redacted against the secrets of
    every live client, so a message built from a server's text cannot carry a key."""

    def __init__(self, message: str) -> None:
        message = redact(message, known_secrets())
        super().__init__(message)
        self.message = message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.args), dict(self.__dict__))


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
        param: str | None = None,
    ) -> None:
        super().__init__(message)
        secrets = known_secrets()

        def clean(value: str | None) -> str | None:
            return redact(value, secrets) if isinstance(value, str) else value

        self.retry_after = retry_after
        self.status_code = status_code
        self.body = clean(body)
        self.error_type = clean(error_type)
        self.code = clean(code)
        self.param = clean(param)

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


class DeadlineExceededError(LexiluxError, TimeoutError):
    """The whole call (connecting, retries, the whole answer) took longer than ``deadline_s``.

    Unlike a per-read timeout it is never retried: the time it allowed is spent.
    """


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


MAX_FIELD_CHARS = 500  # of a server's error message, code, type or param, as kept
MAX_BODY_CHARS = 4000  # of an error body kept in ``APIError.body`` (redacted first, then cut)


def _field(value: Any, secrets: Iterable[str | None]) -> str | None:
    """One field of a server's error as text: bounded, and redacted once decoded."""
    if value is None:
        return None
    text = value if isinstance(value, str) else json.dumps(value, default=repr)
    return redact(text[:MAX_FIELD_CHARS], secrets)


def _server_fields(err: Any, text: str) -> tuple[Any, Any, Any, Any]:
    """(message, type, code, param) of an OpenAI-style error, or the plain-text body."""
    if isinstance(err, dict):
        message = err.get("message") or err.get("detail") or err.get("msg") or err
        return (message, err.get("type"), err.get("code"), err.get("param"))
    if isinstance(err, str):
        return (err, None, None, None)
    return (text or "(empty response body)", None, None, None)


def _server_message(
    body: str, secrets: Iterable[str | None] = ()
) -> tuple[str, str | None, str | None, str | None]:
    """Every field of a JSON error, each redacted after JSON decoding (``\\u`` escapes and all)."""
    text = body.strip()
    try:
        data = json.loads(text)
    except ValueError:
        data = text
    err = data.get("error", data) if isinstance(data, dict) else data
    if err is data and not isinstance(data, dict | str):
        err = None
    secrets = tuple(secrets)
    message, error_type, code, param = _server_fields(err, text)
    return (
        _field(message, secrets) or "(empty response body)",
        _field(error_type, secrets),
        _field(code, secrets),
        _field(param, secrets),
    )


def error_from_response(
    status_code: int,
    headers: Mapping[str, str],
    body: bytes | str,
    secrets: Iterable[str | None] = (),
) -> APIError:
    """Map an error status and its body to the right :class:`APIError` subclass."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    secrets = tuple(secrets)
    message, error_type, code, param = _server_message(text, secrets)
    text = redact(text, secrets)[:MAX_BODY_CHARS]
    cls = _class_for(status_code)
    hint = _HINTS.get(cls)
    if hint:
        message = f"{message} ({hint})"
    kwargs: dict[str, Any] = {
        "status_code": status_code,
        "body": text,
        "error_type": error_type,
        "code": code,
        "param": param,
        "retry_after": parse_retry_after(headers),
    }
    return cls(message, **kwargs)


def error_from_event(data: Any, secrets: Iterable[str | None] = ()) -> APIError:
    """An ``{"error": ...}`` object received inside a stream."""
    secrets = tuple(secrets)
    err = data.get("error", data) if isinstance(data, dict) else data
    text = json.dumps(err, default=repr) if not isinstance(err, str) else err
    wrapped = json.dumps({"error": err}, default=repr)
    message, error_type, code, param = _server_message(wrapped, secrets)
    status = err.get("status_code") or err.get("status") if isinstance(err, dict) else None
    status_code = status if isinstance(status, int) and not isinstance(status, bool) else None
    if status_code is not None and not 100 <= status_code <= 599:
        status_code = None
    cls = _class_for(status_code)
    return cls(
        redact(f"error in stream: {message}", secrets),
        status_code=status_code,
        body=redact(text[: MAX_FIELD_CHARS * 4], secrets),
        error_type=error_type,
        code=code,
        param=param,
    )


def error_from_transport(
    exc: httpx.TransportError, secrets: Iterable[str | None] = ()
) -> NetworkError:
    """Map an httpx transport failure to our network errors: its text, redacted, and no reference
    to it (it holds the request and its headers). Raise the result outside the ``except`` block."""
    detail = redact(_strip_urls(str(exc) or type(exc).__name__), secrets)
    if isinstance(exc, httpx.TimeoutException):
        return LexiluxTimeoutError(f"timed out ({type(exc).__name__}): {detail}")
    return LexiluxConnectionError(f"connection failed ({type(exc).__name__}): {detail}")


def _foreign(exc: BaseException | None) -> bool:
    """An exception from the HTTP stack: it references the request and its headers."""
    return exc is not None and type(exc).__module__.split(".")[0] in {"httpx", "httpcore", "h11"}


def scrub(error: E) -> E:
    """Cut out of ``error`` what could hold a request or a server's raw text, before it leaves
    the client: every httpx/httpcore exception and every context hidden with ``from None`` that
    is not ours (a ``JSONDecodeError`` keeps the whole document in ``.doc``), along
    ``__cause__``, ``__context__`` and the ``cause`` some of ours keep; and the traceback frames
    below the point it is raised again from, whose locals (shown by ``%xmode Verbose``, debuggers
    and error trackers) hold raw bodies and headers. Re-raise it with ``raise scrub(exc)``."""
    error.__traceback__ = None
    seen: set[int] = set()
    todo: list[BaseException] = [error]
    while todo:
        node = todo.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if _foreign(node.__cause__):
            node.__cause__ = None
        context = node.__context__
        if _foreign(context) or (
            context is not None
            and node.__suppress_context__
            and not isinstance(context, LexiluxError)
        ):
            node.__context__ = None
        if _foreign(getattr(node, "cause", None)):
            node.cause = None  # type: ignore[attr-defined]
        for link in (node.__cause__, node.__context__, getattr(node, "cause", None)):
            if isinstance(link, BaseException):
                link.__traceback__ = None
                todo.append(link)
    return error


def scrubbed(parse: Callable[..., T], data: Any, keep_raw: bool, secrets: tuple[str, ...]) -> T:
    """``parse(data, keep_raw=..., secrets=...)``, its errors :func:`scrub`-bed."""
    try:
        return parse(data, keep_raw=keep_raw, secrets=secrets)
    except LexiluxError as exc:
        raise scrub(exc)  # noqa: B904 - the same error, its chain already cut


def _strip_urls(text: str) -> str:
    """Credentials written in any URL of a message (a proxy's, usually) become ``***``."""
    import re

    return re.sub(r"(\b[a-zA-Z][a-zA-Z0-9+.-]*://)[^/\s@'\"]*@", r"\1***@", text)
