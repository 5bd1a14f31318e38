"""Structured output: the answer as a validated object of a pydantic model, dataclass, TypedDict
or JSON-schema dict.

Where the provider supports it (OpenAI, llama.cpp, vLLM) the schema goes as ``response_format``
``json_schema`` (strict: every object closed and every property listed as required, as OpenAI's
strict mode demands); elsewhere JSON mode (``json_object``) plus an instruction carrying the
schema. The answer is asked for with ``complete`` (an answer cut at the token cap is continued
before parsing), parsed (a Markdown code fence around it is tolerated) and validated; on a parse
or validation error the model is shown the error and asked once more (``retries=1``).
"""

from __future__ import annotations

import copy
import dataclasses
import importlib
import json
import re
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

from .errors import LexiluxError, ValidationError
from .models import ChatResult
from .protocol import _as_message_list
from .toolschema import type_adapter

T = TypeVar("T")
Mode = Literal["auto", "json_schema", "json_object"]
JSON_SCHEMA_PROVIDERS = frozenset({"openai", "llamacpp", "vllm"})
_FENCE = re.compile(r"^\s*```[\w-]*\s*\n(.*?)\n?\s*```\s*$", re.DOTALL)
_NAME = re.compile(r"[^A-Za-z0-9_-]")


@dataclass
class Extracted(Generic[T]):
    """``extract(..., return_result=True)``: the value, the final raw answer, and how many
    requests it took (1, or 2 after a retry)."""

    value: T
    result: ChatResult
    attempts: int = 1


class ExtractError(LexiluxError):
    """The answer did not validate, also after the retry; ``result`` is the last answer."""

    def __init__(self, message: str, result: ChatResult, errors: list[str]) -> None:
        super().__init__(message)
        self.result = result
        self.errors = errors


@dataclass(frozen=True)
class Schema:
    """A target type made ready: its name, JSON schema, and a validator of parsed JSON."""

    name: str
    json_schema: dict[str, Any]
    validate: Callable[[Any], Any]


def _pydantic(what: str) -> Any:
    try:
        import pydantic
    except ImportError:
        raise ValidationError(
            f"extract() into {what} needs pydantic: pip install 'lexilux-nb[tools]' "
            "(or pass a JSON-schema dict)"
        ) from None
    return pydantic


def _pydantic_errors(exc: Any) -> str:
    parts = []
    for error in exc.errors(include_url=False):
        where = ".".join(str(p) for p in error.get("loc", ())) or "(root)"
        parts.append(f"{where}: {error.get('msg')}")
    return "; ".join(parts)


def _dict_validator(schema: dict[str, Any]) -> Callable[[Any], Any]:
    try:
        jsonschema = importlib.import_module("jsonschema")
    except ImportError:  # the basic check: an object with the required keys

        def basic(value: Any) -> Any:
            if schema.get("type") == "object" and not isinstance(value, dict):
                raise ValueError(f"expected a JSON object, got {type(value).__name__}")
            if isinstance(value, dict):
                missing = [k for k in schema.get("required", []) if k not in value]
                if missing:
                    raise ValueError(f"missing required key(s): {', '.join(missing)}")
            return value

        return basic
    validator = jsonschema.Draft202012Validator(schema)

    def full(value: Any) -> Any:
        errors = sorted(validator.iter_errors(value), key=lambda e: list(e.path))
        if errors:
            raise ValueError(
                "; ".join(f"{'.'.join(map(str, e.path)) or '(root)'}: {e.message}" for e in errors)
            )
        return value

    return full


def as_schema(schema: Any) -> Schema:
    """Accept a pydantic model, a dataclass, a TypedDict (pydantic needed) or a JSON-schema dict."""
    if isinstance(schema, Schema):
        return schema
    if isinstance(schema, Mapping):
        data = copy.deepcopy(dict(schema))
        name = str(data.get("title") or "output")
        return Schema(_NAME.sub("_", name)[:64], data, _dict_validator(data))
    kinds = dataclasses.is_dataclass(schema) or typing.is_typeddict(schema)
    base = getattr(schema, "model_json_schema", None)
    if not isinstance(schema, type) or not (kinds or callable(base)):
        raise ValidationError(
            "schema must be a pydantic model, a dataclass, a TypedDict or a JSON-schema dict, "
            f"got {schema!r}"
        )
    pydantic = _pydantic(schema.__name__)
    adapter = type_adapter(pydantic, schema)

    def validate(value: Any) -> Any:
        try:
            return adapter.validate_python(value)
        except pydantic.ValidationError as exc:
            raise ValueError(_pydantic_errors(exc)) from None

    return Schema(_NAME.sub("_", schema.__name__)[:64], adapter.json_schema(), validate)


