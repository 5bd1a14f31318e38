"""The "ask" approval policy in a notebook: a widget in the answer, or a prompt in a terminal.

A running cell keeps the kernel busy, and a busy kernel does not read widget messages (a click)
by itself: :class:`WidgetApprover` waits with :func:`.ui_wait.wait_for_click` (``jupyter_ui_poll``
where the kernel allows it, a kernel subshell on ipykernel 7.x). The panel is different:
its turns run on the loop thread while the kernel is idle, so clicks arrive normally and
:class:`AsyncWidgetApprover` just awaits a future the click resolves. Either way the user can
run once, allow a tool for the rest of the session, deny, or edit the arguments first.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import json
import threading
from collections.abc import Callable
from typing import Any

from ..client.approval import Decision
from ..client.models import ToolCall
from ..markup.escape import inert_text
from ..markup.style import NOTE
from .ui_wait import wait_for_click

ASK = "ask"
POLICIES = ("ask", "always", "never")
ALLOWED: set[str] = set()  # tools the user chose "Always for this tool" for, this session

Place = Callable[[Any], None]


def arguments_json(arguments: dict[str, Any]) -> str:
    return json.dumps(arguments, indent=2, ensure_ascii=False, default=str)


def parse_edit(text: str) -> dict[str, Any]:
    """Edited arguments: a JSON object, or ValueError saying what is wrong."""
    try:
        value = json.loads(text or "{}")
    except json.JSONDecodeError as exc:
        raise ValueError(f"the arguments are not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ValueError("the arguments must be a JSON object ({...})")
    return value


class ApprovalPrompt:
    """One call waiting for the user: its name, editable arguments and three buttons.

    ``answer`` stays None until a button is clicked, then holds the :class:`Decision`. Tests drive
    it with ``run_once.click()`` and the ``arguments.value`` trait.
    """

    def __init__(self, call: ToolCall, arguments: dict[str, Any], allowed: set[str]) -> None:
        import ipywidgets as widgets

        self.call = call
        self._original = arguments
        self._allowed = allowed
        self.answer: Decision | None = None
        self.title = widgets.HTML(
            "<div style='font-weight:600'>The model wants to run "
            f"<code>{html.escape(call.name)}</code></div>"
        )
        text = arguments_json(arguments)
        self.arguments = widgets.Textarea(
            value=text,
            rows=min(12, text.count("\n") + 2),
            layout=widgets.Layout(width="auto"),
        )
        wide = widgets.Layout(width="auto")
        self.run_once = widgets.Button(
            description="Run once", button_style="primary", icon="play", layout=wide
        )
        self.always = widgets.Button(description="Always for this tool", icon="check", layout=wide)
        self.deny = widgets.Button(
            description="Deny", button_style="danger", icon="ban", layout=wide
        )
        self.message = widgets.HTML()
        self.run_once.on_click(lambda _: self._allow(always=False))
        self.always.on_click(lambda _: self._allow(always=True))
        self.deny.on_click(lambda _: self._decide(Decision(False)))
        self.listeners: list[Callable[[Decision], None]] = []
        self.widget = widgets.VBox(
            [
                self.title,
                self.arguments,
                widgets.HBox([self.run_once, self.always, self.deny]),
                self.message,
            ],
            layout=widgets.Layout(
                border="1px solid var(--jp-border-color1, #bbb)", padding="0.4em", margin="0.3em 0"
            ),
        )

    def _allow(self, *, always: bool) -> None:
        try:
            edited = parse_edit(self.arguments.value)
        except ValueError as exc:  # keep waiting: the user fixes the JSON and clicks again
            self.message.value = f"<div style='{NOTE}'>{html.escape(str(exc))}</div>"
            return
        if always:
            self._allowed.add(self.call.name)
        self._decide(Decision(True, None if edited == self._original else edited))

    def _decide(self, decision: Decision) -> None:
        if self.answer is not None:
            return
        self.answer = decision
        for button in (self.run_once, self.always, self.deny):
            button.disabled = True
        self.arguments.disabled = True
        for listener in self.listeners:
            listener(decision)

    @property
    def parts(self) -> list[Any]:
        """Every widget of the prompt (their clicks and edits must reach the kernel)."""
        return [self.widget, *self.widget.children, *self.widget.children[2].children]

    def close(self) -> None:
        for part in self.parts:
            part.close()


class WidgetApprover:
    """``approve="ask"`` inside a running cell: shows a prompt via ``place`` and polls the UI
    until a button is clicked. Ctrl-C (the stop button) interrupts the wait like any line."""

    def __init__(
        self,
        place: Place,
        *,
        allowed: set[str] | None = None,
        poll: Callable[..., Any] | None = None,
    ) -> None:
        self.place = place
        self.allowed = ALLOWED if allowed is None else allowed
        self._poll = poll

    def __call__(self, call: ToolCall, arguments: dict[str, Any]) -> Decision:
        if call.name in self.allowed:
            return Decision(True)
        prompt = ApprovalPrompt(call, arguments, self.allowed)
        self.place(prompt.widget)
        try:
            if self._poll is not None:
                answer: Decision = self._poll(lambda: prompt.answer, sleep=0.05, n=4)
            else:
                answer = wait_for_click(lambda: prompt.answer, prompt.parts)
        finally:
            self.place(None)
            prompt.close()
        return answer


class AsyncWidgetApprover:
    """``approve="ask"`` on the panel's loop: the click (handled on the kernel's thread while it
    is idle) resolves a future this coroutine awaits; cancelling the turn cancels the wait."""

    def __init__(self, place: Place, *, allowed: set[str] | None = None) -> None:
        self.place = place
        self.allowed = ALLOWED if allowed is None else allowed
        self.prompt: ApprovalPrompt | None = None  # the one waiting now (tests click it)
        self.waiting = threading.Event()

    async def __call__(self, call: ToolCall, arguments: dict[str, Any]) -> Decision:
        if call.name in self.allowed:
            return Decision(True)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Decision] = loop.create_future()

        def resolve(decision: Decision) -> None:
            def settle() -> None:
                if not future.done():
                    future.set_result(decision)

            with contextlib.suppress(RuntimeError):  # the loop is gone: nothing waits
                loop.call_soon_threadsafe(settle)

        prompt = ApprovalPrompt(call, arguments, self.allowed)
        prompt.listeners.append(resolve)
        self.prompt = prompt
        self.place(prompt.widget)
        self.waiting.set()
        try:
            return await future
        finally:
            self.waiting.clear()
            self.prompt = None
            self.place(None)
            prompt.close()


class TerminalApprover:
    """``approve="ask"`` in terminal IPython: y(es) / n(o) / a(lways for this tool) / e(dit)."""

    def __init__(
        self,
        *,
        ask: Callable[[str], str] | None = None,
        say: Callable[[str], None] | None = None,
        allowed: set[str] | None = None,
    ) -> None:
        self._ask = ask or (lambda text: input(text))  # looked up at call time (IPython swaps it)
        self._say = say or (lambda text: print(text, flush=True))
        self.allowed = ALLOWED if allowed is None else allowed

    def __call__(self, call: ToolCall, arguments: dict[str, Any]) -> Decision:
        if call.name in self.allowed:
            return Decision(True)
        self._say(f"The model wants to run {inert_text(call.name)}({arguments_json(arguments)})")
        while True:
            reply = self._ask("Run it? [y]es / [n]o / [a]lways for this tool / [e]dit: ")
            choice = reply.strip().lower()[:1]
            if choice == "y":
                return Decision(True)
            if choice == "a":
                self.allowed.add(call.name)
                return Decision(True)
            if choice == "n":
                return Decision(False)
            if choice == "e":
                try:
                    return Decision(True, parse_edit(self._ask("Arguments as JSON: ")))
                except ValueError as exc:
                    self._say(str(exc))
                    continue
            self._say("please answer y, n, a or e")


def approver(policy: Any, *, rich: bool, place: Place | None = None, panel: bool = False) -> Any:
    """The client's ``approve=`` for a surface: "ask" becomes a widget or a prompt."""
    if policy != ASK:
        return policy
    if panel:
        assert place is not None
        return AsyncWidgetApprover(place)
    if rich and place is not None:
        return WidgetApprover(place)
    return TerminalApprover()
