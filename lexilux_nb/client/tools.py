"""Python callables as tools: a JSON schema from the signature, type hints and docstring."""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .models import FunctionTool

_SIMPLE: dict[Any, str] = {str: "string", int: "integer", float: "number", bool: "boolean"}


def _schema(hint: Any) -> dict[str, Any]:
    """The JSON schema of one parameter type (unknown types accept anything)."""
    if hint in _SIMPLE:
        return {"type": _SIMPLE[hint]}
    origin = typing.get_origin(hint)
    if hint is list or origin is list:
        args = typing.get_args(hint)
        return {"type": "array", **({"items": _schema(args[0])} if args else {})}
    if hint is dict or origin is dict:
        return {"type": "object"}
    return {}


@dataclass
class PythonTool:
    """A callable plus the ``FunctionTool`` the model sees."""

    function: Callable[..., Any]
    spec: FunctionTool

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def is_async(self) -> bool:
        return inspect.iscoroutinefunction(self.function)


def from_function(function: Callable[..., Any], name: str | None = None) -> PythonTool:
    """Describe ``function`` for the model; required parameters are those without defaults."""
    if not callable(function):
        raise TypeError(f"a tool must be callable, got {function!r}")
    hints = typing.get_type_hints(function)
    properties: dict[str, Any] = {}
    required: list[str] = []
    for param in inspect.signature(function).parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        properties[param.name] = _schema(hints.get(param.name, Any))
        if param.default is param.empty:
            required.append(param.name)
    doc = inspect.getdoc(function) or ""
    spec = FunctionTool(
        name=name or function.__name__,
        description=doc,
        parameters={"type": "object", "properties": properties, "required": required},
    )
    return PythonTool(function, spec)


def as_tools(tools: Any) -> list[PythonTool]:
    """Normalise ``tools=``: callables and ``PythonTool``s."""
    return [t if isinstance(t, PythonTool) else from_function(t) for t in tools]
