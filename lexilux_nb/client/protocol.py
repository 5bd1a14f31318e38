"""Sans-IO OpenAI wire format: build request bodies, parse completions, map providers.

No sockets here: every function takes and returns plain data, so the sync and async drivers
share it byte for byte.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .errors import ValidationError
from .models import ChatResult, FunctionTool, ToolCall, ToolChoice, Usage
from .options import CallOptions, ChatParams

if TYPE_CHECKING:
    from .history import ChatHistory

ROLES = frozenset({"system", "developer", "user", "assistant", "tool"})
FINISH_REASON_ALIASES = {
    "max_tokens": "length",
    "max_output_tokens": "length",
    "model_length": "length",
    "end_turn": "stop",
    "stop_sequence": "stop",
    "eos": "stop",
    "eos_token": "stop",
    "tool_use": "tool_calls",
    "function_call": "tool_calls",
}

# Providers whose reasoning switch differs from OpenAI's ``reasoning_effort``.
PROVIDER_HOSTS = (
    ("api.openai.com", "openai"),
    ("deepseek.com", "deepseek"),
    ("bigmodel.cn", "zhipu"),
    ("z.ai", "zhipu"),
    ("dashscope", "qwen"),
    ("aliyuncs.com", "qwen"),
    ("anthropic.com", "anthropic"),
)
PROVIDERS = frozenset(
    {"openai", "deepseek", "zhipu", "qwen", "anthropic", "llamacpp", "vllm", "generic"}
)
DEFAULT_THINKING_BUDGET = 2048


def detect_provider(base_url: str, provider: str | None = None) -> str:
    """The explicit ``provider`` if given, else a guess from the URL's host ("generic")."""
    if provider is not None:
        name = provider.lower()
        aliases = {
            "dashscope": "qwen",
            "glm": "zhipu",
            "llama.cpp": "llamacpp",
            "openai-compatible": "generic",
        }
        name = aliases.get(name, name)
        if name not in PROVIDERS:
            raise ValidationError(
                f"unknown provider {provider!r}; use one of {', '.join(sorted(PROVIDERS))}"
            )
        return name
    host = (urlsplit(base_url).hostname or "").lower()
    for fragment, name in PROVIDER_HOSTS:
        if fragment in host:
            return name
    return "generic"


def normalize_finish_reason(reason: Any) -> str | None:
    """Map provider spellings onto OpenAI's (``max_tokens`` → ``length``)."""
    if reason is None or reason == "":
        return None
    text = str(reason)
    return FINISH_REASON_ALIASES.get(text.lower(), text)


def _tool_call_dict(call: Any, where: str) -> dict[str, Any]:
    """The OpenAI wire form of a tool call given as a ToolCall, a wire dict or a flat dict."""
    if isinstance(call, ToolCall):
        return call.to_dict()
    if not isinstance(call, Mapping):
        raise ValidationError(
            f"{where}: tool calls must be ToolCall objects or dicts, got {type(call).__name__}"
        )
    out = copy.deepcopy(dict(call))
    fn = out.get("function")
    if not isinstance(fn, Mapping):  # flat {"id", "name", "arguments"}
        fn = {"name": str(out.pop("name", "") or ""), "arguments": out.pop("arguments", "")}
        out.setdefault("type", "function")
    fn = dict(fn)
    if not isinstance(fn.get("arguments", ""), str):  # the wire wants JSON *text*
        fn["arguments"] = json.dumps(fn["arguments"])
    out["function"] = fn
    return out


