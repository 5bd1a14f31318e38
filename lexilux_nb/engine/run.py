"""``Engine``: ask, show and record one turn, sync inside a cell or async on the panel's loop.

Both drivers are the same few steps: open the request (plain, streamed or continued), feed every
chunk to the view, let the view render the end, then record and show in one block Ctrl-C cannot
split. Errors and interrupts keep the partial answer; only a complete answer is recorded (and a
stopped one when the surface keeps them, marked interrupted).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from ..client.chat import Chat
from ..client.errors import LexiluxError
from ..client.models import ChatResult, ChatStreamChunk
from .interrupts import deferred_interrupts
from .outcome import Ask, Outcome, State
from .tools import ToolLog, added_messages, tool_options
from .turn import Turn
from .usage import LEDGER, price
from .view import AnswerView, Show

Settled = Callable[[Outcome], None]


class TurnInterrupted(KeyboardInterrupt):
    """Ctrl-C ended the turn after the view showed the partial answer (``outcome.result``)."""

    def __init__(self, outcome: Outcome) -> None:
        super().__init__("interrupted")
        self.outcome = outcome


def _as_chunk(result: ChatResult) -> ChatStreamChunk:
    """A non-streamed answer, shown at once like a stream of one chunk."""
    return ChatStreamChunk(result.text, False, None, result.usage, [], result.reasoning)


def _partial(source: Any) -> ChatResult:
    """What a stream (or a stopped tool loop's interrupt) holds of the answer so far."""
    result = getattr(source, "result", None)
    return result if isinstance(result, ChatResult) else ChatResult()


class Engine:
    """Runs turns for one ``Chat``; ``model_label`` names the model in footers when the server's
    own answer cannot be trusted to (llama.cpp echoes whatever model name it was asked for)."""

    def __init__(
        self,
        chat: Chat,
        *,
        model_label: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.chat = chat
        self.model_label = model_label
        self._clock = clock

    # -- the shared steps --------------------------------------------------------------------

    def _call(self, turn: Turn, ask: Ask, view: AnswerView, log: ToolLog) -> dict[str, Any]:
        call: dict[str, Any] = dict(ask.options, history=turn.context)
        if ask.continuation is not None:
            call.update(ask.continuation, on_progress=view.progress)
        if ask.tools is not None:
            call.update(tool_options(ask.tools, view, log))
        return call

    def _outcome(
        self,
        result: ChatResult,
        state: State,
        started: float,
        ask: Ask,
        error: LexiluxError | None = None,
    ) -> Outcome:
        if state == "interrupted" and not result.interrupted:
            result = replace(result, interrupted=True)
        asked = result.model or ask.options.get("model") or self.chat.model
        model = self.model_label or asked
        cost = price(asked, result.usage, self.chat.base_url)
        return Outcome(result, state, self._clock() - started, str(model or "?"), error, cost=cost)

    def _failure(self, exc: LexiluxError, stream: Any, started: float, ask: Ask) -> Outcome:
        partial = getattr(exc, "partial_result", None)
        if not isinstance(partial, ChatResult):
            partial = _partial(stream)
        return self._outcome(partial, "failed", started, ask, exc)

    def _settle(
        self,
        turn: Turn,
        ask: Ask,
        outcome: Outcome,
        show: Show,
        settled: Any,
        added: list[dict[str, Any]] | None = None,
    ) -> None:
        """Record, bind and show together: a Ctrl-C arriving now is dropped (the turn is over)."""
        added = added or []
        arrived = bool(outcome.result.text or outcome.result.tool_calls or added)
        keep = outcome.state == "complete" or (
            outcome.state == "interrupted" and ask.keep_interrupted and arrived
        )
        with deferred_interrupts(reraise=False):
            requests = 1 + outcome.result.continues  # every surface's turns counted here, once
            LEDGER.record(outcome.model, outcome.result.usage, outcome.cost, requests)
            if keep:  # the model as the reader should see it, and how long the answer took
                seconds = round(outcome.seconds, 3)
                outcome.recorded = turn.commit(
                    outcome.result, added, model=outcome.model, seconds=seconds
                )
            if settled is not None:
                settled(outcome)
            show()

    # -- sync: inside a cell -----------------------------------------------------------------

    def _result(
        self, turn: Turn, ask: Ask, view: AnswerView, opened: list[Any], log: ToolLog
    ) -> ChatResult:
        call, chat, prompt = self._call(turn, ask, view, log), self.chat, turn.request
        continuing = ask.continuation is not None
        if not ask.stream:
            result = chat.complete(prompt, **call) if continuing else chat(prompt, **call)
            view.chunk(_as_chunk(result))
            return result
        stream = chat.complete_stream(prompt, **call) if continuing else chat.stream(prompt, **call)
        opened.append(stream)
        for chunk in stream:
            view.chunk(chunk)
        return stream.result

    def run(
        self, turn: Turn, ask: Ask, view: AnswerView, *, settled: Settled | None = None
    ) -> Outcome:
        """One turn; raises :class:`TurnInterrupted` (after showing the partial) on Ctrl-C.

        Ctrl-C stops the answer while it streams. Once it is complete, the final render, the record
        and the output happen with Ctrl-C held (and dropped: the turn is done), so whatever line an
        interrupt reaches, the history, ``_chat`` and the output tell the same story.
        """
        started = self._clock()
        opened: list[Any] = []
        log = ToolLog(view)
        done: Outcome | None = None
        try:
            result = self._result(turn, ask, view, opened, log)
            with deferred_interrupts(reraise=False):
                complete = self._outcome(result, "complete", started, ask)
                added = self._added(ask, complete, opened)
                self._settle(turn, ask, complete, view.finish(complete), settled, added)
                done = complete
            return done
        except KeyboardInterrupt as stop:
            if done is not None:  # it came after the turn was recorded: too late to stop it
                return done
            try:
                with deferred_interrupts(reraise=False):  # a second Ctrl-C is held too
                    stopped = getattr(stop, "result", None)  # a stopped tool loop's partial
                    partial = (
                        stopped
                        if isinstance(stopped, ChatResult)
                        else _partial(opened[0] if opened else None)
                    )
                    _close(opened)
                    outcome = self._outcome(partial, "interrupted", started, ask)
                    added = self._added(ask, outcome, opened)
                    self._settle(turn, ask, outcome, view.finish(outcome), settled, added)
            finally:
                _close(opened)  # even if a second Ctrl-C came before the hold began
            raise TurnInterrupted(outcome) from None
        except LexiluxError as exc:
            with deferred_interrupts(reraise=False):
                _close(opened)
                outcome = self._failure(exc, opened[0] if opened else None, started, ask)
                self._settle(turn, ask, outcome, view.finish(outcome), settled)
            return outcome

    # -- async: on the panel's loop ----------------------------------------------------------

    async def _aresult(
        self, turn: Turn, ask: Ask, view: AnswerView, opened: list[Any], log: ToolLog
    ) -> ChatResult:
        call, chat, prompt = self._call(turn, ask, view, log), self.chat, turn.request
        continuing = ask.continuation is not None
        if not ask.stream:
            if continuing:
                result = await chat.acomplete(prompt, **call)
            else:
                result = await chat.acall(prompt, **call)
            view.chunk(_as_chunk(result))
            return result
        if continuing:
            stream = chat.acomplete_stream(prompt, **call)
        else:
            stream = chat.astream(prompt, **call)
        opened.append(stream)
        async for chunk in stream:
            view.chunk(chunk)
        return stream.result

    async def arun(
        self, turn: Turn, ask: Ask, view: AnswerView, *, settled: Settled | None = None
    ) -> Outcome:
        """Async :meth:`run`; on cancellation it shows and settles, then re-raises."""
        started = self._clock()
        opened: list[Any] = []
        log = ToolLog(view)
        try:
            result = await self._aresult(turn, ask, view, opened, log)
            outcome = self._outcome(result, "complete", started, ask)
        except asyncio.CancelledError:
            partial = _partial(opened[0] if opened else None)
            await _aclose(opened)
            outcome = self._outcome(partial, "interrupted", started, ask)
        except LexiluxError as exc:
            await _aclose(opened)
            outcome = self._failure(exc, opened[0] if opened else None, started, ask)
        show = view.finish(outcome)
        self._settle(turn, ask, outcome, show, settled, self._added(ask, outcome, opened))
        if outcome.state == "interrupted":
            raise asyncio.CancelledError
        return outcome

    @staticmethod
    def _added(ask: Ask, outcome: Outcome, opened: list[Any]) -> list[dict[str, Any]]:
        """The tool calls and results a tool turn adds before its answer (none without tools)."""
        if ask.tools is None:
            return []
        return added_messages(outcome.result, opened[0] if opened else None)


def _close(opened: list[Any]) -> None:
    for stream in opened:
        stream.close()


async def _aclose(opened: list[Any]) -> None:
    for stream in opened:
        await stream.aclose()
