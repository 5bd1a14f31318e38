"""Where an answer appears while it streams: a widget in a notebook, plain text in a terminal.

The widget view streams throttled, incremental HTML into an ipywidgets ``HTML``. When the answer
ends, the live display is blanked (same display id) and the answer is displayed again as an
ordinary, inert bundle (``text/html`` + ``text/markdown`` + ``text/plain``): saved notebooks,
nbconvert and GitHub show it, no widget state is needed after a reload, and tools that ignore
``update_display_data`` (nbval) record exactly what a saved notebook holds.
"""

from __future__ import annotations

import html
import json
import sys
from typing import IO, Any

from ..client.continuation import ContinueProgress
from ..client.models import ChatResult, ChatStreamChunk
from ..markup import style
from ..markup.escape import answer_markdown
from ..markup.html import render_markdown
from ..markup.style import reasoning_block, wrap_answer
from .progress import ContinuationProgress
from .render import StreamRenderer

FOOTER_STYLE = style.FOOTER


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


def _reasoning_html(reasoning: str | None) -> str:
    if not reasoning:
        return ""
    return reasoning_block(render_markdown(reasoning))


def answer_bundle(
    result: ChatResult, footer: str, fmt: str = "markdown", note: str = ""
) -> dict[str, str]:
    """The persisted output: safe HTML, escaped markdown and plain text."""
    source = as_markdown(result.text, fmt)
    foot = f"{note} {footer}".strip()
    body = _reasoning_html(result.reasoning) + render_markdown(source)
    body += f"<div class='lexilux-footer' style='{FOOTER_STYLE}'>{html.escape(foot)}</div>"
    markdown = answer_markdown(source, foot)
    return {"text/html": wrap_answer(body), "text/markdown": markdown, "text/plain": result.text}


def _live(rendered: str) -> str:
    """Live HTML styled like JupyterLab's own HTML outputs (headings, tables, spacing)."""
    return wrap_answer(f"<div class='jp-RenderedHTMLCommon'>{rendered}</div>")


class WidgetView:
    """Live HTML widget, then a static output in its place."""

    def __init__(
        self,
        display: Any,
        *,
        fmt: str = "markdown",
        continuing: bool = False,
        max_rounds: int = 1,
        interval: float = 0.05,
    ) -> None:
        import ipywidgets as widgets

        self._fmt = fmt
        self._renderer = StreamRenderer(interval=interval, wrap=False)
        self._opened_fence = False
        self.html = widgets.HTML(value=wrap_answer(f"<em style='color:{style.MUTED}'>…</em>"))
        self.progress_widget = ContinuationProgress(max_rounds) if continuing else None
        children = [self.html] + ([self.progress_widget.widget] if self.progress_widget else [])
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

    def chunk(self, chunk: ChatStreamChunk) -> None:
        rendered = None
        if chunk.reasoning_content:
            rendered = self._renderer.feed_reasoning(chunk.reasoning_content)
        if chunk.delta:
            delta = chunk.delta
            if self._fmt != "markdown" and not self._opened_fence:
                delta = (
                    "````text\n" + delta
                )  # text/code/json stream as plain text, styled at the end
                self._opened_fence = True
            rendered = self._renderer.feed(delta) or rendered
        if rendered is not None:
            self.html.value = _live(rendered)

    def progress(self, event: ContinueProgress) -> None:
        if self.progress_widget is not None:
            self.progress_widget.update(event)

    def _end(self, result: ChatResult, footer: str, note: str = "") -> None:
        bundle = answer_bundle(result, footer, self._fmt, note)
        if self.progress_widget is not None:
            bundle["text/html"] = self.progress_widget.final_html(result) + bundle["text/html"]
            self.progress_widget.close()
        self._handle.update({"text/plain": ""}, raw=True)
        self._display(bundle, raw=True)
        self.html.close()
        self.box.close()

    def finish(self, result: ChatResult, footer: str) -> None:
        self._end(result, footer)

    def interrupted(self, partial: ChatResult, footer: str) -> None:
        self._end(partial, footer, "⏹ interrupted ·")

    def failed(self, partial: ChatResult | None) -> None:
        if partial is not None and partial.text:
            self._end(partial, "", "⚠ failed; partial answer ·")
        else:
            self._handle.update({"text/plain": ""}, raw=True)
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

    def _end(self, text: str) -> None:
        if text:
            self._write(text)
        if self._close:
            self._out.close()

    def finish(self, result: ChatResult, footer: str) -> None:
        self._end(f"\n— {footer}\n")

    def interrupted(self, partial: ChatResult, footer: str) -> None:
        self._end(f"\n[interrupted] — {footer}\n")

    def failed(self, partial: ChatResult | None) -> None:
        self._end("\n" if self._wrote else "")


class TeeView:
    """Show an answer in several views at once (a notebook widget and a log, say)."""

    def __init__(self, *views: Any) -> None:
        self.views = views

    def chunk(self, chunk: ChatStreamChunk) -> None:
        for view in self.views:
            view.chunk(chunk)

    def progress(self, event: ContinueProgress) -> None:
        for view in self.views:
            view.progress(event)

    def finish(self, result: ChatResult, footer: str) -> None:
        for view in self.views:
            view.finish(result, footer)

    def interrupted(self, partial: ChatResult, footer: str) -> None:
        for view in self.views:
            view.interrupted(partial, footer)

    def failed(self, partial: ChatResult | None) -> None:
        for view in self.views:
            view.failed(partial)
