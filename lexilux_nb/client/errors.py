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
import threading
import weakref
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

import httpx

if TYPE_CHECKING:
    from .models import ChatResult

RETRYABLE_STATUSES = frozenset({408, 409, 429})
E = TypeVar("E", bound=BaseException)
T = TypeVar("T")


def mask_secret(secret: str | None) -> str:
    """A recognisable but useless form of a secret: ``sk-…wxyz``."""
    if not secret:
        return "(not set)"
    if len(secret) <= 8:
        return "…" * 3
    return f"{secret[:3]}…{secret[-4:]}"


class Secret(str):
    """A key that shows masked wherever it is repr'd: a traceback's locals (``%xmode Verbose``),
    a debugger, an error tracker. ``str()`` and f-strings still give the value, to send it."""

    __slots__ = ()

    def __repr__(self) -> str:
        return repr(mask_secret(str.__str__(self)))

    def __reduce__(self) -> tuple[Any, ...]:
        return (Secret, (str.__str__(self),))


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


def redact_url(url: str) -> str:
    """A URL without its credentials: ``http://user:pass@proxy:3128`` -> ``http://***@proxy:3128``."""
    from urllib.parse import urlsplit, urlunsplit

    try:
        parts = urlsplit(url)
    except ValueError:
        return "(an unparsable URL)"
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"***@{host}"))


def url_secrets(url: str) -> tuple[str, ...]:
    """The user and password written in a URL (plain and percent-decoded), to be redacted."""
    from urllib.parse import unquote, urlsplit

    try:
        netloc = urlsplit(url).netloc
    except ValueError:
        return ()
    userinfo = netloc.rpartition("@")[0] if "@" in netloc else ""
    found = {userinfo} if userinfo else set()
    for part in userinfo.split(":"):
        found.update({part, unquote(part)})
    return tuple(s for s in found if s)


def _rebuild(cls: type[LexiluxError], args: tuple[Any, ...]) -> LexiluxError:
    """Unpickle without calling ``__init__`` (its keyword arguments are in the state)."""
    error = cls.__new__(cls, *args)
    error.args = args
    return error


_HOLDERS: weakref.WeakSet[Any] = weakref.WeakSet()
_HOLDERS_LOCK = threading.Lock()


def register_secrets(holder: Any) -> None:
    """Mask ``holder.secrets`` (a ``Chat``'s key, auth headers, proxy credentials) in every error
    and log record made while ``holder`` lives, whoever builds the message."""
    with _HOLDERS_LOCK:
        _HOLDERS.add(holder)


def known_secrets() -> list[str]:
    """The secrets of every live registered holder."""
    with _HOLDERS_LOCK:
        holders = list(_HOLDERS)
    return [s for h in holders for s in h.secrets if s]


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
