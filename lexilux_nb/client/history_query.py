"""``ChatHistory``'s token counts, truncation, search, statistics, merging and filtering:
reading, never writing (a merge or a filter is a new history).

Each method reads the history's state once, so it sees one consistent conversation even while
another thread records a turn.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from .errors import ValidationError
from .messages import ROLES, content_text
from .models import Usage
from .tokens import TokenCounter, default_counter

_H = TypeVar("_H", bound="Queries")

MESSAGE_OVERHEAD = 4  # tokens the chat format adds around each message (role, separators)

Message = dict[str, Any]


def plain_text(message: Mapping[str, Any]) -> str:
    """Text that counts toward tokens and searches: content text plus tool-call names/arguments."""
    pieces = [content_text(message.get("content"), placeholders=False)]
    for call in message.get("tool_calls") or ():
        fn = call.get("function") if isinstance(call, Mapping) else None
        if isinstance(fn, Mapping):
            pieces.append(f"{fn.get('name') or ''} {fn.get('arguments') or ''}")
    return "\n".join(p for p in pieces if p)


class Queries:
    """Mixed into ``ChatHistory``."""

    _system: str | None
    _state: tuple[list[Message], list[dict[str, Any]]]

    if TYPE_CHECKING:

        def _spans(self, messages: Sequence[Message] | None = None) -> list[tuple[int, int]]: ...
        def get_messages(self, include_system: bool = True) -> list[Message]: ...
        def snapshot(self: _H) -> _H: ...
        @classmethod
        def from_messages(cls: type[_H], messages: Any, system: str | None = None) -> _H: ...
        @classmethod
        def _build(
            cls: type[_H],
            system: str | None,
            messages: Sequence[Message],
            meta: Sequence[dict[str, Any]],
            *,
            shared: bool = True,
        ) -> _H: ...

    @staticmethod
    def _tokens(message: Mapping[str, Any], counter: TokenCounter | None) -> int:
        text = plain_text(message)
        if counter is None:
            return default_counter(text) + MESSAGE_OVERHEAD
        return int(counter(text))

    def count_tokens(self, counter: TokenCounter | None = None) -> int:
        """Tokens of the system prompt and every message.

        A custom ``counter`` is applied to each message's text and summed as is; the default one
        adds :data:`MESSAGE_OVERHEAD` per message for the chat format's framing.
        """
        return sum(self._tokens(m, counter) for m in self.get_messages())

    def truncate_by_rounds(
        self: _H, max_tokens: int, counter: TokenCounter | None = None, keep_system: bool = True
    ) -> _H:
        """The most recent whole rounds that fit in ``max_tokens`` (system included).

        Stops at the first round that does not fit, so the result is always a contiguous tail
        of the conversation and never splits a tool call from its replies.
        """
        if max_tokens < 0:
            raise ValidationError(f"max_tokens must be >= 0, got {max_tokens}")
        system = self._system if keep_system else None
        messages, meta = self._state
        budget = max_tokens
        if system:
            budget -= self._tokens({"role": "system", "content": system}, counter)
        start = len(messages)
        for a, b in reversed(self._spans(messages)):
            cost = sum(self._tokens(m, counter) for m in messages[a:b])
            if cost > budget:
                break
            budget -= cost
            start = a
        return self._build(system, messages[start:], meta[start:])

    def search(self, query: str, case_sensitive: bool = False) -> list[tuple[int, Message]]:
        """``(index, message copy)`` for each message whose text or tool calls contain ``query``."""
        if not isinstance(query, str) or not query:
            raise ValidationError("search query must be a non-empty str")
        needle = query if case_sensitive else query.casefold()
        hits = []
        for i, message in enumerate(self._state[0]):
            text = plain_text(message)
            if needle in (text if case_sensitive else text.casefold()):
                hits.append((i, copy.deepcopy(message)))
        return hits

    def statistics(self) -> dict[str, Any]:
        """Counts per role, rounds, characters, estimated tokens and usage summed from metadata."""
        snap = self.snapshot()
        messages, metas = snap._state
        by_role: dict[str, int] = {}
        for message in messages:
            by_role[message["role"]] = by_role.get(message["role"], 0) + 1
        usage = Usage()
        for meta in metas:
            value = meta.get("usage")
            if isinstance(value, Usage):
                usage = usage + value
            elif isinstance(value, Mapping):
                usage = usage + Usage.from_dict(dict(value))
        chars = len(snap._system or "") + sum(len(plain_text(m)) for m in messages)
        return {
            "messages": len(messages),
            "by_role": by_role,
            "rounds": len(snap._spans(messages)),
            "characters": chars,
            "estimated_tokens": snap.count_tokens(),
            "usage": usage.to_dict(),
        }

    # -- new histories from this one ------------------------------------------------------------

    def merge(self: _H, other: Any) -> _H:
        """``self`` followed by ``other``; keeps this system prompt unless it is None."""
        if not isinstance(other, Queries):
            other = type(self).from_messages(other)
        (mine, my_meta), (theirs, their_meta) = self._state, other._state
        system = self._system if self._system is not None else other._system
        return self._build(system, mine + theirs, my_meta + their_meta)

    def filter_by_role(self: _H, *roles: str) -> _H:
        """A new history with only the messages of the given roles (same system)."""
        bad = [r for r in roles if r not in ROLES]
        if bad:
            raise ValidationError(f"unknown role {bad[0]!r}; accepted roles: {', '.join(ROLES)}")
        messages, meta = self._state
        keep = [i for i, m in enumerate(messages) if m["role"] in roles]
        return self._build(self._system, [messages[i] for i in keep], [meta[i] for i in keep])
