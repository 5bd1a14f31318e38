"""Plain result types: what a call returns and what a stream yields.

Kept free of I/O and of IPython; the rich notebook repr imports the safe renderer lazily.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

FinishReason = str  # "stop", "length", "tool_calls", "content_filter", ... (normalised)


def _add_optional(a: int | None, b: int | None) -> int | None:
    if a is None:
        return b
    if b is None:
        return a
    return a + b


@dataclass(slots=True)
class Usage:
    """Token counts. ``None`` means "not reported"; a reported 0 stays 0."""

    input_tokens: int | None = None
    output_tokens: int | None = None
    total_tokens: int | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def __add__(self, other: Usage) -> Usage:
        details = dict(self.details)
        for key, value in other.details.items():
            mine = details.get(key)
            if isinstance(mine, int) and isinstance(value, int):
                details[key] = mine + value
            else:
                details[key] = value
        return Usage(
            _add_optional(self.input_tokens, other.input_tokens),
            _add_optional(self.output_tokens, other.output_tokens),
            _add_optional(self.total_tokens, other.total_tokens),
            details,
        )

    @property
    def reported(self) -> bool:
        return any(
            v is not None for v in (self.input_tokens, self.output_tokens, self.total_tokens)
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Usage:
        data = data or {}
        return cls(
            data.get("input_tokens"),
            data.get("output_tokens"),
            data.get("total_tokens"),
            dict(data.get("details") or {}),
        )


@dataclass(slots=True)
class ToolCall:
    """One function call requested by the model; ``arguments`` is the raw JSON text."""

    id: str
    name: str
    arguments: str = ""
    type: str = "function"

    def get_arguments(self) -> dict[str, Any]:
        """The arguments parsed as JSON (``{}`` when empty)."""
        if not self.arguments.strip():
            return {}
        value = json.loads(self.arguments)
        if not isinstance(value, dict):
            raise ValueError(f"tool call {self.name!r} arguments are not a JSON object")
        return value

    def to_dict(self) -> dict[str, Any]:
        """The OpenAI wire form, as used in an assistant message's ``tool_calls``."""
        return {
            "id": self.id,
            "type": self.type,
            "function": {"name": self.name, "arguments": self.arguments},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ToolCall:
        fn = data.get("function") or {}
        arguments = fn.get("arguments") or data.get("arguments") or ""
        return cls(
            id=str(data.get("id") or ""),
            name=str(fn.get("name") or data.get("name") or ""),
            # some servers send an object; the field is JSON text (str() would give Python repr)
            arguments=arguments if isinstance(arguments, str) else json.dumps(arguments),
            type=str(data.get("type") or "function"),
        )


@dataclass(slots=True)
class ChatResult:
    """A whole answer. ``str(result)`` is its text.

    With ``n > 1`` the server sends several answers (choices): ``choices`` holds one result per
    choice index (text, finish reason, tool calls, reasoning, refusal, logprobs, annotations),
    and the result's own fields are those of choice 0. ``usage`` covers the whole response and
    is only on the result, not on each choice; ``choices`` of a choice is empty.

    ``refusal`` is the model's refusal message (OpenAI's ``message.refusal``): a refused answer
    has an empty ``text`` and a non-empty ``refusal``. ``annotations`` are the message's
    annotations (e.g. ``url_citation``). ``content_filter`` is Azure OpenAI's filter report:
    ``content_filter_results`` (category → result, merged over a stream; a category once
    filtered stays filtered) and, on the result, ``prompt_filter_results`` (about the prompt).
    An answer stopped by a filter has ``finish_reason == "content_filter"``.
    """

    text: str = ""
    finish_reason: FinishReason | None = None
    usage: Usage = field(default_factory=Usage)
    tool_calls: list[ToolCall] = field(default_factory=list)
    reasoning: str | None = None
    model: str | None = None
    id: str | None = None
    raw: dict[str, Any] | None = None
    continues: int = 0
    truncated: bool = False
    interrupted: bool = False
    refusal: str | None = None
    index: int = 0
    logprobs: dict[str, Any] | None = None
    annotations: list[dict[str, Any]] = field(default_factory=list)
    content_filter: dict[str, Any] = field(default_factory=dict)
    choices: list[ChatResult] = field(default_factory=list, repr=False)

    def __str__(self) -> str:
        return self.text

    @property
    def has_tool_calls(self) -> bool:
        return bool(self.tool_calls)

    @property
    def has_reasoning(self) -> bool:
        return bool(self.reasoning)

    @property
    def filtered(self) -> bool:
        """A content filter stopped the answer or flagged a category of it (or of the prompt)."""
        if self.finish_reason == "content_filter":
            return True
        reports = list((self.content_filter.get("content_filter_results") or {}).values())
        for prompt in self.content_filter.get("prompt_filter_results") or ():
            if isinstance(prompt, dict):
                reports += list((prompt.get("content_filter_results") or {}).values())
        return any(isinstance(r, dict) and r.get("filtered") for r in reports)

    def _repr_markdown_(self) -> str:
        from ..markup.escape import inert_markdown

        escaped: str = inert_markdown(self.text)
        return escaped

    def _repr_html_(self) -> str:
        from ..markup.html import render_markdown

        rendered: str = render_markdown(self.text)
        return rendered

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("raw")
        return data


@dataclass(slots=True)
class ChatStreamChunk:
    """One step of a stream. ``done`` is set on exactly one, final chunk.

    ``delta``, ``reasoning_content`` and ``refusal`` are pieces of choice ``index``; the done
    chunk carries choice 0's finish reason, the usage and choice 0's tool calls (every choice
    is in the result). The chunks before it share one empty ``usage`` per stream: read it,
    do not change it.
    """

    delta: str = ""
    done: bool = False
    finish_reason: FinishReason | None = None
    usage: Usage = field(default_factory=Usage)
    tool_calls: list[ToolCall] = field(default_factory=list)
    reasoning_content: str | None = None
    raw: dict[str, Any] | None = None
    refusal: str | None = None
    index: int = 0  # the choice this delta belongs to (0 unless n > 1)

    @property
    def reasoning(self) -> str:
        return self.reasoning_content or ""


@dataclass(slots=True)
class FunctionTool:
    """A function the model may call (OpenAI ``tools`` entry)."""

    name: str
    description: str = ""
    parameters: dict[str, Any] = field(default_factory=dict)
    strict: bool = False
    type: Literal["function"] = "function"

    def to_dict(self) -> dict[str, Any]:
        function: dict[str, Any] = {"name": self.name}
        if self.description:
            function["description"] = self.description
        if self.parameters:
            function["parameters"] = self.parameters
        if self.strict:
            function["strict"] = True
        return {"type": self.type, "function": function}


Tool = FunctionTool


@dataclass(slots=True)
class ToolChoice:
    """How the model should use tools: ``auto``, ``none``, ``required`` or one named function."""

    type: Literal["auto", "none", "required", "function"]
    name: str | None = None

    def to_dict(self) -> dict[str, Any] | str:
        if self.type == "function":
            return {"type": "function", "function": {"name": self.name}}
        return self.type
