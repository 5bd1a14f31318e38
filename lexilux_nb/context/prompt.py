"""A prompt as sent from a notebook: placeholders filled, ``--context N`` cells prepended, and a
record of what context went with it.

The cell magics and the chat panel both build their prompt here, so they accept the same
references. What was sent is shown (a bounded side item, inert: every piece escaped) and the
dry run shows the same message, images as placeholders.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..client.messages import content_text
from ..markup.style import INFO, item_block
from . import references
from .cells import CellRecord, recorder_of
from .describe import Caps, describe
from .references import MISSING, fence

_CHAT_MAGICS = ("%%chat", "%chat", "%%ai", "%chat_")


@dataclass
class Composed:
    """The user message's content, notices for the cell, and one line per context item."""

    content: str | list[dict[str, Any]]
    notices: list[str] = field(default_factory=list)
    sent: list[str] = field(default_factory=list)

    @property
    def summary(self) -> str | None:
        """One line naming what went with the prompt (None when only plain values went)."""
        return "Context sent: " + "; ".join(self.sent) if self.sent else None

    def bundle(self) -> dict[str, str] | None:
        """A "Context sent" item: the summary, then the message as sent (None with no summary)."""
        summary = self.summary
        if summary is None:
            return None
        shown = item_block(summary, [("", content_text(self.content))], kind="context")
        return {"text/plain": f"{INFO} " + summary, "text/html": shown}


def trimmed(text: str, cap: int) -> str:
    """``text`` cut to ``cap`` characters, with a marker saying how much was left out."""
    if len(text) <= cap:
        return text
    return text[:cap] + f"\n[… output trimmed: {len(text) - cap} more characters]"


def _is_chat(source: str) -> bool:
    return source.lstrip().startswith(_CHAT_MAGICS)


def _output_text(number: int, shell: Any, record: CellRecord | None, caps: Caps) -> str:
    pieces: list[str] = []
    if record is not None and record.printed_chars:
        pieces.append(references.ANSI.sub("", record.text))
    images = 0
    for shown in record.displays if record is not None else []:
        if "image/png" in shown:
            images += 1
        elif shown.get("text/plain"):
            pieces.append(shown["text/plain"])
    result = (getattr(shell, "user_ns", {}).get("Out") or {}).get(number, MISSING)
    if result is not MISSING:
        pieces.append(describe(result, "", caps.output_chars))
    if record is not None and record.error is not None:
        pieces.append(f"{type(record.error).__name__}: {record.error}")
    if images:
        pieces.append(f"[{images} image output(s) not sent; refer to them with {{Out[{number}]}}]")
    return trimmed("\n".join(p.rstrip("\n") for p in pieces), caps.output_chars)


def recent_cells(shell: Any, count: int, caps: Caps) -> tuple[str, list[int]]:
    """The previous ``count`` code cells (not chat cells) with their text outputs, oldest first."""
    sources = references.sources(shell)
    recorder = recorder_of(shell)
    current = int(getattr(shell, "execution_count", len(sources)))
    chosen: list[int] = []
    for number in range(min(current, len(sources)) - 1, 0, -1):
        if len(chosen) >= count:
            break
        if sources[number].strip() and not _is_chat(sources[number]):
            chosen.append(number)
    chosen.reverse()
    if not chosen:
        return "", []
    blocks = [f"Notebook context: the previous {len(chosen)} code cell(s), oldest first."]
    for number in chosen:
        record = recorder.cells.get(number) if recorder is not None else None
        source = trimmed(sources[number].rstrip(), caps.output_chars)
        blocks.append(f"In [{number}]:\n{fence(source, 'python')}")
        output = _output_text(number, shell, record, caps)
        if output:
            blocks.append(f"Output [{number}]:\n{fence(output)}")
    return "\n\n".join(blocks), chosen


def compose(
    prompt: str,
    namespace: Mapping[str, Any],
    *,
    shell: Any = None,
    caps: Caps | None = None,
    context: int = 0,
    interpolate: bool = True,
) -> Composed:
    """The user message for ``prompt``: interpolated (when on), after ``context`` earlier cells."""
    from ..notebook.interpolate import as_content, interpolate_parts

    caps = caps or Caps()
    sent: list[str] = []
    notices: list[str] = []
    segments: list[Any] = [prompt]
    if interpolate:
        segments, notices = interpolate_parts(prompt, namespace, shell=shell, caps=caps, sent=sent)
    if context and shell is not None:
        block, numbers = recent_cells(shell, context, caps)
        if block:
            segments = [block + "\n\n---\n\n", *segments]
            cells = ", ".join(f"[{n}]" for n in numbers)
            sent.insert(0, f"{len(numbers)} previous cell(s) {cells}, {len(block)} characters")
        else:
            notices.append("--context: there are no earlier code cells to send")
    return Composed(as_content(segments), notices, sent)


def caps_of(config: Any) -> Caps:
    """The caps from a ChatConfig (its ``context_max_chars``, ``context_output_chars``,
    ``image_max_px`` settings)."""
    return Caps(
        max_chars=int(getattr(config, "context_max_chars", Caps.max_chars)),
        output_chars=int(getattr(config, "context_output_chars", Caps.output_chars)),
        image_px=int(getattr(config, "image_max_px", Caps.image_px)),
    )


def compose_for(
    config: Any, prompt: str, args: Any, namespace: Mapping[str, Any] | None = None
) -> Composed:
    """:func:`compose` with a surface's settings (a ChatMagics, or None: the defaults) and
    magic-line options."""
    shell = getattr(config, "shell", None)
    if shell is None:  # a panel made where the extension is not loaded
        from IPython.core.getipython import get_ipython

        shell = get_ipython()  # type: ignore[no-untyped-call]
    use = bool(getattr(config, "interpolate", True)) and not getattr(args, "no_interpolate", False)
    if namespace is None:
        namespace = getattr(shell, "user_ns", None) or {}
    context = getattr(args, "context", None) or 0
    return compose(
        prompt, namespace, shell=shell, caps=caps_of(config), context=context, interpolate=use
    )
