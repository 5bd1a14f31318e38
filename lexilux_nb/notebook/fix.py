"""``%chat_fix`` and ``%%chat --fix``: the last error, with its cell's source, sent for a fix; and
``--insert``: the answer's code put into a new cell below, not run.

The last error is the last cell that failed, as the extension's cell recorder saw it
(:mod:`lexilux_nb.context.cells`: its source, its ``In[n]`` and the exception); errors of these
magics themselves are not "the last error". Before the extension was loaded, IPython's own record
is used (``sys.last_value``, the cell's source from ``linecache``). The code goes back through
the kernel's ``set_next_input`` payload, which JupyterLab and Notebook 7 turn into a new cell
below, and terminal IPython into the next prompt.
"""

from __future__ import annotations

import linecache
import re
import sys
import traceback
from dataclasses import dataclass
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_magic, magics_class, no_var_expand

from .errors import ChatCellError, ChatInterrupted

MAX_TRACEBACK_CHARS = 3000
MAX_SOURCE_CHARS = 8000
_FENCE = re.compile(
    r"^ {0,3}(`{3,}|~{3,})[ \t]*([^\s`]*)[^\n]*\n(.*?)^ {0,3}\1[ \t]*$", re.M | re.S
)
_PYTHON = {"", "python", "py", "python3", "ipython", "ipython3"}
_OURS = (ChatCellError, ChatInterrupted, UsageError)

FIX_REQUEST = (
    "This notebook cell failed. Reply with the corrected cell as one Python code block, "
    "then at most two sentences on what was wrong."
)


@dataclass(frozen=True)
class LastError:
    """A failed cell: its exception, number (None: unknown) and source."""

    error: BaseException
    number: int | None
    source: str

    @property
    def traceback(self) -> str:
        """The traceback without IPython's own frames, its last part kept when long."""
        exc = self.error
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if not _internal(f.filename)]
        text = "".join(["Traceback (most recent call last):\n"] if frames else []) + "".join(
            traceback.format_list(frames) + traceback.format_exception_only(exc)
        )
        return _tail(text, MAX_TRACEBACK_CHARS, "traceback")


def _internal(filename: str) -> bool:
    return "/IPython/core/" in filename.replace("\\", "/")


def _tail(text: str, limit: int, what: str) -> str:
    if len(text) <= limit:
        return text
    return f"[… the first {len(text) - limit} characters of the {what} not shown]\n" + text[-limit:]


def _bounded(text: str, limit: int, what: str) -> str:
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n[… {what} cut: {len(text) - limit} more characters not shown]"


def _recorded(shell: Any) -> LastError | None:
    """The last failed cell the extension's cell recorder saw (it skips our own errors)."""
    from ..context.cells import recorder_of

    recorder = recorder_of(shell)
    found = recorder.last_error if recorder is not None else None
    if found is None or found.error is None:
        return None
    return LastError(found.error, found.number, found.source)


def fix_request(shell: Any, extra: str = "") -> str:
    """The ``--fix`` prompt for ``shell``'s last error, ``extra`` (the user's words) added."""
    return fix_prompt(last_error(shell), extra)


def _from_ipython(shell: Any) -> LastError | None:
    """IPython's own record of the last traceback it showed, when the watch saw none."""
    error = getattr(sys, "last_value", None)
    if error is None or isinstance(error, _OURS):
        return None
    names = getattr(getattr(shell, "compile", None), "_filename_map", {}) or {}
    filename = getattr(error, "filename", None) if isinstance(error, SyntaxError) else None
    for frame in traceback.extract_tb(error.__traceback__):
        if frame.filename in names:
            filename = frame.filename
    if filename is None:
        return LastError(error, None, "")
    return LastError(error, names.get(filename), "".join(linecache.getlines(filename)))


def last_error(shell: Any) -> LastError:
    """The last failed cell, or a ``UsageError`` that says there is none."""
    recorded, shown = _recorded(shell), _from_ipython(shell)
    # IPython keeps the last traceback it showed: when it is not the recorded error it is newer
    # (a SyntaxError, which never runs, or an error from before the extension was loaded).
    newer = shown is not None and (recorded is None or shown.error is not recorded.error)
    found = shown if newer else recorded
    if found is None:
        raise UsageError(
            "%chat_fix: no error to fix yet. Run the cell that fails, then %chat_fix "
            "(its error and source are sent to the model)."
        )
    return found


def fix_prompt(found: LastError, extra: str = "") -> str:
    """What the model is asked: the request, the cell's source, the error, the user's words."""
    cell = f"In[{found.number}]" if found.number is not None else "the cell"
    source = _bounded(found.source.rstrip(), MAX_SOURCE_CHARS, "source")
    parts = [FIX_REQUEST, ""]
    if source:
        parts += [f"The cell ({cell}):", "```python", source, "```", ""]
    parts += ["The error:", "```", found.traceback.rstrip(), "```"]
    if extra.strip():
        parts += ["", extra.strip()]
    return "\n".join(parts)


def code_of(text: str) -> str:
    """The code of an answer: its Python (or unlabelled) fenced blocks, else every fenced block,
    joined by a blank line; an answer without fences is taken as code (it was asked for code)."""
    blocks = [(m.group(2).lower(), m.group(3)) for m in _FENCE.finditer(text)]
    chosen = [body for lang, body in blocks if lang in _PYTHON] or [body for _, body in blocks]
    if not blocks:
        return text.strip()
    return "\n\n".join(b.rstrip("\n") for b in chosen).strip("\n")


def insert_code(shell: Any, text: str) -> str:
    """Put the answer's code into a new cell below this one (not run); returns the code."""
    code = code_of(text)
    if code and shell is not None:
        shell.set_next_input(code, replace=False)
    return code


@magics_class
class FixMagics(Magics):
    """``%chat_fix [options] [what else to say]``."""

    def __init__(self, shell: Any, chat_magics: Any) -> None:
        super().__init__(shell=shell)
        self.chat_magics = chat_magics  # the ChatMagics whose settings and client a fix uses

    @no_var_expand
    @line_magic
    def chat_fix(self, line: str) -> None:
        """Send the last error, with its cell's source, and put the fixed code in a new cell below
        (not run). Takes the options of ``%chat`` (``%chat?``); words after them are added to the
        request. ``--no-insert`` first only shows the answer."""
        insert = not line.lstrip().startswith("--no-insert")
        line = line if insert else line.lstrip()[len("--no-insert") :]
        last_error(self.shell)  # a clear message before anything else
        self.chat_magics.chat(("--fix --insert " if insert else "--fix ") + line)
