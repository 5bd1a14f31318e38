"""``{In[3]}``, ``{Out[3]}``, ``{Err}`` and ``{Err[3]}``: the notebook's cells as prompt values.

Resolved from the shell (its ``In``/``Out`` history and the :class:`~.cells.CellRecorder`),
never by evaluating anything. ``{Out[n]}`` is the cell's result and what it displayed (plots,
images: their PNG, else their text); ``{Err}`` is the last exception a cell raised, with its
type, message, bounded traceback and the source of that cell. A user variable named ``Err``
wins over the reference.
"""

from __future__ import annotations

import re
import sys
import traceback
from dataclasses import dataclass, field
from typing import Any

from ..client.errors import ValidationError
from .cells import CellRecorder, recorder_of

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
REFERENCE = re.compile(r"(?P<root>In|Out|Err)(?:\[(?P<n>-?\d+)\])?")
MISSING = object()


class CellReferenceError(ValidationError):
    """A cell reference names nothing (no such cell, no output, no error yet)."""


@dataclass
class CellOutput:
    """What cell ``number`` produced: its displayhook result and its display outputs."""

    number: int
    result: Any = MISSING
    displays: list[dict[str, Any]] = field(default_factory=list)
    printed: str = ""


@dataclass
class ErrorInfo:
    """An exception a cell raised, with that cell's number and source."""

    error: BaseException
    number: int | None
    source: str

    def text(self, max_chars: int) -> str:
        """Type, message, the cell's source and the traceback's last ``max_chars`` characters."""
        head = f"{type(self.error).__name__}: {self.error}"
        where = f"cell [{self.number}]" if self.number is not None else "a cell"
        lines = [head, "", f"raised by {where}:", fence(self.source.rstrip(), "python")]
        tb = self.error.__traceback__
        while tb is not None and _internal(tb.tb_frame.f_code.co_filename):
            tb = tb.tb_next  # IPython's own frames (run_code) come before the cell's
        trace = "".join(traceback.format_exception(type(self.error), self.error, tb))
        trace = ANSI.sub("", trace).rstrip()
        if len(trace) > max_chars:
            cut = len(trace) - max_chars
            trace = f"[… {cut} earlier characters of the traceback not shown]\n" + trace[cut:]
        lines += ["", "Traceback:", fence(trace)]
        return "\n".join(lines)


def _internal(filename: str) -> bool:
    return any(
        f"{sep}{name}{sep}" in filename for name in ("IPython", "ipykernel") for sep in "/\\"
    )


def sources(shell: Any) -> list[str]:
    """Every cell's source as typed (``In`` holds them after IPython's transforms)."""
    raw = getattr(getattr(shell, "history_manager", None), "input_hist_raw", None)
    if isinstance(raw, list) and raw:
        return raw
    return list((getattr(shell, "user_ns", None) or {}).get("In") or [])


def fence(text: str, lang: str = "") -> str:
    """``text`` in a code fence longer than any backtick run inside it."""
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    ticks = "`" * max(3, longest + 1)
    return f"{ticks}{lang}\n{text}\n{ticks}"


def is_reference(expr: str, namespace: Any) -> bool:
    """``expr`` is exactly one of the cell references (``Err`` only when no variable has that
    name)."""
    match = REFERENCE.fullmatch(expr)
    if match is None:
        return False
    root, n = match.group("root"), match.group("n")
    if root == "Err":
        return "Err" not in namespace
    return n is not None


def _history(shell: Any, name: str) -> Any:
    return (getattr(shell, "user_ns", None) or {}).get(name)


def _ran(shell: Any) -> str:
    count = int(getattr(shell, "execution_count", 1)) - 1
    return f"cells 1–{count} have run" if count > 0 else "no cell has run yet"


def resolve(expr: str, shell: Any) -> Any:
    """The value of a reference for which :func:`is_reference` holds."""
    match = REFERENCE.fullmatch(expr)
    assert match is not None
    root, raw = match.group("root"), match.group("n")
    n = int(raw) if raw is not None else None
    recorder = recorder_of(shell) if shell is not None else None
    if shell is None:
        raise CellReferenceError(f"{{{expr}}}: cell references need IPython (no shell is running)")
    if root == "In":
        cells = sources(shell)
        if n is None or not 0 < n < len(cells):
            raise CellReferenceError(f"{{{expr}}}: there is no cell {n} ({_ran(shell)})")
        return str(cells[n])
    if root == "Out":
        assert n is not None
        return _output(expr, n, shell, recorder)
    return _error(expr, n, shell, recorder)


def _output(expr: str, n: int, shell: Any, recorder: CellRecorder | None) -> CellOutput:
    outputs = _history(shell, "Out") or {}
    record = recorder.cells.get(n) if recorder is not None else None
    found = CellOutput(n, outputs.get(n, MISSING), list(record.displays) if record else [])
    if found.result is MISSING and not found.displays:
        have = sorted(
            set(outputs)
            | {k for k, r in (recorder.cells.items() if recorder else ()) if r.displays}
        )
        listed = ", ".join(str(k) for k in have[-10:]) or "none yet"
        raise CellReferenceError(
            f"{{{expr}}}: cell {n} has no output (cells with output: {listed}); printed text is "
            "not an output: use --context to send it"
        )
    return found


def _error(expr: str, n: int | None, shell: Any, recorder: CellRecorder | None) -> ErrorInfo:
    if n is not None:
        record = recorder.cells.get(n) if recorder is not None else None
        if record is None or record.error is None:
            raise CellReferenceError(f"{{{expr}}}: cell {n} raised no error that was recorded")
        return ErrorInfo(record.error, n, record.source)
    if recorder is not None and recorder.last_error is not None:
        last = recorder.last_error
        assert last.error is not None
        return ErrorInfo(last.error, last.number, last.source)
    error = getattr(sys, "last_exc", None) or getattr(sys, "last_value", None)
    if isinstance(error, BaseException):  # raised before the extension was loaded
        return ErrorInfo(error, None, "(the source of that cell was not recorded)")
    raise CellReferenceError(f"{{{expr}}}: no cell has raised an error in this session yet")


def error_info(error: BaseException, shell: Any = None) -> ErrorInfo:
    """An exception as :class:`ErrorInfo`, with its cell when the recorder saw it raised."""
    from IPython.core.getipython import get_ipython

    shell = shell or get_ipython()  # type: ignore[no-untyped-call]
    recorder = recorder_of(shell)
    for record in reversed(list(recorder.cells.values()) if recorder else []):
        if record.error is error:
            return ErrorInfo(error, record.number, record.source)
    # raised and caught inside a cell: its traceback's frames name the cell's file
    numbers = getattr(getattr(shell, "compile", None), "_filename_map", None) or {}
    tb, found = error.__traceback__, None
    while tb is not None:
        found = numbers.get(tb.tb_frame.f_code.co_filename, found)
        tb = tb.tb_next
    cells = sources(shell)
    if isinstance(found, int) and 0 < found < len(cells):
        return ErrorInfo(error, found, cells[found])
    return ErrorInfo(error, None, "(not recorded: it was not raised by a cell)")
