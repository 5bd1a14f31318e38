"""``ChatPanel``: a chat box beside your work, on the same ``ChatHistory`` as the cell magics.

Turns run on the conversation engine (the one the cells use) on the dedicated loop thread (see the
measurement in :mod:`lexilux_nb.client.loop_thread`), so the panel keeps streaming while cells run.
It reads the same settings as the magics (``%chat_config``). A stopped answer is kept in the
history, marked interrupted; Clear can be undone. State lives in widget traits: tests drive it with
``send.click()`` and read ``transcript.value`` and ``status.value``.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, MutableMapping, Sequence
from dataclasses import replace
from typing import Any

import ipywidgets as widgets

from ..client import loop_thread
from ..client.chat import Chat
from ..client.errors import LexiluxError, redact
from ..client.history import ChatHistory
from ..client.options import resolve
from ..context import budget
from ..context.prompt import compose_for
from ..defaults import HISTORY, MAX_CONTINUES
from ..engine import Ask, Engine, Outcome, Tools, Turn, history_changed, watch_history
from ..engine.view import Show
from ..markup.style import INFO, status_html
from . import meter
from .errors import ChatCellError
from .live import LiveAnswer
from .namespace import get_history
from .progress import ContinuationBar
from .tool_view import ToolItems
from .transcript import BUBBLE, Transcript


class PanelView:
    """The engine's view of one panel turn: the prompt and the growing answer under the
    transcript, until the turn is recorded (then the transcript shows it)."""

    def __init__(self, panel: ChatPanel, prompt: str) -> None:
        self.panel = panel
        self.prompt = prompt  # as typed, put back in the input if nothing was answered
        self.live = LiveAnswer(box_style=BUBBLE["assistant"])
        self.question = widgets.HTML(panel._render.message("user", prompt))
        self.tools = ToolItems()
        self.tools_box = widgets.HTML()
        self.approval_slot = widgets.VBox()  # an approval prompt, while one waits for a click
        self.notices: list[str] = []  # shown in the status line, kept there after the turn
        panel._live_parts = [self.question.value, self.live]
        panel.live.children = [self.question, self.tools_box, self.approval_slot, self.live.widget]

    def tool(self, activity: Any) -> None:
        self.tools.update(activity)
        self.tools_box.value = self.tools.html()

    def approver(self) -> Any:
        from .approval import AsyncWidgetApprover

        self.panel.approval = AsyncWidgetApprover(self._place)
        return self.panel.approval

    def _place(self, widget: Any) -> None:
        self.approval_slot.children = [widget] if widget is not None else []

    def notice(self, text: str) -> None:
        self.notices.append(f"{INFO} {text}")
        self.panel._set_status(" · ".join(self.notices))

    def discard(self) -> None:
        """Nothing was sent: take the question away again."""
        self.panel._live_parts = []
        self.panel.live.children = []
        self.live.close()

    def chunk(self, chunk: Any) -> None:
        if chunk.reasoning_content:
            self.live.feed(chunk.reasoning_content, "reasoning")
        if chunk.delta:
            self.live.feed(chunk.delta)

    def progress(self, event: Any) -> None:
        self.panel.progress.update(event)

    def finish(self, outcome: Outcome) -> Show:
        panel = self.panel
        if outcome.state == "failed":
            partial = outcome.result.text
            shown = panel._render.message("assistant", partial, note="failed") if partial else ""

            def show_failure() -> None:
                panel._live_parts = [self.question.value, shown]
                panel.live.children = [self.question, widgets.HTML(shown)]
                self.live.close()

            return show_failure

        def show() -> None:  # the transcript now holds the turn (a stopped one marked so)
            panel._live_parts = []
            panel.live.children = []
            self.live.close()

        return show


class ChatPanel(widgets.VBox):  # type: ignore[misc]
    """A chat widget bound to a ``ChatHistory`` (by default the notebook's ``chat_history``).

    With no ``chat``, it uses the settings of the cell magics (``%chat_config``, the embedded
    model when nothing is configured); with a ``chat``, that client and ``**options``.
    """

    def __init__(
        self,
        history: ChatHistory | str | None = None,
        chat: Chat | None = None,
        *,
        namespace: MutableMapping[str, Any] | None = None,
        max_continues: int = MAX_CONTINUES,
        magics: Any = None,
        args: Any = None,
        tools: Sequence[Any] | None = None,
        approve: str = "ask",
        **options: Any,
    ) -> None:
        self._namespace = namespace if namespace is not None else _user_namespace()
        self._history_name = history if isinstance(history, str) else None
        self._history_object = history if isinstance(history, ChatHistory) else None
        if history is None and self._namespace is not None:
            self._history_name = magics.history if magics is not None else HISTORY
        elif history is None:
            self._history_object = ChatHistory()
        self._config = magics  # its interpolate setting and caps (else the loaded magics')
        self.engine, self.ask, notices = _setup(chat, magics, args, max_continues, options)
        if tools:  # functions the model may call, asked about in the panel by default
            self.ask = replace(self.ask, tools=Tools(list(tools), approve))
        self.max_continues = int((self.ask.continuation or {}).get("max_continues", 0))
        self._render = Transcript()
        self.approval: Any = None  # the asker of the running turn (tests click its prompt)
        self._task: asyncio.Task[Any] | None = None
        self._stop_requested = False
        self._idle = threading.Event()
        self._idle.set()
        self._unwatch: Callable[[], None] | None = None
        self._watched: ChatHistory | None = None
        self._undo: tuple[ChatHistory, ChatHistory] | None = None  # (history, what Clear removed)
        self._live_parts: list[
            Any
        ] = []  # HTML strings and LiveAnswers, as shown under the transcript

        self.transcript = widgets.HTML()  # stretched by the box, inside its margins
        self.live = widgets.VBox()
        self.progress = ContinuationBar(1 + self.max_continues)
        self.progress.widget.layout.display = "none"
        self.input = widgets.Textarea(
            placeholder="Ask something, then press Send", layout=widgets.Layout(width="auto")
        )
        self.send = widgets.Button(description="Send", button_style="primary", icon="paper-plane")
        self.stop = widgets.Button(description="Stop", icon="stop", disabled=True)
        self.clear = widgets.Button(description="Clear", icon="trash")
        self.undo = widgets.Button(description="Undo clear", icon="undo")
        self.undo.layout.display = "none"
        self.refresh_button = widgets.Button(description="Refresh", icon="refresh")
        self.auto_continue = widgets.Checkbox(value=False, description="continue automatically")
        self.status = widgets.HTML()
        self.send.on_click(lambda _: self.submit())
        self.stop.on_click(lambda _: self.cancel())
        self.clear.on_click(lambda _: self.clear_history())
        self.undo.on_click(lambda _: self.undo_clear())
        self.refresh_button.on_click(lambda _: self._on_history_changed())
        buttons = widgets.HBox(
            [self.send, self.stop, self.clear, self.undo, self.refresh_button, self.auto_continue],
            layout=widgets.Layout(flex_flow="row wrap"),
        )
        super().__init__(
            [self.transcript, self.live, self.progress.widget, self.input, buttons, self.status],
            layout=widgets.Layout(width="100%", max_width="100%", overflow="hidden"),
        )
        self.refresh()
        intro = f"{self.engine.model_label or self.engine.chat.model or '?'} · {self.history_label}"
        self._set_status(" · ".join([intro, *notices]))

    @property
    def chat(self) -> Chat:
        """The client the panel's turns are sent with."""
        return self.engine.chat

    @property
    def live_html(self) -> str:
        """What the area under the transcript shows now: the question and the growing answer."""
        return "".join(p if isinstance(p, str) else p.html for p in self._live_parts)

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
        return self._history_name or "(own history)"

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
        except Exception as exc:  # e.g. the variable was rebound to something else
            self._set_status(str(exc), error=True)

    def clear_history(self) -> None:
        """Remove every message (the system prompt stays); Undo brings them back."""
        if self.running:
            return
        try:
            history = self.history
        except LexiluxError as exc:
            self._set_status(str(exc), error=True)
            return
        removed = history.clone()
        history.clear()
        self._undo = (history, removed)
        self.undo.layout.display = "" if len(removed) else "none"
        history_changed(history)  # every panel on this history, this one included
        self._set_status(
            f"cleared {len(removed)} messages"
            + (" · Undo clear brings them back" if len(removed) else "")
        )

    def undo_clear(self) -> None:
        """Put back what the last Clear removed, before anything added since."""
        if self._undo is None or self.running:
            return
        history, removed = self._undo
        self._undo = None
        self.undo.layout.display = "none"
        history.splice(0, 0, removed)
        history_changed(history)
        self._set_status(f"restored {len(removed)} messages")

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
            settings = self._settings()
            composed = compose_for(settings, prompt, None, self._namespace)  # {df}, {Out[n]}…
            turn = Turn(composed.content, self.history)
        except LexiluxError as exc:  # e.g. the variable was rebound to something else
            self._set_status(str(exc), error=True)
            return
        continuing = bool(self.auto_continue.value)
        self._stop_requested = False
        self._undo = None
        self.undo.layout.display = "none"
        self.send.disabled, self.stop.disabled = True, False
        self._idle.clear()
        self.input.value = ""
        self._reset_progress(continuing)
        self._set_status("…")
        view = PanelView(self, prompt)  # the question shows at once, before the request starts
        notices = list(composed.notices)
        if composed.summary:  # what went with the prompt, in the cells' words
            notices.append(composed.summary)
        loop_thread.submit(self._run(turn, view, continuing, notices, settings))

    def _settings(self) -> Any:
        """The magics whose settings apply (interpolation, caps, the budget meter)."""
        from .magics import current_magics, standalone_magics

        return self._config or current_magics() or standalone_magics()

    def cancel(self) -> None:
        """Stop the answer; what arrived is kept in the history, marked interrupted."""
        if not self.running or self._stop_requested:
            return
        self._stop_requested = True  # seen by _run if its task has not started yet
        loop_thread.cancel(self._task)

    def _reset_progress(self, continuing: bool) -> None:
        """Hide the bar for a plain answer; start it at round 1 for a continued one."""
        self.progress.widget.layout.display = "" if continuing else "none"
        if continuing:
            self.progress.reset(1 + self.max_continues)

    async def _run(
        self, turn: Turn, view: PanelView, continuing: bool, notices: list[str], settings: Any
    ) -> Outcome | None:
        self._task = asyncio.current_task()
        ask = self.ask if continuing else replace(self.ask, continuation=None)
        status, error = "", False
        try:
            if self._stop_requested:  # Stop came before this task started: send nothing
                self.input.value = self.input.value or view.prompt
                view.discard()
                status = "stopped before sending"
                return None
            try:  # off the loop: the window may be asked for over HTTP (once per model)
                checked = (settings, self.engine.chat, turn, ask, view.prompt)
                found = await asyncio.to_thread(meter.check, *checked, budget.PANEL_ADVICE)
                notices = notices + found
            except ChatCellError as refused:  # budget=refuse: nothing is sent, nothing lost
                self.input.value = self.input.value or view.prompt
                view.discard()
                status, error = str(refused), True
                return None
            for text in notices:
                view.notice(text)
            outcome = await self.engine.arun(turn, ask, view)
            if outcome.error is not None:
                if not self.input.value:
                    self.input.value = view.prompt  # nothing the user typed is lost
                status = redact(
                    f"{type(outcome.error).__name__}: {outcome.error}", self.engine.chat.secrets
                )
                error = True
            else:
                status = " · ".join(view.notices)  # a warning stays readable after the turn
            return outcome
        except asyncio.CancelledError:
            status = "stopped · the partial answer is kept in the history, marked interrupted"
            return None
        except Exception as exc:  # anything else: shown here; the panel must never hang
            status, error = redact(f"{type(exc).__name__}: {exc}", self.engine.chat.secrets), True
            return None
        finally:
            self._finish(status, error=error)

    def _finish(self, status: str, *, error: bool = False) -> None:
        self._task = None
        self._set_status(status, error=error)
        self.send.disabled, self.stop.disabled = False, True
        self._idle.set()

    def wait(self, timeout: float | None = 60.0) -> bool:
        """Block until the current answer is finished (for scripts and tests)."""
        return self._idle.wait(timeout)

    def __repr__(self) -> str:
        return f"ChatPanel(history={self.history_label!r}, model={self.engine.chat.model!r})"

    def _set_status(self, text: str, *, error: bool = False) -> None:
        self.status.value = status_html(text, error=error) if text else ""

    def close(self) -> None:
        unwatch = getattr(self, "_unwatch", None)  # absent when __init__ failed (bad options)
        if unwatch is not None:
            unwatch()
        super().close()


def _setup(
    chat: Chat | None, magics: Any, args: Any, max_continues: int, options: dict[str, Any]
) -> tuple[Engine, Ask, list[str]]:
    """The engine and options a panel runs with: the magics' settings unless given a client."""
    if chat is None:
        if magics is None:
            from .magics import current_magics, standalone_magics

            magics = current_magics() or standalone_magics()
        engine, ask, notices = magics.panel_setup(args)
        if options:
            ask = replace(ask, options={**ask.options, **options})
        resolve(engine.chat.model, ask.options)  # bad options fail now, not at the first send
        return engine, ask, notices
    resolve(chat.model, options)  # bad options fail now, not at the first send
    continuation = {"max_continues": max_continues, "ensure_complete": False}
    return Engine(chat), Ask(options, True, continuation, True), []


def _user_namespace() -> MutableMapping[str, Any] | None:
    from IPython.core.getipython import get_ipython

    shell = get_ipython()
    if shell is None:
        return None
    namespace: MutableMapping[str, Any] = shell.user_ns
    return namespace
