"""``%load_ext lexilux_nb`` / ``%unload_ext lexilux_nb``: register and remove the magics.

Nothing else happens on load: no event-loop patching, no exception hooks, no warning filters.
"""

from __future__ import annotations

from typing import Any

from .magics import ChatMagics


def load(shell: Any) -> ChatMagics:
    """Register the magics; ``%config ChatMagics.x = ...`` works because it is a configurable."""
    unload(shell)  # a reload replaces the old instance instead of stacking a second one
    magics = ChatMagics(shell=shell)  # Magics.__init__ already appends it to shell.configurables
    shell.register_magics(magics)
    if magics not in shell.configurables:
        shell.configurables.append(magics)
    return magics


def unload(shell: Any) -> None:
    """Remove every magic this package registered and close its client."""
    for configurable in [c for c in shell.configurables if isinstance(c, ChatMagics)]:
        shell.configurables.remove(configurable)
        configurable.close()
    manager = shell.magics_manager
    for kind in ("line", "cell"):
        table = manager.magics[kind]
        for name in [
            n for n, f in table.items() if isinstance(getattr(f, "__self__", None), ChatMagics)
        ]:
            del table[name]
    manager.registry.pop("ChatMagics", None)
