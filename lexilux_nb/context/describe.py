"""Model-friendly, bounded descriptions of values, never a silently truncated repr.

A registry (:func:`register_describer`) and an ``__llm__(spec)`` method let libraries and users add
types. Whatever is left out is said explicitly. pandas and numpy are recognised by module name, so
neither is imported here.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Describer = Callable[[Any, str, int], str]
_REGISTRY: list[tuple[type, Describer]] = []

MAX_CHARS = 4000
HEAD_ROWS = 10


def register_describer(kind: type, describer: Describer) -> None:
    """Describe instances of ``kind`` with ``describer(value, spec, max_chars)``; newest wins."""
    _REGISTRY.insert(0, (kind, describer))


def _bounded(text: str, max_chars: int, what: str) -> str:
    if len(text) <= max_chars:
        return text
    return text[:max_chars] + f"\n[… {what} cut: {len(text) - max_chars} more characters not shown]"


def _dataframe(value: Any, spec: str, max_chars: int) -> str:
    if spec == "csv":
        return _bounded(value.to_csv(index=False), max_chars, "CSV")
    if spec == "full":
        return str(value.to_csv(index=False))
    rows, cols = value.shape
    lines = [f"DataFrame: {rows} rows × {cols} columns", "", "| column | dtype | nulls |"]
    lines.append("|---|---|---|")
    nulls = value.isna().sum()
    for name, dtype in value.dtypes.items():
        lines.append(f"| {name} | {dtype} | {int(nulls[name])} |")
    if spec != "schema":
        head = value.head(HEAD_ROWS)
        header = "| " + " | ".join(str(c) for c in head.columns) + " |"
        lines += ["", f"First {len(head)} rows:", "", header]
        lines.append("|" + "---|" * len(head.columns))
        for row in head.itertuples(index=False):
            lines.append("| " + " | ".join(str(v) for v in row) + " |")
        if rows > len(head):
            lines.append(f"[{rows - len(head)} more rows not shown]")
    return _bounded("\n".join(lines), max_chars, "description")


def _ndarray(value: Any, spec: str, max_chars: int) -> str:
    flat = value.ravel()
    sample = ", ".join(str(v) for v in flat[:10])
    more = f" [{flat.size - 10} more items not shown]" if flat.size > 10 else ""
    text = f"ndarray: shape {tuple(value.shape)}, dtype {value.dtype}\nsample: {sample}{more}"
    if value.size and value.dtype.kind in "iuf":
        text += f"\nmin {flat.min()}, max {flat.max()}, mean {flat.mean():.6g}"
    return _bounded(text, max_chars, "description")


def describe(value: Any, spec: str = "", max_chars: int = MAX_CHARS) -> str:
    """The text the model sees for ``value`` under format spec ``spec`` (md, csv, schema, full)."""
    hook = getattr(type(value), "__llm__", None)
    if hook is not None:
        return str(hook(value, spec))
    for kind, describer in _REGISTRY:
        if isinstance(value, kind):
            return describer(value, spec, max_chars)
    module = type(value).__module__.split(".")[0]
    name = type(value).__name__
    if module == "pandas" and name == "DataFrame":
        return _dataframe(value, spec, max_chars)
    if module == "pandas" and name == "Series":
        return _dataframe(value.to_frame(), spec, max_chars)
    if module == "numpy" and name == "ndarray":
        return _ndarray(value, spec, max_chars)
    if isinstance(value, (dict, list)):
        text = json.dumps(value, ensure_ascii=False, default=str)
        if len(text) > 100:
            text = json.dumps(value, indent=1, ensure_ascii=False, default=str)
        return text if spec == "full" else _bounded(text, max_chars, "JSON")
    text = str(value)
    return text if spec == "full" else _bounded(text, max_chars, "text")


SPECS = ("md", "csv", "schema", "full")


@dataclass(frozen=True)
class Caps:
    """The size caps (ChatConfig settings): per value, per cell output, per image side."""

    max_chars: int = MAX_CHARS
    output_chars: int = 2000
    image_px: int = 1024
