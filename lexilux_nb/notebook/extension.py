"""``%load_ext lexilux_nb`` / ``%unload_ext lexilux_nb``: register and remove the magics.

Nothing happens on import. Loading registers the magics and one input transform: IPython reads
a line ending in ``?`` as a help request, so ``%chat What is a monad?`` would run ``%pinfo monad``
instead of asking. The transform sends such lines to our line magic, verbatim; ``%chat?`` (help
on the magic itself) and ``%%`` cells are left alone.
"""

from __future__ import annotations

import re
from typing import Any

from . import map_progress, mcp_magic
from .fix import FixMagics
from .magics import ChatMagics
from .map_magic import MapMagics
from .usage_magic import UsageMagics

_OURS = (ChatMagics, FixMagics, UsageMagics, MapMagics)

_QUESTION_LINE = re.compile(r"^(?P<indent>\s*)%(?P<magic>chat|chat_complete)\s+(?P<rest>.*\?)\s*$")


def route_questions(lines: list[str]) -> list[str]:
    """Rewrite ``%chat ...?`` lines into direct calls of the magic (an input cleanup transform)."""
    if not lines or lines[0].lstrip().startswith("%%"):
        return lines  # a cell magic's body is its prompt, not Python
    out = []
    for line in lines:
        match = _QUESTION_LINE.match(line)
        if match is None:
            out.append(line)
            continue
        newline = "\n" if line.endswith("\n") else ""
        call = f"get_ipython().run_line_magic({match['magic']!r}, {match['rest']!r})"
        out.append(f"{match['indent']}{call}{newline}")
    return out


def load(shell: Any) -> ChatMagics:
    """Register the magics; ``%config ChatMagics.x = ...`` works because it is a configurable."""
    unload(shell)  # a reload replaces the old instance instead of stacking a second one
    shell.register_magics(MapMagics(shell=shell))  # first: ChatMagics stays the last configurable
    magics = ChatMagics(shell=shell)  # Magics.__init__ already appends it to shell.configurables
    shell.register_magics(magics)
    helpers = (FixMagics(shell, magics), UsageMagics(shell))
    shell.register_magics(*helpers)
    for helper in helpers:  # no settings of their own: ChatMagics stays the configurable
        if helper in shell.configurables:
            shell.configurables.remove(helper)
    if magics not in shell.configurables:
        shell.configurables.append(magics)
    shell.input_transformers_cleanup.append(route_questions)
    mcp_magic.register(shell)
    map_progress.install()
    return magics


def unload(shell: Any) -> None:
    """Remove every magic and transform this package registered, close its client and stop the
    background loop (the panel's)."""
    from ..client import loop_thread

    map_progress.uninstall()
    for configurable in [c for c in shell.configurables if isinstance(c, ChatMagics)]:
        shell.configurables.remove(configurable)
        configurable.close()
    for mapper in [c for c in shell.configurables if isinstance(c, MapMagics)]:
        shell.configurables.remove(mapper)
    manager = shell.magics_manager
    for kind in ("line", "cell"):
        table = manager.magics[kind]
        ours = [n for n, f in table.items() if isinstance(getattr(f, "__self__", None), _OURS)]
        for name in ours:
            del table[name]
    for name in ("ChatMagics", "FixMagics", "UsageMagics", "MapMagics"):
        manager.registry.pop(name, None)
    while route_questions in shell.input_transformers_cleanup:
        shell.input_transformers_cleanup.remove(route_questions)
    loop_thread.stop()
    mcp_magic.unregister(shell)
