"""The markdown dialect we read: CommonMark plus GitHub tables and strikethrough, no raw HTML.

The renderer (:mod:`.html`) and the escaper (:mod:`.escape`) both parse with :func:`new_parser`,
so they agree on where code fences begin and end.
"""

from __future__ import annotations

from markdown_it import MarkdownIt
from markdown_it.token import Token

__all__ = ["count_lines", "fence_is_closed", "new_parser"]


def new_parser() -> MarkdownIt:
    """A fresh parser for our dialect (raw HTML off: it is never passed through)."""
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.enable(["table", "strikethrough"])
    return md


def count_lines(content: str) -> int:
    """Source lines of a fence's content (a final newline does not start another line)."""
    if not content:
        return 0
    return content.count("\n") + (0 if content.endswith("\n") else 1)


def fence_is_closed(token: Token) -> bool:
    """True if a ``fence`` token had an explicit closing fence in the source."""
    if token.map is None:
        return True
    start, end = token.map
    return end - start >= count_lines(token.content) + 2
