"""One conversation engine: a turn's context, request, live view and record, for every surface.

``%%chat`` cells, the chat panel and the Python API drive the same :class:`Engine`, so a
capability (context, tools, approval, budget) is written once. Nothing here imports IPython or a
markdown library: the engine talks to an :class:`AnswerView` and a ``ChatHistory``.
"""

from __future__ import annotations

from .interrupts import deferred_interrupts
from .outcome import Ask, Footer, Outcome, State, footer_of
from .run import Engine, TurnInterrupted
from .tools import ToolLog, Tools
from .turn import Turn
from .view import AnswerView, NullView
from .watch import history_changed, watch_history

__all__ = [
    "AnswerView",
    "Ask",
    "Engine",
    "Footer",
    "NullView",
    "Outcome",
    "State",
    "ToolLog",
    "Tools",
    "Turn",
    "TurnInterrupted",
    "deferred_interrupts",
    "footer_of",
    "history_changed",
    "watch_history",
]
