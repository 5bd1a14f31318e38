"""The budget meter of the cells and the panel: estimate the request about to be sent, and warn
(or refuse) before sending one that will not fit the model's context window
(:mod:`lexilux_nb.context.budget`); the dry run shows the estimate itself.

The window is the ``context_window`` setting when set (the user's word wins, and no request is
made), else what the server reports for the model (asked once per endpoint and model, only for a
prompt over :data:`~lexilux_nb.context.budget.ASK_ABOVE` estimated tokens).
"""

from __future__ import annotations

from typing import Any

from ..client.chat import Chat
from ..client.errors import LexiluxError
from ..client.tokens import estimate_tokens
from ..client.transport import PreparedRequest
from ..context import budget
from ..engine import Ask, Turn
from .errors import ChatCellError

# Counted the cheap way first; only a prompt past this share of the window is counted again with
# tiktoken, whose first use can take seconds (it fetches its encoding, and offline it fails).
NEAR = 0.5


def window_of(chat: Chat, model: str | None, setting: int | None, total: int) -> int | None:
    """The context window to compare with (see the module docstring)."""
    if setting is not None:
        return setting
    if total <= budget.ASK_ABOVE:
        return None
    headers = dict(chat.headers)
    if chat.api_key:
        headers["Authorization"] = f"Bearer {chat.api_key}"
    return budget.discover_window(chat.base_url, model, budget.http_getter(headers))


def measure(
    settings: Any, chat: Chat | None, request: PreparedRequest, typed: str | None
) -> tuple[budget.Estimate, int | None, int]:
    """(the estimate, the window or None, the answer's reserve) for a prepared request; with no
    ``chat`` (the embedded model, not started by a dry run) the window is the setting, else the
    context the embedded server allocates."""
    body = request.body
    messages = body["messages"]
    found = budget.estimate(messages, raw_prompt=typed, counter=estimate_tokens)
    setting = settings.context_window
    if chat is None:
        from ..local import N_CTX

        window: int | None = setting or N_CTX
    else:
        window = window_of(chat, body.get("model"), setting, found.total)
    reserve = int(body.get("max_tokens") or body.get("max_completion_tokens") or 0)
    if window is not None and found.total + reserve > window * NEAR:
        found = budget.estimate(messages, raw_prompt=typed)  # tiktoken, when it is usable
    return found, window, reserve


def check(
    settings: Any,
    chat: Chat,
    turn: Turn,
    ask: Ask,
    typed: str | None,
    advice: str = budget.CELL_ADVICE,
) -> list[str]:
    """Notices for this turn (a warning, or none); raises ``ChatCellError`` when the setting is
    ``budget=refuse`` and the prompt will not fit, so nothing is sent."""
    if settings.budget == "off":
        return []
    try:
        request = chat.prepare(turn.request, history=turn.context, **ask.options)
    except LexiluxError:
        return []  # the engine reports a bad request the usual way
    warning = budget.verdict(*measure(settings, chat, request, typed), advice=advice)
    if warning is None:
        return []
    if settings.budget == "refuse":
        raise ChatCellError(f"not sent: {warning} (budget=warn sends it anyway)")
    return [f"Budget: {warning}"]


def preview(settings: Any, chat: Chat | None, request: PreparedRequest, typed: str | None) -> str:
    """The dry run's budget line: the estimate, its largest parts, and how it compares."""
    found, window, reserve = measure(settings, chat, request, typed)
    named = ", ".join(f"{p.name} {p.tokens:,}" for p in found.largest())
    line = f"Budget: about {found.total:,} tokens ({named})"
    warning = budget.verdict(found, window, reserve)
    if warning is not None:
        real = {"refuse": "refused", "off": "sent unchecked (budget=off)"}
        then = real.get(settings.budget, "sent with a warning")
        return f"Budget ({then} on a real run): {warning}"
    if window is None and found.total <= budget.ASK_ABOVE:
        return f"{line}: small enough for any model's context window."
    if window is None:
        return f"{line}; the context window is not known (set context_window to compare)."
    share = (found.total + reserve) / window
    return f"{line} of a {window:,}-token window ({share:.0%}, the answer's reserve included)."
