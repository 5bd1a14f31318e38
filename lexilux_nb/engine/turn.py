"""A prompt being answered, and where its turn goes in the history.

- A turn is recorded only when the answer completed (or, if the surface asks, when it was stopped:
  marked interrupted); an error records nothing.
- A turn carrying a ``key`` (the cell id JupyterLab sends) replaces the turn recorded under that key
  last time, in place, so later turns stay where they are; the answer is generated with only the
  turns before it as context.
- Recording is one change of the history (:meth:`ChatHistory.put_round`, under its lock, the
  new state swapped in by one assignment) with Ctrl-C held back, so the panel's loop thread and
  a cell can record into the same history, and an interrupt leaves the turn wholly recorded or
  not at all.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from ..client.history import ChatHistory
from ..client.models import ChatResult
from .interrupts import deferred_interrupts
from .watch import history_changed

KEY = "cell_id"  # the metadata field of a turn's user message that holds its key

Content = str | list[dict[str, Any]]


@dataclass
class Turn:
    """``prompt`` (text or content parts) against ``history`` (None: nothing kept)."""

    prompt: Content
    history: ChatHistory | None
    key: str | None = None
    context: ChatHistory | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        if self.history is not None:
            span = self._old_span()
            self.context = self.history[: span[0]] if span else self.history.clone()

    @property
    def request(self) -> Any:
        """What the client is given: the text, or one user message holding the content parts
        (a bare list would be read as a list of messages)."""
        if isinstance(self.prompt, str):
            return self.prompt
        return [{"role": "user", "content": self.prompt}]

    def _old_span(self) -> tuple[int, int] | None:
        if self.history is None or not self.key:
            return None
        return self.history.find_round(**{KEY: self.key})

    def commit(
        self, result: ChatResult, before: Sequence[Mapping[str, Any]] = (), **metadata: Any
    ) -> bool:
        """Record the answer (replacing this key's old turn, or appending); True if recorded.

        ``before``: messages between the prompt and the answer (tool calls and their results).
        """
        if self.history is None:
            return False
        turn = ChatHistory()
        turn.add_user(self.prompt, **({KEY: self.key} if self.key else {}))
        for message in before:
            turn.add_message(message)
        if before and result.tool_calls:  # calls left unanswered (rounds ran out): not recorded
            result = replace(result, tool_calls=[])
        turn.append_result(result, **metadata)
        with deferred_interrupts(reraise=False):  # the turn is over: a Ctrl-C now changes nothing
            self.history.put_round(turn, **({KEY: self.key} if self.key else {}))
        history_changed(self.history)
        return True
