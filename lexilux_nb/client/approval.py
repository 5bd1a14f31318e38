"""The approval policy: may this tool call run, and with which arguments? (pure)"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .models import ToolCall


@dataclass(frozen=True)
class Decision:
    allow: bool
    arguments: dict[str, Any] | None = None  # edited arguments, or None to keep the model's
    reason: str = "denied by the user"


def decide(policy: Any, call: ToolCall, arguments: dict[str, Any]) -> Decision:
    """``"always"`` runs, ``"never"`` denies; a callable returns bool, dict (edited) or Decision."""
    if policy == "always":
        return Decision(True)
    if policy == "never":
        return Decision(False)
    if callable(policy):
        answer = policy(call, arguments)
        if isinstance(answer, Decision):
            return answer
        if isinstance(answer, dict):
            return Decision(True, answer)
        return Decision(bool(answer))
    raise ValueError(f"approve must be 'always', 'never' or a callable(call, args), got {policy!r}")


Approver = Callable[[ToolCall, dict[str, Any]], Any]
