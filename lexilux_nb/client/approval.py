"""The approval policy: may this tool call run, and with which arguments?

A policy is ``"always"``, ``"never"``, or a callable ``(call, arguments)`` answering ``True``
(run), ``False``/``None`` (deny), a dict (run with these edited arguments) or a
:class:`Decision`; the callable may be async (or return an awaitable), which the async drivers
await and the sync ones run to completion. ``"ask"`` means "ask the user" and so needs a
callable that asks: the client has no UI of its own (the notebook supplies one).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from .errors import ValidationError
from .models import ToolCall

T = TypeVar("T")
POLICIES = ("ask", "always", "never")
DENIED = "denied by the user"


@dataclass(frozen=True)
class Decision:
    """The answer to one call: run it (maybe with edited arguments), or not and why."""

    allow: bool
    arguments: dict[str, Any] | None = None  # edited arguments, or None to keep the model's
    reason: str = DENIED


Approver = Callable[[ToolCall, dict[str, Any]], Any]
"""``(call, arguments) -> bool | dict | Decision | None``, or an awaitable of one."""


def check_policy(policy: Any) -> None:
    """Refuse an unusable policy before anything is sent."""
    if callable(policy) or policy in ("always", "never"):
        return
    if policy == "ask":
        raise ValidationError(
            "approve='ask' needs someone to ask: pass approve=callable(call, arguments) that "
            "returns True (run), False (deny) or edited arguments (a dict); %%chat in a notebook "
            "supplies one. Or pass approve='always' / approve='never'."
        )
    raise ValidationError(
        f"approve must be 'ask', 'always', 'never' or a callable(call, arguments), got {policy!r}"
    )


def _as_decision(answer: Any) -> Decision:
    if isinstance(answer, Decision):
        return answer
    if isinstance(answer, Mapping):
        return Decision(True, dict(answer))
    return Decision(bool(answer))


def run_sync(awaitable: Awaitable[T]) -> T:
    """Run an awaitable to completion from sync code, also when a loop already runs here
    (a Jupyter cell): then it runs on a fresh loop in a worker thread."""

    async def wrap() -> T:
        return await awaitable

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(wrap())
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, wrap()).result()


def _fixed(policy: Any) -> Decision | None:
    check_policy(policy)
    if policy == "always":
        return Decision(True)
    if policy == "never":
        return Decision(False)
    return None


def decide(policy: Any, call: ToolCall, arguments: dict[str, Any]) -> Decision:
    """The sync answer; an async approver is run to completion."""
    fixed = _fixed(policy)
    if fixed is not None:
        return fixed
    answer = policy(call, dict(arguments))
    if inspect.isawaitable(answer):
        answer = run_sync(answer)
    return _as_decision(answer)


async def adecide(policy: Any, call: ToolCall, arguments: dict[str, Any]) -> Decision:
    """The async answer: an awaitable answer is awaited on the caller's loop."""
    fixed = _fixed(policy)
    if fixed is not None:
        return fixed
    answer = policy(call, dict(arguments))
    if inspect.isawaitable(answer):
        answer = await answer
    return _as_decision(answer)
