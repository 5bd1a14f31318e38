"""One prompt over many items: concurrent, ordered, failures kept in their slots.

``amap`` is the engine; ``map_items`` runs it with ``asyncio.run`` in plain Python.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lexilux_nb.client.chat import Chat

__all__ = ["amap", "map_items", "render_items"]


def render_items(items: Iterable[Any], template: str | None) -> list[Any]:
    """Prompts or message lists, one per item; a template formats dict/row items by column name."""
    if hasattr(items, "to_dict") and hasattr(
        items, "columns"
    ):  # a DataFrame, without importing pandas
        if template is None:
            raise ValueError("a DataFrame needs template=, e.g. template='Classify: {text}'")
        items = items.to_dict("records")
    out: list[Any] = []
    for item in items:
        if template is None:
            out.append(item)
        elif isinstance(item, Mapping):
            out.append(template.format(**item))
        else:
            out.append(template.format(item))
    return out


async def amap(
    chat: Chat,
    items: Iterable[Any],
    template: str | None = None,
    *,
    concurrency: int = 8,
    on_error: str = "keep",
    **options: Any,
) -> list[Any]:
    """Results in item order; a failed item holds its exception (``on_error="keep"``) or raises."""
    if on_error not in ("keep", "raise"):
        raise ValueError(f"on_error must be 'keep' or 'raise', got {on_error!r}")
    if concurrency < 1:
        raise ValueError(f"concurrency must be >= 1, got {concurrency}")
    prompts = render_items(items, template)
    results: list[Any] = [None] * len(prompts)
    gate = asyncio.Semaphore(concurrency)

    async def one(i: int, prompt: Any) -> None:
        async with gate:
            try:
                results[i] = await chat.acall(prompt, **options)
            except Exception as exc:
                if on_error == "raise":
                    raise
                results[i] = exc

    await asyncio.gather(*(one(i, p) for i, p in enumerate(prompts)))
    return results


def map_items(
    chat: Chat, items: Iterable[Any], template: str | None = None, **kw: Any
) -> list[Any]:
    """The sync form for plain Python (no running event loop)."""
    return asyncio.run(amap(chat, items, template, **kw))
