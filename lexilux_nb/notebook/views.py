"""Where an answer appears in a cell: a live widget in a notebook, plain text in a terminal.

The widget view streams into a :class:`~.live.LiveAnswer`. When the answer ends, the live display
is blanked (same display id) and the answer is displayed again as an ordinary, inert bundle
(``text/html`` + ``text/markdown`` + ``text/plain``): saved notebooks, nbconvert and GitHub show
it, no widget state is needed after a reload, and tools that ignore ``update_display_data``
(nbval) record exactly what a saved notebook holds.
"""

from __future__ import annotations

import html
import json
import sys
from collections.abc import Callable, Sequence
from typing import IO, Any

from ..client.continuation import ContinueProgress
from ..client.models import ChatStreamChunk
from ..engine import Outcome
from ..engine.view import Show
from ..markup.escape import answer_markdown, inert_text
from ..markup.html import render_markdown
from ..markup.style import INFO, NOTE, footer_html, reasoning_block, wrap_answer
from .live import LiveAnswer
from .progress import ContinuationBar
from .tool_view import ToolItems, item_text

FINISHED = ("done", "denied", "failed")

NOTICE_STYLE = f"{NOTE};margin:0 0 0.4em 0"


def _fenced(text: str, lang: str = "") -> str:
    fence = "```"
    while fence in text:
        fence += "`"
    return f"{fence}{lang}\n{text}\n{fence}"


def _strip_fence(text: str) -> str:
    """The body of an answer that is one fenced block, else the answer."""
    stripped = text.strip()
    if stripped.startswith("```") and stripped.endswith("```"):
        body = stripped.split("\n", 1)[1] if "\n" in stripped else ""
        return body.rsplit("```", 1)[0].rstrip("\n")
    return text


def as_markdown(text: str, fmt: str) -> str:
    """The answer as markdown source for the chosen ``--format``."""
    if fmt == "text":
        return _fenced(text, "text")
    if fmt == "code":
        return _fenced(_strip_fence(text))
    if fmt == "json":
        body = _strip_fence(text)
        try:
            body = json.dumps(json.loads(body), indent=2, ensure_ascii=False)
        except ValueError:
            return _fenced(text, "text")
        return _fenced(body, "json")
    return text


def notices_html(notices: Sequence[str]) -> str:
    return "".join(f"<div style='{NOTICE_STYLE}'>{INFO} {html.escape(n)}</div>" for n in notices)


def answer_bundle(
    outcome: Outcome,
    fmt: str = "markdown",
    notices: Sequence[str] = (),
    tools: ToolItems | None = None,
) -> dict[str, str]:
    """The persisted output: safe HTML, escaped markdown and plain text."""
    result = outcome.result
    source = as_markdown(result.text, fmt)
    foot = outcome.footer.text
    refusal = result.refusal
    body = notices_html(notices) + (tools.html() if tools else "")
    if result.reasoning:
        body += reasoning_block(render_markdown(result.reasoning))
    body += render_markdown(source)
    if refusal:
        body += f"<div style='{NOTICE_STYLE}'>The model refused: {html.escape(refusal)}</div>"
    body += footer_html(foot)
    notes = "".join(f"*{INFO} {inert_text(n)}*\n\n" for n in notices)
    markdown = notes + (tools.markdown() if tools else "") + answer_markdown(source, foot)
    return {"text/html": wrap_answer(body), "text/markdown": markdown, "text/plain": result.text}


class WidgetView:
    """Live widget while the answer streams, then a static output in its place."""

    def __init__(
        self,
        display: Callable[..., Any],
        *,
        fmt: str = "markdown",
        continuing: bool = False,
        max_rounds: int = 1,
        interval: float = 0.05,
        appending: bool | None = None,
    ) -> None:
        import ipywidgets as widgets

        self._fmt = fmt
        self._opened_fence = False
        self.notices: list[str] = []
        self.notice_box = widgets.HTML(value="")
        self.tools = ToolItems()
        self.tools_box = widgets.HTML(value="")
        self.approval_slot = widgets.VBox()  # an approval prompt, while one waits for a click
        self.poll: Callable[..., Any] | None = None  # None: jupyter_ui_poll's loop
        self.live = LiveAnswer(interval=interval, appending=appending)
        self.progress_widget = ContinuationBar(max_rounds) if continuing else None
        children = [self.notice_box, self.tools_box, self.approval_slot, self.live.widget]
        if self.progress_widget is not None:
            children.append(self.progress_widget.widget)
        self.box = widgets.VBox(children)
        self._display = display
        live = {
            "application/vnd.jupyter.widget-view+json": {
                "model_id": self.box.model_id,
                "version_major": 2,
                "version_minor": 0,
            },
            "text/plain": "",  # what a widget-less reader keeps of the live view: nothing
        }
        self._handle = display(live, raw=True, display_id=True)

    def notice(self, text: str) -> None:
        self.notices.append(text)
        self.notice_box.value = notices_html(self.notices)

    def chunk(self, chunk: ChatStreamChunk) -> None:
        if chunk.reasoning_content:
            self.live.feed(chunk.reasoning_content, "reasoning")
        if chunk.delta:
            delta = chunk.delta
            if self._fmt != "markdown" and not self._opened_fence:
                delta = (
                    "````text\n" + delta
                )  # text/code/json stream as plain text, styled at the end
                self._opened_fence = True
            self.live.feed(delta)

    def progress(self, event: ContinueProgress) -> None:
        if self.progress_widget is not None:
            self.progress_widget.update(event)

    def tool(self, activity: Any) -> None:
        self.tools.update(activity)
        self.tools_box.value = self.tools.html()

    def approver(self) -> Any:
        from .approval import TerminalApprover, WidgetApprover
        from .ui_wait import can_wait

        if self.poll is None and not can_wait():  # input() works in any kernel
            return TerminalApprover()
        return WidgetApprover(self._place, poll=self.poll)

    def _place(self, widget: Any) -> None:
        self.approval_slot.children = [widget] if widget is not None else []

    def finish(self, outcome: Outcome) -> Show:
        result = outcome.result
        bundle: dict[str, str] | None = None
        if result.text or result.reasoning or self.tools or outcome.state != "failed":
            bundle = answer_bundle(outcome, self._fmt, self.notices, self.tools)
            if self.progress_widget is not None:
                done = self.progress_widget.final_html(result)
                bundle["text/html"] = done + bundle["text/html"]
        elif self.notices:
            html_part = wrap_answer(notices_html(self.notices))
            bundle = {"text/html": html_part, "text/plain": "\n".join(self.notices)}

        def show() -> None:
            self._handle.update({"text/plain": ""}, raw=True)
            if bundle is not None:
                self._display(bundle, raw=True)
            self._close()

        return show

    def _close(self) -> None:
        if self.progress_widget is not None:
            self.progress_widget.close()
        self.live.close()
        self.notice_box.close()
        self.tools_box.close()
        self.approval_slot.close()
        self.box.close()