def check_message(index: int, message: Any) -> dict[str, Any]:
    """A validated deep copy of one message, tool calls in wire form (Chat and ChatHistory)."""
    if not isinstance(message, Mapping):
        raise ValidationError(
            f"message {index} must be a dict with 'role' and 'content' or a str, "
            f"got {type(message).__name__}"
        )
    role = message.get("role")
    if role not in ROLES:
        raise ValidationError(
            f"message {index} has role {role!r}; accepted roles: {', '.join(sorted(ROLES))}"
        )
    content = message.get("content")
    if content is None and not (role == "assistant" and message.get("tool_calls")):
        if "content" not in message:
            raise ValidationError(f"message {index} ({role}) has no 'content'")
    elif content is not None and not isinstance(content, str | list):
        raise ValidationError(
            f"message {index} content must be a str, None or a list of content parts, "
            f"got {type(content).__name__}"
        )
    if role == "tool" and not message.get("tool_call_id"):
        raise ValidationError(f"message {index} is a tool reply without 'tool_call_id'")
    out = copy.deepcopy(dict(message))
    calls = out.pop("tool_calls", None)
    if calls is not None:
        if role != "assistant" or not isinstance(calls, list):
            raise ValidationError(
                f"message {index}: 'tool_calls' must be a list on an assistant message"
            )
        if calls:  # an empty list is dropped: several servers reject "tool_calls": []
            out["tool_calls"] = [_tool_call_dict(c, f"message {index}") for c in calls]
    return out


def _as_message_list(messages: Any) -> tuple[str | None, list[dict[str, Any]]]:
    """(system from a history, messages) for every accepted input shape."""
    if messages is None:
        return None, []
    get_messages = getattr(messages, "get_messages", None)
    if callable(get_messages):  # a ChatHistory: its system travels with it
        msgs = get_messages(include_system=False)
        return getattr(messages, "system", None), [check_message(i, m) for i, m in enumerate(msgs)]
    if isinstance(messages, str):
        return None, [{"role": "user", "content": messages}]
    if isinstance(messages, Mapping):
        return None, [check_message(0, messages)]
    if isinstance(messages, Sequence):
        out = []
        for i, item in enumerate(messages):
            if isinstance(item, str):
                out.append({"role": "user", "content": item})
            else:
                out.append(check_message(i, item))
        return None, out
    raise ValidationError(
        f"messages must be a str, a list of str or message dicts, or a ChatHistory; "
        f"got {type(messages).__name__}"
    )


def build_messages(
    messages: Any, *, system: str | None = None, history: ChatHistory | None = None
) -> list[dict[str, Any]]:
    """The wire messages: system first, then the history's turns, then ``messages``.

    A per-call ``system`` replaces the history's own system prompt (one system message, first).
    Nothing passed in is mutated: every message is copied.
    """
    history_system, history_msgs = _as_message_list(history)
    own_system, own_msgs = _as_message_list(messages)
    chosen = system if system is not None else (own_system or history_system)
    body = history_msgs + own_msgs
    if not body:
        raise ValidationError("no messages to send: pass a prompt or a non-empty history")
    if chosen:
        body.insert(0, {"role": "system", "content": chosen})
    return body


def _tool_dict(tool: FunctionTool | Mapping[str, Any]) -> dict[str, Any]:
    return tool.to_dict() if isinstance(tool, FunctionTool) else dict(tool)


def _tool_choice(choice: str | ToolChoice | Mapping[str, Any]) -> Any:
    if isinstance(choice, ToolChoice):
        return choice.to_dict()
    if isinstance(choice, str) and choice not in {"auto", "none", "required"}:
        return {"type": "function", "function": {"name": choice}}
    return dict(choice) if isinstance(choice, Mapping) else choice


def reasoning_fields(provider: str, reasoning: Any) -> dict[str, Any]:
    """Request fields that switch reasoning on/off/to an effort, per provider."""
    if reasoning is None:
        return {}
    effort: str | None = None
    budget: int | None = None
    enabled = True
    if isinstance(reasoning, bool):
        enabled = reasoning
    elif isinstance(reasoning, str):
        effort = reasoning
    elif isinstance(reasoning, Mapping):
        effort = reasoning.get("effort")
        budget = reasoning.get("budget_tokens")
        enabled = bool(reasoning.get("enabled", True))
    else:
        raise ValidationError(
            f"reasoning must be True, False, an effort string or "
            f"{{'effort': ..., 'budget_tokens': ...}}, got {reasoning!r}"
        )
    if provider in {"deepseek", "zhipu"}:
        return {"thinking": {"type": "enabled" if enabled else "disabled"}}
    if provider == "qwen":
        out: dict[str, Any] = {"enable_thinking": enabled}
        if enabled and budget:
            out["thinking_budget"] = budget
        return out
    if provider == "anthropic":
        if not enabled:
            return {"thinking": {"type": "disabled"}}
        return {"thinking": {"type": "enabled", "budget_tokens": budget or DEFAULT_THINKING_BUDGET}}
    if provider in {"llamacpp", "vllm"}:
        return {"chat_template_kwargs": {"enable_thinking": enabled}}
    # OpenAI and generic OpenAI-compatible servers: no universal "off" switch exists.
    if not enabled:
        return {}
    return {"reasoning_effort": effort or "medium"}


