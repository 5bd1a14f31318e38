"""Fill ``{name}``, ``{name.attr}`` and ``{name[key]}`` in a prompt from the user namespace.

Only those exact shapes are placeholders; anything else in braces (JSON, code, set literals)
is left exactly as written, ``{{name}}`` gives a literal ``{name}``, and nothing is ``eval``-ed.
Doubled braces around anything else are kept as they are, so nested JSON such as
``{"a": {"b": 1}}`` is sent unchanged. An unknown name is an error that names it.

The model sees a value's ``str()``, and some libraries shorten theirs to fit a screen (pandas
keeps 10 rows of a long DataFrame, numpy summarises big arrays with "..."): :func:`interpolate`
returns a notice for each such value, and for a placeholder that looks like a call (``{x.f()}``),
which is sent as written because nothing is evaluated.
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
_CALL = re.compile(rf"\{{(?P<root>{_IDENT})(?:{_ACCESS})*\([^{{}}]*\)[^{{}}]*\}}")


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


_ELIDED = re.compile(r"^[ .]*\.\.[ .]*$|\.\.\.", re.MULTILINE)  # a row of dots, or "..."


def shortened(value: Any, text: str) -> str | None:
    """Why ``text`` (the ``str()`` of ``value``) shows less than the value holds, or None."""
    module = type(value).__module__.split(".")[0]
    kind = type(value).__name__
    if module == "pandas" and hasattr(value, "shape") and _ELIDED.search(text):
        shape = " × ".join(str(n) for n in value.shape)
        return f"pandas shortened this {kind} ({shape}) to fit a screen"
    if module == "numpy" and hasattr(value, "size") and "..." in text:
        return f"numpy summarised this array of {value.size} items"
    return None


def interpolate(prompt: str, namespace: Mapping[str, Any]) -> tuple[str, list[str]]:
    """The prompt with placeholders filled (every other brace kept as written), and notices."""
    notices: list[str] = []

    def fill(match: re.Match[str]) -> str:
        literal = match.group("literal")
        if literal is not None:
            return "{" + literal + "}"
        expr = match.group("expr")
        value = _lookup(expr, namespace)
        text = str(value)
        why = shortened(value, text)
        if why:
            fix = (
                f" To send all of it, bind {expr}.to_csv() to a variable and use that."
                if why.startswith("pandas")
                else ""
            )
            notices.append(f"{{{expr}}}: {why}, so the model sees only part of it.{fix}")
        return text

    filled = _TOKEN.sub(fill, prompt)
    for call in _CALL.finditer(prompt):
        if call.group("root") in namespace:
            notices.append(
                f"{call.group(0)} is sent as written: placeholders are names, attributes and "
                "[keys], never calls (nothing is evaluated). Compute it in a cell first."
            )
    return filled, notices