class TerminalView:
    """Plain text to a stream (terminal IPython): no widgets, no object placeholders."""

    def __init__(self, out: IO[str] | None = None, *, close: bool = False) -> None:
        self._out = out or sys.stdout
        self._close = close  # the stream is ours (an echo file): close it at the end
        self._in_reasoning = False
        self._wrote = False

    def _write(self, text: str) -> None:
        self._out.write(text)
        self._out.flush()
        self._wrote = True

    def notice(self, text: str) -> None:
        self._write(f"{INFO} {text}\n")

    def chunk(self, chunk: ChatStreamChunk) -> None:
        if chunk.reasoning_content:
            if not self._in_reasoning:
                self._write("[reasoning] ")
                self._in_reasoning = True
            self._write(chunk.reasoning_content)
        if chunk.delta:
            if self._in_reasoning:
                self._write("\n[answer]\n")
                self._in_reasoning = False
            self._write(chunk.delta)

    def progress(self, event: ContinueProgress) -> None:
        if not event.done:
            self._write(f"\n[continuing: round {event.round + 1} of {event.max_rounds}]\n")

    def tool(self, activity: Any) -> None:
        if activity.status in FINISHED:
            self._write(f"\n{item_text(activity)}\n")

    def approver(self) -> Any:
        if self._close:  # an echo file: nobody reads it to answer
            return None
        from .approval import TerminalApprover

        return TerminalApprover()

    def finish(self, outcome: Outcome) -> Show:
        result = outcome.result
        refusal = result.refusal
        lines = f"\n[the model refused: {refusal}]" if refusal else ""
        if outcome.state == "failed" and not result.text:
            text = "\n" if self._wrote else ""
        else:
            text = f"{lines}\n— {outcome.footer.text}\n"

        def show() -> None:
            if text:
                self._write(text)
            if self._close:
                self._out.close()

        return show


class TeeView:
    """Show an answer in several views at once (a notebook widget and a log, say)."""

    def __init__(self, *views: Any) -> None:
        self.views = views

    def notice(self, text: str) -> None:
        for view in self.views:
            view.notice(text)

    def chunk(self, chunk: ChatStreamChunk) -> None:
        for view in self.views:
            view.chunk(chunk)

    def progress(self, event: ContinueProgress) -> None:
        for view in self.views:
            view.progress(event)

    def tool(self, activity: Any) -> None:
        for view in self.views:
            view.tool(activity)

    def approver(self) -> Any:
        """The first view that can ask (the notebook widget, not the echo file)."""
        for view in self.views:
            found = view.approver()
            if found is not None:
                return found
        return None

    def finish(self, outcome: Outcome) -> Show:
        shows = [view.finish(outcome) for view in self.views]

        def show() -> None:
            for each in shows:
                each()

        return show


class Notice:
    """A one-line, muted message in the cell output that can be replaced (or a terminal line)."""

    def __init__(self, text: str, *, rich: bool, display: Callable[..., Any] | None = None):
        self._rich = rich
        if rich:
            from IPython.display import display as ipython_display

            self._display = display or ipython_display
            self._handle = self._display(self._bundle(text), raw=True, display_id=True)
        else:
            print(f"{INFO} {text}", flush=True)

    @staticmethod
    def _bundle(text: str) -> dict[str, str]:
        if not text:
            return {"text/plain": ""}
        return {"text/html": notices_html([text]), "text/plain": f"{INFO} {text}"}

    def update(self, text: str) -> None:
        """Replace the message ("" removes it); in a terminal, print the new one."""
        if self._rich:
            self._handle.update(self._bundle(text), raw=True)
        elif text:
            print(f"{INFO} {text}", flush=True)
