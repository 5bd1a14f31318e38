"""Magic-line options, declared once with IPython's ``magic_arguments``.

``%chat?`` shows them; a mistake raises ``UsageError`` with the usage line. The line form
``%chat [options] prompt`` keeps the prompt exactly as typed (quotes and apostrophes included):
options are read from the front of the line and the rest is the prompt.
"""

from __future__ import annotations

import difflib
import json
import re
import shlex
from collections.abc import Callable
from typing import Any, TypeVar

from IPython.core.error import UsageError
from IPython.core.magic_arguments import argument, magic_arguments

F = TypeVar("F", bound=Callable[..., Any])

REASONING_EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh", "off", "on")
FORMATS = ("markdown", "text", "code", "json")
APPROVALS = ("ask", "always", "never")

_OPTIONS: list[tuple[tuple[str, ...], dict[str, Any]]] = [
    (("-m", "--model"), {"help": "Model name for this call."}),
    (("-s", "--system"), {"help": "System prompt for this call (sent first)."}),
    (("-t", "--temperature"), {"type": float, "help": "Sampling temperature, 0 to 2."}),
    (("--max-tokens",), {"type": int, "help": "Cap on the answer's length in tokens."}),
    (("--top-p",), {"type": float, "help": "Nucleus sampling, 0 to 1."}),
    (("--stop",), {"action": "append", "help": "Stop sequence (repeatable)."}),
    (("-H", "--history"), {"help": "Name of the ChatHistory variable (default chat_history)."}),
    (("--new",), {"action": "store_true", "help": "Clear that history before this turn."}),
    (("--no-history",), {"action": "store_true", "help": "Send only this prompt; keep no turn."}),
    (("-o", "--out"), {"help": "Also bind the ChatResult to this variable."}),
    (("--format",), {"choices": FORMATS, "default": "markdown", "help": "How to show the answer."}),
    (("--no-stream",), {"action": "store_true", "help": "Wait for the whole answer."}),
    (
        ("--reasoning",),
        {"nargs": "?", "const": "on", "help": "Ask for reasoning, optionally an effort level."},
    ),
    (("--param",), {"action": "append", "metavar": "KEY=VALUE", "help": "Extra body field."}),
    (("--base-url",), {"help": "Endpoint for this call (…/v1)."}),
    (("--api-key-env",), {"help": "Environment variable holding the API key."}),
    (("--dry-run",), {"action": "store_true", "help": "Show the request; send nothing."}),
    (("--context",), {"type": int, "metavar": "N", "help": "Also send the previous N code cells."}),
    (("--no-interpolate",), {"action": "store_true", "help": "Leave {name} placeholders as is."}),
    (("--fix",), {"action": "store_true", "help": "Send the last error and its cell for a fix."}),
    (("--insert",), {"action": "store_true", "help": "Put the answer's code in a new cell below."}),
    (("--tools",), {"metavar": "F,G", "help": "Functions the model may call (notebook names)."}),
    (("--approve",), {"choices": APPROVALS, "help": "Tool calls: ask (default), always, never."}),
    (
        ("--schema",),
        {"metavar": "NAME", "help": "Answer as JSON of this schema (-o: the value)."},
    ),
]
_COMPLETE_OPTIONS: list[tuple[tuple[str, ...], dict[str, Any]]] = [
    (("--max-continues",), {"type": int, "default": None, "help": "Continuation rounds (5)."}),
]
_TAKES_VALUE = {
    flag: kwargs.get("nargs")
    for flags, kwargs in _OPTIONS + _COMPLETE_OPTIONS
    for flag in flags
    if kwargs.get("action") not in ("store_true",)
}
_FLAGS = {flag for flags, _ in _OPTIONS + _COMPLETE_OPTIONS for flag in flags}
_TOKEN = re.compile(r"""\s*((?:"[^"]*"|'[^']*'|[^\s"']|["'])+)""")


def _decorate(func: F, options: list[tuple[tuple[str, ...], dict[str, Any]]]) -> F:
    for flags, kwargs in reversed(options):
        func = argument(*flags, **kwargs)(func)
    decorated: F = magic_arguments()(func)
    return decorated


def chat_arguments(func: F) -> F:
    """The options of ``%chat`` / ``%%chat``."""
    return _decorate(func, _OPTIONS)


def complete_arguments(func: F) -> F:
    """The options of ``%chat_complete``: those of ``%chat`` plus ``--max-continues``."""
    return _decorate(func, _OPTIONS + _COMPLETE_OPTIONS)


