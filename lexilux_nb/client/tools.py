"""Python callables as tools: a JSON schema from the signature, type hints and docstring.

``tools=`` accepts plain functions (sync or async) beside ``FunctionTool`` specs; each function
becomes a :class:`PythonTool` (the callable, the spec the model sees, and the checks its
arguments go through). Parameter types and validation live in :mod:`.toolschema`, docstrings are
read by :mod:`.tooldoc`.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import re
import typing
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import ValidationError
from .models import FunctionTool
from .tooldoc import parse_docstring
from .toolschema import Parameter, ToolArgumentsError, check_arguments, parameter

__all__ = ["PythonTool", "ToolArgumentsError", "as_tools", "from_function", "is_python_tool"]

_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # what OpenAI accepts as a function name
# Describing a function costs milliseconds (pydantic builds a validator per parameter) and the
# same functions come with every call: described once per function object (a redefined
# function is a new object, so it is described again).
_DESCRIBED: weakref.WeakKeyDictionary[Any, PythonTool] = weakref.WeakKeyDictionary()


@dataclass
class PythonTool:
    """A callable plus the ``FunctionTool`` the model sees; calling it calls the function."""

    function: Callable[..., Any]
    spec: FunctionTool
    parameters: dict[str, Parameter] = field(default_factory=dict, repr=False)
    open_ended: bool = False  # the function takes **kwargs: extra arguments pass through

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def is_async(self) -> bool:
        target = self.function
        while isinstance(target, functools.partial):
            target = target.func
        return inspect.iscoroutinefunction(target) or inspect.iscoroutinefunction(
            getattr(target, "__call__", None)  # noqa: B004 - an async __call__ method
        )

    def validate(self, arguments: Mapping[str, Any]) -> dict[str, Any]:
        """The keyword arguments to call with; :class:`ToolArgumentsError` when they do not fit."""
        return check_arguments(self.parameters, dict(arguments), self.open_ended)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.function(*args, **kwargs)


def _hints(function: Callable[..., Any]) -> dict[str, Any]:
    target = function.func if isinstance(function, functools.partial) else function
    if not (inspect.isfunction(target) or inspect.ismethod(target)):
        target = getattr(target, "__call__", target)  # noqa: B004
    try:
        return typing.get_type_hints(target, include_extras=True)
    except Exception:  # unresolvable forward references: fall back to "anything"
        return {}


def _name(function: Callable[..., Any], name: str | None) -> str:
    target = function.func if isinstance(function, functools.partial) else function
    chosen = name or getattr(target, "__name__", None) or type(target).__name__
    if not isinstance(chosen, str) or not _NAME.match(chosen):
        raise ValidationError(
            f"tool name {chosen!r} is not accepted by the API (letters, digits, _ and -, at most "
            "64): name it with lexilux_nb.client.tools.from_function(f, name='...')"
        )
    return chosen


def from_function(
    function: Callable[..., Any], name: str | None = None, description: str | None = None
) -> PythonTool:
    """Describe ``function`` for the model; required parameters are those without defaults."""
    if isinstance(function, PythonTool):
        return function
    if not callable(function) or isinstance(function, FunctionTool | Mapping):
        raise ValidationError(f"a tool must be a callable or a FunctionTool, got {function!r}")
    if name is None and description is None:
        try:
            known = _DESCRIBED.get(function)
        except TypeError:  # not weak-referenceable or not hashable: described every time
            known = None
        if known is not None:
            return known
    tool = _describe(function, name, description)
    if name is None and description is None:
        with contextlib.suppress(TypeError):
            _DESCRIBED[function] = tool
    return tool


def _describe(
    function: Callable[..., Any], name: str | None, description: str | None
) -> PythonTool:
    hints = _hints(function)
    doc, notes = parse_docstring(inspect.getdoc(function) or "")
    properties: dict[str, Any] = {}
    params: dict[str, Parameter] = {}
    defs: dict[str, Any] = {}
    open_ended = False
    for param in inspect.signature(function).parameters.values():
        if param.kind is param.VAR_KEYWORD:
            open_ended = True
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD, param.POSITIONAL_ONLY):
            continue
        hint = hints.get(param.name, Any)
        params[param.name] = parameter(param.name, hint, param.default is param.empty, defs)
        schema = dict(params[param.name].schema)
        schema.pop("title", None)
        if param.name in notes and "description" not in schema:
            schema["description"] = notes[param.name]
        properties[param.name] = schema
    schema_dict: dict[str, Any] = {
        "type": "object",
        "properties": properties,
        "required": [p.name for p in params.values() if p.required],
    }
    if defs:
        schema_dict["$defs"] = defs
    spec = FunctionTool(
        name=_name(function, name),
        description=doc if description is None else description,
        parameters=schema_dict,
    )
    return PythonTool(function, spec, params, open_ended)


def is_python_tool(tool: Any) -> bool:
    """A callable to run (not a ``FunctionTool`` or dict spec the caller answers)."""
    if isinstance(tool, PythonTool):
        return True
    return callable(tool) and not isinstance(tool, FunctionTool | Mapping)


def as_tools(tools: Any) -> list[PythonTool]:
    """Normalise callables and ``PythonTool``s; two tools with one name are refused."""
    out = [from_function(t) for t in tools]
    names = [t.name for t in out]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValidationError(
            f"two tools are named {', '.join(twice)}: rename one with from_function(f, name=...)"
        )
    return out
