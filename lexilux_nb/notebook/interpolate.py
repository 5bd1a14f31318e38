"""Fill ``{name}``, ``{name.attr}``, ``{name[key]}`` and ``{name:spec}`` in a prompt.

Only those exact shapes are placeholders; anything else in braces (JSON, code, set literals,
``{x:>10}``) is left exactly as written, ``{{name}}`` gives a literal ``{name}``, and nothing is
``eval``-ed. Doubled braces around anything else are kept as they are, so nested JSON such as
``{"a": {"b": 1}}`` is sent unchanged. An unknown name is an error that names it.

A value is sent as its description (:func:`lexilux_nb.context.describe`: bounded, saying what
was left out, never a silently truncated repr); a spec of letters picks the form (``md``,
``csv``, ``schema``, ``full``) and any other is refused. ``{In[n]}``, ``{Out[n]}``, ``{Err}``
refer to cells (:mod:`lexilux_nb.context.references`); figures, PIL images and image outputs
become image parts, so the prompt becomes a list of content parts. A placeholder that looks like
a call (``{x.f()}``) is sent as written, with a notice, because nothing is evaluated.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ..client.errors import ValidationError
from ..context import images, references
from ..context.describe import SPECS, Caps, describe

_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
_ACCESS = rf"(?:\.{_IDENT}|\[(?:-?\d+|'[^'\]]*'|\"[^\"\]]*\"|{_IDENT})\])"
_PLACEHOLDER = rf"{_IDENT}{_ACCESS}*"
_SPEC = r"(?::(?P<spec>[A-Za-z]+))?"
_TOKEN = re.compile(
    rf"\{{\{{(?P<literal>{_PLACEHOLDER}(?::[A-Za-z]+)?)\}}\}}|\{{(?P<expr>{_PLACEHOLDER}){_SPEC}\}}"
)
_STEP = re.compile(rf"\.(?P<attr>{_IDENT})|\[(?P<key>[^\]]*)\]")
_CALL = re.compile(rf"\{{(?P<root>{_IDENT})(?:{_ACCESS})*\([^{{}}]*\)[^{{}}]*\}}")
_SCALARS = (str, int, float, bool, type(None), dict, list)

Segment = str | dict[str, Any]  # text, or an image content part


class Block(str):
    """A multi-line description (a table, a traceback): set on lines of its own."""


def _block(text: str) -> str:
    return Block(text) if "\n" in text else text


class InterpolationError(ValidationError):
    """A placeholder could not be filled."""


def _lookup(expr: str, namespace: Mapping[str, Any], shell: Any = None) -> Any:
    if references.is_reference(expr, namespace) and (shell is not None or expr.startswith("Err")):
        return references.resolve(expr, shell)
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


def _image(value: Any, caps: Caps, label: str, sent: list[str]) -> dict[str, Any]:
    png = images.png_of(value, caps.image_px)
    sent.append(f"{label}: {images.placeholder(png)}")
    return images.image_part(png)


def render(expr: str, value: Any, spec: str, caps: Caps, sent: list[str]) -> list[Segment]:
    """What ``{expr:spec}`` sends: text and image parts; ``sent`` gets a line per item."""
    label = f"{{{expr}}}"
    if images.is_image(value):
        return [_image(value, caps, label, sent)]
    if isinstance(value, references.CellOutput):
        out: list[Segment] = []
        if images.is_image(value.result):
            out.append(_image(value.result, caps, label, sent))
        elif value.result is not references.MISSING:
            out.append(_block(describe(value.result, spec, caps.max_chars)))
        for shown in value.displays:
            if "image/png" in shown:
                out.append(_image(shown["image/png"], caps, label, sent))
            else:
                out.append(_block(describe(shown.get("text/plain", ""), "", caps.max_chars)))
        merged: list[Segment] = []
        for piece in out:  # the result and each display's text, one per line
            if isinstance(piece, str) and merged and isinstance(merged[-1], str):
                merged[-1] = _block(merged[-1] + "\n" + piece)
            else:
                merged.append(piece)
        out = merged
        texts = [s for s in out if isinstance(s, str)]
        if texts:
            sent.append(
                f"{label}: the output of cell [{value.number}], {sum(map(len, texts))} characters"
            )
        return out
    if isinstance(value, BaseException):  # an exception bound to a name: told like {Err}
        value = references.error_info(value, shell=None)
    if isinstance(value, references.ErrorInfo):
        text = value.text(caps.output_chars)
        sent.append(f"{label}: {type(value.error).__name__}, {len(text)} characters")
        return [Block(text)]
    text = describe(value, spec, caps.max_chars)
    if expr.startswith("In[") or not isinstance(value, _SCALARS):
        sent.append(f"{label}: {type(value).__name__}, {len(text)} characters")
    return [text if isinstance(value, str) and not expr.startswith("In[") else _block(text)]


def interpolate_parts(
    prompt: str,
    namespace: Mapping[str, Any],
    *,
    shell: Any = None,
    caps: Caps | None = None,
    sent: list[str] | None = None,
) -> tuple[list[Segment], list[str]]:
    """The prompt as segments (text and image parts) with placeholders filled, and notices."""
    caps = caps or Caps()
    sent = [] if sent is None else sent
    notices: list[str] = []
    segments: list[Segment] = []
    pos = 0
    for match in _TOKEN.finditer(prompt):
        segments.append(prompt[pos : match.start()])
        pos = match.end()
        literal = match.group("literal")
        if literal is not None:
            segments.append("{" + literal + "}")
            continue
        expr, spec = match.group("expr"), match.group("spec") or ""
        if spec and spec not in SPECS:
            raise InterpolationError(
                f"{{{expr}:{spec}}} in the prompt: unknown format {spec!r}; use one of "
                f"{', '.join(':' + s for s in SPECS)}, or write {{{{{expr}:{spec}}}}} to send it "
                "as is."
            )
        try:
            segments += render(expr, _lookup(expr, namespace, shell), spec, caps, sent)
        except InterpolationError:
            raise
        except ValidationError as exc:
            raise InterpolationError(str(exc)) from None
    segments.append(prompt[pos:])
    segments = _on_own_lines(segments)
    for call in _CALL.finditer(prompt):
        if call.group("root") in namespace:
            notices.append(
                f"{call.group(0)} is sent as written: placeholders are names, attributes and "
                "[keys], never calls (nothing is evaluated). Compute it in a cell first."
            )
    return segments, notices


def _on_own_lines(segments: list[Segment]) -> list[Segment]:
    """A newline before and after each block, unless the text around it already has one (and
    no space left dangling at those line breaks)."""
    items = [s for s in segments if not isinstance(s, str) or s]
    out: list[Segment] = []
    for i, segment in enumerate(items):
        before = out[-1] if out else None
        if isinstance(segment, str) and isinstance(before, Block) and before.endswith("\n"):
            segment = segment.lstrip(" \t")  # the text after a block starts its own line
        if not isinstance(segment, Block):
            out.append(segment)
            continue
        after = items[i + 1] if i + 1 < len(items) else None
        if isinstance(before, str) and not isinstance(before, Block):
            out[-1] = before = before.rstrip(" \t")
        lead = before is not None and not (isinstance(before, str) and before.endswith("\n"))
        tail = after is not None and not (
            isinstance(after, str) and after.lstrip(" \t")[:1] == "\n"
        )
        out.append(Block(("\n" if lead else "") + segment + ("\n" if tail else "")))
    return out


def as_content(segments: list[Segment]) -> str | list[dict[str, Any]]:
    """A string when every segment is text, else content parts: text around image parts."""
    if all(isinstance(s, str) for s in segments):
        return "".join(s for s in segments if isinstance(s, str))
    parts: list[dict[str, Any]] = []
    run: list[str] = []
    for segment in segments:
        if isinstance(segment, str):
            run.append(segment)
            continue
        if "".join(run):
            parts.append({"type": "text", "text": "".join(run)})
        run = []
        parts.append(segment)
    if "".join(run):
        parts.append({"type": "text", "text": "".join(run)})
    return parts


def interpolate(
    prompt: str, namespace: Mapping[str, Any], **kwargs: Any
) -> tuple[str | list[dict[str, Any]], list[str]]:
    """The prompt with placeholders filled (every other brace kept as written), and notices."""
    segments, notices = interpolate_parts(prompt, namespace, **kwargs)
    return as_content(segments), notices
