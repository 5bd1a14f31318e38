"""What each cell showed, recorded while it runs, so prompts can refer to it afterwards.

IPython keeps a cell's source (``In``) and its displayhook result (``Out``) but not what it
displayed (a plot, ``display(img)``), printed, or raised. :class:`CellRecorder` listens to the
shell's ``pre_run_cell``/``post_run_cell`` events and, for the duration of a cell, sees the
display publisher's ``publish`` calls (text/plain and image/png kept) and the text written to
``sys.stdout``/``sys.stderr``. Everything kept is bounded: a few cells, a few images each, and a
capped amount of text per cell.
"""

from __future__ import annotations

import contextlib
import sys
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

KEEP_CELLS = 50  # recorded cells kept (oldest dropped first)
KEEP_IMAGES = 4  # images kept per cell
KEEP_TEXT = 20_000  # characters of printed text kept per cell (the rest is counted, not kept)


@dataclass
class CellRecord:
    """One run cell: its number (``In[n]``), source, displays, printed text and error."""

    number: int | None
    source: str
    displays: list[dict[str, Any]] = field(default_factory=list)  # image/png: base64 or bytes
    printed: list[str] = field(default_factory=list)
    printed_chars: int = 0
    error: BaseException | None = None
    paused: bool = False  # the shell itself is writing (a terminal's Out[n]: or traceback)

    @property
    def text(self) -> str:
        """Printed text, with a marker for what was not kept."""
        kept = "".join(self.printed)
        lost = self.printed_chars - len(kept)
        return kept + (f"\n[… {lost} more characters were printed]" if lost > 0 else "")

    def write(self, text: str) -> None:
        if self.paused:
            return
        self.printed_chars += len(text)
        room = KEEP_TEXT - sum(len(t) for t in self.printed)
        if room > 0:
            self.printed.append(text[:room])


def _ours(error: BaseException) -> bool:
    """Errors of our own magics (a refused prompt) are not the user's last error."""
    from IPython.core.error import UsageError

    return isinstance(error, UsageError) or type(error).__module__.startswith("lexilux_nb")


class CellRecorder:
    """Records cells of ``shell`` until :meth:`close`."""

    def __init__(self, shell: Any) -> None:
        self.shell = shell
        self.cells: OrderedDict[int, CellRecord] = OrderedDict()
        self.last_error: CellRecord | None = None
        self._current: CellRecord | None = None
        self._patched: list[tuple[Any, str]] = []
        shell.events.register("pre_run_cell", self._pre)
        shell.events.register("post_run_cell", self._post)

    def close(self) -> None:
        self._unpatch()
        for event, handler in (("pre_run_cell", self._pre), ("post_run_cell", self._post)):
            with contextlib.suppress(ValueError):
                self.shell.events.unregister(event, handler)

    # -- while a cell runs ---------------------------------------------------------------------

    def _pre(self, info: Any = None) -> None:
        self._unpatch()
        source = str(getattr(info, "raw_cell", "") or "")
        store = bool(getattr(info, "store_history", True))
        number = int(self.shell.execution_count) if store else None
        self._current = record = CellRecord(number, source)
        publisher = getattr(self.shell, "display_pub", None)
        if publisher is not None:
            original = publisher.publish

            def publish(data: Any, *args: Any, **kwargs: Any) -> Any:
                self._displayed(record, data)
                record.paused = True  # a terminal prints the text/plain: not printed text
                try:
                    return original(data, *args, **kwargs)
                finally:
                    record.paused = False

            self._patch(publisher, "publish", publish)
        for stream in (sys.stdout, sys.stderr):
            write = stream.write

            def tee(text: Any, _write: Any = write) -> Any:
                if isinstance(text, str):
                    record.write(text)
                return _write(text)

            self._patch(stream, "write", tee)
        # A terminal shell prints results and tracebacks to stdout: those are not printed text
        # (a kernel sends them as messages); Out and the error are recorded on their own.
        hook = getattr(self.shell, "displayhook", None)
        for owner, name in ((hook, "write_output_prompt"), (hook, "write_format_data")):
            self._pause_during(record, owner, name)
        self._pause_during(record, self.shell, "_showtraceback")

    def _post(self, result: Any = None) -> None:
        self._unpatch()
        record, self._current = self._current, None
        if record is None:
            return
        error = getattr(result, "error_in_exec", None)
        if error is not None and not _ours(error):
            record.error = error
            self.last_error = record
        if record.number is not None:
            self.cells[record.number] = record
            while len(self.cells) > KEEP_CELLS:
                self.cells.popitem(last=False)

    def _pause_during(self, record: CellRecord, owner: Any, name: str) -> None:
        method = getattr(owner, name, None)
        if method is None:
            return

        def paused(*args: Any, **kwargs: Any) -> Any:
            record.paused = True
            try:
                return method(*args, **kwargs)
            finally:
                record.paused = False

        self._patch(owner, name, paused)

    def _displayed(self, record: CellRecord, data: Any) -> None:
        if not isinstance(data, dict):
            return
        kept = {k: data[k] for k in ("text/plain", "image/png") if isinstance(data.get(k), str)}
        if isinstance(data.get("image/png"), bytes):  # before a kernel base64-encodes it
            kept["image/png"] = data["image/png"]
        if "image/png" in kept and sum("image/png" in d for d in record.displays) >= KEEP_IMAGES:
            del kept["image/png"]
        if "text/plain" in kept:
            kept["text/plain"] = kept["text/plain"][:KEEP_TEXT]
        if kept:
            record.displays.append(kept)

    def _patch(self, target: Any, name: str, replacement: Any) -> None:
        if name in getattr(target, "__dict__", {}):
            return  # someone else's instance attribute: leave it alone
        try:
            setattr(target, name, replacement)  # an instance attribute, removed by _unpatch
        except (AttributeError, TypeError):
            return  # e.g. io.StringIO (capture_output): that stream goes unrecorded
        self._patched.append((target, name))

    def _unpatch(self) -> None:
        while self._patched:
            target, name = self._patched.pop()
            with contextlib.suppress(AttributeError):
                delattr(target, name)


def recorder_of(shell: Any) -> CellRecorder | None:
    """The recorder the extension attached to ``shell`` (None when not loaded)."""
    found = getattr(shell, "magics_manager", None)
    magics = found.registry.get("ChatMagics") if found is not None else None
    recorder = getattr(magics, "cells", None)
    return recorder if isinstance(recorder, CellRecorder) else None
