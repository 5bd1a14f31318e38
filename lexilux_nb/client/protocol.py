"""Sans-IO OpenAI wire format: build request bodies, map providers.

No sockets here: every function takes and returns plain data, so the sync and async drivers
share it byte for byte. Answers are read in :mod:`.responses` (re-exported here).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from .errors import ValidationError
from .messages import HistoryLike, Message, check_message
from .models import FunctionTool, ToolChoice
from .options import CallOptions, ChatParams, reasoning_enabled
from .responses import normalize_finish_reason as normalize_finish_reason
from .responses import parse_completion as parse_completion
from .responses import parse_usage as parse_usage

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
# OpenAI's reasoning models (o1, o3, o4-mini, gpt-5...) refuse ``max_tokens``: the API reference
# deprecates it for ``max_completion_tokens``, which counts visible and reasoning tokens.
OPENAI_REASONING_MODEL = re.compile(r"^(?:o\d|gpt-5)", re.IGNORECASE)


def detect_provider(base_url: str, provider: str | None = None) -> str:
    """The explicit ``provider`` if given, else a guess from the URL's host ("generic")."""
    if provider is not None:
        if not isinstance(provider, str):
            raise ValidationError(f"provider must be a str, got {type(provider).__name__}")
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


# -- requests -------------------------------------------------------------------------------------


def _as_message_list(messages: Any) -> tuple[str | None, list[Message]]:
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
    messages: Any, *, system: str | None = None, history: HistoryLike | None = None
) -> list[Message]:
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
    return tool.to_dict() if isinstance(tool, FunctionTool) else copy.deepcopy(dict(tool))


def _tool_choice(choice: str | ToolChoice | Mapping[str, Any]) -> Any:
    if isinstance(choice, ToolChoice):
        return choice.to_dict()
    if isinstance(choice, str) and choice not in {"auto", "none", "required"}:
        return {"type": "function", "function": {"name": choice}}
    return copy.deepcopy(dict(choice)) if isinstance(choice, Mapping) else choice


def reasoning_fields(provider: str, reasoning: Any) -> dict[str, Any]:
    """Request fields that switch reasoning on/off/to an effort, per provider (already valid)."""
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


def uses_completion_tokens(provider: str, model: str, reasoning: Any) -> bool:
    """Whether the token cap must go as ``max_completion_tokens`` (OpenAI reasoning requests)."""
    if provider != "openai":
        return False
    return reasoning_enabled(reasoning) or bool(OPENAI_REASONING_MODEL.match(model))


def _params_fields(params: ChatParams, *, completion_tokens: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in (
        "temperature",
        "top_p",
        "max_tokens",
        "max_completion_tokens",
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
    if completion_tokens and "max_tokens" in out:
        cap = out.pop("max_tokens")
        out.setdefault("max_completion_tokens", cap)
    if params.stop is not None:
        out["stop"] = [params.stop] if isinstance(params.stop, str) else list(params.stop)
    if params.logit_bias is not None:
        out["logit_bias"] = {str(k): v for k, v in params.logit_bias.items()}
    if params.response_format is not None:
        out["response_format"] = copy.deepcopy(dict(params.response_format))
    if params.tools is not None:
        out["tools"] = [_tool_dict(t) for t in params.tools]
    if params.tool_choice is not None:
        out["tool_choice"] = _tool_choice(params.tool_choice)
    return out


def _wire(messages: list[Message], provider: str) -> list[Message]:
    """llama-cpp-python's server refuses ``content: null`` (an assistant message that only calls
    tools) with HTTP 500; an empty string means the same."""
    if provider != "llamacpp":
        return messages
    return [
        {**m, "content": ""} if m.get("role") == "assistant" and m.get("content") is None else m
        for m in messages
    ]


def build_body(
    messages: list[Message], options: CallOptions, *, stream: bool, provider: str
) -> dict[str, Any]:
    """The JSON body of ``POST /chat/completions``: only what the caller set is sent."""
    body: dict[str, Any] = {"model": options.model, "messages": _wire(messages, provider)}
    completion_tokens = uses_completion_tokens(provider, options.model, options.reasoning)
    body.update(_params_fields(options.params, completion_tokens=completion_tokens))
    body.update(reasoning_fields(provider, options.reasoning))
    if stream:
        body["stream"] = True
        if options.include_usage:
            body["stream_options"] = {"include_usage": True}
    if options.params.extra:
        body.update(copy.deepcopy(dict(options.params.extra)))
    return body
