"""A response body read under the size cap and inflated a piece at a time, for both HTTP paths
(httpx's, and the lean one in :mod:`.h1`), and decoded as JSON with a redacted error."""

from __future__ import annotations

import json
from collections.abc import AsyncIterable, Iterable
from typing import Any

import httpx

from .. import defaults
from .errors import APIError, MalformedResponseError, ResponseTooLargeError, redact
from .inflate import inflater, undecodable


def _too_large(limit: int) -> ResponseTooLargeError:
    return ResponseTooLargeError(
        f"the server's answer is over {limit / 2**20:g} MiB ({limit:,} bytes) once decompressed;"
        " reading stopped there (a compression bomb or a broken server). To accept larger"
        " bodies, raise lexilux_nb.defaults.MAX_RESPONSE_BYTES"
    )


def _undecodable(exc: httpx.DecodingError) -> MalformedResponseError:
    return undecodable(type(exc).__name__)


class Body:
    """Decoded pieces of a body, kept up to ``defaults.MAX_RESPONSE_BYTES`` (read when the body
    starts, so it can be raised at run time). gzip, deflate and brotli are inflated here, a
    piece at a time (:mod:`.inflate`), so a bomb costs the cap plus one piece.

    ``encoding`` is the ``Content-Encoding`` header, or ``None`` for bytes already decoded. An
    encoding :mod:`.inflate` cannot bound leaves the pieces as they come: httpx decodes them
    on its path; the lean path never asks for one."""

    def __init__(self, encoding: str | None) -> None:
        self.pieces: list[bytes] = []
        self.size = 0
        self.limit = defaults.MAX_RESPONSE_BYTES
        self.inflater = None if encoding is None else inflater(encoding)

    def add(self, piece: bytes) -> None:
        self.size += len(piece)
        if self.size > self.limit:
            self.pieces.clear()
            raise _too_large(self.limit)
        self.pieces.append(piece)

    def feed(self, raw: bytes) -> None:
        """Raw bytes off the wire: inflated when this body can, else kept as they are."""
        if self.inflater is None:
            self.add(raw)
            return
        for piece in self.inflater.feed(raw):
            self.add(piece)

    def end(self) -> bytes:
        if self.inflater is not None:
            for piece in self.inflater.flush():
                self.add(piece)
        return b"".join(self.pieces)


def _encoding(response: httpx.Response) -> str | None:
    # a response whose content was already read (a test double) is decoded by httpx
    return None if response.is_stream_consumed else response.headers.get("content-encoding", "")


def read_bounded(response: httpx.Response) -> bytes:
    """The decoded body, read piece by piece and stopped at the cap."""
    body = Body(_encoding(response))
    try:
        pieces: Iterable[bytes] = (  # raw when inflated here, else decoded by httpx
            response.iter_raw() if body.inflater is not None else response.iter_bytes()
        )
        for piece in pieces:
            body.feed(piece)
    except httpx.DecodingError as exc:
        raise _undecodable(exc) from None
    return body.end()


async def aread_bounded(response: httpx.Response) -> bytes:
    """Async twin of :func:`read_bounded`."""
    body = Body(_encoding(response))
    try:
        pieces: AsyncIterable[bytes] = (
            response.aiter_raw() if body.inflater is not None else response.aiter_bytes()
        )
        async for piece in pieces:
            body.feed(piece)
    except httpx.DecodingError as exc:
        raise _undecodable(exc) from None
    return body.end()


def decode_json(content: bytes, secrets: Iterable[str]) -> Any:
    """The JSON document, or an :class:`APIError` quoting its start (redacted)."""
    try:
        return json.loads(content)
    except ValueError:
        snippet = redact(content[:200].decode("utf-8", "replace"), tuple(secrets))
        raise APIError(
            f"the server answered with something that is not JSON: {snippet!r}"
        ) from None
