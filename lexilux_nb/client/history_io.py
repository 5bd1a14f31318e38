"""Saving and loading a :class:`~lexilux_nb.client.history.ChatHistory`, without ever losing a file.

Two promises:

* **A save never destroys what was there.** The new content is encoded first, written to a
  temporary file in the target's directory and renamed over the target (``os.replace``, atomic on
  POSIX and Windows): a failure at any point leaves the old file exactly as it was.
* **Any text can be saved.** A model server may send lone surrogates (half of a UTF-16 pair),
  which UTF-8 cannot encode. JSON writes them as ``\\udXXX`` escapes, which load back to the same
  text; the other formats (made for reading) show U+FFFD instead. Either way the saver is told how
  many characters were affected, through a :class:`SaveWarning`.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import re
import tempfile
import warnings
from collections.abc import Callable, Mapping
from os import PathLike
from pathlib import Path
from types import ModuleType
from typing import Any

from .errors import ValidationError

FORMAT = "lexilux_nb.history"
VERSION = 1
SAVE_FORMATS = (".json", ".md", ".html", ".txt")

_SURROGATE_RE = re.compile("[\ud800-\udfff]")


class SaveWarning(UserWarning):
    """Some characters of a saved history could not be written as they were."""


def to_dict(system: str | None, messages: list[Any], meta: list[Any]) -> dict[str, Any]:
    """The JSON-ready form (the caller passes copies)."""
    return {
        "format": FORMAT,
        "version": VERSION,
        "system": system,
        "messages": messages,
        "metadata": meta,
    }


def check_dict(data: Any) -> tuple[Any, list[Any], list[Any]]:
    """``(system, raw messages, metadata)`` of a saved dict, its envelope checked."""
    if not isinstance(data, Mapping):
        raise ValidationError(f"expected a dict or a list of messages, got {type(data).__name__}")
    if data.get("format", FORMAT) != FORMAT:
        raise ValidationError(f"not a chat history: format is {data.get('format')!r}")
    version = data.get("version", VERSION)
    if not isinstance(version, int) or isinstance(version, bool) or version > VERSION:
        raise ValidationError(f"unsupported history version {version!r} (max {VERSION})")
    raw = data.get("messages") or []
    if not isinstance(raw, list):
        raise ValidationError("'messages' must be a list")
    meta = data.get("metadata")
    if meta is None:
        meta = [{} for _ in raw]
    if not isinstance(meta, list) or len(meta) != len(raw):
        raise ValidationError("'metadata' must be a list with one dict per message")
    if not all(isinstance(m, dict) for m in meta):
        raise ValidationError("every 'metadata' entry must be a dict")
    return data.get("system"), raw, meta


def _escape_surrogate(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def dumps(data: dict[str, Any], indent: int | None = 2) -> tuple[str, int]:
    """JSON text that UTF-8 can always encode, and how many surrogates it had to escape.

    Surrogates can only occur inside JSON strings, where ``\\uXXXX`` is a valid escape, so the
    result loads back to exactly the same data.
    """
    text = json.dumps(data, indent=indent, ensure_ascii=False, default=str)
    return _SURROGATE_RE.subn(_escape_surrogate, text)


def loads(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ValidationError(f"not valid JSON: {exc}") from exc


def readable(text: str) -> tuple[str, int]:
    """Text for a reading format (.md, .html, .txt): surrogates shown as U+FFFD."""
    return _SURROGATE_RE.subn("\ufffd", text)


def _default_mode() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


_NEW_FILE_MODE = _default_mode()  # read once: os.umask is process-wide, not thread-safe


def write_atomic(target: Path, data: bytes) -> None:
    """Write ``data`` to ``target`` through a temporary sibling file renamed into place."""
    directory = target.parent
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            mode = target.stat().st_mode & 0o7777
        except FileNotFoundError:
            mode = _NEW_FILE_MODE
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def save_text(path: str | PathLike[str], text: str, *, lossless: bool, escaped: int = 0) -> Path:
    """Save ``text`` (from a renderer) to ``path``, warning about characters changed.

    ``escaped`` counts surrogates already escaped (JSON); other surrogates become U+FFFD.
    """
    target = Path(path).expanduser()
    text, replaced = readable(text)
    data = text.encode("utf-8")  # cannot fail now: no surrogate left
    write_atomic(target, data)
    if escaped:
        warnings.warn(
            f"{escaped} character(s) that UTF-8 cannot encode (lone surrogates from the server) "
            f"were saved as \\u escapes in {target.name}; loading restores them",
            SaveWarning,
            stacklevel=3,
        )
    if replaced:
        warnings.warn(
            f"{replaced} character(s) that UTF-8 cannot encode (lone surrogates from the server) "
            f"were replaced by U+FFFD in {target.name}"
            + ("" if lossless else "; save as .json to keep them"),
            SaveWarning,
            stacklevel=3,
        )
    return target


def check_suffix(path: str | PathLike[str]) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in SAVE_FORMATS:
        raise ValidationError(
            f"cannot save as {suffix or 'a file without extension'!r}; "
            f"accepted extensions: {', '.join(SAVE_FORMATS)}"
        )
    return suffix


def read(path: str | PathLike[str]) -> Any:
    """The data of a saved ``.json`` history."""
    source = Path(path).expanduser()
    if source.suffix.lower() != ".json":
        raise ValidationError(f"can only load .json histories, not {source.name!r}")
    return loads(source.read_text(encoding="utf-8"))


def _view() -> ModuleType:
    """The renderers, imported on first use (they load markdown-it and Pygments)."""
    from ..notebook import history_view

    return history_view


class Exports:
    """``ChatHistory``'s saving and rendering methods (each reads one consistent state)."""

    _system: str | None
    _state: tuple[list[dict[str, Any]], list[dict[str, Any]]]

    def to_dict(self) -> dict[str, Any]:
        """Everything (system, messages, metadata) as plain JSON-ready data."""
        system, (messages, meta) = self._system, self._state
        return to_dict(system, copy.deepcopy(messages), copy.deepcopy(meta))

    def to_json(self, path: str | PathLike[str] | None = None, indent: int | None = 2) -> str:
        """:meth:`to_dict` as JSON (non-JSON metadata values stored as their ``str``); with a
        ``path``, also saved there (atomically). Lone surrogates are written as ``\\u``
        escapes, so the text always encodes and loads back the same."""
        text, escaped = dumps(self.to_dict(), indent=indent)
        if path is not None:
            save_text(path, text, lossless=True, escaped=escaped)
        return text

    def save(self, path: str | PathLike[str]) -> Path:
        """Write to ``path`` in the format its extension names (.json, .md, .html, .txt).

        The old file is replaced only once the new one is fully written; characters UTF-8
        cannot encode are escaped (.json) or replaced, with a :class:`SaveWarning`.
        """
        suffix = check_suffix(path)
        if suffix == ".json":
            text, escaped = dumps(self.to_dict())
            return save_text(path, text, lossless=True, escaped=escaped)
        writers: dict[str, Callable[[], str]] = {
            ".md": self.to_markdown,
            ".html": lambda: self.to_html(document=True),
            ".txt": self.to_text,
        }
        return save_text(path, writers[suffix](), lossless=False)

    def to_markdown(self) -> str:
        """The transcript as inert markdown (the same escaping as the notebook display): a
        ``.md`` file may be opened by a viewer that renders raw HTML, so model text, model and
        tool names are escaped, fences closed and only literal http/https/mailto links kept."""
        system, (messages, meta) = self._system, self._state
        return str(_view().to_markdown(system, messages, meta, escape_html=True))

    def to_text(self) -> str:
        return str(_view().to_text(self._system, self._state[0]))

    def to_html(self, document: bool = False) -> str:
        """HTML with inline styles, bodies rendered as inert markdown; ``document=True`` for a
        standalone page."""
        system, (messages, meta) = self._system, self._state
        return str(_view().to_html(system, messages, meta, document=document))

    def _repr_markdown_(self) -> str:
        return self.to_markdown() or "*(empty chat history)*"

    def _repr_html_(self) -> str:
        system, (messages, meta) = self._system, self._state
        return str(_view().to_html(system, messages, meta, compact=True))
