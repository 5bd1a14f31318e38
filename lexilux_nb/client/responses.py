"""Reading answers: one validation of every response shape, streamed or whole.

A chunk of a stream and a whole ``chat.completion`` are read by the same rules, from the OpenAI
API reference: a field of the wrong type becomes a :class:`MalformedResponseError` that quotes
(a bounded, redacted piece of) what arrived, never a ``TypeError`` from deep inside. Also the
state one choice of a stream is folded into (:class:`ChoiceState`), so that a streamed choice
and a parsed one become the same :class:`ChatResult`.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from .errors import LexiluxError, MalformedResponseError, error_from_event, redact
from .messages import content_text
from .models import ChatResult, ToolCall, Usage

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

SNIPPET_CHARS = 300  # how much of a malformed answer an error quotes
MAX_CHOICES = 128  # OpenAI's own limit on n; a higher index is a broken (or hostile) server


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
    if legacy is not None and not calls:  # llama-cpp-python sends both for one call
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


# -- the state a streamed choice is folded into -------------------------------------------------


class Text:
    """A growing string: pieces, joined into blocks of :data:`BLOCK` as they come."""

    __slots__ = ("blocks", "pieces")

    def __init__(self) -> None:
        self.pieces: list[str] = []
        self.blocks: list[str] = []

    def value(self) -> str:
        if not self.blocks:
            return "".join(self.pieces)
        return "".join(self.blocks) + "".join(self.pieces)


class PartialCall:
    __slots__ = ("arguments", "id", "name", "type")

    def __init__(self) -> None:
        self.id = ""
        self.name = ""
        self.type = "function"
        self.arguments = Text()

    def build(self) -> ToolCall:
        return ToolCall(self.id, self.name, self.arguments.value(), self.type)


class ChoiceState:
    """Everything one choice index has received so far."""

    __slots__ = (
        "annotations",
        "by_index",
        "calls",
        "content_filter",
        "finish_reason",
        "index",
        "legacy",
        "logprobs",
        "reasoning",
        "refusal",
        "text",
    )

    def __init__(self, index: int) -> None:
        self.index = index
        self.text = Text()
        self.reasoning = Text()
        self.refusal = Text()
        self.calls: list[PartialCall] = []
        self.by_index: dict[int, PartialCall] = {}  # tool-call delta index -> the call it continues
        self.legacy: PartialCall | None = None  # a streamed legacy ``function_call``
        self.finish_reason: str | None = None
        self.logprobs: dict[str, Any] | None = None
        self.annotations: list[Any] = []
        self.content_filter: dict[str, Any] = {}

    def result(self) -> ChatResult:
        calls = [call.build() for call in self.calls]
        logprobs = self.logprobs
        return ChatResult(
            text=self.text.value(),
            finish_reason=normalize_finish_reason(self.finish_reason, has_calls=bool(calls)),
            tool_calls=calls,
            reasoning=self.reasoning.value() or None,
            refusal=self.refusal.value() or None,
            index=self.index,
            logprobs=None if logprobs is None else {k: v for k, v in logprobs.items()},
            annotations=list(self.annotations),
            content_filter={"content_filter_results": dict(self.content_filter)}
            if self.content_filter
            else {},
        )