def _params_fields(params: ChatParams) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in (
        "temperature",
        "top_p",
        "max_tokens",
        "presence_penalty",
        "frequency_penalty",
        "user",
        "n",
        "seed",
        "parallel_tool_calls",
    ):
        value = getattr(params, name)
        if value is not None:
            out[name] = value
    if params.stop is not None:
        out["stop"] = [params.stop] if isinstance(params.stop, str) else list(params.stop)
    if params.logit_bias is not None:
        out["logit_bias"] = dict(params.logit_bias)
    if params.response_format is not None:
        out["response_format"] = copy.deepcopy(dict(params.response_format))
    if params.tools is not None:
        out["tools"] = [_tool_dict(t) for t in params.tools]
    if params.tool_choice is not None:
        out["tool_choice"] = _tool_choice(params.tool_choice)
    return out


def build_body(
    messages: list[dict[str, Any]], options: CallOptions, *, stream: bool, provider: str
) -> dict[str, Any]:
    """The JSON body of ``POST /chat/completions``: only what the caller set is sent."""
    body: dict[str, Any] = {"model": options.model, "messages": messages}
    body.update(_params_fields(options.params))
    body.update(reasoning_fields(provider, options.reasoning))
    if stream:
        body["stream"] = True
        if options.include_usage:
            body["stream_options"] = {"include_usage": True}
    if options.params.extra:
        body.update(copy.deepcopy(dict(options.params.extra)))
    return body


def parse_usage(data: Any) -> Usage:
    """OpenAI (prompt/completion) or Anthropic-style (input/output) usage; 0 stays 0."""
    if not isinstance(data, Mapping):
        return Usage()
    input_tokens = data.get("prompt_tokens", data.get("input_tokens"))
    output_tokens = data.get("completion_tokens", data.get("output_tokens"))
    total = data.get("total_tokens")
    if total is None and input_tokens is not None and output_tokens is not None:
        total = input_tokens + output_tokens
    skip = {"prompt_tokens", "completion_tokens", "input_tokens", "output_tokens", "total_tokens"}
    details = {k: v for k, v in data.items() if k not in skip and v is not None}
    return Usage(input_tokens, output_tokens, total, details)


def reasoning_of(message: Mapping[str, Any]) -> str | None:
    """Reasoning text under either name servers use ("" counts as none, as in streams)."""
    value = message.get("reasoning_content") or message.get("reasoning")
    return value if isinstance(value, str) and value else None


def _message_text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(part.get("text", "")) for part in content if isinstance(part, Mapping))
    return str(content)


def parse_completion(data: Any, *, keep_raw: bool = True) -> ChatResult:
    """A ``chat.completion`` JSON object → :class:`ChatResult` (first choice)."""
    if not isinstance(data, Mapping):
        raise ValidationError(f"the server sent a non-object completion: {str(data)[:200]!r}")
    choices = data.get("choices") or []
    choice = choices[0] if choices and isinstance(choices[0], Mapping) else {}
    message = choice.get("message") or {}
    tool_calls = [ToolCall.from_dict(tc) for tc in message.get("tool_calls") or []]
    return ChatResult(
        text=_message_text(message.get("content")),
        finish_reason=normalize_finish_reason(choice.get("finish_reason")),
        usage=parse_usage(data.get("usage")),
        tool_calls=tool_calls,
        reasoning=reasoning_of(message),
        model=data.get("model"),
        id=data.get("id"),
        raw=dict(data) if keep_raw else None,
    )
