"""Sans-IO OpenAI wire format: build request bodies, read completions, map providers.

No sockets here: every function takes and returns plain data, so the sync and async drivers
share it byte for byte. Responses are validated here, once, for both the streamed and the
non-streamed paths: a field of the wrong type becomes a :class:`MalformedResponseError` that
quotes (a bounded, redacted piece of) what arrived, never a ``TypeError`` from deep inside.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

from .errors import LexiluxError, MalformedResponseError, ValidationError, error_from_event, redact
from .messages import HistoryLike, Message, check_message, content_text
from .models import ChatResult, FunctionTool, ToolCall, ToolChoice, Usage
from .options import CallOptions, ChatParams, reasoning_enabled

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
# OpenAI's reasoning models (o1, o3, o4-mini, gpt-5...) refuse ``max_tokens``: the API reference
# deprecates it for ``max_completion_tokens``, which counts visible and reasoning tokens.
OPENAI_REASONING_MODEL = re.compile(r"^(?:o\d|gpt-5)", re.IGNORECASE)
SNIPPET_CHARS = 300  # how much of a malformed answer an error quotes
MAX_CHOICES = 128  # OpenAI's own limit on n; a higher index is a broken (or hostile) server


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


def normalize_finish_reason(reason: Any, *, has_calls: bool = True) -> str | None:
    """Map provider spellings onto OpenAI's (``max_tokens`` → ``length``).

    A spelling that means "tool calls" (``function_call``, ``tool_use``) is only mapped to
    ``tool_calls`` when the choice really holds calls; otherwise the server's word is kept.
    """
    if reason is None or reason == "":
        return None
    text = str(reason)
    mapped = FINISH_REASON_ALIASES.get(text.lower(), text)
    if mapped == "tool_calls" and not has_calls and text != "tool_calls":
        return text
    return mapped


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


def build_body(
    messages: list[Message], options: CallOptions, *, stream: bool, provider: str
) -> dict[str, Any]:
    """The JSON body of ``POST /chat/completions``: only what the caller set is sent."""
    body: dict[str, Any] = {"model": options.model, "messages": messages}
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


# -- responses: one validation for streamed and non-streamed answers ------------------------------


class ShapeError(Exception):
    """A response field of the wrong type; turned into a MalformedResponseError by the caller."""


def malformed(what: str, data: Any, secrets: Iterable[str | None] = ()) -> MalformedResponseError:
    """The error for an answer of the wrong shape, quoting a bounded, redacted piece of it."""
    if isinstance(data, bytes):
        data = data[: SNIPPET_CHARS * 4].decode("utf-8", "replace")
    elif not isinstance(data, str):
        try:
            data = json.dumps(data, ensure_ascii=False, default=repr)
        except (TypeError, ValueError, RecursionError):
            data = repr(data)
    snippet = redact(data[: SNIPPET_CHARS * 2], secrets)[:SNIPPET_CHARS]
    return MalformedResponseError(f"the server sent {what}: {snippet!r}", body=snippet)


def _type(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def opt(obj: Mapping[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    """``obj[key]`` if it is of ``kind`` (bool is never an int here), None if absent or null."""
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, kind):  # bool is an int to Python only
        raise ShapeError(f"{where} {key!r} is a {_type(value)}")
    return value


def response_text(content: Any, where: str) -> str:
    """Message or delta content (str, list of typed parts, or null) → text (see messages.py)."""
    if content is None or isinstance(content, str):
        return content or ""
    if not isinstance(content, list):
        raise ShapeError(f"{where} 'content' is a {_type(content)}")
    for part in content:
        if isinstance(part, Mapping):
            text = part.get("text")
            if text is not None and not isinstance(text, str):
                raise ShapeError(f"{where} content part 'text' is a {_type(text)}")
        elif not isinstance(part, str):
            raise ShapeError(f"{where} content part is a {_type(part)}")
    return content_text(content, placeholders=False)


def reasoning_of(message: Mapping[str, Any], where: str = "message") -> str | None:
    """Reasoning text under either name servers use ("" counts as none, as in streams)."""
    value = opt(message, "reasoning_content", str, where) or opt(message, "reasoning", str, where)
    return value or None


def choice_index(choice: Mapping[str, Any], position: int, where: str) -> int:
    index = opt(choice, "index", int, where)
    index = position if index is None else index
    if not 0 <= index < MAX_CHOICES:
        raise ShapeError(f"{where} has index {index} (outside 0..{MAX_CHOICES - 1})")
    return int(index)


def parse_usage(data: Any) -> Usage:
    """OpenAI (prompt/completion) or Anthropic-style (input/output) usage; 0 stays 0."""
    if data is None:
        return Usage()
    if not isinstance(data, Mapping):
        raise ShapeError(f"'usage' is a {_type(data)}")
    counts = {}
    for key in ("prompt_tokens", "completion_tokens", "input_tokens", "output_tokens"):
        counts[key] = _count(data, key)
    total = _count(data, "total_tokens")
    input_tokens = counts["prompt_tokens"]
    input_tokens = counts["input_tokens"] if input_tokens is None else input_tokens
    output_tokens = counts["completion_tokens"]
    output_tokens = counts["output_tokens"] if output_tokens is None else output_tokens
    if total is None and input_tokens is not None and output_tokens is not None:
        total = input_tokens + output_tokens
    skip = {"prompt_tokens", "completion_tokens", "input_tokens", "output_tokens", "total_tokens"}
    details = {k: v for k, v in data.items() if k not in skip and v is not None}
    return Usage(input_tokens, output_tokens, total, details)


def _count(data: Mapping[str, Any], key: str) -> int | None:
    value = opt(data, key, (int, float), "'usage'")
    if value is None:
        return None
    if isinstance(value, float):
        if not value.is_integer():
            raise ShapeError(f"'usage' {key!r} is {value!r}, not a whole number")
        return int(value)
    return int(value)


def parse_tool_call(data: Any, where: str) -> ToolCall:
    """One complete tool call of a completion's message (arguments sent as an object allowed)."""
    if not isinstance(data, Mapping):
        raise ShapeError(f"{where} is a {_type(data)}")
    fn = data.get("function")
    fn = data if fn is None else fn  # a flat {"name", "arguments"} call
    if not isinstance(fn, Mapping):
        raise ShapeError(f"{where} 'function' is a {_type(fn)}")
    arguments = fn.get("arguments")
    if arguments is None:
        arguments = ""
    elif isinstance(arguments, Mapping | list):  # the field is JSON text; some send an object
        arguments = json.dumps(arguments)
    elif not isinstance(arguments, str):
        raise ShapeError(f"{where} 'arguments' is a {_type(arguments)}")
    return ToolCall(
        opt(data, "id", str, where) or "",
        opt(fn, "name", str, where) or "",
        arguments,
        opt(data, "type", str, where) or "function",
    )


