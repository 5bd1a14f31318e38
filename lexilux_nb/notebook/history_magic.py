"""``%chat_history``: look at, clear, pop, save and load the histories in the namespace."""

from __future__ import annotations

import shlex
import warnings
from collections.abc import MutableMapping
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic_arguments import argument, magic_arguments
from IPython.display import display

from ..client.errors import LexiluxError
from ..client.history import ChatHistory, SaveWarning
from .namespace import find_histories, get_history


@magic_arguments()
@argument("name", nargs="?", help="History variable (default chat_history).")
@argument("--show", action="store_true", help="Display the conversation (the default).")
@argument("--clear", action="store_true", help="Remove every turn (the system prompt stays).")
@argument("--pop", action="store_true", help="Remove the last round and show it.")
@argument("--save", metavar="PATH", help="Save as .json, .md, .html or .txt.")
@argument("--load", metavar="PATH", help="Load a .json history into NAME.")
@argument("--list", action="store_true", help="List the histories in the notebook.")
def _parser(line: str) -> None:
    """%chat_history [NAME] [--show | --clear | --pop | --save PATH | --load PATH | --list]"""


def split(line: str) -> list[str]:
    """Shell-like words: ``"my chats.json"`` and ``'my chats.json'`` are one word each (quotes
    removed); backslashes stay as typed, so Windows paths work."""
    lexer = shlex.shlex(line, posix=True)
    lexer.whitespace_split = True
    lexer.escape = ""
    try:
        return list(lexer)
    except ValueError as exc:  # "No closing quotation"
        raise UsageError(f"%chat_history: {exc} in {line!r}") from None


def history_command(namespace: MutableMapping[str, Any], line: str, *, default: str) -> None:
    args = _parser.parser.parse_args(split(line))
    actions = [a for a in ("clear", "pop", "save", "load", "list") if getattr(args, a)]
    if len(actions) > 1:
        raise UsageError(f"%chat_history takes one action at a time, got {actions}")
    name = args.name or default
    if not name.isidentifier():
        raise UsageError(f"history name must be a Python variable name, got {name!r}")
    try:
        if args.list:
            found = find_histories(namespace)
            if not found:
                print("no chat histories yet (the first %%chat creates chat_history)")
            for key, hist in found.items():
                print(f"{key}: {len(hist)} messages, {len(hist.rounds())} rounds")
            return
        if args.load:
            namespace[name] = ChatHistory.load(args.load)
            print(f"loaded {len(namespace[name])} messages into {name}")
            return
        history = get_history(namespace, name, create=False)
        if args.clear:
            history.clear()
            print(f"{name} cleared")
        elif args.pop:
            removed = history.remove_last_round()
            print(f"removed {len(removed)} message(s) from {name}")
        elif args.save:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", SaveWarning)
                path = history.save(args.save)
            print(f"saved {name} to {path}")
            for warning in caught:  # odd characters: a notice, the file is saved
                print(f"note: {warning.message}")
        else:
            display(history)
    except (LexiluxError, OSError) as exc:
        raise UsageError(f"%chat_history {name}: {exc}") from None
