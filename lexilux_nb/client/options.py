"""The one option set for every call, merged and validated in one place.

``ChatOptions`` types the ``**options`` of every public method (via ``Unpack``), so the twenty
parameters are spelled once. :func:`resolve` turns them into a frozen :class:`CallOptions`, or
raises :class:`ValidationError` naming the field: every check happens here, before any request,
for every path (sync, async, streamed, continued). The rules are the request schema's universal
ones (OpenAI's API reference): ranges, ``logit_bias`` integers in −100..100, known
``response_format`` types and reasoning efforts, and strict JSON (no NaN) in anything sent.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any, TypedDict

from .deadline import check_deadline
from .errors import ValidationError
from .messages import HistoryLike, check_json
from .models import FunctionTool, ToolChoice

ReasoningSetting = bool | str | Mapping[str, Any] | None
ToolSpec = FunctionTool | Mapping[str, Any]
ToolArg = ToolSpec | Callable[..., Any]  # a Python callable among them runs the tool loop
# OpenAI's ReasoningEffort values; other providers map them (see protocol.reasoning_fields).
REASONING_EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh", "max")
REASONING_KEYS = frozenset({"effort", "budget_tokens", "enabled"})
RESPONSE_FORMATS = ("text", "json_object", "json_schema")
TOOL_CHOICES = ("auto", "none", "required")


@dataclass(frozen=True, slots=True)
class ChatParams:
    """Sampling and tool parameters. ``None`` means "not sent": there are no hidden defaults.

    ``max_completion_tokens`` is OpenAI's newer cap (visible plus reasoning tokens); for OpenAI
    reasoning models a ``max_tokens`` is sent under that name, since they refuse ``max_tokens``.
    """

    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    stop: str | Sequence[str] | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    logit_bias: Mapping[str, int] | None = None
    user: str | None = None
    n: int | None = None
    seed: int | None = None
    response_format: Mapping[str, Any] | None = None
    tools: Sequence[ToolSpec] | None = None
    tool_choice: str | ToolChoice | Mapping[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    extra: Mapping[str, Any] | None = None
    max_completion_tokens: int | None = None

    def merged(self, **overrides: Any) -> ChatParams:
        """A copy with every non-None override applied (``extra`` dicts are merged)."""
        updates = {k: v for k, v in overrides.items() if v is not None}
        extra = updates.get("extra")
        if isinstance(extra, Mapping) and isinstance(self.extra, Mapping):
            updates["extra"] = {**self.extra, **extra}
        return replace(self, **updates) if updates else self


PARAM_NAMES = tuple(f.name for f in fields(ChatParams))


class ChatOptions(TypedDict, total=False):
    """Keyword options accepted by ``chat``, ``stream``, ``acall``, ``astream`` and friends."""

    model: str | None
    system: str | None
    temperature: float | None
    top_p: float | None
    max_tokens: int | None
    max_completion_tokens: int | None
    stop: str | Sequence[str] | None
    presence_penalty: float | None
    frequency_penalty: float | None
    logit_bias: Mapping[str, int] | None
    user: str | None
    n: int | None
    seed: int | None
    response_format: Mapping[str, Any] | None
    tools: Sequence[ToolArg] | None
    tool_choice: str | ToolChoice | Mapping[str, Any] | None
    parallel_tool_calls: bool | None
    params: ChatParams | None
    extra: Mapping[str, Any] | None
    reasoning: ReasoningSetting
    return_raw: bool
    include_usage: bool
    approve: Any  # the tool loop's: "always", "never" or a callable (client/approval.py)
    on_tool: Callable[[Any], None] | None  # told every ToolActivity
    max_tool_rounds: int
    deadline_s: float | None


class HistoryOptions(ChatOptions, total=False):
    """:class:`ChatOptions` plus the conversation to send before the messages."""

    history: HistoryLike | None


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
    deadline_s: float | None = None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_range(name: str, value: float | None, low: float, high: float) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        raise ValidationError(f"{name} must be a number between {low} and {high}, got {value!r}")
    if not low <= value <= high:
        raise ValidationError(f"{name} must be between {low} and {high}, got {value!r}")


def _check_positive_int(name: str, value: int | None) -> None:
    if value is not None and (not _is_int(value) or value < 1):
        raise ValidationError(f"{name} must be a positive integer, got {value!r}")


def _check_type(name: str, value: Any, kind: type, what: str) -> None:
    if value is None:
        return
    if isinstance(value, bool) is not (kind is bool) or not isinstance(value, kind):
        raise ValidationError(f"{name} must be {what}, got {type(value).__name__}")


def _check_stop(stop: Any) -> None:
    if stop is None:
        return
    stops = [stop] if isinstance(stop, str) else stop
    if not isinstance(stops, list | tuple) or not stops:
        raise ValidationError(f"stop must be a non-empty string or a list of them, got {stop!r}")
    if not all(isinstance(s, str) and s for s in stops):
        raise ValidationError(f"stop must be a non-empty string or a list of them, got {stop!r}")


def _check_logit_bias(bias: Any) -> None:
    if bias is None:
        return
    if not isinstance(bias, Mapping):
        raise ValidationError(
            "logit_bias must be a dict of token ids to integers in -100..100, e.g. "
            f"{{'50256': -100}}; got {type(bias).__name__}"
        )
    for token, value in bias.items():
        if not (_is_int(token) and token >= 0) and not (isinstance(token, str) and token.isdigit()):
            raise ValidationError(
                f"logit_bias keys must be token ids such as '50256', got {token!r}"
            )
        if not _is_int(value) or not -100 <= value <= 100:
            raise ValidationError(
                f"logit_bias[{token!r}] must be an integer in -100..100, got {value!r}"
            )


def _check_response_format(fmt: Any) -> None:
    if fmt is None:
        return
    hint = "e.g. {'type': 'json_object'}"
    if not isinstance(fmt, Mapping):
        raise ValidationError(f"response_format must be a dict ({hint}), got {fmt!r}")
    if fmt.get("type") not in RESPONSE_FORMATS:
        raise ValidationError(
            f"response_format type must be one of {', '.join(RESPONSE_FORMATS)}, "
            f"got {fmt.get('type')!r}"
        )
    if fmt["type"] == "json_schema" and not isinstance(fmt.get("json_schema"), Mapping):
        raise ValidationError("response_format of type json_schema needs a 'json_schema' dict")
    check_json(fmt, "response_format")


def _check_tools(tools: Any) -> None:
    if tools is None:
        return
    if not isinstance(tools, Sequence) or isinstance(tools, str | bytes):  # MCPTools is one
        raise ValidationError(f"tools must be a list of FunctionTool or dicts, got {tools!r}")
    for i, tool in enumerate(tools):
        if isinstance(tool, FunctionTool):
            if not isinstance(tool.name, str) or not tool.name:
                raise ValidationError(f"tools[{i}] needs a non-empty str name")
            check_json(tool.to_dict(), f"tools[{i}]")
        elif isinstance(tool, Mapping):
            if not isinstance(tool.get("type"), str):
                raise ValidationError(f"tools[{i}] needs a 'type' string, e.g. 'function'")
            fn = tool.get("function")
            if tool["type"] == "function" and not (
                isinstance(fn, Mapping) and isinstance(fn.get("name"), str) and fn["name"]
            ):
                raise ValidationError(f"tools[{i}] needs 'function': {{'name': ...}}")
            check_json(tool, f"tools[{i}]")
        else:
            hint = " (a Python function goes in tools=[...] itself, not in params=)"
            raise ValidationError(
                f"tools must be FunctionTool or dicts, got {tool!r}" + (hint * callable(tool))
            )


def _check_tool_choice(choice: Any) -> None:
    if choice is None:
        return
    if isinstance(choice, str):
        if not choice:
            raise ValidationError("tool_choice must not be empty")
    elif isinstance(choice, ToolChoice):
        if choice.type not in (*TOOL_CHOICES, "function"):
            raise ValidationError("ToolChoice type must be auto, none, required or function")
        if choice.type == "function" and not (isinstance(choice.name, str) and choice.name):
            raise ValidationError("ToolChoice('function', name) needs the function's name")
    elif isinstance(choice, Mapping):
        if not isinstance(choice.get("type"), str):
            raise ValidationError("a tool_choice dict needs a 'type' string")
        check_json(choice, "tool_choice")
    else:
        raise ValidationError(
            f"tool_choice must be {', '.join(TOOL_CHOICES)}, a function name, a ToolChoice or "
            f"a dict; got {choice!r}"
        )


def _check_extra(extra: Any) -> None:
    if extra is None:
        return
    if not isinstance(extra, Mapping):
        raise ValidationError(f"extra must be a dict, got {type(extra).__name__}")
    clash = RESERVED_EXTRA_KEYS.intersection(k for k in extra if isinstance(k, str))
    if clash:
        raise ValidationError(
            f"extra may not set {sorted(clash)}: pass model=... as an option, "
            "and messages as the first argument"
        )
    check_json(extra, "extra")


def validate_params(params: ChatParams) -> None:
    """Raise :class:`ValidationError` naming the first bad parameter and the accepted range."""
    _check_range("temperature", params.temperature, 0, 2)
    _check_range("top_p", params.top_p, 0, 1)
    _check_range("presence_penalty", params.presence_penalty, -2, 2)
    _check_range("frequency_penalty", params.frequency_penalty, -2, 2)
    _check_positive_int("max_tokens", params.max_tokens)
    _check_positive_int("max_completion_tokens", params.max_completion_tokens)
    _check_positive_int("n", params.n)
    _check_type("seed", params.seed, int, "an integer")
    _check_type("user", params.user, str, "a str")
    _check_type("parallel_tool_calls", params.parallel_tool_calls, bool, "True or False")
    _check_stop(params.stop)
    _check_logit_bias(params.logit_bias)
    _check_response_format(params.response_format)
    _check_tools(params.tools)
    _check_tool_choice(params.tool_choice)
    _check_extra(params.extra)


def check_reasoning(reasoning: Any) -> None:
    """``True``/``False``, an effort name, or ``{'effort', 'budget_tokens', 'enabled'}``."""
    if reasoning is None or isinstance(reasoning, bool):
        return
    efforts = ", ".join(REASONING_EFFORTS)
    if isinstance(reasoning, str):
        if reasoning not in REASONING_EFFORTS:
            raise ValidationError(f"reasoning effort must be one of {efforts}; got {reasoning!r}")
        return
    if not isinstance(reasoning, Mapping):
        raise ValidationError(
            f"reasoning must be True, False, an effort ({efforts}) or "
            f"{{'effort': ..., 'budget_tokens': ...}}, got {reasoning!r}"
        )
    unknown = [k for k in reasoning if k not in REASONING_KEYS]
    if unknown:
        raise ValidationError(
            f"unknown reasoning key(s) {unknown!r}; accepted: {', '.join(sorted(REASONING_KEYS))}"
        )
    effort = reasoning.get("effort")
    if effort is not None and effort not in REASONING_EFFORTS:
        raise ValidationError(f"reasoning effort must be one of {efforts}; got {effort!r}")
    _check_positive_int("reasoning budget_tokens", reasoning.get("budget_tokens"))
    _check_type("reasoning enabled", reasoning.get("enabled"), bool, "True or False")


def reasoning_enabled(reasoning: Any) -> bool:
    """Whether a (valid) reasoning setting asks the model to reason."""
    if reasoning is None or reasoning is False:
        return False
    if isinstance(reasoning, Mapping):
        return reasoning.get("enabled", True) is not False
    return True


def resolve(default_model: str | None, options: Mapping[str, Any]) -> CallOptions:
    """Merge ``params=`` with individual options (individual ones win) and validate."""
    unknown = set(options) - OPTION_NAMES
    if unknown:
        raise ValidationError(
            f"unknown option(s) {sorted(unknown)}; accepted: {', '.join(sorted(OPTION_NAMES))}. "
            "Provider-specific fields go in extra={...}"
        )
    base = options.get("params")
    base = ChatParams() if base is None else base
    if not isinstance(base, ChatParams):
        raise ValidationError(f"params must be a ChatParams, got {type(base).__name__}")
    params = base.merged(**{name: options.get(name) for name in PARAM_NAMES})
    validate_params(params)
    model = options.get("model")
    if model is not None and not isinstance(model, str):
        raise ValidationError(f"model must be a str, got {type(model).__name__}")
    model = model or default_model
    if not model or not isinstance(model, str):
        raise ValidationError(
            "no model given: pass model=... to Chat(...) or to this call (or set LEXILUX_MODEL)"
        )
    system = options.get("system")
    if system is not None and not isinstance(system, str):
        raise ValidationError(f"system must be a string, got {type(system).__name__}")
    reasoning = options.get("reasoning")
    check_reasoning(reasoning)
    flags = {}
    for name, default in (("return_raw", False), ("include_usage", True)):
        value = options.get(name, default)
        if not isinstance(value, bool):
            raise ValidationError(f"{name} must be True or False, got {value!r}")
        flags[name] = value
    history = options.get("history")
    if history is not None and not callable(getattr(history, "get_messages", None)):
        raise ValidationError(f"history must be a ChatHistory, got {type(history).__name__}")
    return CallOptions(
        model=model,
        params=params,
        system=system,
        reasoning=reasoning,
        return_raw=flags["return_raw"],
        include_usage=flags["include_usage"],
        deadline_s=check_deadline(options.get("deadline_s")),
    )
