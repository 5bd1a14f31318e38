"""The "ask" approvers, driven through their widget traits and a scripted input()."""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

import pytest

from lexilux_nb.client.approval import Decision
from lexilux_nb.client.models import ToolCall
from lexilux_nb.notebook.approval import (
    ApprovalPrompt,
    AsyncWidgetApprover,
    TerminalApprover,
    WidgetApprover,
    approver,
)

CALL = ToolCall("call_1", "add", '{"a": 1, "b": 2}')
ARGS = {"a": 1, "b": 2}


class Placed:
    """Where an approver puts its prompt: records what it was given."""

    def __init__(self) -> None:
        self.shown: list[Any] = []

    def __call__(self, widget: Any) -> None:
        self.shown.append(widget)


def clicking(action: Any) -> Any:
    """A poll that performs ``action(prompt)`` on its first turn, as a click would arrive."""
    seen: list[int] = []

    def poll(ready: Any, sleep: float = 0.0, n: int = 1) -> Any:
        while True:
            value = ready()
            if value is not None:
                return value
            if len(seen) > 5:
                raise AssertionError("no answer after the click")
            seen.append(1)
            action()

    return poll


def test_prompt_shows_name_and_json_arguments() -> None:
    prompt = ApprovalPrompt(ToolCall("c", "<b>x</b>", "{}"), {"q": "<script>"}, set())
    assert "&lt;b&gt;x&lt;/b&gt;" in prompt.title.value and "<b>" not in prompt.title.value
    assert json.loads(prompt.arguments.value) == {"q": "<script>"}
    assert prompt.answer is None
    prompt.close()


@pytest.mark.parametrize(
    ("button", "expected"),
    [("run_once", Decision(True)), ("deny", Decision(False))],
)
def test_buttons_decide(button: str, expected: Decision) -> None:
    prompt = ApprovalPrompt(CALL, ARGS, set())
    getattr(prompt, button).click()
    assert prompt.answer == expected
    assert prompt.run_once.disabled and prompt.deny.disabled and prompt.arguments.disabled


def test_edited_arguments_are_returned() -> None:
    prompt = ApprovalPrompt(CALL, ARGS, set())
    prompt.arguments.value = '{"a": 40, "b": 2}'
    prompt.run_once.click()
    assert prompt.answer == Decision(True, {"a": 40, "b": 2})


def test_invalid_edit_keeps_waiting_with_a_message() -> None:
    prompt = ApprovalPrompt(CALL, ARGS, set())
    prompt.arguments.value = "[1, 2"
    prompt.run_once.click()
    assert prompt.answer is None and "not valid JSON" in prompt.message.value
    prompt.arguments.value = "[1]"
    prompt.run_once.click()
    assert prompt.answer is None and "JSON object" in prompt.message.value
    prompt.arguments.value = '{"a": 1}'
    prompt.run_once.click()
    assert prompt.answer == Decision(True, {"a": 1})


def _buttons(box: Any) -> Any:
    return box.children[2].children  # run once, always, deny


def test_widget_approver_waits_for_the_click_then_removes_the_prompt() -> None:
    placed = Placed()
    approve = WidgetApprover(
        placed, allowed=set(), poll=clicking(lambda: _buttons(placed.shown[0])[2].click())
    )
    assert approve(CALL, ARGS) == Decision(False)
    assert placed.shown[0] is not None and placed.shown[-1] is None  # shown, then taken away


def test_always_for_this_tool_is_remembered() -> None:
    allowed: set[str] = set()
    prompts: list[Any] = []

    def place(widget: Any) -> None:
        prompts.append(widget)

    def poll(ready: Any, **_: Any) -> Any:
        _buttons(prompts[-1])[1].click()  # "Always for this tool"
        return ready()

    approve = WidgetApprover(place, allowed=allowed, poll=poll)
    assert approve(CALL, ARGS) == Decision(True)
    assert allowed == {"add"}
    shown = len(prompts)
    assert approve(CALL, ARGS) == Decision(True)  # no second prompt
    assert len(prompts) == shown
    other = ToolCall("c2", "rm", "{}")
    with pytest.raises(AssertionError):  # another tool is still asked about

        def never(ready: Any, **_: Any) -> Any:
            raise AssertionError("asked")

        WidgetApprover(place, allowed=allowed, poll=never)(other, {})


def test_interrupt_while_waiting_takes_the_prompt_away() -> None:
    placed = Placed()

    def poll(ready: Any, **_: Any) -> Any:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        WidgetApprover(placed, allowed=set(), poll=poll)(CALL, ARGS)
    assert placed.shown[-1] is None


def test_async_approver_resolves_on_a_click_from_another_thread() -> None:
    placed = Placed()
    approve = AsyncWidgetApprover(placed, allowed=set())

    def click() -> None:
        assert approve.waiting.wait(5)
        assert approve.prompt is not None
        approve.prompt.arguments.value = '{"a": 5, "b": 2}'
        approve.prompt.run_once.click()

    clicker = threading.Thread(target=click)
    clicker.start()
    decision = asyncio.run(asyncio.wait_for(approve(CALL, ARGS), 5))
    clicker.join()
    assert decision == Decision(True, {"a": 5, "b": 2})
    assert placed.shown[-1] is None and approve.prompt is None


def test_async_approver_cancelled_takes_the_prompt_away() -> None:
    placed = Placed()
    approve = AsyncWidgetApprover(placed, allowed=set())

    async def main() -> None:
        task = asyncio.create_task(approve(CALL, ARGS))
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert placed.shown[-1] is None and not approve.waiting.is_set()


@pytest.mark.parametrize(
    ("replies", "expected"),
    [
        (["y"], Decision(True)),
        (["no"], Decision(False)),
        (["?", "Y"], Decision(True)),
        (["e", "{bad", "e", '{"a": 9}'], Decision(True, {"a": 9})),
    ],
)
def test_terminal_prompt(replies: list[str], expected: Decision) -> None:
    said: list[str] = []
    answers = iter(replies)
    approve = TerminalApprover(ask=lambda _: next(answers), say=said.append, allowed=set())
    assert approve(CALL, ARGS) == expected
    assert "add" in said[0] and '"a": 1' in said[0]


def test_terminal_always() -> None:
    allowed: set[str] = set()
    answers = iter(["a"])
    approve = TerminalApprover(ask=lambda _: next(answers), say=lambda _: None, allowed=allowed)
    assert approve(CALL, ARGS) == Decision(True)
    assert approve(CALL, ARGS) == Decision(True)  # not asked again (the iterator is empty)
    assert allowed == {"add"}


def test_approver_for_each_surface() -> None:
    assert approver("always", rich=True) == "always"
    assert approver("never", rich=False) == "never"
    assert isinstance(approver("ask", rich=False), TerminalApprover)
    assert isinstance(approver("ask", rich=True, place=Placed()), WidgetApprover)
    assert isinstance(approver("ask", rich=True, place=Placed(), panel=True), AsyncWidgetApprover)
