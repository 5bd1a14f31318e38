"""Chat histories live in the user's namespace, read afresh at every turn so users may edit them."""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from ..client.errors import ValidationError
from ..client.history import ChatHistory
from ..defaults import HISTORY


def find_histories(namespace: MutableMapping[str, Any]) -> dict[str, ChatHistory]:
    """Every ChatHistory bound to a public name in the namespace."""
    return {
        k: v for k, v in namespace.items() if isinstance(v, ChatHistory) and not k.startswith("_")
    }


def get_history(
    namespace: MutableMapping[str, Any], name: str = HISTORY, *, create: bool = True
) -> ChatHistory:
    """The history bound to ``name``, created empty if absent (and ``create``)."""
    value = namespace.get(name)
    if value is None:
        if not create:
            raise ValidationError(f"there is no chat history named {name!r} yet")
        value = namespace[name] = ChatHistory()
    if not isinstance(value, ChatHistory):
        raise ValidationError(
            f"{name!r} holds a {type(value).__name__}, not a ChatHistory: pick another name with "
            f"-H NAME, or rebind it with {name} = ChatHistory()"
        )
    return value
