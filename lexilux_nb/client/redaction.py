"""Masking secrets: the masked form, the escaped forms a server may echo, URLs' credentials, and
the registry of live clients' secrets that every error and log record is redacted against."""

from __future__ import annotations

import json
import threading
import weakref
from collections.abc import Iterable
from typing import Any


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
