"""The one option set for every call, merged and validated in one place.

``ChatOptions`` types the ``**options`` of every public method (via ``Unpack``), so the twenty
parameters are spelled once. :func:`resolve` turns them into a frozen :class:`CallOptions`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any, TypedDict

from .errors import ValidationError
from .models import FunctionTool, ToolChoice

if TYPE_CHECKING:
    from .history import ChatHistory

ReasoningSetting = bool | str | Mapping[str, Any] | None
ToolSpec = FunctionTool | Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class ChatParams:
    """Sampling and tool parameters. ``None`` means "not sent": there are no hidden defaults."""

    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    stop: str | Sequence[str] | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    logit_bias: Mapping[str, float] | None = None
    user: str | None = None
    n: int | None = None
    seed: int | None = None
    response_format: Mapping[str, Any] | None = None
    tools: Sequence[ToolSpec] | None = None
    tool_choice: str | ToolChoice | Mapping[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    extra: Mapping[str, Any] | None = None

    def merged(self, **overrides: Any) -> ChatParams:
        """A copy with every non-None override applied (``extra`` dicts are merged)."""
        updates = {k: v for k, v in overrides.items() if v is not None}
        if "extra" in updates and self.extra:
            updates["extra"] = {**self.extra, **updates["extra"]}
        return replace(self, **updates) if updates else self


PARAM_NAMES = tuple(f.name for f in fields(ChatParams))


class ChatOptions(TypedDict, total=False):
    """Keyword options accepted by ``chat``, ``stream``, ``acall``, ``astream`` and friends."""

    model: str | None
    system: str | None
    temperature: float | None
    top_p: float | None
    max_tokens: int | None
    stop: str | Sequence[str] | None
    presence_penalty: float | None
    frequency_penalty: float | None
    logit_bias: Mapping[str, float] | None
    user: str | None
    n: int | None
    seed: int | None
    response_format: Mapping[str, Any] | None
    tools: Sequence[ToolSpec] | None
    tool_choice: str | ToolChoice | Mapping[str, Any] | None
    parallel_tool_calls: bool | None
    params: ChatParams | None
    extra: Mapping[str, Any] | None
    reasoning: ReasoningSetting
    return_raw: bool
    include_usage: bool


class HistoryOptions(ChatOptions, total=False):
    """:class:`ChatOptions` plus the conversation to send before the messages."""

    history: ChatHistory | None


OPTION_NAMES = frozenset(HistoryOptions.__annotations__)
RESERVED_EXTRA_KEYS = frozenset({"model", "messages", "stream"})


@dataclass(frozen=True, slots=True)
class CallOptions:
    """Everything one request needs besides the messages, already validated."""

    model: str
    params: ChatParams = field(default_factory=ChatParams)
    system: str | None = None
    reasoning: ReasoningSetting = None
    return_raw: bool = False
    include_usage: bool = True


def _check_range(name: str, value: float | None, low: float, high: float) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        raise ValidationError(f"{name} must be a number between {low} and {high}, got {value!r}")
    if not low <= value <= high:
        raise ValidationError(f"{name} must be between {low} and {high}, got {value!r}")


def _check_positive_int(name: str, value: int | None) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValidationError(f"{name} must be a positive integer, got {value!r}")


def validate_params(params: ChatParams) -> None:
    """Raise :class:`ValidationError` naming the first bad parameter and the accepted range."""
    _check_range("temperature", params.temperature, 0, 2)
    _check_range("top_p", params.top_p, 0, 1)
    _check_range("presence_penalty", params.presence_penalty, -2, 2)
    _check_range("frequency_penalty", params.frequency_penalty, -2, 2)
    _check_positive_int("max_tokens", params.max_tokens)
    _check_positive_int("n", params.n)
    if params.seed is not None and (
        isinstance(params.seed, bool) or not isinstance(params.seed, int)
    ):
        raise ValidationError(f"seed must be an integer, got {params.seed!r}")
    stop = params.stop
    if stop is not None:
        stops = [stop] if isinstance(stop, str) else list(stop)
        if not stops or not all(isinstance(s, str) and s for s in stops):
            raise ValidationError(f"stop must be a non-empty string or list of them, got {stop!r}")
    if params.extra is not None:
        if not isinstance(params.extra, Mapping):
            raise ValidationError(f"extra must be a dict, got {type(params.extra).__name__}")
        clash = RESERVED_EXTRA_KEYS.intersection(params.extra)
        if clash:
            raise ValidationError(
                f"extra may not set {sorted(clash)}: pass model=... as an option, "
                "and messages as the first argument"
            )
    if params.tools is not None:
        for tool in params.tools:
            if not isinstance(tool, FunctionTool | Mapping):
                raise ValidationError(f"tools must be FunctionTool or dicts, got {tool!r}")


def resolve(default_model: str | None, options: Mapping[str, Any]) -> CallOptions:
    """Merge ``params=`` with individual options (individual ones win) and validate."""
    unknown = set(options) - OPTION_NAMES
    if unknown:
        raise ValidationError(
            f"unknown option(s) {sorted(unknown)}; accepted: {', '.join(sorted(OPTION_NAMES))}. "
            "Provider-specific fields go in extra={...}"
        )
    base = options.get("params") or ChatParams()
    if not isinstance(base, ChatParams):
        raise ValidationError(f"params must be a ChatParams, got {type(base).__name__}")
    params = base.merged(**{name: options.get(name) for name in PARAM_NAMES})
    validate_params(params)
    model = options.get("model") or default_model
    if not model or not isinstance(model, str):
        raise ValidationError(
            "no model given: pass model=... to Chat(...) or to this call (or set LEXILUX_MODEL)"
        )
    system = options.get("system")
    if system is not None and not isinstance(system, str):
        raise ValidationError(f"system must be a string, got {type(system).__name__}")
    return CallOptions(
        model=model,
        params=params,
        system=system,
        reasoning=options.get("reasoning"),
        return_raw=bool(options.get("return_raw", False)),
        include_usage=bool(options.get("include_usage", True)),
    )