def merge_logprobs(into: dict[str, Any] | None, new: Any, where: str) -> dict[str, Any] | None:
    """Fold a chunk's ``logprobs`` ({"content": [...], "refusal": [...]}) into the choice's."""
    if new is None:
        return into
    if not isinstance(new, Mapping):
        raise ShapeError(f"{where} 'logprobs' is a {_type(new)}")
    out = {} if into is None else into
    for key, value in new.items():
        if isinstance(value, list):
            have = out.get(key)
            out[key] = value if have is None else have + value
        elif value is None:
            out.setdefault(key, None)
        else:
            out[key] = value
    return out


def merge_filter(into: dict[str, Any], new: Any, where: str) -> None:
    """Fold Azure ``content_filter_results`` in; a category once filtered or detected stays so."""
    if new is None:
        return
    if not isinstance(new, Mapping):
        raise ShapeError(f"{where} 'content_filter_results' is a {_type(new)}")
    for category, report in new.items():
        old = into.get(category)
        if _flagged(old) and not _flagged(report):
            continue
        into[category] = report


def _flagged(report: Any) -> bool:
    return isinstance(report, Mapping) and bool(report.get("filtered") or report.get("detected"))


def prompt_filter_of(data: Mapping[str, Any]) -> list[Any] | None:
    """Azure's report on the prompt (``prompt_filter_results``, formerly ``prompt_annotations``)."""
    value = data.get("prompt_filter_results")
    if value is None:
        value = data.get("prompt_annotations")
    if value is not None and not isinstance(value, list):
        raise ShapeError(f"'prompt_filter_results' is a {_type(value)}")
    return value


