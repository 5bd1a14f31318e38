"""Incremental, bounded decompression of a response body (sans-IO): a bomb costs the cap.

httpx inflates each network read in one call, so one 64 KiB read of a gzip bomb becomes ~64 MiB
at once before any cap can look at it. Here every stage hands out at most :data:`PIECE` bytes per
step (``zlib``'s ``max_length``, brotli's ``output_buffer_limit``), lazily, so the caller stops
reading as soon as the decoded size passes its cap: the decoded bytes held never exceed the cap
plus one piece.

:func:`inflater` returns ``None`` for an encoding this module cannot bound (``zstd``, brotli
older than 1.1, an unknown name): the caller then falls back to httpx's own decoding, still
stopped at the cap, only a read later.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from typing import Any

from .errors import MalformedResponseError

__all__ = ["PIECE", "Inflater", "inflater", "undecodable"]

PIECE = 64 * 1024
"""The most decoded bytes one step hands out."""


def undecodable(reason: str) -> MalformedResponseError:
    return MalformedResponseError(
        f"the server's compressed answer could not be decompressed ({reason})"
    )


class _Zlib:
    """gzip (``wbits=MAX_WBITS|16``) or deflate (zlib-wrapped, or raw as some servers send)."""

    def __init__(self, name: str) -> None:
        self._name = name
        wbits = zlib.MAX_WBITS | 16 if name == "gzip" else zlib.MAX_WBITS
        self._d = zlib.decompressobj(wbits)
        self._first = name == "deflate"  # a raw deflate stream is told apart on its first bytes

    def decode(self, data: bytes) -> Iterator[bytes]:
        if self._first and data:
            self._first = False
            try:
                probe = zlib.decompressobj(zlib.MAX_WBITS)
                probe.decompress(data[:64], 1)
            except zlib.error:
                self._d = zlib.decompressobj(-zlib.MAX_WBITS)
        d = self._d
        while True:
            try:
                out = d.decompress(data, PIECE)
            except zlib.error as exc:
                raise undecodable(f"{self._name}: {exc}") from None
            if out:
                yield out
            data = d.unconsumed_tail
            if d.eof or (not data and len(out) < PIECE):
                return

    def flush(self) -> Iterator[bytes]:
        yield from self.decode(b"")


class _Brotli:
    def __init__(self, module: Any) -> None:
        self._module = module
        self._d = module.Decompressor()

    def decode(self, data: bytes) -> Iterator[bytes]:
        d = self._d
        while True:
            try:
                out = d.process(data, output_buffer_limit=PIECE)
            except self._module.error as exc:
                raise undecodable(f"br: {exc}") from None
            if out:
                yield out
            data = b""
            if d.is_finished() or d.can_accept_more_data():
                return

    def flush(self) -> Iterator[bytes]:
        d = self._d
        while not d.is_finished():  # output still held back by the limit
            try:
                out = d.process(b"", output_buffer_limit=PIECE)
            except self._module.error as exc:
                raise undecodable(f"br: {exc}") from None
            if not out:
                return
            yield out


def _brotli_stage() -> _Brotli | None:
    try:
        import brotli  # type: ignore[import-untyped]  # optional: httpx[brotli]
    except ImportError:
        return None
    stage = _Brotli(brotli)
    try:  # output_buffer_limit came with brotli 1.1
        stage._d.process(b"", output_buffer_limit=PIECE)
    except TypeError:
        return None
    return stage


class Inflater:
    """Raw body bytes in, decoded pieces (each at most about :data:`PIECE`) out, lazily."""

    def __init__(self, stages: list[Any]) -> None:
        self._stages = stages  # in decoding order (the reverse of Content-Encoding's)

    def feed(self, data: bytes) -> Iterator[bytes]:
        return self._run(0, data)

    def _run(self, k: int, data: bytes) -> Iterator[bytes]:
        if k == len(self._stages):
            if data:
                yield data
            return
        for piece in self._stages[k].decode(data):
            yield from self._run(k + 1, piece)

    def flush(self) -> Iterator[bytes]:
        for k, stage in enumerate(self._stages):
            for piece in stage.flush():
                yield from self._run(k + 1, piece)


def inflater(content_encoding: str) -> Inflater | None:
    """An :class:`Inflater` for a ``Content-Encoding`` value, or ``None`` if one stage is not
    supported here (the caller lets httpx decode)."""
    names = [n.strip().lower() for n in content_encoding.split(",") if n.strip()]
    stages: list[Any] = []
    for name in reversed(names):
        if name == "identity":
            continue
        if name in ("gzip", "x-gzip"):
            stages.append(_Zlib("gzip"))
        elif name == "deflate":
            stages.append(_Zlib("deflate"))
        elif name == "br":
            stage = _brotli_stage()
            if stage is None:
                return None
            stages.append(stage)
        else:
            return None
    return Inflater(stages)
