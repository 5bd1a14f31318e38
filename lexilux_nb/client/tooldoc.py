"""A docstring read for a tool: the summary the model sees and each parameter's description.

Understands Google style (``Args:`` with ``name (type): text``), numpy style (``Parameters`` over a
line of dashes, ``name : type`` then indented text) and Sphinx fields (``:param name: text``).
The description is what comes before the first section; sections it does not know are dropped.
"""

from __future__ import annotations

import re

_GOOGLE_PARAMS = ("args", "arguments", "parameters", "params", "keyword args", "keyword arguments")
_GOOGLE_HEADER = re.compile(
    r"^(args|arguments|parameters|params|keyword args|keyword arguments|returns?|yields?|"
    r"raises|examples?|notes?|attributes|see also|warnings?|todo|references)\s*:\s*$",
    re.IGNORECASE,
)
_GOOGLE_ENTRY = re.compile(r"^\*{0,2}(\w+)\s*(?:\(([^)]*)\))?\s*:\s*(.*)$")
_NUMPY_RULE = re.compile(r"^\s*-{3,}\s*$")
_NUMPY_ENTRY = re.compile(r"^\*{0,2}(\w+)\s*(?::\s*(.*))?$")
_SPHINX = re.compile(r"^:param\s+(?:[^:]*\s)?(\w+)\s*:\s*(.*)$")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _join(parts: list[str]) -> str:
    return " ".join(p.strip() for p in parts if p.strip())


def _google(lines: list[str], start: int, out: dict[str, str]) -> int:
    """Read the entries under a Google ``Args:`` header at ``start``; the next line's index."""
    base = _indent(lines[start])
    name: str | None = None
    text: list[str] = []
    i = start + 1
    entry_indent: int | None = None
    while i < len(lines):
        line = lines[i]
        if line.strip() and _indent(line) <= base:
            break
        if line.strip():
            indent = _indent(line)
            if entry_indent is None:
                entry_indent = indent
            match = _GOOGLE_ENTRY.match(line.strip()) if indent == entry_indent else None
            if match:
                if name:
                    out[name] = _join(text)
                name, text = match.group(1), [match.group(3)]
            elif name:
                text.append(line)
        i += 1
    if name:
        out[name] = _join(text)
    return i


def _numpy(lines: list[str], start: int, out: dict[str, str]) -> int:
    """Read numpy ``Parameters`` entries; ``start`` is the header (the rule follows it)."""
    base = _indent(lines[start])
    name: str | None = None
    text: list[str] = []
    i = start + 2
    while i < len(lines):
        line = lines[i]
        if i + 1 < len(lines) and _NUMPY_RULE.match(lines[i + 1]) and line.strip():
            break  # the next section
        if line.strip() and _indent(line) <= base:
            match = _NUMPY_ENTRY.match(line.strip())
            if match:
                if name:
                    out[name] = _join(text)
                name, text = match.group(1), []
        elif name:
            text.append(line)
        i += 1
    if name:
        out[name] = _join(text)
    return i


def parse_docstring(doc: str) -> tuple[str, dict[str, str]]:
    """``(description, {parameter: description})`` from a cleaned docstring."""
    lines = doc.expandtabs().splitlines()
    params: dict[str, str] = {}
    summary: list[str] | None = None
    i = 0
    while i < len(lines):
        stripped = lines[i].strip()
        numpy = i + 1 < len(lines) and _NUMPY_RULE.match(lines[i + 1]) and stripped
        google = _GOOGLE_HEADER.match(stripped)
        sphinx = _SPHINX.match(stripped) or stripped.startswith((":return", ":raise", ":type"))
        if (numpy or google or sphinx) and summary is None:
            summary = lines[:i]
        if numpy:
            if stripped.lower() in ("parameters", "other parameters"):
                i = _numpy(lines, i, params)
                continue
            i += 2
            continue
        if google:
            if google.group(1).lower() in _GOOGLE_PARAMS:
                i = _google(lines, i, params)
                continue
        elif match := _SPHINX.match(stripped):
            text = [match.group(2)]
            while i + 1 < len(lines) and lines[i + 1].strip() and _indent(lines[i + 1]) > 0:
                i += 1
                text.append(lines[i])
            params[match.group(1)] = _join(text)
        i += 1
    description = "\n".join(lines if summary is None else summary).strip()
    return description, params
