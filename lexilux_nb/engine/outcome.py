"""What a turn asks for and how it ended, in the words a person reads in a footer."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from ..client.errors import LexiluxError
from ..client.models import ChatResult
from .tools import Tools

State = Literal["complete", "interrupted", "failed"]

# finish_reason → what it means for the reader (API words never reach a footer)
ENDINGS = {
    "stop": "complete",
    "length": "cut at the token limit",
    "tool_calls": "asked to call tools",
    "content_filter": "stopped by the content filter",
}


@dataclass(frozen=True)
class Ask:
    """How to send one turn: the chat options, streaming, and continuation settings if any."""

    options: Mapping[str, Any] = field(default_factory=dict)
    stream: bool = True
    continuation: Mapping[str, Any] | None = None  # max_continues, ...; None: one request
    keep_interrupted: bool = False  # record a stopped answer (marked interrupted) in the history
    tools: Tools | None = None  # functions the model may call, and who approves a call


@dataclass
class Outcome:
    """A turn as it ended: the (possibly partial) result, why it ended, and what was recorded."""

    result: ChatResult
    state: State
    seconds: float
    model: str  # the model that answered, as the reader should see it
    error: LexiluxError | None = None
    recorded: bool = False
    cost: float | None = None  # US dollars, where a price is known (see engine.usage)

    @property
    def footer(self) -> Footer:
        return footer_of(self)


@dataclass(frozen=True)
class Footer:
    """The one line under an answer, as parts (views style them) and as text."""

    model: str
    tokens: str | None
    seconds: str
    ending: str
    extras: tuple[str, ...] = ()

    @property
    def parts(self) -> list[str]:
        return [self.model, *([self.tokens] if self.tokens else []), self.seconds, self.ending]

    @property
    def text(self) -> str:
        return " · ".join([*self.parts, *self.extras])

    def __str__(self) -> str:
        return self.text


def ending_of(outcome: Outcome) -> str:
    """One plain phrase for how the answer ended."""
    result = outcome.result
    if outcome.state == "interrupted":
        return "stopped"
    if outcome.state == "failed":
        return "failed"
    if result.refusal:
        return "refused"
    if result.truncated:
        return "still cut at the token limit"
    reason = result.finish_reason
    if reason is None:
        return "complete"
    return ENDINGS.get(reason, reason.replace("_", " "))


def footer_of(outcome: Outcome) -> Footer:
    """Model, tokens in → out (and the cost where known), seconds, how it ended, and
    continuations (each said once)."""
    result = outcome.result
    usage = result.usage
    tokens = None
    if usage.input_tokens is not None or usage.output_tokens is not None:
        tokens = f"{usage.input_tokens or 0} → {usage.output_tokens or 0} tokens"
        if outcome.cost is not None:
            from .usage import format_cost

            tokens += f", {format_cost(outcome.cost)}"
    extras: list[str] = []
    if result.continues:
        extras.append(f"{result.continues} continuation{'s' if result.continues > 1 else ''}")
    return Footer(
        outcome.model, tokens, f"{outcome.seconds:.1f} s", ending_of(outcome), tuple(extras)
    )
