"""``%chat_history``: look at, clear, pop, save and load the histories in the namespace."""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring
from IPython.display import display

from ..client.errors import LexiluxError
from ..client.history import ChatHistory
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


def _unquote(value: str | None) -> str | None:
    """IPython's non-POSIX argument split keeps the quotes of ``--save "my chats.json"``."""
    if value and len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


def history_command(namespace: MutableMapping[str, Any], line: str, *, default: str) -> None:
    args = parse_argstring(_parser, line)
    args.save, args.load = _unquote(args.save), _unquote(args.load)
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
            path = history.save(args.save)
            print(f"saved {name} to {path}")
        else:
            display(history)
    except (LexiluxError, OSError) as exc:
        raise UsageError(f"%chat_history {name}: {exc}") from None
