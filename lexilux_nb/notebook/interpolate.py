"""Fill ``{name}``, ``{name.attr}`` and ``{name[key]}`` in a prompt from the user namespace.

Only those exact shapes are placeholders; anything else in braces (JSON, code, set literals)
is left exactly as written, ``{{name}}`` gives a literal ``{name}``, and nothing is ``eval``-ed.
Doubled braces around anything else are kept as they are, so nested JSON such as
``{"a": {"b": 1}}`` is sent unchanged. An unknown name is an error that names it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ..client.errors import ValidationError

_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
_ACCESS = rf"(?:\.{_IDENT}|\[(?:-?\d+|'[^'\]]*'|\"[^\"\]]*\"|{_IDENT})\])"
_PLACEHOLDER = rf"{_IDENT}{_ACCESS}*"
_TOKEN = re.compile(rf"\{{\{{(?P<literal>{_PLACEHOLDER})\}}\}}|\{{(?P<expr>{_PLACEHOLDER})\}}")
_STEP = re.compile(rf"\.(?P<attr>{_IDENT})|\[(?P<key>[^\]]*)\]")


class InterpolationError(ValidationError):
    """A placeholder could not be filled."""


def _lookup(expr: str, namespace: Mapping[str, Any]) -> Any:
    name = re.match(_IDENT, expr)
    assert name is not None
    root = name.group(0)
    if root not in namespace:
        raise InterpolationError(
            f"{{{expr}}} in the prompt: no variable named {root!r} in the notebook. "
            f"Define it first, write {{{{{expr}}}}} to send {{{expr}}} as is, "
            "or use --no-interpolate."
        )
    value = namespace[root]
    for step in _STEP.finditer(expr, name.end()):
        try:
            if step.group("attr") is not None:
                value = getattr(value, step.group("attr"))
                continue
            key: Any = step.group("key")
            if key[:1] in "'\"":
                key = key[1:-1]
            elif re.fullmatch(r"-?\d+", key):
                key = int(key)
            value = value[key]
        except (AttributeError, KeyError, IndexError, TypeError) as exc:
            raise InterpolationError(
                f"{{{expr}}} in the prompt: {type(exc).__name__}: {exc}"
            ) from None
    return value


def interpolate(prompt: str, namespace: Mapping[str, Any]) -> str:
    """The prompt with placeholders filled; every other brace is kept as written."""

    def fill(match: re.Match[str]) -> str:
        literal = match.group("literal")
        if literal is not None:
            return "{" + literal + "}"
        return str(_lookup(match.group("expr"), namespace))

    return _TOKEN.sub(fill, prompt)
