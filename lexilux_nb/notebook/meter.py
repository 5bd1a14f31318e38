"""The budget meter in a cell: estimate the request about to be sent, and warn (or refuse) before
sending one that will not fit the model's context window (:mod:`lexilux_nb.context.budget`).

The window is the ``context_window`` setting when set (the user's word wins, and no request is
made), else what the server reports for the model (asked once per endpoint and model, only for a
prompt over :data:`~lexilux_nb.context.budget.ASK_ABOVE` estimated tokens).
"""

from __future__ import annotations

from typing import Any

from ..client.chat import Chat
from ..client.errors import LexiluxError
from ..client.tokens import estimate_tokens
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


def check(settings: Any, chat: Chat, turn: Turn, ask: Ask, typed: str | None) -> list[str]:
    """Notices for this turn (a warning, or none); raises ``ChatCellError`` when the setting is
    ``budget=refuse`` and the prompt will not fit, so nothing is sent."""
    if settings.budget == "off":
        return []
    try:
        request = chat.prepare(turn.request, history=turn.context, **ask.options)
    except LexiluxError:
        return []  # the engine reports a bad request the usual way
    messages = request.body["messages"]
    found = budget.estimate(messages, raw_prompt=typed, counter=estimate_tokens)
    window = window_of(chat, ask.options.get("model"), settings.context_window, found.total)
    reserve = int(ask.options.get("max_tokens") or 0)
    if window is not None and found.total + reserve > window * NEAR:
        found = budget.estimate(messages, raw_prompt=typed)  # tiktoken, when it is usable
    warning = budget.verdict(found, window, reserve)
    if warning is None:
        return []
    if settings.budget == "refuse":
        raise ChatCellError(f"not sent: {warning} (budget=warn sends it anyway)")
    return [f"Budget: {warning}"]
