"""The one interface every view implements (widget, terminal, panel, null)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from ..client.continuation import ContinueProgress
from ..client.models import ChatStreamChunk
from .outcome import Outcome

Show = Callable[[], None]


class AnswerView(Protocol):
    """Where an answer appears while it streams, and how it is left when it ends.

    ``tool`` is told each tool activity (asked, running, done, denied, failed) of a turn that may
    call functions; ``approver`` returns what answers ``approve="ask"`` there (a widget, a prompt),
    or None where nobody can be asked. The engine tolerates views without these two.

    ``finish`` does the slow part (the final render) and returns a quick ``show`` that puts it on
    screen: the engine records the turn and calls ``show`` in one block that Ctrl-C cannot split.
    """

    def notice(self, text: str) -> None: ...

    def chunk(self, chunk: ChatStreamChunk) -> None: ...

    def progress(self, event: ContinueProgress) -> None: ...

    def tool(self, activity: Any) -> None: ...

    def approver(self) -> Any: ...

    def finish(self, outcome: Outcome) -> Show: ...


def _nothing() -> None:
    return None


class NullView:
    """Shows nothing (batch jobs, scripts); keeps the notices it was given."""

    def __init__(self) -> None:
        self.notices: list[str] = []

    def notice(self, text: str) -> None:
        self.notices.append(text)

    def chunk(self, chunk: ChatStreamChunk) -> None:
        return None

    def progress(self, event: ContinueProgress) -> None:
        return None

    def tool(self, activity: Any) -> None:
        return None

    def approver(self) -> Any:
        return None  # nobody to ask: approve="ask" is refused by the client

    def finish(self, outcome: Outcome) -> Show:
        return _nothing
