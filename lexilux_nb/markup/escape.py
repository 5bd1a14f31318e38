"""Untrusted markdown → inert markdown: the ``text/markdown`` part of every output.

Some frontends and tools render that part instead of the HTML one, with raw HTML on and without
sanitising (JupyterLab does so for the current session's outputs). Pieces are also concatenated
(a history transcript), so each piece must stay inert on its own *and* next to any other:

* ``<`` and ``&`` are escaped everywhere except inside code (where they are literal anyway), so no
  raw HTML and no entity can appear;
* a link or reference destination survives only if it literally starts with ``http:``,
  ``https:`` or ``mailto:`` (after optional blanks and ``<``), so no entity-encoded or otherwise
  obfuscated scheme can be decoded into ``javascript:``; images become plain links;
* a fence cut off at the end of a piece is closed, so it cannot swallow the next piece's opening
  fence and turn that piece's code into live HTML;
* fields interpolated into a line (model names, footers, tool names) go through
  :func:`inert_text`, which makes every character literal.

Fenced code blocks are located with the same parse as the HTML renderer (:mod:`.syntax`); a fence
is only trusted when it is explicitly closed or is a top-level fence running to the end of the
text. Fences the parser closed implicitly (end of a list item, …) are escaped like ordinary text,
because markdown readers disagree about them.
"""

from __future__ import annotations

import re

from .syntax import count_lines, fence_is_closed, new_parser

__all__ = ["answer_markdown", "inert_markdown", "inert_text"]

_PARSER = new_parser()
_BACKTICK_RUN_RE = re.compile(r"`+")
_NEUTRALISE_RE = re.compile(r"[&<]|!(?=\[)|\](?=[(:])")
_SAFE_DEST_RE = re.compile(r"[ \t]*(?:\n[ \t]*)?<?(?:https?:|mailto:)", re.IGNORECASE)
_INLINE_SPECIAL_RE = re.compile(r"[\\`*_~\[\]!<&|$^{}]")
_BLOCK_START_RE = re.compile(r"[#>+=:-]|\d{1,9}[.)]")
_LINE_BREAKS_RE = re.compile(r"[\r\n\u2028\u2029\x0b\x0c\x85]+")


def inert_text(text: str) -> str:
    """A field for one line of markdown: shown exactly as written, never markup.

    Line breaks become spaces; ``&`` and ``<`` become entities; every character that can open
    an inline construct (code, emphasis, links, math, tables, escapes) is backslash-escaped, and
    so is a leading one that could start a block (heading, quote, list). CommonMark, GFM, marked
    and mistune all honour those escapes; ``.``, ``:`` and the like stay as they are, readable.
    """

    def escape(match: re.Match[str]) -> str:
        c = match.group()
        return "&amp;" if c == "&" else "&lt;" if c == "<" else "\\" + c

    flat = _LINE_BREAKS_RE.sub(" ", text.replace("\x00", "\ufffd")).strip()
    flat = _INLINE_SPECIAL_RE.sub(escape, flat)
    start = _BLOCK_START_RE.match(flat)
    return f"{flat[: start.end() - 1]}\\{flat[start.end() - 1 :]}" if start else flat


def _preceding_backslashes(s: str, i: int) -> int:
    n = 0
    while i - n - 1 >= 0 and s[i - n - 1] == "\\":
        n += 1
    return n


def _neutralise(s: str, start: int, end: int) -> str:
    """Escape ``&``/``<`` and defuse links/images in ``s[start:end]``."""
    out: list[str] = []
    pos = start
    for m in _NEUTRALISE_RE.finditer(s, start, end):
        i = m.start()
        c = m.group()
        if c == "&":
            rep = "&amp;"
        elif c == "<":
            rep = "&lt;"
        elif c == "!":  # image → plain link (same policy as the HTML renderer)
            rep = "\\!" if _preceding_backslashes(s, i) % 2 == 0 else c
        else:  # `](` or `]:`: a destination must literally start with a safe scheme
            rep = c if _SAFE_DEST_RE.match(s, i + 2, min(end, i + 514)) else "]\\"
        out.append(s[pos:i])
        out.append(rep)
        pos = m.end()
    out.append(s[pos:end])
    return "".join(out)


def _literal_spans(group: str) -> list[tuple[int, int]]:
    """Code spans of ``group`` that every markdown reader agrees are code spans.

    Only groups whose backtick runs pair up trivially qualify: every run is
    unescaped, runs pair consecutively with equal lengths, and each pair lies on
    one line with no ``|`` in between (table cells). Then any paragraph, heading
    or table-cell split of the group yields exactly these spans, so leaving
    their contents unescaped cannot let HTML through. Otherwise nothing is
    treated as literal (``<`` shows up as ``&lt;`` inside such code — ugly but
    safe).
    """
    runs = list(_BACKTICK_RUN_RE.finditer(group))
    if not runs or len(runs) % 2:
        return []
    spans: list[tuple[int, int]] = []
    for a, b in zip(runs[::2], runs[1::2], strict=True):
        if _preceding_backslashes(group, a.start()) or _preceding_backslashes(group, b.start()):
            return []
        if len(a.group()) != len(b.group()):
            return []
        inner = group[a.end() : b.start()]
        if "\n" in inner or "|" in inner:
            return []
        spans.append((a.start(), b.end()))
    return spans


def _escape_group(group: str) -> str:
    out: list[str] = []
    pos = 0
    for a, b in _literal_spans(group):
        out.append(_neutralise(group, pos, a))
        out.append(group[a:b])
        pos = b
    out.append(_neutralise(group, pos, len(group)))
    return "".join(out)


def inert_markdown(text: str) -> str:
    """Markdown that reads like ``text`` but renders inert anywhere, alone or concatenated.

    Code (trusted fences, agreed code spans) is kept verbatim; see the module docstring for the
    rest. Newlines are normalised to ``\\n``; NUL becomes U+FFFD.
    """
    src = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "\ufffd")
    lines = src.split("\n")
    literal = [False] * len(lines)  # trusted fence content: emitted verbatim
    fenced = [False] * len(lines)  # any line of a trusted fence (group separator)
    closer = ""  # the marker closing a top-level fence cut off at the end
    for tok in _PARSER.parse(src):
        if tok.type != "fence" or tok.map is None:
            continue
        closed = fence_is_closed(tok)
        if not (closed or tok.level == 0):
            continue
        start, end = tok.map
        n = count_lines(tok.content)
        for k in range(start, min(end, len(lines))):
            fenced[k] = True
        for k in range(start + 1, min(start + 1 + n, len(lines))):
            literal[k] = True
        if not closed:
            closer = tok.markup

    out: list[str] = []
    group: list[str] = []

    def flush() -> None:
        if group:
            out.append(_escape_group("\n".join(group)))
            group.clear()

    for k, line in enumerate(lines):
        if fenced[k]:
            flush()
            out.append(line if literal[k] else _neutralise(line, 0, len(line)))
        elif not line.strip(" \t"):
            flush()
            out.append(line)
        else:
            group.append(line)
    flush()
    result = "\n".join(out)
    if closer:
        result += ("" if result.endswith("\n") else "\n") + closer + "\n"
    return result


def answer_markdown(text: str, footer: str = "") -> str:
    """The ``text/markdown`` part of an answer: the inert answer, then its footer in italics."""
    body = inert_markdown(text)
    note = inert_text(footer)
    return f"{body}\n\n*{note}*" if note else body
