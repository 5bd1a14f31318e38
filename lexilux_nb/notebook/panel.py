"""``ChatPanel``: a chat box beside your work, on the same ``ChatHistory`` as the cell magics.

The request runs on the background loop thread (see :mod:`.background` for the measurement), so
the panel keeps streaming while cells run. State lives in widget traits: tests drive it with
``send.click()`` and read ``transcript.value``, ``live.value`` and ``status.value``.
"""

from __future__ import annotations

import asyncio
import html
import os
import threading
import time
from collections.abc import Callable, MutableMapping
from typing import Any

import ipywidgets as widgets

from ..client.chat import Chat
from ..client.errors import LexiluxError, redact
from ..client.history import ChatHistory
from ..client.history_export import content_text
from ..client.models import ChatResult
from ..client.options import resolve
from ..markup.html import render_markdown
from ..markup.style import (
    BUBBLE,
    MUTED,
    SCROLL,
    note_html,
    reasoning_details,
    status_html,
    wrap_answer,
)
from . import background
from .config import build_chat, resolve_endpoint
from .progress import ContinuationProgress
from .render import StreamRenderer
from .session import (
    DEFAULT_HISTORY,
    Turn,
    footer,
    get_history,
    history_changed,
    watch_history,
)

LABELS = {"user": "You", "assistant": "Assistant", "system": "System", "tool": "Tool"}


def bubble(role: str, body_html: str, note: str = "") -> str:
    """One turn of the transcript: a labelled bubble around already-safe HTML."""
    style = BUBBLE.get(role, BUBBLE["other"])
    label = html.escape(LABELS.get(role, role))
    extra = note_html(note) if note else ""
    return f"<div style='{style}'><b style='font-size:0.8em'>{label}</b>{body_html}{extra}</div>"


class _Transcript:
    """Renders history messages once each (cached by content), as inert HTML bubbles."""

    def __init__(self) -> None:
        self._cache: dict[tuple[str, str, str], str] = {}

    def message(self, role: str, text: str, reasoning: str = "") -> str:
        key = (role, text, reasoning)
        cached = self._cache.get(key)
        if cached is None:
            thinking = reasoning_details(render_markdown(reasoning)) if reasoning else ""
            cached = self._cache[key] = bubble(role, thinking + render_markdown(text))
        return cached

    def history(self, history: ChatHistory) -> str:
        parts = []
        for i, message in enumerate(history):
            reasoning = str(history.metadata(i).get("reasoning") or "")
            parts.append(
                self.message(message["role"], content_text(message.get("content")), reasoning)
            )
        if not parts:
            parts.append(f"<div style='color:{MUTED};padding:8px'>No messages yet.</div>")
        # column-reverse keeps the view scrolled to the newest message: wrap in one block
        return wrap_answer(f"<div style='{SCROLL}'><div>{''.join(parts)}</div></div>")