def identity(data: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """(id, model); an empty string (Azure's annotation chunks) counts as absent."""
    return opt(data, "id", str, "the answer") or None, opt(data, "model", str, "the answer") or None


def _parse_choice(choice: Any, position: int) -> ChatResult:
    where = f"choice {position}"
    if not isinstance(choice, Mapping):
        raise ShapeError(f"{where} is a {_type(choice)}")
    index = choice_index(choice, position, where)
    message = choice.get("message")
    if message is None:  # seen from a server whose filter removed the whole message
        message = {}
    if not isinstance(message, Mapping):
        raise ShapeError(f"{where} 'message' is a {_type(message)}")
    where = f"choice {index} message"
    raw_calls = opt(message, "tool_calls", list, where) or ()
    calls = [parse_tool_call(c, f"{where} tool call") for c in raw_calls]
    legacy = message.get("function_call")
    if legacy is not None:
        calls.append(parse_tool_call({"function": legacy}, f"{where} 'function_call'"))
    content_filter: dict[str, Any] = {}
    merge_filter(content_filter, choice.get("content_filter_results"), where)
    return ChatResult(
        text=response_text(message.get("content"), where),
        finish_reason=normalize_finish_reason(
            opt(choice, "finish_reason", str, where), has_calls=bool(calls)
        ),
        tool_calls=calls,
        reasoning=reasoning_of(message, where),
        refusal=opt(message, "refusal", str, where) or None,
        index=index,
        logprobs=merge_logprobs(None, copy.deepcopy(choice.get("logprobs")), where),
        annotations=list(opt(message, "annotations", list, where) or ()),
        content_filter={"content_filter_results": content_filter} if content_filter else {},
    )


def assemble(
    choices: list[ChatResult],
    *,
    usage: Usage,
    model: str | None,
    id: str | None,
    prompt_filter: list[Any] | None = None,
    raw: dict[str, Any] | None = None,
    interrupted: bool = False,
) -> ChatResult:
    """The whole answer: choice 0's fields, the response's usage/id/model, every choice kept."""
    ordered = sorted(choices, key=lambda c: c.index)
    for choice in ordered:
        choice.model, choice.id = model, id
    first = ordered[0] if ordered else ChatResult()
    content_filter = dict(first.content_filter)
    if prompt_filter:
        content_filter["prompt_filter_results"] = prompt_filter
    return replace(
        first,
        usage=usage,
        tool_calls=list(first.tool_calls),
        annotations=list(first.annotations),
        content_filter=content_filter,
        model=model,
        id=id,
        raw=raw,
        interrupted=interrupted,
        choices=ordered,
    )


def parse_completion(
    data: Any, *, keep_raw: bool = True, secrets: Iterable[str | None] = ()
) -> ChatResult:
    """A ``chat.completion`` JSON object → :class:`ChatResult` (every choice; choice 0 first)."""
    if not isinstance(data, Mapping):
        raise malformed("a completion that is not a JSON object", data, secrets)
    if data.get("error"):
        raise error_from_event(data, secrets)
    try:
        choices = data.get("choices")
        if not isinstance(choices, list) or not choices:
            raise ShapeError(f"a completion whose 'choices' is {_type(choices)} {choices!r:.40}")
        parsed = [_parse_choice(c, i) for i, c in enumerate(choices)]
        if len({c.index for c in parsed}) != len(parsed):
            raise ShapeError("a completion with two choices of the same index")
        model_id, model = identity(data)
        return assemble(
            parsed,
            usage=parse_usage(data.get("usage")),
            model=model,
            id=model_id,
            prompt_filter=prompt_filter_of(data),
            raw=dict(data) if keep_raw else None,
        )
    except LexiluxError:
        raise
    except ShapeError as exc:
        raise malformed(f"a completion of the wrong shape ({exc})", data, secrets) from None
    except (TypeError, KeyError, AttributeError, IndexError, ValueError) as exc:
        what = f"a completion of an unexpected shape ({type(exc).__name__})"
        raise malformed(what, data, secrets) from None
