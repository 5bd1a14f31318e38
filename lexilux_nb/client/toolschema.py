"""JSON schemas of Python types, and arguments checked against a function's parameters.

With pydantic installed (imported on first use), every parameter type gets pydantic's schema
(models, dataclasses, TypedDicts, enums, ``Literal``, ``Optional``, ``Annotated`` fields) and
arguments are validated and converted by a ``TypeAdapter`` per parameter, so a function typed
``point: Point`` receives a ``Point``. Without it, the common types (str, int, float, bool,
lists, dicts, ``Optional``, ``Literal``, enums, dataclasses, TypedDicts) are described here and
only presence, unknown names and enums are checked.
"""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from collections.abc import Callable
from typing import Any

_SIMPLE: dict[Any, str] = {str: "string", int: "integer", float: "number", bool: "boolean"}


class ToolArgumentsError(ValueError):
    """The model's (or the user's) arguments do not fit the function."""


def pydantic() -> Any:
    """The pydantic module, or None when it is not installed."""
    try:
        import pydantic as module
    except ImportError:
        return None
    return module


def _is_typeddict(hint: Any) -> bool:
    return isinstance(hint, type) and typing.is_typeddict(hint)


def _enum_schema(hint: type[enum.Enum]) -> dict[str, Any]:
    values = [m.value for m in hint]
    kinds = {_SIMPLE.get(type(v)) for v in values}
    out: dict[str, Any] = {"enum": values}
    if len(kinds) == 1 and None not in kinds:
        out["type"] = kinds.pop()
    return out


def _object(props: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {"type": "object", "properties": props, "required": required}


def plain_schema(hint: Any) -> dict[str, Any]:
    """The schema of ``hint`` without pydantic (unknown types accept anything: ``{}``)."""
    if hint in _SIMPLE:
        return {"type": _SIMPLE[hint]}
    if hint is type(None) or hint is None:
        return {"type": "null"}
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Annotated:
        return plain_schema(args[0])
    if origin is typing.Literal:
        kinds = {_SIMPLE.get(type(a)) for a in args}
        out: dict[str, Any] = {"enum": list(args)}
        return {**out, "type": kinds.pop()} if len(kinds) == 1 and None not in kinds else out
    if origin in (typing.Union, types.UnionType):
        options = [plain_schema(a) for a in args]
        return {"anyOf": options}
    if hint in (list, set, frozenset, tuple) or origin in (list, set, frozenset, tuple):
        uniform = len(args) == 1 or (len(args) == 2 and args[1] is Ellipsis)
        item = args[0] if args and uniform else None
        return {"type": "array", **({"items": plain_schema(item)} if item is not None else {})}
    if hint is dict or origin is dict:
        return {"type": "object"}
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return _enum_schema(hint)
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        hints = typing.get_type_hints(hint)
        props = {f.name: plain_schema(hints.get(f.name, Any)) for f in dataclasses.fields(hint)}
        required = [
            f.name
            for f in dataclasses.fields(hint)
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        ]
        return _object(props, required)
    if _is_typeddict(hint):
        hints = typing.get_type_hints(hint)
        keys = getattr(hint, "__required_keys__", frozenset(hints))
        return _object({k: plain_schema(v) for k, v in hints.items()}, sorted(keys))
    return {}


def _plain_convert(hint: Any, value: Any) -> Any:
    """Without pydantic: enums from their values, dataclasses from dicts; the rest as given."""
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        try:
            return hint(value)
        except ValueError as exc:
            raise ToolArgumentsError(str(exc)) from None
    if dataclasses.is_dataclass(hint) and isinstance(hint, type) and isinstance(value, dict):
        try:
            return hint(**value)
        except TypeError as exc:
            raise ToolArgumentsError(str(exc)) from None
    return value


def type_adapter(module: Any, hint: Any) -> Any:
    """pydantic's ``TypeAdapter``; before Python 3.12 pydantic refuses ``typing.TypedDict``, so
    such a class is rebuilt as the ``typing_extensions`` one (pydantic depends on it)."""
    try:
        return module.TypeAdapter(hint)
    except module.PydanticUserError:
        if not _is_typeddict(hint):
            raise
        import typing_extensions

        hints = typing.get_type_hints(hint, include_extras=True)
        required = getattr(hint, "__required_keys__", frozenset(hints))
        fields = {
            k: v if k in required else typing_extensions.NotRequired[v] for k, v in hints.items()
        }
        rebuilt = typing_extensions.TypedDict(hint.__name__, fields)  # type: ignore[misc]
        return module.TypeAdapter(rebuilt)


def _pydantic_message(exc: Any, name: str) -> str:
    parts = []
    for error in exc.errors(include_url=False):
        where = ".".join(str(p) for p in (name, *error.get("loc", ())))
        parts.append(f"{where}: {error.get('msg')}")
    return "; ".join(parts)


@dataclasses.dataclass
class Parameter:
    """One parameter: its schema, whether it is required, and how its value is checked."""

    name: str
    hint: Any
    schema: dict[str, Any]
    required: bool
    convert: Callable[[Any], Any]


def parameter(name: str, hint: Any, required: bool, defs: dict[str, Any]) -> Parameter:
    """Describe one parameter; pydantic's ``$defs`` are collected into ``defs``."""
    module = pydantic()
    if module is not None and hint is not Any:
        try:
            adapter = type_adapter(module, hint)
            schema = adapter.json_schema()
        except (module.PydanticSchemaGenerationError, module.PydanticUserError, TypeError):
            pass  # a type pydantic cannot describe: accept anything, pass it on as it is
        else:
            defs.update(schema.pop("$defs", {}))

            def convert(value: Any) -> Any:
                try:
                    return adapter.validate_python(value)
                except module.ValidationError as exc:
                    raise ToolArgumentsError(_pydantic_message(exc, name)) from None

            return Parameter(name, hint, schema, required, convert)
    return Parameter(name, hint, plain_schema(hint), required, lambda v: _plain_convert(hint, v))


def check_arguments(
    params: dict[str, Parameter], arguments: dict[str, Any], open_ended: bool
) -> dict[str, Any]:
    """The converted keyword arguments, or :class:`ToolArgumentsError` naming every problem."""
    if not isinstance(arguments, dict):
        raise ToolArgumentsError(f"expected a JSON object of arguments, got {arguments!r}")
    problems = []
    missing = [p.name for p in params.values() if p.required and p.name not in arguments]
    if missing:
        problems.append(f"missing required argument(s): {', '.join(missing)}")
    unknown = [k for k in arguments if k not in params]
    if unknown and not open_ended:
        known = ", ".join(params) or "none"
        problems.append(f"unexpected argument(s): {', '.join(unknown)} (accepted: {known})")
    out: dict[str, Any] = {}
    for key, value in arguments.items():
        if key not in params:
            if open_ended:
                out[key] = value
            continue
        try:
            out[key] = params[key].convert(value)
        except ToolArgumentsError as exc:
            problems.append(str(exc))
    if problems:
        raise ToolArgumentsError("; ".join(problems))
    return out
