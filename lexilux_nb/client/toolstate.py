"""The tool loop's steps: model -> tool calls -> approved runs -> tool results -> model.

:class:`Loop` holds one loop's state and every decision; the drivers (:mod:`.toolloop`: sync and
async, streamed and not) only send its requests, ask the approval policy and run the functions.
The messages the loop adds are always a valid conversation: every assistant tool call is answered
by one tool message, also when the round limit is reached (``"not run: ..."``) or the user
interrupts (``"interrupted ..."``), so a follow-up request can be sent from them as they are.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any, Literal

from .approval import Decision, check_policy
from .errors import ValidationError
from .models import ChatResult, ChatStreamChunk, ToolCall, Usage
from .protocol import _as_message_list
from .tools import PythonTool, ToolArgumentsError, as_tools, is_python_tool

Status = Literal["asked", "running", "done", "denied", "failed"]
LOOP_OPTIONS = ("approve", "on_tool", "max_tool_rounds")
DEFAULT_MAX_TOOL_ROUNDS = 8
_RESULT_FIELDS = tuple(f.name for f in fields(ChatResult))


@dataclass
class ToolActivity:
    """One status change of one call, for views: asked -> running -> done, or denied/failed.

    ``result`` is the text sent back to the model (on done, denied and failed), ``seconds`` how
    long the function ran, ``arguments`` what it runs with (the user's edit, if any). ``on_tool``
    is called on the driver's own thread (the event loop's on the async paths), never from the
    worker thread a sync tool runs in.
    """

    call: ToolCall
    status: Status
    result: str | None = None
    seconds: float | None = None
    arguments: dict[str, Any] | None = None


OnTool = Callable[[ToolActivity], None]


@dataclass(slots=True)
class ToolLoopResult(ChatResult):
    """The final answer (its own fields are the last round's, usage summed over all rounds).

    ``calls`` are the calls the model made, in order, and ``messages`` the messages the loop
    added after the prompt (assistant tool-call messages and tool results, not the final answer);
    ``rounds`` counts the model requests. ``rounds_exhausted``: the model still asked for tools
    at ``max_tool_rounds`` (those calls are answered "not run", so ``tool_calls`` stays empty).
    """

    calls: list[ToolCall] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)
    rounds: int = 0
    rounds_exhausted: bool = False

    def turn_messages(self) -> list[dict[str, Any]]:
        """``messages`` plus the final answer: everything to record after the prompt."""
        final = {"role": "assistant", "content": self.text}
        return [*(dict(m) for m in self.messages), final]


class ToolLoopInterrupted(KeyboardInterrupt):
    """Ctrl-C (or a tool raising ``KeyboardInterrupt``) stopped the loop; ``result`` holds a
    consistent partial (every call answered, ``interrupted`` set)."""

    def __init__(self, result: ToolLoopResult) -> None:
        super().__init__("tool loop interrupted")
        self.result = result


def uses_tools(options: Mapping[str, Any]) -> bool:
    """Whether a call must run the loop: ``tools=`` holds a Python callable."""
    tools = options.get("tools")
    if not isinstance(tools, Sequence) or isinstance(tools, str | bytes):
        return False
    return any(is_python_tool(t) for t in tools)


def tool_text(value: Any) -> str:
    """What the model reads: a str as it is, anything else as JSON (pydantic, dataclasses too)."""
    if isinstance(value, str):
        return value
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        value = dump(mode="json")
    elif hasattr(value, "__dataclass_fields__") and not isinstance(value, type):
        import dataclasses

        value = dataclasses.asdict(value)
    return json.dumps(value, ensure_ascii=False, default=str)


def failure_text(exc: BaseException) -> str:
    return f"error: {type(exc).__name__}: {exc}"


def _check_rounds(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValidationError(f"max_tool_rounds must be an integer >= 0, got {value!r}")
    return value


@dataclass
class Pending:
    """A call that parsed and validated, waiting for the approval policy."""

    call: ToolCall
    tool: PythonTool
    arguments: dict[str, Any]


class Loop:
    """One tool loop's state; validates everything before the first request."""

    def __init__(
        self,
        messages: Any,
        tools: Sequence[Any],
        options: Mapping[str, Any],
        *,
        approve: Any = "ask",
        on_tool: OnTool | None = None,
        max_tool_rounds: int = DEFAULT_MAX_TOOL_ROUNDS,
    ) -> None:
        check_policy(approve)
        if on_tool is not None and not callable(on_tool):
            raise ValidationError(f"on_tool must be a callable(ToolActivity) or None: {on_tool!r}")
        self.approve = approve
        self.on_tool = on_tool
        self.max_rounds = _check_rounds(max_tool_rounds)
        python = [t for t in tools if is_python_tool(t)]
        self.table = {t.name: t for t in as_tools(python)}
        specs: list[Any] = [t for t in tools if not is_python_tool(t)]
        specs += [t.spec for t in self.table.values()]
        history = options.get("history")
        if history is None and callable(getattr(messages, "get_messages", None)):
            history, messages = messages, None  # a ChatHistory given as the messages
        self.own = _as_message_list(messages)[1]
        self.options = {k: v for k, v in options.items() if k not in ("history", "tools")}
        self.options["tools"] = specs
        if history is not None:
            self.options["history"] = history
        self.added: list[dict[str, Any]] = []
        self.calls: list[ToolCall] = []
        self.usage = Usage()
        self.rounds = 0
        self.exhausted = False
        self.last: ChatResult | None = None  # the last answer taken
        self.current: Callable[[], ChatResult] | None = None  # the round being streamed
        self.unanswered: list[ToolCall] = []
        self.running: ToolCall | None = None
        self.stopped = False  # interrupted (Ctrl-C, or cancelled on an async path)

    # -- requests and answers ------------------------------------------------------------

    def request(self) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """The messages and options of the next model request."""
        return [*self.own, *self.added], dict(self.options)

    def take(self, result: ChatResult) -> list[ToolCall]:
        """Take one answer; the calls to answer now (``[]``: the loop is over)."""
        self.current = None
        self.rounds += 1
        self.usage = self.usage + result.usage
        self.last = result
        if not result.tool_calls:
            return []
        # a call without an id (some local servers) gets one: its answer must name it
        calls = [
            c if c.id else replace(c, id=f"call_{self.rounds}_{i}")
            for i, c in enumerate(result.tool_calls)
        ]
        self.added.append(
            {
                "role": "assistant",
                "content": result.text or None,
                "tool_calls": [c.to_dict() for c in calls],
            }
        )
        self.unanswered = list(calls)
        if self.rounds > self.max_rounds:
            self.exhausted = True
            note = f"not run: the limit of {self.max_rounds} tool rounds was reached"
            for call in calls:
                self.reply(call, note, "failed")
            return []
        return calls

    def report(self, activity: ToolActivity) -> None:
        if self.on_tool is not None:
            self.on_tool(activity)

    def reply(
        self, call: ToolCall, text: str, status: Status, seconds: float | None = None
    ) -> None:
        """Answer ``call`` with ``text`` (the tool message) and report its last status."""
        self.calls.append(call)
        self.added.append({"role": "tool", "tool_call_id": call.id, "content": text})
        self.unanswered = [c for c in self.unanswered if c is not call]
        self.report(ToolActivity(call, status, text, seconds))

    # -- one call: check, approve, run ---------------------------------------------------

    def check(self, call: ToolCall) -> Pending | None:
        """Parse and validate the arguments; a problem is answered at once (None)."""
        tool = self.table.get(call.name)
        if tool is None:
            known = ", ".join(sorted(self.table)) or "none"
            self.reply(call, f"error: no tool named {call.name!r} (available: {known})", "failed")
            return None
        try:
            args = tool.validate(call.get_arguments())
        except ValueError as exc:  # json.JSONDecodeError is one
            what = "are invalid" if isinstance(exc, ToolArgumentsError) else "are not valid JSON"
            self.reply(call, f"error: the arguments {what}: {exc}", "failed")
            return None
        self.report(ToolActivity(call, "asked", arguments=args))
        return Pending(call, tool, args)

    def approved(self, pending: Pending, decision: Decision) -> dict[str, Any] | None:
        """The arguments to run with, or None when denied (answered) or an edit is invalid."""
        if not decision.allow:
            self.reply(pending.call, f"denied: {decision.reason}", "denied")
            return None
        args = pending.arguments
        if decision.arguments is not None:
            try:
                args = pending.tool.validate(decision.arguments)
            except ValueError as exc:
                self.reply(
                    pending.call, f"error: the edited arguments are invalid: {exc}", "failed"
                )
                return None
        self.running = pending.call
        self.report(ToolActivity(pending.call, "running", arguments=args))
        return args

    def ran(self, pending: Pending, started: float, value: Any = None, error: Any = None) -> None:
        self.running = None
        seconds = time.monotonic() - started
        if error is not None:
            self.reply(pending.call, failure_text(error), "failed", seconds)
        else:
            self.reply(pending.call, tool_text(value), "done", seconds)

    # -- results -------------------------------------------------------------------------

    def result(self) -> ToolLoopResult:
        """The loop's result so far (during a streamed round, with that round's partial)."""
        base = self.current() if self.current is not None else (self.last or ChatResult())
        values = {name: getattr(base, name) for name in _RESULT_FIELDS}
        usage = self.usage + base.usage if self.current is not None else self.usage
        values.update(usage=usage)
        if self.exhausted or self.unanswered:
            values.update(tool_calls=[])
        if self.stopped:
            values.update(interrupted=True)
        return ToolLoopResult(
            **values,
            calls=list(self.calls),
            messages=[dict(m) for m in self.added],
            rounds=self.rounds,
            rounds_exhausted=self.exhausted,
        )

    def interrupted(self) -> ToolLoopInterrupted:
        """Answer every open call (the history stays valid) and the exception to raise."""
        for call in list(self.unanswered):
            was_running = call is self.running
            self.reply(
                call,
                "interrupted by the user"
                + (" while running" if was_running else " before running"),
                "failed",
            )
        self.running = None
        self.stopped = True
        return ToolLoopInterrupted(self.result())

    def done_chunk(self, last: ChatStreamChunk | None) -> ChatStreamChunk:
        """The one final chunk of a streamed loop: the last round's, with the loop's totals."""
        result = self.result()
        chunk = last or ChatStreamChunk()
        return ChatStreamChunk(
            delta="",
            done=True,
            finish_reason=result.finish_reason,
            usage=result.usage,
            tool_calls=result.tool_calls,
            raw=chunk.raw,
        )
