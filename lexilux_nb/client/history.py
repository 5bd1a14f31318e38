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

Concurrency and interrupts: the panel's loop thread and a cell may write the same history. The
messages and their metadata live in one tuple, replaced as a whole by one assignment made under
an ``RLock``: a writer builds the new lists first, so an exception (a ``KeyboardInterrupt``
included) at any line leaves the old state, and a reader that takes :meth:`ChatHistory.snapshot`
(or any one method) sees either the old state or the new one, never a mix.
"""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime, timezone
from os import PathLike
from typing import Any, overload

from . import history_io as io
from .errors import ValidationError
from .history_io import FORMAT as FORMAT
from .history_io import SAVE_FORMATS as SAVE_FORMATS
from .history_io import VERSION as VERSION
from .history_io import Exports
from .history_io import SaveWarning as SaveWarning
from .history_query import MESSAGE_OVERHEAD as MESSAGE_OVERHEAD
from .history_query import Queries
from .history_query import plain_text as plain_text
from .messages import check_message, content_text
from .models import ChatResult, ToolCall

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


class ChatHistory(Queries, Exports, Sequence[Message]):
    """A mutable conversation. Indexing, iteration and ``get_messages`` all return copies.

    Messages passed to the constructor (or ``from_messages``/``from_dict``) are taken as they are;
    only the ``add_*`` methods stamp a ``timestamp``, since the time of imported turns is unknown.
    Safe to share between threads (see the module docstring).
    """

    def __init__(
        self, system: str | None = None, messages: Sequence[Mapping[str, Any]] | None = None
    ) -> None:
        self._lock = threading.RLock()
        self._system = _check_system(system)
        if messages is not None and (
            isinstance(messages, str | bytes | Mapping) or not isinstance(messages, Sequence)
        ):
            raise ValidationError(
                f"messages must be a list of message dicts, got {type(messages).__name__} "
                "(use ChatHistory.from_messages for a str or a single dict)"
            )
        checked = [_check_message(i, m) for i, m in enumerate(messages or ())]
        if checked and checked[0]["role"] == "system" and isinstance(checked[0]["content"], str):
            first = checked.pop(0)["content"]
            if self._system is not None and self._system != first:
                raise ValidationError(
                    "got both system= and a different leading system message; pass only one"
                )
            self._system = first
        # Messages and metadata, replaced together by one assignment; never changed in place.
        self._state: tuple[list[Message], list[dict[str, Any]]] = (checked, [{} for _ in checked])

    @property
    def _messages(self) -> list[Message]:
        return self._state[0]

    @property
    def _meta(self) -> list[dict[str, Any]]:
        return self._state[1]

    def __getstate__(self) -> dict[str, Any]:  # pickle and deepcopy: everything but the lock
        with self._lock:
            return {"system": self._system, "state": self._state}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._lock = threading.RLock()
        self._system = state["system"]
        self._state = state["state"]

    @classmethod
    def _build(
        cls,
        system: str | None,
        messages: Sequence[Message],
        meta: Sequence[dict[str, Any]],
        *,
        shared: bool = True,
    ) -> ChatHistory:
        """A new history from already-validated parts (no system lifting).

        ``shared``: the parts come from a history's state, whose dicts are never changed in
        place, so the new history may hold the same dicts (a clone costs a list copy, not a deep
        copy); otherwise (caller's data) they are deep-copied.
        """
        new = cls(system)
        if shared:
            new._state = (list(messages), list(meta))
        else:
            new._state = (copy.deepcopy(list(messages)), copy.deepcopy(list(meta)))
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
        if not isinstance(messages, Sequence) or isinstance(messages, bytes):
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
        meta = copy.deepcopy(dict(metadata))
        meta.setdefault("timestamp", _now())
        with self._lock:
            messages, metas = self._state
            checked = _check_message(len(messages), message)
            self._state = ([*messages, checked], [*metas, meta])
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

    def snapshot(self) -> ChatHistory:
        """A consistent copy as of now, whatever other threads write meanwhile (views read this)."""
        with self._lock:
            system, (messages, meta) = self._system, self._state
        return self._build(system, messages, meta)

    def get_messages(self, include_system: bool = True) -> list[Message]:
        """Fresh copies of the wire dicts (system first), safe to send or to mutate."""
        system, messages = self._system, self._messages
        head = [{"role": "system", "content": system}] if include_system else []
        return [m for m in head if m["content"]] + copy.deepcopy(messages)

    def _last_text(self, role: str) -> str | None:
        for message in reversed(self._messages):
            if message["role"] == role:
                return content_text(message["content"], placeholders=False)
        return None

    def get_last_user_message(self) -> str | None:
        """Text of the last user message (text parts joined), or None if there is none."""
        return self._last_text("user")

    def get_last_assistant_message(self) -> str | None:
        """Text of the last assistant message ("" for a tool-calls-only turn), or None."""
        return self._last_text("assistant")

    def metadata(self, index: int) -> dict[str, Any]:
        """A copy of the metadata of message ``index``."""
        meta = self._meta
        return copy.deepcopy(meta[_position(index, len(meta))])

    def set_metadata(self, index: int, **values: Any) -> None:
        """Update (merge into) the metadata of message ``index``."""
        values = copy.deepcopy(values)
        with self._lock:
            messages, metas = self._state
            i = _position(index, len(metas))
            new = list(metas)
            new[i] = {**metas[i], **values}
            self._state = (messages, new)

    # -- sequence protocol -----------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._messages)

    @overload
    def __getitem__(self, index: int) -> Message: ...
    @overload
    def __getitem__(self, index: slice) -> ChatHistory: ...
    def __getitem__(self, index: int | slice) -> Message | ChatHistory:
        messages, meta = self._state
        if isinstance(index, slice):
            return self._build(self._system, messages[index], meta[index])
        return copy.deepcopy(messages[_position(index, len(messages))])

    def __iter__(self) -> Iterator[Message]:
        return iter(copy.deepcopy(self._messages))

    def __reversed__(self) -> Iterator[Message]:
        return reversed(copy.deepcopy(self._messages))

    def __contains__(self, value: object) -> bool:
        return value in self._messages

    def __bool__(self) -> bool:
        return bool(self._messages)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ChatHistory):
            return NotImplemented
        return (self._system, self._state) == (other._system, other._state)

    __hash__ = None  # type: ignore[assignment]  # mutable

    def clone(self) -> ChatHistory:
        """A copy: changing one never changes the other."""
        return self.snapshot()

    def pop(self) -> Message:
        """Remove and return the last message."""
        with self._lock:
            messages, meta = self._state
            if not messages:
                raise IndexError("pop from an empty ChatHistory")
            self._state = (messages[:-1], meta[:-1])
        return copy.deepcopy(messages[-1])

    def clear(self) -> None:
        """Remove every message; the system prompt stays."""
        with self._lock:
            self._state = ([], [])

    # -- rounds and tokens -----------------------------------------------------------------------

    def _spans(self, messages: Sequence[Message] | None = None) -> list[tuple[int, int]]:
        """(start, end) positions of each round; leading non-user messages form their own."""
        messages = self._messages if messages is None else messages
        spans: list[tuple[int, int]] = []
        start = 0
        for i, message in enumerate(messages):
            if message["role"] == "user" and i > start:
                spans.append((start, i))
                start = i
        if start < len(messages):
            spans.append((start, len(messages)))
        return spans

    def find_round(self, **metadata: Any) -> tuple[int, int] | None:
        """The span of the last round whose first message carries all of ``metadata``."""
        messages, meta = self._state
        return _find(self._spans(messages), meta, metadata)

    def splice(self, start: int, stop: int, other: ChatHistory) -> None:
        """Replace messages ``start:stop`` in place with ``other``'s messages and metadata."""
        new_messages, new_meta = other._state  # never changed in place: safe to share
        with self._lock:
            messages, meta = self._state
            if not 0 <= start <= stop <= len(messages):
                raise ValidationError(f"splice range {start}:{stop} is outside 0:{len(messages)}")
            self._state = (
                [*messages[:start], *new_messages, *messages[stop:]],
                [*meta[:start], *new_meta, *meta[stop:]],
            )

    def put_round(self, other: ChatHistory, **where: Any) -> tuple[int, int]:
        """Put ``other`` in place of the last round whose first message carries ``where``, or
        at the end when there is none (or no ``where``), as one change; returns its new span."""
        with self._lock:
            messages, meta = self._state
            found = _find(self._spans(messages), meta, where) if where else None
            start, stop = found or (len(messages), len(messages))
            self.splice(start, stop, other)
            return start, start + len(other)

    def rounds(self) -> list[list[Message]]:
        """The messages grouped into rounds (copies)."""
        messages = self._messages
        return [copy.deepcopy(messages[a:b]) for a, b in self._spans(messages)]

    def get_last_n_rounds(self, n: int) -> ChatHistory:
        """A new history with the last ``n`` whole rounds and the same system."""
        if n < 0:
            raise ValidationError(f"n must be >= 0, got {n}")
        messages, meta = self._state
        spans = self._spans(messages)
        start = spans[-n][0] if 0 < n <= len(spans) else (0 if n else len(messages))
        return self._build(self._system, messages[start:], meta[start:])

    def remove_last_round(self) -> list[Message]:
        """Remove the last round (by position) and return its messages."""
        with self._lock:
            messages, meta = self._state
            spans = self._spans(messages)
            if not spans:
                return []
            start = spans[-1][0]
            self._state = (messages[:start], meta[:start])
        return copy.deepcopy(messages[start:])

    # -- serialisation (see history_io: saves never lose a file) -------------------------------

    @classmethod
    def from_dict(cls, data: Any) -> ChatHistory:
        """Inverse of :meth:`to_dict`; a bare list of message dicts is accepted too."""
        if isinstance(data, list):
            return cls.from_messages(data)
        system, raw, meta = io.check_dict(data)
        messages = [_check_message(i, m) for i, m in enumerate(raw)]
        return cls._build(_check_system(system), messages, meta, shared=False)

    @classmethod
    def from_json(cls, text: str) -> ChatHistory:
        return cls.from_dict(io.loads(text))

    @classmethod
    def load(cls, path: str | PathLike[str]) -> ChatHistory:
        """Read a history saved as .json (the only lossless format)."""
        return cls.from_dict(io.read(path))

    def __repr__(self) -> str:
        parts = []
        system, messages = self._system, self._messages
        if system is not None:
            short = system if len(system) <= 20 else system[:19] + "…"
            parts.append(f"system={short!r}")
        n, r = len(messages), len(self._spans(messages))
        parts += [f"{n} message{'s' * (n != 1)}", f"{r} round{'s' * (r != 1)}"]
        return f"ChatHistory({', '.join(parts)})"


def _position(index: int, n: int) -> int:
    if not -n <= index < n:
        raise IndexError(f"message index {index} out of range ({n} messages)")
    return index % n


def _find(
    spans: list[tuple[int, int]], meta: Sequence[Mapping[str, Any]], where: Mapping[str, Any]
) -> tuple[int, int] | None:
    for start, stop in reversed(spans):
        first = meta[start]
        if all(first.get(k) == v for k, v in where.items()):
            return start, stop
    return None