_PANEL_OPTIONS: list[tuple[tuple[str, ...], dict[str, Any]]] = [
    option
    for option in _OPTIONS
    if option[0][-1]
    in {
        "--model",
        "--system",
        "--temperature",
        "--max-tokens",
        "--top-p",
        "--stop",
        "--history",
        "--reasoning",
        "--param",
        "--base-url",
        "--api-key-env",
        "--tools",
        "--approve",
    }
] + [
    *_COMPLETE_OPTIONS,
    (
        ("--continue",),
        {
            "action": "store_true",
            "dest": "auto_continue",
            "help": "Start with 'continue automatically' on.",
        },
    ),
]


def panel_arguments(func: F) -> F:
    """The options of ``%chat_panel``."""
    return _decorate(func, _PANEL_OPTIONS)


def split_line(line: str) -> tuple[str, str]:
    """(options, prompt) of a line magic: options first, the untouched rest is the prompt."""
    pos = 0
    expect_value: object = False
    while True:
        match = _TOKEN.match(line, pos)
        if match is None:
            return line, ""
        token = match.group(1)
        if expect_value is not False:
            if expect_value == "?" and token not in REASONING_EFFORTS:
                return line[:pos], line[pos:].strip()
            pos, expect_value = match.end(), False
            continue
        if token == "--":
            return line[:pos], line[match.end() :].strip()
        flag = token.split("=", 1)[0]
        if flag not in _FLAGS:
            return line[:pos], line[pos:].strip()
        pos = match.end()
        if flag in _TAKES_VALUE and "=" not in token:
            expect_value = _TAKES_VALUE[flag]


def check_prompt_start(magic: Callable[..., Any], prompt: str) -> None:
    """A line prompt that starts with a mistyped option is refused, not sent as the prompt."""
    first = prompt.split(None, 1)[0] if prompt.strip() else ""
    if not first.startswith("-") or first == "--":
        return
    hint = _did_you_mean(magic, [first])
    if hint:
        raise _usage_error(
            magic,
            f"unknown option {first.split('=', 1)[0]}{hint}; to send a prompt that starts with "
            "'-', put -- before it",
        )


def _usage_error(magic: Callable[..., Any], message: str) -> UsageError:
    """``message``, then the magic's usage lines and where to find the full help."""
    parser = magic.parser  # type: ignore[attr-defined]
    usage = parser.format_usage().lstrip(":").strip("\n")
    return UsageError(f"{message}\n{usage}\n(%{parser.prog.lstrip('%')}? shows every option)")


def parse(magic: Callable[..., Any], options: str) -> Any:
    """Parse ``options`` with the magic's parser; errors become ``UsageError`` with the usage."""
    try:
        argv = shlex.split(options)
    except ValueError as exc:
        raise _usage_error(magic, f"could not read the options {options!r}: {exc}") from None
    try:
        args = magic.parser.parse_args(argv)  # type: ignore[attr-defined]
    except UsageError as exc:
        raise _usage_error(magic, str(exc) + _did_you_mean(magic, argv)) from None
    if args.history is not None and not args.history.isidentifier():
        message = f"-H/--history needs a Python variable name, got {args.history!r}"
        raise _usage_error(magic, message)
    out = getattr(args, "out", None)  # %chat_panel has no -o
    if out is not None and not out.isidentifier():
        raise _usage_error(magic, f"-o/--out needs a Python variable name, got {out!r}")
    if args.reasoning is not None and args.reasoning not in REASONING_EFFORTS:
        message = f"--reasoning takes one of {', '.join(REASONING_EFFORTS)}, got {args.reasoning!r}"
        raise _usage_error(magic, message)
    if (getattr(args, "context", None) or 0) < 0:
        raise _usage_error(
            magic, f"--context takes a number of cells, 0 or more, got {args.context}"
        )
    try:
        args.extra = parse_params(args.param or [])
    except UsageError as exc:
        raise _usage_error(magic, str(exc)) from None
    return args


def _did_you_mean(magic: Callable[..., Any], argv: list[str]) -> str:
    """ " (did you mean --model?)" for the first unknown option that is close to a real one."""
    known = list(magic.parser._option_string_actions)  # type: ignore[attr-defined]
    for token in argv:
        flag = token.split("=", 1)[0]
        if flag.startswith("-") and flag not in known:
            close = difflib.get_close_matches(flag, known, n=1, cutoff=0.6)
            if close:
                return f" (did you mean {close[0]}?)"
    return ""


def parse_params(items: list[str]) -> dict[str, Any]:
    """``--param KEY=VALUE``: VALUE is JSON when it parses as JSON, else a string."""
    extra: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--param takes KEY=VALUE, got {item!r}")
        try:
            extra[key.strip()] = json.loads(raw)
        except ValueError:
            extra[key.strip()] = raw
    return extra


def reasoning_setting(value: str | None) -> bool | str | None:
    """Map ``--reasoning [EFFORT]`` onto the client's ``reasoning=`` option."""
    if value is None:
        return None
    if value in ("on",):
        return True
    if value in ("off", "none"):
        return False
    return value
