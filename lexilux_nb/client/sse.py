"""Incremental server-sent-events decoding (WHATWG spec), sans-IO.

Feed it text as it arrives; it returns complete ``(event, data)`` pairs. It replaces
``httpx-sse`` on the hot path: that package runs two generators, an ``rstrip`` and a field
comparison per *line* (two lines per event), about 0.9 µs per chunk on this machine, which kept
``Chat.stream`` at 0.62× raw httpx. Here a block is split off at the blank line and the usual
one-line ``data:`` event costs one slice; everything else takes the general, spec-complete path:
``\\r\\n``/``\\r``/``\\n`` line ends (also split across reads), comments, ``event:``, multi-line
``data:``, ``data`` with or without the space, and fields without a colon.
"""

from __future__ import annotations

Event = tuple[str, str]  # (event type, data)


def _parse_block(block: str) -> Event | None:
    """One event block (no blank lines inside) → ``(event, data)``, or None without data."""
    if block.startswith("data: ") and "\n" not in block:
        return ("message", block[6:])
    event = "message"
    data: list[str] | None = None
    for line in block.split("\n"):
        if not line or line[0] == ":":
            continue
        name, colon, value = line.partition(":")
        if colon and value[:1] == " ":
            value = value[1:]
        if name == "data":
            if data is None:
                data = [value]
            else:
                data.append(value)
        elif name == "event":
            event = value or "message"
        # id and retry are not used by chat streams; other fields are ignored per the spec.
    if data is None:
        return None
    return (event, "\n".join(data))


class SSEDecoder:
    """Feed text, get complete events; ``flush()`` at the end of the body."""

    __slots__ = ("_pending", "_trailing_cr")

    def __init__(self) -> None:
        self._pending: list[str] = []
        self._trailing_cr = False

    def feed(self, text: str) -> list[Event]:
        if self._trailing_cr:  # a "\r" that ended the previous read may start a "\r\n"
            text = "\r" + text
            self._trailing_cr = False
        if "\r" in text:
            if text[-1] == "\r":
                self._trailing_cr = True
                text = text[:-1]
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        if not text:
            return []
        pending = self._pending
        if "\n\n" not in text and not (pending and pending[-1][-1:] == "\n" and text[0] == "\n"):
            pending.append(text)
            return []
        if pending:
            pending.append(text)
            text = "".join(pending)
            pending.clear()
        blocks = text.split("\n\n")
        rest = blocks.pop()
        if rest:
            pending.append(rest)
        events = []
        for block in blocks:
            if block:
                parsed = _parse_block(block.lstrip("\n"))
                if parsed is not None:
                    events.append(parsed)
        return events

    def flush(self) -> list[Event]:
        """The body ended. A last event whose final line was complete still counts."""
        text = "".join(self._pending)
        self._pending.clear()
        if self._trailing_cr:
            text += "\n"
            self._trailing_cr = False
        if not text.endswith("\n"):
            return []  # cut in the middle of a line: not an event
        parsed = _parse_block(text.strip("\n"))
        return [parsed] if parsed is not None else []
