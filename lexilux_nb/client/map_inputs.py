"""What a batch sends (one prompt per item) and how its results become columns.

pandas is never imported here for input: a DataFrame or Series is recognised by its shape, so
``chat.map`` works without pandas installed. :func:`results_frame` imports it when called.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .errors import ValidationError
from .models import ChatResult

__all__ = ["render_items", "results_frame"]


def _is_frame(items: Any) -> bool:
    return hasattr(items, "columns") and hasattr(items, "to_dict") and hasattr(items, "iloc")


def _is_series(items: Any) -> bool:
    return not _is_frame(items) and hasattr(items, "to_list") and hasattr(items, "iloc")


def _fill(template: str, index: int, args: Sequence[Any], fields: Mapping[str, Any]) -> str:
    try:
        return template.format(*args, **fields)
    except KeyError as exc:
        names = ", ".join(map(str, fields)) or "none"
        raise ValidationError(
            f"item {index}: the template names {{{exc.args[0]}}}, which this item does not have "
            f"(its fields: {names}); use one of those names in the template"
        ) from None
    except IndexError:
        raise ValidationError(
            f"item {index}: the template has a positional {{}} but this item has no single value "
            "to put there; name the column instead, e.g. 'Classify: {text}'"
        ) from None


def render_items(
    items: Any, template: str | None = None, *, column: str | None = None
) -> list[Any]:
    """One prompt (or message list) per item, in order.

    - a DataFrame needs ``template``; ``{name}`` is filled from the row's columns, and ``{}``
      from ``column`` when given;
    - a Series: ``{}`` (or ``{series_name}``) is the value;
    - a list: strings and message lists are sent as they are without a template; with one,
      a mapping fills ``{name}`` and any other item fills ``{}``.
    """
    if template is not None and not isinstance(template, str):
        raise ValidationError(f"template must be a str, got {type(template).__name__}")
    if _is_frame(items):
        if column is not None and column not in items.columns:
            raise ValidationError(
                f"no column {column!r} in the DataFrame (columns: "
                f"{', '.join(map(str, items.columns))})"
            )
        if template is None:
            if column is None:
                raise ValidationError(
                    "a DataFrame needs template=, e.g. template='Classify: {text}' "
                    "(columns by name)"
                )
            template = "{}"
        records = items.to_dict("records")
        return [
            _fill(template, i, (row[column],) if column is not None else (), row)
            for i, row in enumerate(records)
        ]
    if _is_series(items):
        name = items.name
        values: list[Any] = items.to_list()
        if template is None:
            return values
        return [
            _fill(template, i, (v,), {name: v} if isinstance(name, str) else {})
            for i, v in enumerate(values)
        ]
    if isinstance(items, (str, bytes, Mapping)):
        raise ValidationError(
            "items must be a list of prompts (or of message lists), a pandas Series or a "
            f"DataFrame, got a single {type(items).__name__}: wrap it in a list"
        )
    out: list[Any] = []
    for i, item in enumerate(items):
        if template is None:
            out.append(item)
        elif isinstance(item, Mapping):
            out.append(_fill(template, i, (), item))
        else:
            out.append(_fill(template, i, (item,), {}))
    return out


def _row(result: Any) -> dict[str, Any]:
    if isinstance(result, BaseException):
        message = getattr(result, "message", None) or str(result)
        return {"error": f"{type(result).__name__}: {message}"}
    if isinstance(result, ChatResult):
        return {"text": result.text}
    if isinstance(result, Mapping):
        return dict(result)
    dump = getattr(result, "model_dump", None)  # a pydantic model from schema=
    if callable(dump):
        data = dump()
        if isinstance(data, dict):
            return data
    if dataclasses.is_dataclass(result) and not isinstance(result, type):
        return dataclasses.asdict(result)
    return {"value": result}


def results_frame(results: Iterable[Any], index: Any = None) -> Any:
    """A DataFrame with one row per result: ``text`` (or the schema's fields) and ``error``.

    A failed or unfinished item has missing values and its error in ``error``; pass
    ``index=df.index`` to line the rows up with the input, then
    ``df.join(results_frame(results, index=df.index))`` or ``df.assign(label=frame["text"])``.
    """
    try:
        import pandas as pd
    except ImportError:
        raise ImportError(
            "results_frame needs pandas: pip install 'lexilux-nb[context]' (or pip install pandas)"
        ) from None
    rows = [_row(r) for r in results]
    columns: dict[str, None] = {}
    for row in rows:
        for key in row:
            if key != "error":
                columns.setdefault(key, None)
    names = [*columns, "error"]
    data = {name: [row.get(name) for row in rows] for name in names}
    return pd.DataFrame(data, index=index, columns=names)
