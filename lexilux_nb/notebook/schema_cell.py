"""``%%chat --schema NAME -o VAR``: the answer as JSON matching a schema, validated into ``VAR``.

The turn runs through the engine like any other (streamed, shown, recorded); only the request
changes: ``response_format`` ``json_schema`` (strict) where the provider supports it, else JSON
mode plus the schema as an instruction in the system prompt, exactly as ``Chat.extract`` sends
it. The answer is validated when it is complete; a mismatch is a short error naming the problem,
and the raw answer stays in ``_chat``. (No automatic retry here: the next ``%%chat`` can ask for
a correction with the history, and ``chat.extract`` retries for code that needs it.)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from ..client.errors import LexiluxError
from ..client.models import ChatResult
from ..client.protocol import detect_provider
from ..client.structured import Request, instruction
from ..engine import Ask
from .errors import ChatCellError


@dataclasses.dataclass
class Shape:
    """The schema a cell asked for, and how to check its answer."""

    name: str
    request: Request

    def value(self, result: ChatResult) -> Any:
        """The validated value of a complete answer; a :class:`ChatCellError` otherwise."""
        try:
            return self.request.check(result)
        except ValueError as exc:
            raise ChatCellError(
                f"the answer does not match {self.name}: {exc}. The raw answer is in _chat; "
                "ask again (the history has it) or use chat.extract(), which retries."
            ) from None


def shape_of(
    args: Any, namespace: Mapping[str, Any], base_url: str | None, provider: str | None
) -> Shape | None:
    """``--schema NAME`` resolved from the notebook, or None without the option."""
    name = getattr(args, "schema", None)
    if not name:
        return None
    if name not in namespace:
        raise ChatCellError(
            f"--schema: no {name!r} in the notebook; define a pydantic model, a dataclass, a "
            "TypedDict or a JSON-schema dict by that name first"
        )
    kind = "llamacpp" if base_url is None else detect_provider(base_url, provider)
    try:
        request = Request(kind, [], namespace[name], "auto", {})
    except LexiluxError as exc:
        raise ChatCellError(f"--schema {name}: {exc}") from None
    return Shape(name, request)


def shaped(ask: Ask, shape: Shape | None) -> Ask:
    """``ask`` with the request's ``response_format`` (and, in JSON mode, the instruction)."""
    if shape is None:
        return ask
    options = dict(ask.options)
    options["response_format"] = shape.request.options["response_format"]
    if shape.request.mode == "json_object":
        told = instruction(shape.request.schema)
        options["system"] = f"{options['system']}\n\n{told}" if options.get("system") else told
    return dataclasses.replace(ask, options=options)
