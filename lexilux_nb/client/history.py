"""A conversation: OpenAI-style message dicts, with per-message metadata kept beside them.

Why metadata lives in a parallel list rather than inside the dicts: :meth:`ChatHistory.get_messages`
must hand a client exactly what the wire accepts, while a notebook user also wants to know which
model answered, when, whether it was cut off and what it cost. Keeping the two apart means no
bookkeeping key can ever leak into a request, and no caller can corrupt the history through a
returned value (everything handed out is a deep copy).

The system prompt is held apart too (:attr:`ChatHistory.system`) so slicing, filtering and
truncation keep it without having to special-case a first message.

A *round* starts at a user message and runs to the next one, so an assistant's tool calls and the
tool replies to them always sit in the same round. Truncation only ever drops whole rounds, which
is what guarantees that a ``tool`` message is never sent without the call it answers.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime, timezone
from os import PathLike
from pathlib import Path
from typing import Any, overload

from . import history_export as export
from .errors import ValidationError
from .messages import ROLES, check_message
from .models import ChatResult, ToolCall, Usage
from .tokens import TokenCounter, default_counter

FORMAT = "lexilux_nb.history"
VERSION = 1
SAVE_FORMATS = (".json", ".md", ".html", ".txt")
MESSAGE_OVERHEAD = 4  # tokens the chat format adds around each message (role, separators)

Message = dict[str, Any]
Content = str | list[dict[str, Any]] | None


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


def _check_message(index: int, message: Any) -> Message:
    """A validated deep copy of one message dict, always with a ``content`` key."""
    out = check_message(index, message)
    out.setdefault("content", None)
    return out


def _check_system(system: Any) -> str | None:
    if system is not None and not isinstance(system, str):
        hint = " (pass messages as messages=...)" if isinstance(system, list) else ""
        raise ValidationError(f"system must be a str or None, got {type(system).__name__}{hint}")
    return system


class ChatHistory(Sequence[Message]):
    """A mutable conversation. Indexing, iteration and ``get_messages`` all return copies.

    Messages passed to the constructor (or ``from_messages``/``from_dict``) are taken as they are;
    only the ``add_*`` methods stamp a ``timestamp``, since the time of imported turns is unknown.
    """

    def __init__(
        self, system: str | None = None, messages: Sequence[Mapping[str, Any]] | None = None
    ) -> None:
        self._system = _check_system(system)
        checked = [_check_message(i, m) for i, m in enumerate(messages or ())]
        if checked and checked[0]["role"] == "system" and isinstance(checked[0]["content"], str):
            first = checked.pop(0)["content"]
            if self._system is not None and self._system != first:
                raise ValidationError(
                    "got both system= and a different leading system message; pass only one"
                )
            self._system = first
        self._messages: list[Message] = checked
        self._meta: list[dict[str, Any]] = [{} for _ in checked]

    @classmethod
    def _build(
        cls, system: str | None, messages: Sequence[Message], meta: Sequence[dict[str, Any]]
    ) -> ChatHistory:
        """A new history from already-validated parts (deep-copied, no system lifting)."""
        new = cls(system)
        new._messages = copy.deepcopy(list(messages))
        new._meta = copy.deepcopy(list(meta))
        return new

    @classmethod
    def from_messages(cls, messages: Any, system: str | None = None) -> ChatHistory:
        """From a str, a list of str (each a user message, as in ``Chat``) or message dicts."""
        if isinstance(messages, ChatHistory):
            new = messages.clone()
            if system is not None:
                new.system = system
            return new
        if isinstance(messages, str):
            return cls(system, [{"role": "user", "content": messages}])
        if isinstance(messages, Mapping):
            return cls(system, [messages])
        if not isinstance(messages, Sequence):
            raise ValidationError(
                "messages must be a str, a list of str, a list of message dicts or a "
                f"ChatHistory; got {type(messages).__name__}"
            )
        items = list(messages)
        return cls(
            system, [{"role": "user", "content": m} if isinstance(m, str) else m for m in items]
        )

    # -- system prompt -------------------------------------------------------------------------

    @property
    def system(self) -> str | None:
        """The system prompt, sent first by :meth:`get_messages` when non-empty."""
        return self._system

    @system.setter
    def system(self, value: str | None) -> None:
        self._system = _check_system(value)

    # -- adding ----------------------------------------------------------------------------------

    def _append(self, message: Mapping[str, Any], metadata: Mapping[str, Any]) -> ChatHistory:
        checked = _check_message(len(self._messages), message)
        meta = copy.deepcopy(dict(metadata))
        meta.setdefault("timestamp", _now())
        self._messages.append(checked)
        self._meta.append(meta)
        return self

    def add_user(self, content: Content, **metadata: Any) -> ChatHistory:
        """Append a user message; returns ``self`` so calls can be chained."""
        return self._append({"role": "user", "content": content}, metadata)

    def add_assistant(
        self,
        content: Content,
        tool_calls: Sequence[ToolCall | Mapping[str, Any]] | None = None,
        **metadata: Any,
    ) -> ChatHistory:
        """Append an assistant message; ``content`` may be None when it only calls tools."""
        message: Message = {"role": "assistant", "content": content}
        if tool_calls:
            message["tool_calls"] = list(tool_calls)
        return self._append(message, metadata)

    def add_message(
        self, message: Mapping[str, Any] | str, content: Content = None, **metadata: Any
    ) -> ChatHistory:
        """Append a whole message dict, or ``(role, content)``."""
        if isinstance(message, str):
            return self._append({"role": message, "content": content}, metadata)
        if content is not None:
            raise ValidationError("pass content inside the message dict, not as an argument")
        return self._append(message, metadata)

    def add_tool_result(
        self, tool_call_id: str, content: Any, name: str | None = None
    ) -> ChatHistory:
        """Append a tool reply; non-text content (a dict, a number) is sent as JSON text."""
        if content is not None and not isinstance(content, str | list):
            content = json.dumps(content, ensure_ascii=False, default=str)
        message: Message = {"role": "tool", "tool_call_id": tool_call_id, "content": content}
        if name:
            message["name"] = name
        return self._append(message, {})

    def append_result(self, result: ChatResult, **metadata: Any) -> ChatHistory:
        """Append one assistant message for a :class:`ChatResult`, its details as metadata."""
        meta: dict[str, Any] = {
            "model": result.model,
            "finish_reason": result.finish_reason,
            "usage": result.usage.to_dict(),
            "continues": result.continues,
            "truncated": result.truncated,
            "interrupted": result.interrupted,
        }
        if result.reasoning:
            meta["reasoning"] = result.reasoning
        if result.id:
            meta["response_id"] = result.id
        meta.update(metadata)
        content = result.text if result.text or not result.tool_calls else None
        if result.refusal:  # OpenAI's assistant message carries a refusal in its own field
            refused = {"role": "assistant", "content": content, "refusal": result.refusal}
            return self._append(refused, meta)
        return self.add_assistant(content, tool_calls=result.tool_calls or None, **meta)

    # -- reading ---------------------------------------------------------------------------------

    def get_messages(self, include_system: bool = True) -> list[Message]:
        """Fresh copies of the wire dicts (system first), safe to send or to mutate."""
        head = [{"role": "system", "content": self._system}] if include_system else []
        return [m for m in head if m["content"]] + copy.deepcopy(self._messages)

    def _last_text(self, role: str) -> str | None:
        for message in reversed(self._messages):
            if message["role"] == role:
                return export.content_text(message["content"], placeholders=False)
        return None

    def get_last_user_message(self) -> str | None:
        """Text of the last user message (text parts joined), or None if there is none."""
        return self._last_text("user")

    def get_last_assistant_message(self) -> str | None:
        """Text of the last assistant message ("" for a tool-calls-only turn), or None."""
        return self._last_text("assistant")

    def metadata(self, index: int) -> dict[str, Any]:
        """A copy of the metadata of message ``index``."""
        return copy.deepcopy(self._meta[self._index(index)])

    def set_metadata(self, index: int, **values: Any) -> None:
        """Update (merge into) the metadata of message ``index``."""
        self._meta[self._index(index)].update(copy.deepcopy(values))

    def _index(self, index: int) -> int:
        n = len(self._messages)
        if not -n <= index < n:
            raise IndexError(f"message index {index} out of range ({n} messages)")
        return index % n

    # -- sequence protocol -----------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._messages)

    @overload
    def __getitem__(self, index: int) -> Message: ...
    @overload
    def __getitem__(self, index: slice) -> ChatHistory: ...
    def __getitem__(self, index: int | slice) -> Message | ChatHistory:
        if isinstance(index, slice):
            return self._build(self._system, self._messages[index], self._meta[index])
        return copy.deepcopy(self._messages[self._index(index)])

    def __iter__(self) -> Iterator[Message]:
        return iter(copy.deepcopy(self._messages))

    def __bool__(self) -> bool:
        return bool(self._messages)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ChatHistory):
            return NotImplemented
        return (self._system, self._messages, self._meta) == (
            other._system,
            other._messages,
            other._meta,
        )

    __hash__ = None  # type: ignore[assignment]  # mutable

    def clone(self) -> ChatHistory:
        """A deep copy: changing one never changes the other."""
        return self._build(self._system, self._messages, self._meta)

    def pop(self) -> Message:
        """Remove and return the last message."""
        if not self._messages:
            raise IndexError("pop from an empty ChatHistory")
        self._meta.pop()
        return self._messages.pop()

    def clear(self) -> None:
        """Remove every message; the system prompt stays."""
        self._messages.clear()
        self._meta.clear()

    # -- rounds and tokens -----------------------------------------------------------------------

    def _spans(self) -> list[tuple[int, int]]:
        """(start, end) positions of each round; leading non-user messages form their own."""
        spans: list[tuple[int, int]] = []
        start = 0
        for i, message in enumerate(self._messages):
            if message["role"] == "user" and i > start:
                spans.append((start, i))
                start = i
        if start < len(self._messages):
            spans.append((start, len(self._messages)))
        return spans

    def round_spans(self) -> list[tuple[int, int]]:
        """``(start, stop)`` message positions of each round, in order."""
        return self._spans()

    def find_round(self, **metadata: Any) -> tuple[int, int] | None:
        """The span of the last round whose first message carries all of ``metadata``."""
        for start, stop in reversed(self._spans()):
            meta = self._meta[start]
            if all(meta.get(k) == v for k, v in metadata.items()):
                return start, stop
        return None

    def splice(self, start: int, stop: int, other: ChatHistory) -> None:
        """Replace messages ``start:stop`` in place with ``other``'s messages and metadata."""
        if not 0 <= start <= stop <= len(self._messages):
            raise ValidationError(f"splice range {start}:{stop} is outside 0:{len(self._messages)}")
        self._messages[start:stop] = copy.deepcopy(other._messages)
        self._meta[start:stop] = copy.deepcopy(other._meta)

    def rounds(self) -> list[list[Message]]:
        """The messages grouped into rounds (copies)."""
        return [copy.deepcopy(self._messages[a:b]) for a, b in self._spans()]

    def get_last_n_rounds(self, n: int) -> ChatHistory:
        """A new history with the last ``n`` whole rounds and the same system."""
        if n < 0:
            raise ValidationError(f"n must be >= 0, got {n}")
        spans = self._spans()
        start = spans[-n][0] if 0 < n <= len(spans) else (0 if n else len(self._messages))
        return self._build(self._system, self._messages[start:], self._meta[start:])

    def remove_last_round(self) -> list[Message]:
        """Remove the last round (by position) and return its messages."""
        spans = self._spans()
        if not spans:
            return []
        start = spans[-1][0]
        removed = self._messages[start:]
        del self._messages[start:], self._meta[start:]
        return removed

    @staticmethod
    def _tokens(message: Mapping[str, Any], counter: TokenCounter | None) -> int:
        text = export.plain_text(message)
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
        self, max_tokens: int, counter: TokenCounter | None = None, keep_system: bool = True
    ) -> ChatHistory:
        """The most recent whole rounds that fit in ``max_tokens`` (system included).

        Stops at the first round that does not fit, so the result is always a contiguous tail
        of the conversation and never splits a tool call from its replies.
        """
        if max_tokens < 0:
            raise ValidationError(f"max_tokens must be >= 0, got {max_tokens}")
        system = self._system if keep_system else None
        budget = max_tokens
        if system:
            budget -= self._tokens({"role": "system", "content": system}, counter)
        start = len(self._messages)
        for a, b in reversed(self._spans()):
            cost = sum(self._tokens(m, counter) for m in self._messages[a:b])
            if cost > budget:
                break
            budget -= cost
            start = a
        return self._build(system, self._messages[start:], self._meta[start:])

    # -- serialisation -------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Everything (system, messages, metadata) as plain JSON-ready data."""
        return {
            "format": FORMAT,
            "version": VERSION,
            "system": self._system,
            "messages": copy.deepcopy(self._messages),
            "metadata": copy.deepcopy(self._meta),
        }

    @classmethod
    def from_dict(cls, data: Any) -> ChatHistory:
        """Inverse of :meth:`to_dict`; a bare list of message dicts is accepted too."""
        if isinstance(data, list):
            return cls.from_messages(data)
        if not isinstance(data, Mapping):
            raise ValidationError(f"expected a dict or a list of messages, got {type(data)}")
        if data.get("format", FORMAT) != FORMAT:
            raise ValidationError(f"not a chat history: format is {data.get('format')!r}")
        version = data.get("version", VERSION)
        if not isinstance(version, int) or version > VERSION:
            raise ValidationError(f"unsupported history version {version!r} (max {VERSION})")
        raw = data.get("messages") or []
        if not isinstance(raw, list):
            raise ValidationError("'messages' must be a list")
        messages = [_check_message(i, m) for i, m in enumerate(raw)]
        meta = data.get("metadata")
        if meta is None:
            meta = [{} for _ in messages]
        if not isinstance(meta, list) or len(meta) != len(messages):
            raise ValidationError("'metadata' must be a list with one dict per message")
        if not all(isinstance(m, dict) for m in meta):
            raise ValidationError("every 'metadata' entry must be a dict")
        return cls._build(_check_system(data.get("system")), messages, meta)

    def to_json(self, indent: int | None = 2) -> str:
        """:meth:`to_dict` as JSON; non-JSON metadata values are stored as their ``str``."""
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False, default=str)

    @classmethod
    def from_json(cls, text: str) -> ChatHistory:
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ValidationError(f"not valid JSON: {exc}") from exc
        return cls.from_dict(data)

    def save(self, path: str | PathLike[str]) -> Path:
        """Write to ``path`` in the format its extension names (.json, .md, .html, .txt)."""
        target = Path(path)
        suffix = target.suffix.lower()
        writers: dict[str, Callable[[], str]] = {
            ".json": self.to_json,
            ".md": self.to_markdown,
            ".html": lambda: self.to_html(document=True),
            ".txt": self.to_text,
        }
        if suffix not in writers:
            raise ValidationError(
                f"cannot save as {suffix or 'a file without extension'!r}; "
                f"accepted extensions: {', '.join(SAVE_FORMATS)}"
            )
        target.write_text(writers[suffix](), encoding="utf-8")
        return target

    @classmethod
    def load(cls, path: str | PathLike[str]) -> ChatHistory:
        """Read a history saved as .json (the only lossless format)."""
        source = Path(path)
        if source.suffix.lower() != ".json":
            raise ValidationError(f"can only load .json histories, not {source.name!r}")
        return cls.from_json(source.read_text(encoding="utf-8"))

    # -- exports and display -------------------------------------------------------------------

    def to_markdown(self) -> str:
        return export.to_markdown(self._system, self._messages, self._meta)

    def to_text(self) -> str:
        return export.to_text(self._system, self._messages)

    def to_html(self, document: bool = False) -> str:
        """Escaped HTML with inline styles; ``document=True`` for a standalone page."""
        return export.to_html(self._system, self._messages, self._meta, document=document)

    def _repr_markdown_(self) -> str:
        text = export.to_markdown(self._system, self._messages, self._meta, escape_html=True)
        return text or "*(empty chat history)*"

    def _repr_html_(self) -> str:
        return export.to_html(self._system, self._messages, self._meta, compact=True)

    def __repr__(self) -> str:
        parts = []
        if self._system is not None:
            short = self._system if len(self._system) <= 20 else self._system[:19] + "…"
            parts.append(f"system={short!r}")
        n, r = len(self._messages), len(self._spans())
        parts += [f"{n} message{'s' * (n != 1)}", f"{r} round{'s' * (r != 1)}"]
        return f"ChatHistory({', '.join(parts)})"

    # -- utilities -------------------------------------------------------------------------------

    def merge(self, other: Any) -> ChatHistory:
        """``self`` followed by ``other``; keeps this system prompt unless it is None."""
        if not isinstance(other, ChatHistory):
            other = ChatHistory.from_messages(other)
        system = self._system if self._system is not None else other._system
        return self._build(system, self._messages + other._messages, self._meta + other._meta)

    def filter_by_role(self, *roles: str) -> ChatHistory:
        """A new history with only the messages of the given roles (same system)."""
        bad = [r for r in roles if r not in ROLES]
        if bad:
            raise ValidationError(f"unknown role {bad[0]!r}; accepted roles: {', '.join(ROLES)}")
        keep = [i for i, m in enumerate(self._messages) if m["role"] in roles]
        return self._build(
            self._system, [self._messages[i] for i in keep], [self._meta[i] for i in keep]
        )

    def search(self, query: str, case_sensitive: bool = False) -> list[tuple[int, Message]]:
        """``(index, message copy)`` for each message whose text or tool calls contain ``query``."""
        if not query:
            raise ValidationError("search query must be a non-empty str")
        needle = query if case_sensitive else query.casefold()
        hits = []
        for i, message in enumerate(self._messages):
            text = export.plain_text(message)
            if needle in (text if case_sensitive else text.casefold()):
                hits.append((i, copy.deepcopy(message)))
        return hits

    def statistics(self) -> dict[str, Any]:
        """Counts per role, rounds, characters, estimated tokens and usage summed from metadata."""
        by_role: dict[str, int] = {}
        for message in self._messages:
            by_role[message["role"]] = by_role.get(message["role"], 0) + 1
        usage = Usage()
        for meta in self._meta:
            value = meta.get("usage")
            if isinstance(value, Usage):
                usage = usage + value
            elif isinstance(value, Mapping):
                usage = usage + Usage.from_dict(dict(value))
        chars = len(self._system or "") + sum(len(export.plain_text(m)) for m in self._messages)
        return {
            "messages": len(self._messages),
            "by_role": by_role,
            "rounds": len(self._spans()),
            "characters": chars,
            "estimated_tokens": self.count_tokens(),
            "usage": usage.to_dict(),
        }
