"""Message shapes: roles, the one message validator, and the one rule for content → text.

A leaf module (it imports nothing from ``client/`` but the errors), so the history, the wire
format, the options and the exporters all share it without importing each other.

**Content → text**, everywhere (a completion's message, a streamed delta, the history, exports,
continuation): a string is itself; in a list of content parts the text parts are concatenated
with nothing between them, exactly as a streamed answer's deltas are, so ``[{"type": "text",
"text": "a"}, {"type": "text", "text": "b"}]`` is ``"ab"`` whether it arrived whole or streamed.
Non-text parts (images, audio, files) are left out, or, with ``placeholders=True`` (for display),
shown as ``[image: url]`` on their own line.

**JSON values** sent to a server must be what the JSON standard allows: :func:`check_json`
refuses NaN and infinities (``json.dumps(allow_nan=False)`` would), non-string keys, cycles and
objects JSON cannot represent, naming the field, before any request.
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
import math
import struct
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from .errors import ValidationError

ROLES = ("system", "developer", "user", "assistant", "tool")
TEXT_PART_TYPES = frozenset({"text", "input_text", "output_text"})
MAX_JSON_DEPTH = 64  # far beyond any real schema; deeper input is refused, not a RecursionError

Message = dict[str, Any]


class HistoryLike(Protocol):
    """What the wire format needs from a conversation (``ChatHistory`` is one)."""

    @property
    def system(self) -> str | None: ...

    def get_messages(self, include_system: bool = True) -> list[Message]: ...


# -- content -> text ------------------------------------------------------------------------------


def data_url_placeholder(url: str) -> str | None:
    """``[image 640×480 PNG, 23 KB]`` for an image data URL (size read from a PNG's header),
    the placeholder itself for one already shown so, None for anything else."""
    if url.startswith("[image "):
        return url
    if not url.startswith("data:image/"):
        return None
    header, _, payload = url.partition(",")
    head = payload[:64]
    try:
        data = base64.b64decode(head + "=" * (-len(head) % 4))
    except (binascii.Error, ValueError):
        data = b""
    shape = ""
    if header.startswith("data:image/png") and data[12:16] == b"IHDR" and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        shape = f"{width}×{height} "
    kind = header[len("data:image/") :].split(";")[0].upper() or "IMAGE"
    return f"[image {shape}{kind}, {max(1, round(len(payload) * 3 / 4 / 1024))} KB]"


def part_placeholder(part: Mapping[str, Any]) -> str:
    """How a non-text content part is shown: ``[image: url]``, ``[audio]``, ``[file]``..."""
    kind = str(part.get("type") or "part")
    if kind == "image_url":
        image = part.get("image_url")
        url = image.get("url") if isinstance(image, Mapping) else image
        url = str(url or "")
        shown = data_url_placeholder(url)
        if shown is not None:  # a base64 payload is useless on screen and can be megabytes
            return shown
        if url.startswith("data:"):
            url = url.split(",", 1)[0] + ",…"
        return f"[image: {url}]"
    if kind == "input_audio":
        return "[audio]"
    if kind == "refusal":
        return f"[refusal: {part.get('refusal') or ''}]"
    return f"[{kind}]"


def content_text(content: Any, *, placeholders: bool = True) -> str:
    """The text of any message content: text parts concatenated, other parts as placeholders.

    Lenient on purpose (a history is displayed exactly when something odd came back): parts
    that are neither text nor typed dicts are skipped. Validation lives in :func:`check_message`.
    """
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if not isinstance(content, Sequence):
        return str(content)
    segments: list[str] = []
    run: list[str] = []
    for part in content:
        if isinstance(part, str):
            run.append(part)
        elif isinstance(part, Mapping):
            if part.get("type", "text") in TEXT_PART_TYPES:
                text = part.get("text")
                run.append(text if isinstance(text, str) else "")
            elif placeholders:
                if run:
                    segments.append("".join(run))
                    run = []
                segments.append(part_placeholder(part))
    if not segments:
        return "".join(run)
    if run:
        segments.append("".join(run))
    return "\n".join(s for s in segments if s)


# -- JSON values ----------------------------------------------------------------------------------


def check_json(value: Any, where: str) -> None:
    """Raise :class:`ValidationError` unless ``value`` is strict JSON (no NaN, str keys...)."""
    _check_json(value, where, 0, set())


def _check_json(value: Any, where: str, depth: int, path: set[int]) -> None:
    if value is None or isinstance(value, str | bool | int):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValidationError(
                f"{where} is {value!r}, which JSON cannot carry (use a finite number or None)"
            )
        return
    if depth >= MAX_JSON_DEPTH:
        raise ValidationError(f"{where} is nested more than {MAX_JSON_DEPTH} levels deep")
    if isinstance(value, Mapping | list | tuple):
        if id(value) in path:
            raise ValidationError(f"{where} contains itself (a circular reference)")
        path.add(id(value))
        if isinstance(value, Mapping):
            for key, item in value.items():
                if not isinstance(key, str):
                    raise ValidationError(
                        f"{where} has a key {key!r} of type {type(key).__name__}; JSON keys are "
                        "strings"
                    )
                _check_json(item, f"{where}[{key!r}]", depth + 1, path)
        else:
            for i, item in enumerate(value):
                _check_json(item, f"{where}[{i}]", depth + 1, path)
        path.discard(id(value))
        return
    raise ValidationError(
        f"{where} holds a {type(value).__name__} ({_short(value)}), which is not JSON: use str, "
        "int, float, bool, None, list or dict"
    )


def _short(value: Any) -> str:
    try:
        text = repr(value)
    except Exception:  # a broken __repr__ must not hide the real problem
        text = object.__repr__(value)
    return text if len(text) <= 60 else text[:59] + "…"


# -- messages -------------------------------------------------------------------------------------


def tool_call_dict(call: Any, where: str) -> dict[str, Any]:
    """The OpenAI wire form of a tool call given as a ToolCall, a wire dict or a flat dict."""
    to_dict = getattr(call, "to_dict", None)
    if not isinstance(call, Mapping) and callable(to_dict):  # a ToolCall
        call = to_dict()
    if not isinstance(call, Mapping):
        raise ValidationError(
            f"{where}: tool calls must be ToolCall objects or dicts, got {type(call).__name__}"
        )
    check_json(call, f"{where} tool call")
    out = copy.deepcopy(dict(call))
    fn = out.get("function")
    if fn is None:  # flat {"id", "name", "arguments"}
        fn = {"name": out.pop("name", "") or "", "arguments": out.pop("arguments", "")}
        out.setdefault("type", "function")
    if not isinstance(fn, Mapping):
        raise ValidationError(f"{where}: a tool call's 'function' must be a dict, got {fn!r}")
    fn = dict(fn)
    if not isinstance(fn.get("name", ""), str):
        raise ValidationError(f"{where}: a tool call's function name must be a str")
    for key in ("id", "type"):
        if key in out and not isinstance(out[key], str):
            raise ValidationError(f"{where}: a tool call's {key!r} must be a str")
    arguments = fn.get("arguments", "")
    if arguments is None:
        fn["arguments"] = ""
    elif not isinstance(arguments, str):  # the wire wants JSON *text*
        fn["arguments"] = json.dumps(arguments, allow_nan=False)  # checked above: cannot fail
    out["function"] = fn
    return out


def _check_parts(index: int, parts: list[Any]) -> None:
    for i, part in enumerate(parts):
        where = f"message {index} content part {i}"
        if not isinstance(part, Mapping):
            raise ValidationError(
                f"{where} must be a dict such as {{'type': 'text', 'text': '...'}}, "
                f"got {type(part).__name__}"
            )
        kind = part.get("type")
        if not isinstance(kind, str) or not kind:
            raise ValidationError(f"{where} needs a 'type' string ('text', 'image_url', ...)")
        if kind == "text" and not isinstance(part.get("text"), str):
            raise ValidationError(f"{where} is a text part whose 'text' is not a str")


def check_message(index: int, message: Any) -> Message:
    """A validated deep copy of one message, tool calls in wire form (Chat and ChatHistory)."""
    if not isinstance(message, Mapping):
        raise ValidationError(
            f"message {index} must be a dict with 'role' and 'content' or a str, "
            f"got {type(message).__name__}"
        )
    role = message.get("role")
    if not isinstance(role, str) or role not in ROLES:
        raise ValidationError(
            f"message {index} has role {_short(role)}; accepted roles: {', '.join(ROLES)}"
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
    if isinstance(content, list):
        _check_parts(index, content)
    for key in ("name", "tool_call_id", "refusal"):
        value = message.get(key)
        if value is not None and not isinstance(value, str):
            raise ValidationError(
                f"message {index} '{key}' must be a str, got {type(value).__name__}"
            )
    if role == "tool" and not message.get("tool_call_id"):
        raise ValidationError(f"message {index} is a tool reply without 'tool_call_id'")
    calls = message.get("tool_calls")
    rest = {k: v for k, v in message.items() if k != "tool_calls"}
    check_json(rest, f"message {index}")
    out = copy.deepcopy(rest)
    if calls is not None:
        if role != "assistant" or not isinstance(calls, list | tuple):
            raise ValidationError(
                f"message {index}: 'tool_calls' must be a list on an assistant message"
            )
        if calls:  # an empty list is dropped: several servers reject "tool_calls": []
            out["tool_calls"] = [tool_call_dict(c, f"message {index}") for c in calls]
    return out
