"""One prompt → answer exchange against a history in the user namespace; no IPython import.

Semantics the magics and the chat panel share:

- a turn is recorded only when the answer completed: an error or an interrupt records nothing;
- re-running a cell replaces the turn that cell recorded last time (in place, so later turns
  stay where they are), and the answer is generated with only the turns before it as context;
- the history is read from the namespace at every turn, so users may edit or replace it.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable, Iterator, MutableMapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..client.chat import Chat
from ..client.continuation import ContinueProgress
from ..client.errors import ChatStreamInterruptedError, ValidationError
from ..client.history import ChatHistory
from ..client.models import ChatResult, ChatStreamChunk

DEFAULT_HISTORY = "chat_history"
RESULT_VARIABLE = "_chat"


class AnswerView(Protocol):
    """Where an answer is shown while it streams (widget, terminal, or nothing)."""

    def chunk(self, chunk: ChatStreamChunk) -> None: ...

    def progress(self, event: ContinueProgress) -> None: ...

    def finish(self, result: ChatResult, footer: str) -> None: ...

    def interrupted(self, partial: ChatResult, footer: str) -> None: ...

    def failed(self, partial: ChatResult | None) -> None: ...


# id(history) -> (a weak reference to it, callbacks). ChatHistory is unhashable (it compares by
# value), so it is keyed by identity; entries of collected histories are dropped as we go.
_watchers: dict[int, tuple[weakref.ref[ChatHistory], list[Callable[[], None]]]] = {}


def _callbacks(history: ChatHistory) -> list[Callable[[], None]]:
    for key in [k for k, (ref, _) in _watchers.items() if ref() is None]:
        del _watchers[key]
    entry = _watchers.get(id(history))
    if entry is None or entry[0]() is not history:
        entry = _watchers[id(history)] = (weakref.ref(history), [])
    return entry[1]


def watch_history(history: ChatHistory, callback: Callable[[], None]) -> Callable[[], None]:
    """Call ``callback`` after every turn recorded in ``history``; returns an unsubscribe."""
    callbacks = _callbacks(history)
    callbacks.append(callback)

    def unsubscribe() -> None:
        if callback in callbacks:
            callbacks.remove(callback)

    return unsubscribe


def history_changed(history: ChatHistory) -> None:
    """Tell every view of ``history`` (chat panels) that it changed."""
    for callback in list(_callbacks(history)):
        callback()


def find_histories(namespace: MutableMapping[str, Any]) -> dict[str, ChatHistory]:
    """Every ChatHistory bound to a public name in the namespace."""
    return {
        k: v for k, v in namespace.items() if isinstance(v, ChatHistory) and not k.startswith("_")
    }


def get_history(
    namespace: MutableMapping[str, Any], name: str = DEFAULT_HISTORY, *, create: bool = True
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


@dataclass
class Turn:
    """A prompt being answered, and where its turn will go in the history."""

    prompt: str
    history: ChatHistory | None
    cell_id: str | None = None
    context: ChatHistory | None = field(init=False)

    def __post_init__(self) -> None:
        self.context = None
        if self.history is not None:
            span = self._old_span()
            self.context = self.history[: span[0]] if span else self.history.clone()

    def _old_span(self) -> tuple[int, int] | None:
        if self.history is None or not self.cell_id:
            return None
        return self.history.find_round(cell_id=self.cell_id)

    def commit(self, result: ChatResult, **metadata: Any) -> None:
        """Record the finished answer: replace this cell's old turn, or append."""
        if self.history is None:
            return
        turn = ChatHistory()
        user_meta = {"cell_id": self.cell_id} if self.cell_id else {}
        turn.add_user(self.prompt, **user_meta)
        turn.append_result(result, **metadata)
        span = self._old_span() or (len(self.history), len(self.history))
        self.history.splice(span[0], span[1], turn)
        history_changed(self.history)


def footer(result: ChatResult, seconds: float, model: str | None) -> str:
    """One line: model, tokens in/out, seconds, finish reason, continuations."""
    parts = [result.model or model or "?"]
    usage = result.usage
    if usage.input_tokens is not None or usage.output_tokens is not None:
        parts.append(f"{usage.input_tokens or 0} → {usage.output_tokens or 0} tokens")
    parts.append(f"{seconds:.1f} s")
    parts.append(result.finish_reason or ("interrupted" if result.interrupted else "unfinished"))
    if result.continues:
        parts.append(f"{result.continues} continuation{'s' if result.continues > 1 else ''}")
    if result.truncated:
        parts.append("still truncated")
    return " · ".join(parts)


@dataclass
class Exchange:
    """Runs one turn through a view and keeps the namespace and history consistent."""

    chat: Chat
    namespace: MutableMapping[str, Any]
    view: AnswerView
    clock: Callable[[], float] = time.monotonic

    def run(
        self,
        turn: Turn,
        options: dict[str, Any],
        *,
        stream: bool = True,
        complete: dict[str, Any] | None = None,
        out: str | None = None,
    ) -> ChatResult:
        """Ask, show, record. Interrupts and errors leave the history untouched."""
        started = self.clock()
        model = options.get("model") or self.chat.model
        call: dict[str, Any] = dict(options, history=turn.context)
        iterator: Any = None
        try:
            if complete is not None:
                call.update(complete, on_progress=self.view.progress)
                iterator = (
                    self.chat.complete_stream(turn.prompt, **call)
                    if stream
                    else iter([self.chat.complete(turn.prompt, **call)])
                )
            else:
                iterator = (
                    self.chat.stream(turn.prompt, **call)
                    if stream
                    else iter([self.chat(turn.prompt, **call)])
                )
            result = self._drain(iterator)
        except KeyboardInterrupt:
            partial = _partial_of(iterator)
            _close(iterator)
            partial.interrupted = True
            self._bind(partial, out)
            self.view.interrupted(partial, footer(partial, self.clock() - started, model))
            raise
        except ChatStreamInterruptedError as exc:
            self._bind(exc.partial_result, out)
            self.view.failed(exc.partial_result)
            raise
        except Exception:
            partial = _partial_of(iterator)
            self.view.failed(partial if partial.text else None)
            raise
        turn.commit(result)
        self._bind(result, out)
        self.view.finish(result, footer(result, self.clock() - started, model))
        return result

    def _drain(self, iterator: Iterator[Any]) -> ChatResult:
        last: ChatResult | None = None
        for item in iterator:
            if isinstance(item, ChatResult):  # a non-streamed answer, shown at once
                last = item
                self.view.chunk(
                    ChatStreamChunk(item.text, False, None, item.usage, [], item.reasoning)
                )
            else:
                self.view.chunk(item)
        return last if last is not None else iterator.result  # type: ignore[attr-defined]

    def _bind(self, result: ChatResult, out: str | None) -> None:
        self.namespace[RESULT_VARIABLE] = result
        if out:
            self.namespace[out] = result


def _partial_of(iterator: Any) -> ChatResult:
    result = getattr(iterator, "result", None)
    return result if isinstance(result, ChatResult) else ChatResult()


def _close(iterator: Any) -> None:
    close = getattr(iterator, "close", None)
    if callable(close):
        close()