_SCHEMA_MAPS = ("properties", "$defs", "definitions", "patternProperties")
_SUBSCHEMAS = ("items", "anyOf", "allOf", "oneOf", "prefixItems", "not", "if", "then", "else")


def strict_schema(schema: Any) -> Any:
    """OpenAI's strict form (copies): every object closed with every property required, and no
    ``"default": null`` (a field with a default is then required and nullable)."""
    if isinstance(schema, list):
        return [strict_schema(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _SCHEMA_MAPS and isinstance(value, dict):
            out[key] = {name: strict_schema(sub) for name, sub in value.items()}
        elif key in _SUBSCHEMAS:
            out[key] = strict_schema(value)
        elif not (key == "default" and value is None):
            out[key] = value
    if out.get("type") == "object" or isinstance(out.get("properties"), dict):
        props = out.setdefault("properties", {})
        out["required"] = list(props)
        out["additionalProperties"] = False
    return out


def parse_json(text: str) -> Any:
    """The answer's JSON (a code fence around it is dropped)."""
    fenced = _FENCE.match(text)
    return json.loads(fenced.group(1) if fenced else text)


def instruction(schema: Schema) -> str:
    return (
        "Answer with one JSON object only (no prose, no code fence) that matches this JSON "
        f"schema:\n{json.dumps(schema.json_schema, ensure_ascii=False)}"
    )


def retry_prompt(error: str) -> str:
    return f"That answer is not valid: {error}\nAnswer again with the corrected JSON object only."


class Request:
    """One extraction's messages and options; grows by one exchange on a retry."""

    def __init__(self, provider: str, messages: Any, schema: Any, mode: str, options: Any) -> None:
        if mode not in ("auto", "json_schema", "json_object"):
            raise ValidationError(f"mode must be 'auto', 'json_schema' or 'json_object': {mode!r}")
        if options.get("response_format") is not None:
            raise ValidationError("extract() sets response_format itself: leave it out")
        self.schema = as_schema(schema)
        if mode == "auto":
            mode = "json_schema" if provider in JSON_SCHEMA_PROVIDERS else "json_object"
        self.mode = mode
        history = options.get("history")
        if history is None and callable(getattr(messages, "get_messages", None)):
            history, messages = messages, None
        self.messages = _as_message_list(messages)[1]
        self.options = {k: v for k, v in options.items() if k != "history"}
        if history is not None:
            self.options["history"] = history
        if mode == "json_schema":
            strict = strict_schema(self.schema.json_schema)
            self.options["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": self.schema.name, "schema": strict, "strict": True},
            }
        else:
            self.options["response_format"] = {"type": "json_object"}
            self.messages.append({"role": "user", "content": instruction(self.schema)})

    def check(self, result: ChatResult) -> Any:
        """The validated value; ``ValueError`` with a message for the model otherwise."""
        try:
            data = parse_json(result.text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"it is not JSON ({exc})") from None
        return self.schema.validate(data)

    def again(self, result: ChatResult, error: str) -> None:
        self.messages += [
            {"role": "assistant", "content": result.text},
            {"role": "user", "content": retry_prompt(error)},
        ]


def _check_retries(retries: Any) -> int:
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise ValidationError(f"retries must be an integer >= 0, got {retries!r}")
    return retries


def extract(
    chat: Any,
    messages: Any,
    schema: Any,
    *,
    mode: Mode = "auto",
    retries: int = 1,
    return_result: bool = False,
    **options: Any,
) -> Any:
    """The answer to ``messages`` as a validated ``schema`` value (``Extracted`` with
    ``return_result=True``); :class:`ExtractError` when it still does not validate."""
    request = Request(chat.provider, messages, schema, mode, options)
    errors: list[str] = []
    for attempt in range(1, _check_retries(retries) + 2):
        result = chat.complete(request.messages, **request.options)
        try:
            value = request.check(result)
        except ValueError as exc:
            errors.append(str(exc))
            request.again(result, str(exc))
            continue
        return Extracted(value, result, attempt) if return_result else value
    raise ExtractError(
        f"the answer did not match {request.schema.name}: {errors[-1]}", result, errors
    )


async def aextract(
    chat: Any,
    messages: Any,
    schema: Any,
    *,
    mode: Mode = "auto",
    retries: int = 1,
    return_result: bool = False,
    **options: Any,
) -> Any:
    """Async :func:`extract`."""
    request = Request(chat.provider, messages, schema, mode, options)
    errors: list[str] = []
    for attempt in range(1, _check_retries(retries) + 2):
        result = await chat.acomplete(request.messages, **request.options)
        try:
            value = request.check(result)
        except ValueError as exc:
            errors.append(str(exc))
            request.again(result, str(exc))
            continue
        return Extracted(value, result, attempt) if return_result else value
    raise ExtractError(
        f"the answer did not match {request.schema.name}: {errors[-1]}", result, errors
    )