class ChatPanel(widgets.VBox):  # type: ignore[misc]
    """A chat widget bound to a ``ChatHistory`` (by default the notebook's ``chat_history``)."""

    def __init__(
        self,
        history: ChatHistory | str | None = None,
        chat: Chat | None = None,
        *,
        namespace: MutableMapping[str, Any] | None = None,
        max_continues: int = 5,
        **options: Any,
    ) -> None:
        self._namespace = namespace if namespace is not None else _user_namespace()
        self._history_name = history if isinstance(history, str) else None
        self._history_object = history if isinstance(history, ChatHistory) else None
        if history is None and self._namespace is not None:
            self._history_name = DEFAULT_HISTORY
        elif history is None:
            self._history_object = ChatHistory()
        self.chat = chat if chat is not None else build_chat(resolve_endpoint(os.environ))
        resolve(self.chat.model, options)  # bad options fail now, not at the first send
        self.options = options
        self.max_continues = max_continues
        self._render = _Transcript()
        self._task: asyncio.Task[Any] | None = None
        self._stop_requested = False
        self._idle = threading.Event()
        self._idle.set()
        self._unwatch: Callable[[], None] | None = None
        self._watched: ChatHistory | None = None

        self.transcript = widgets.HTML()
        self.live = widgets.HTML()
        self.progress = ContinuationProgress(1 + max_continues)
        self.progress.widget.layout.display = "none"
        self.input = widgets.Textarea(
            placeholder="Ask something, then press Send", layout=widgets.Layout(width="100%")
        )
        self.send = widgets.Button(description="Send", button_style="primary", icon="paper-plane")
        self.stop = widgets.Button(description="Stop", icon="stop", disabled=True)
        self.clear = widgets.Button(description="Clear", icon="trash")
        self.refresh_button = widgets.Button(description="Refresh", icon="refresh")
        self.auto_continue = widgets.Checkbox(value=False, description="continue automatically")
        self.status = widgets.HTML()
        self.send.on_click(lambda _: self.submit())
        self.stop.on_click(lambda _: self.cancel())
        self.clear.on_click(lambda _: self.clear_history())
        self.refresh_button.on_click(lambda _: self._on_history_changed())
        buttons = widgets.HBox(
            [self.send, self.stop, self.clear, self.refresh_button, self.auto_continue]
        )
        super().__init__(
            [self.transcript, self.live, self.progress.widget, self.input, buttons, self.status]
        )
        self.refresh()
        self._set_status(f"model {self.chat.model or '?'} · history {self.history_label}")

    # -- the history -----------------------------------------------------------------------

    @property
    def history(self) -> ChatHistory:
        """Read from the namespace every time, so a rebound variable is followed."""
        if self._history_name is not None and self._namespace is not None:
            return get_history(self._namespace, self._history_name)
        assert self._history_object is not None
        return self._history_object

    @property
    def history_label(self) -> str:
        return self._history_name or "(own)"

    def refresh(self) -> None:
        """Show the history as it is now (turns made in cells included)."""
        history = self.history
        if history is not self._watched:  # follow a rebound variable
            if self._unwatch is not None:
                self._unwatch()
            self._unwatch = watch_history(history, self._on_history_changed)
            self._watched = history
        self.transcript.value = self._render.history(history)

    def _on_history_changed(self) -> None:
        """Refresh from a button or a watcher: a problem is shown here, never raised into the
        turn (a cell or another panel) that recorded the change."""
        try:
            self.refresh()
        except LexiluxError as exc:  # e.g. the variable was rebound to something else
            self._set_status(str(exc), error=True)

    def clear_history(self) -> None:
        if self.running:
            return
        try:
            history = self.history
        except LexiluxError as exc:
            self._set_status(str(exc), error=True)
            return
        history.clear()
        self.live.value = ""
        history_changed(history)  # every panel on this history, this one included
        self.refresh()

    # -- sending ---------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return bool(self.send.disabled)

    def submit(self) -> None:
        """Send the input (ignored when empty or while an answer is streaming)."""
        prompt = self.input.value.strip()
        if not prompt or self.running:
            return
        try:
            self.refresh()  # follow a rebound variable, so this turn shows up when recorded
            turn = Turn(prompt, self.history)
        except LexiluxError as exc:  # e.g. the variable was rebound to something else
            self._set_status(str(exc), error=True)
            return
        continuing = bool(self.auto_continue.value)
        self._stop_requested = False
        self.send.disabled, self.stop.disabled = True, False
        self._idle.clear()
        self.input.value = ""
        self.live.value = self._render.message("user", prompt)
        self._reset_progress(continuing)
        self._set_status("…")
        background.submit(self._run(turn, continuing))

    def cancel(self) -> None:
        """Stop the answer; the partial text stays shown, marked interrupted, not recorded."""
        if not self.running or self._stop_requested:
            return
        self._stop_requested = True  # seen by _run if its task has not started yet
        background.cancel(self._task)

    def _reset_progress(self, continuing: bool) -> None:
        """Hide the bar for a plain answer; start it at round 1 for a continued one."""
        progress = self.progress
        progress.widget.layout.display = "" if continuing else "none"
        if continuing:
            progress.events.clear()
            progress.bar.max = 1 + self.max_continues
            progress.bar.value = 1
            progress.bar.bar_style = "info"
            progress.bar.description = "round 1"
            progress.label.value = f"round 1 of {1 + self.max_continues}"

    async def _run(self, turn: Turn, continuing: bool) -> ChatResult | None:
        self._task = asyncio.current_task()
        started = time.monotonic()
        renderer = StreamRenderer(wrap=False)
        call = dict(self.options, history=turn.context)
        if continuing:
            call.update(max_continues=self.max_continues, ensure_complete=False)
            call["on_progress"] = self.progress.update
        user_html = self._render.message("user", turn.prompt)
        stream: Any = None
        try:
            if continuing:
                stream = self.chat.acomplete_stream(turn.prompt, **call)
            else:
                stream = self.chat.astream(turn.prompt, **call)
            if self._stop_requested:  # Stop came before this task started: send nothing
                raise asyncio.CancelledError
            async for chunk in stream:
                rendered = None
                if chunk.reasoning_content:
                    rendered = renderer.feed_reasoning(chunk.reasoning_content)
                if chunk.delta:
                    rendered = renderer.feed(chunk.delta) or rendered
                if rendered is not None:
                    self.live.value = user_html + self._bubble(rendered)
            result: ChatResult = stream.result
        except asyncio.CancelledError:
            partial: ChatResult = stream.result if stream is not None else ChatResult()
            partial.interrupted = True
            if stream is not None:
                await stream.aclose()
            note = f"⏹ stopped · {footer(partial, time.monotonic() - started, self.chat.model)}"
            self.live.value = user_html + self._bubble(renderer.finish(), note)
            self._finish(note)
            return partial
        except Exception as exc:  # a LexiluxError, or anything else: the panel must not hang
            shown = stream is not None and stream.result.text
            partial_html = self._bubble(renderer.finish()) if shown else ""
            self.live.value = user_html + partial_html
            if not self.input.value:
                self.input.value = turn.prompt  # nothing the user typed is lost
            message = redact(f"{type(exc).__name__}: {exc}", self.chat.secrets)
            self._finish(message, error=True)
            return None
        turn.commit(result)  # refreshes every panel on this history, this one included
        self.live.value = ""
        self._finish(footer(result, time.monotonic() - started, self.chat.model))
        return result

    def _bubble(self, rendered: str, note: str = "") -> str:
        return wrap_answer(bubble("assistant", rendered, note))

    def _finish(self, status: str, *, error: bool = False) -> None:
        self._task = None
        self._set_status(status, error=error)
        self.send.disabled, self.stop.disabled = False, True
        self._idle.set()

    def wait(self, timeout: float | None = 60.0) -> bool:
        """Block until the current answer is finished (for scripts and tests)."""
        return self._idle.wait(timeout)

    def __repr__(self) -> str:
        return f"ChatPanel(history={self.history_label!r}, model={self.chat.model!r})"

    def _set_status(self, text: str, *, error: bool = False) -> None:
        self.status.value = status_html(text, error=error)

    def close(self) -> None:
        unwatch = getattr(self, "_unwatch", None)  # absent when __init__ failed (bad options)
        if unwatch is not None:
            unwatch()
        super().close()


def _user_namespace() -> MutableMapping[str, Any] | None:
    from IPython.core.getipython import get_ipython

    shell = get_ipython()
    if shell is None:
        return None
    namespace: MutableMapping[str, Any] = shell.user_ns
    return namespace
