"""One item of a batch: how it is sent (a call, or structured output with ``schema=``), the
key its answer is cached under (the exact request), and how an answer is stored and read back.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from .cache import request_key, result_from_json, result_to_json
from .models import ChatResult

Chat = Any  # a lexilux_nb Chat; not imported: chat.py imports this module (no import circle)
EXTRACT_OPTIONS = ("mode", "retries")  # structured output's own options, not request fields


def sender(chat: Chat, schema: Any, options: dict[str, Any]) -> Any:
    """One item's call: the answer (``acall``), or with ``schema`` the validated value of
    structured output (``aextract``), with the answer's usage counted."""
    if schema is None:

        async def send(prompt: Any) -> Any:
            return await chat.acall(prompt, **options)

        return send
    from .structured import aextract

    async def extract(prompt: Any) -> Any:
        got = await aextract(chat, prompt, schema, return_result=True, **options)
        return Valued(got.value, got.result)

    return extract


class Valued:
    """A schema value and the answer it came from (only its usage is kept)."""

    __slots__ = ("result", "value")

    def __init__(self, value: Any, result: ChatResult) -> None:
        self.value, self.result = value, result

    @property
    def usage(self) -> Any:
        return self.result.usage


def _schema_key(schema: Any) -> Any:
    from .structured import as_schema

    described = as_schema(schema)
    return {"name": described.name, "schema": described.json_schema}


def item_key(chat: Chat, prompt: Any, schema: Any, options: dict[str, Any]) -> str:
    """The cache key: the exact request this item sends (URL and body), plus the schema and
    structured output's options."""
    sent = {k: v for k, v in options.items() if k not in EXTRACT_OPTIONS}
    req = chat.prepare(prompt, **sent)
    parts: dict[str, Any] = {"url": req.url, "body": req.body}
    if schema is not None:
        parts["schema"] = _schema_key(schema)
        parts["extract"] = {k: options[k] for k in EXTRACT_OPTIONS if k in options}
    return request_key(parts)


def _plain(value: Any) -> Any:
    """A schema value as JSON data: pydantic models and dataclasses dumped, the rest as is."""
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return dump(mode="json")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    return value


def dump(answer: Any) -> Any:
    if isinstance(answer, ChatResult):
        return {"result": result_to_json(answer)}
    return {"value": _plain(answer)}


def load(found: Any, schema: Any) -> Any:
    if "result" in found:
        return result_from_json(found["result"])
    from .structured import as_schema

    return as_schema(schema).validate(found.get("value"))
