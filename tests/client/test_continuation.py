"""Auto-continuation: ``complete``, ``acomplete``, ``complete_stream``, ``acomplete_stream``.

The server is scripted at the transport level (respx): each :class:`Turn` is one round's reply,
rendered as a JSON completion for a plain request and as an SSE stream (small content pieces, a
finish chunk, a usage-only chunk, ``[DONE]``) for a streamed one, so the same script drives all
four drivers. :class:`Server` records every request body, so what was *sent* can be checked too.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import respx

from lexilux_nb.client.chat import Chat
from lexilux_nb.client.continuation import (
    DEFAULT_CONTINUE_PROMPT,
    MIN_OVERLAP,
    SEAM_WINDOW,
    Continuation,
    ContinueProgress,
    ContinueSettings,
    SeamTrimmer,
    split_options,
    trim_seam,
)
from lexilux_nb.client.errors import (
    AuthenticationError,
    ChatIncompleteResponseError,
    ChatStreamInterruptedError,
    ServerError,
    ValidationError,
)
from lexilux_nb.client.history import ChatHistory
from lexilux_nb.client.models import ChatResult, ChatStreamChunk, ToolCall, Usage

DRIVERS = ("complete", "acomplete", "complete_stream", "acomplete_stream")
STREAM_DRIVERS = ("complete_stream", "acomplete_stream")
SSE_HEADERS = {"content-type": "text/event-stream; charset=utf-8"}
PROMPT = "Write a short story."


# -- the scripted server ---------------------------------------------------------------------


@dataclass
class Turn:
    """One scripted reply. ``status`` >= 400 answers with an error; ``cut`` ends a stream early."""

    text: str = ""
    finish: str | None = "stop"
    usage: tuple[int, int] | None = (10, 5)  # (prompt_tokens, completion_tokens)
    reasoning: str | None = None
    tool_calls: list[tuple[str, str, str]] = field(default_factory=list)  # (id, name, args)
    status: int = 200
    cut: bool = False
    piece: int = 3  # characters per streamed content delta

    def usage_dict(self) -> dict[str, int] | None:
        if self.usage is None:
            return None
        prompt, completion = self.usage
        return {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        }

    def response(self, body: dict[str, Any]) -> httpx.Response:
        if self.status >= 400:
            error = {"message": f"scripted failure {self.status}", "type": "scripted"}
            return httpx.Response(self.status, json={"error": error})
        if body.get("stream") is True:
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            return httpx.Response(200, headers=SSE_HEADERS, content=self.sse(include_usage))
        if self.cut:
            raise AssertionError("a cut turn only makes sense for a streamed request")
        return httpx.Response(200, json=self.completion())

    def completion(self) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": self.text}
        if self.reasoning is not None:
            message["reasoning_content"] = self.reasoning
        if self.tool_calls:
            message["tool_calls"] = [
                {"id": i, "type": "function", "function": {"name": n, "arguments": a}}
                for i, n, a in self.tool_calls
            ]
        data: dict[str, Any] = {
            "id": "chatcmpl-scripted",
            "object": "chat.completion",
            "model": "test-model",
            "choices": [{"index": 0, "message": message, "finish_reason": self.finish}],
        }
        if self.usage is not None:
            data["usage"] = self.usage_dict()
        return data

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {
            "id": "chatcmpl-scripted",
            "object": "chat.completion.chunk",
            "model": "test-model",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }

    def sse(self, include_usage: bool) -> bytes:
        chunks = [self._chunk({"role": "assistant", "content": ""})]
        chunks += [self._chunk({"reasoning_content": p}) for p in split(self.reasoning or "", 4)]
        chunks += [self._chunk({"content": p}) for p in split(self.text, self.piece)]
        for index, (call_id, name, arguments) in enumerate(self.tool_calls):
            head = {"index": index, "id": call_id, "type": "function"}
            head["function"] = {"name": name, "arguments": ""}
            chunks.append(self._chunk({"tool_calls": [head]}))
            for part in split(arguments, 5):
                tail = {"index": index, "function": {"arguments": part}}
                chunks.append(self._chunk({"tool_calls": [tail]}))
        if not self.cut:
            chunks.append(self._chunk({}, self.finish))
            if include_usage and self.usage is not None:
                usage_chunk = self._chunk({})
                usage_chunk["choices"] = []
                usage_chunk["usage"] = self.usage_dict()
                chunks.append(usage_chunk)
        text = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks)
        if not self.cut:
            text += "data: [DONE]\n\n"
        return text.encode()


def split(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


class Server:
    """A respx side effect playing the turns in order and recording each request body."""

    def __init__(self, turns: list[Turn], clock: Any = None) -> None:
        self.turns = list(turns)
        self.bodies: list[dict[str, Any]] = []
        self.sleeps_at_request: list[int] = []
        self._clock = clock

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        self.bodies.append(body)
        if self._clock is not None:
            self.sleeps_at_request.append(len(self._clock.sleeps))
        if len(self.bodies) > len(self.turns):
            raise AssertionError(f"unexpected request #{len(self.bodies)}: {body['messages']}")
        return self.turns[len(self.bodies) - 1].response(body)

    @property
    def messages(self) -> list[list[dict[str, Any]]]:
        return [b["messages"] for b in self.bodies]


def serve(router: respx.MockRouter, *turns: Turn, clock: Any = None) -> Server:
    server = Server(list(turns), clock)
    router.post("/chat/completions").mock(side_effect=server)
    return server


# -- the four drivers ------------------------------------------------------------------------


@dataclass
class Run:
    """What one driver produced: a result (plus a stream's chunks) or an exception."""

    result: ChatResult | None = None
    chunks: list[ChatStreamChunk] = field(default_factory=list)
    error: Exception | None = None
    streamed: bool = False
    stream_result: ChatResult | None = None  # a stream's ``.result`` after it failed

    @property
    def deltas(self) -> str:
        return "".join(c.delta for c in self.chunks)

    def ok(self) -> ChatResult:
        if self.error is not None:
            raise AssertionError(f"expected a result, got {self.error!r}")
        assert self.result is not None
        return self.result

    def failed(self, cls: type[Exception] = ChatIncompleteResponseError) -> Any:
        assert isinstance(self.error, cls), f"expected {cls.__name__}, got {self.error!r}"
        return self.error


async def drive(driver: str, chat: Chat, messages: Any, **options: Any) -> Run:
    """Run one call through ``driver`` (one of :data:`DRIVERS`), catching what it raises."""
    run = Run(streamed=driver in STREAM_DRIVERS)
    iterator: Any = None
    try:
        if driver == "complete":
            run.result = chat.complete(messages, **options)
        elif driver == "acomplete":
            run.result = await chat.acomplete(messages, **options)
        elif driver == "complete_stream":
            iterator = chat.complete_stream(messages, **options)
            for chunk in iterator:
                run.chunks.append(chunk)
            run.result = iterator.result
        elif driver == "acomplete_stream":
            iterator = chat.acomplete_stream(messages, **options)
            async for chunk in iterator:
                run.chunks.append(chunk)
            run.result = iterator.result
        else:
            raise AssertionError(f"unknown driver {driver!r}")
    except Exception as exc:
        run.error = exc
        if iterator is not None:
            run.stream_result = iterator.result
    return run


def check_stream_invariants(run: Run, *, replaced: bool = False) -> None:
    """A finished continuing stream: one final done chunk, deltas equal to the result text.

    ``replaced``: an ``on_error_callback`` substituted the result, so the text shown before
    differs from it by design.
    """
    if not run.streamed:
        return
    done = [c for c in run.chunks if c.done]
    if run.error is None:
        assert len(done) == 1, "exactly one chunk must have done=True"
        assert run.chunks[-1].done, "the done chunk must come last"
        assert run.result is not None
        if not replaced:
            assert run.deltas == run.result.text
        assert done[0].finish_reason == run.result.finish_reason
        assert done[0].usage == run.result.usage
        assert done[0].tool_calls == run.result.tool_calls
    else:
        assert done == [], "a failed stream must not claim to be done"
        partial = getattr(run.error, "partial_result", None)
        if isinstance(run.error, ChatIncompleteResponseError) and partial is not None:
            assert run.deltas == partial.text


def usage(prompt: int, completion: int) -> Usage:
    return Usage(prompt, completion, prompt + completion)


@pytest.fixture(params=DRIVERS)
def driver(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(params=STREAM_DRIVERS)
def stream_driver(request: pytest.FixtureRequest) -> str:
    return str(request.param)


# -- 1. one round ----------------------------------------------------------------------------


async def test_complete_answer_takes_one_round(driver: str, router, chat) -> None:
    server = serve(router, Turn("All done in one go.", "stop", usage=(7, 5)))
    run = await drive(driver, chat, PROMPT, max_tokens=50)
    result = run.ok()
    assert result.text == "All done in one go."
    assert (result.continues, result.truncated, result.finish_reason) == (0, False, "stop")
    assert result.usage == usage(7, 5)
    assert len(server.bodies) == 1
    assert server.messages[0] == [{"role": "user", "content": PROMPT}]
    check_stream_invariants(run)


# -- 2. several rounds -----------------------------------------------------------------------


THREE_ROUNDS = (
    Turn("Once upon a time, a fox", "length", usage=(10, 6)),
    Turn(" found a key under", "length", usage=(18, 5)),
    Turn(" a stone. The end.", "stop", usage=(25, 4)),
)
THREE_ROUNDS_TEXT = "Once upon a time, a fox found a key under a stone. The end."


async def test_three_rounds_are_stitched_with_usage_summed(driver: str, router, chat) -> None:
    server = serve(router, *THREE_ROUNDS)
    events: list[ContinueProgress] = []
    run = await drive(driver, chat, PROMPT, max_tokens=6, on_progress=events.append)
    result = run.ok()
    assert result.text == THREE_ROUNDS_TEXT
    assert (result.continues, result.truncated, result.finish_reason) == (2, False, "stop")
    assert result.usage == Usage(10 + 18 + 25, 6 + 5 + 4, 16 + 23 + 29)
    assert len(server.bodies) == 3
    assert [b["max_tokens"] for b in server.bodies] == [6, 6, 6]
    check_stream_invariants(run)

    assert [e.round for e in events] == [1, 2, 3]
    assert {e.max_rounds for e in events} == {6}  # max_continues (5) + 1
    assert [e.text for e in events] == [
        "Once upon a time, a fox",
        "Once upon a time, a fox found a key under",
        THREE_ROUNDS_TEXT,
    ]
    assert [e.tokens for e in events] == [6, 11, 15]
    assert [e.finish_reason for e in events] == ["length", "length", "stop"]
    assert [e.done for e in events] == [False, False, True]
    assert [e.truncated for e in events] == [False, False, False]


async def test_prompt_strategy_sends_partial_then_continue_prompt(router, chat) -> None:
    server = serve(router, *THREE_ROUNDS)
    chat.complete(PROMPT, max_tokens=6, strategy="prompt")
    user = {"role": "user", "content": PROMPT}
    continue_turn = {"role": "user", "content": DEFAULT_CONTINUE_PROMPT}
    assert server.messages[0] == [user]
    assert server.messages[1] == [
        user,
        {"role": "assistant", "content": "Once upon a time, a fox"},
        continue_turn,
    ]
    assert server.messages[2] == [  # the whole text so far, not just the last round
        user,
        {"role": "assistant", "content": "Once upon a time, a fox found a key under"},
        continue_turn,
    ]
    for body in server.bodies:
        assert "continue_final_message" not in body and "add_generation_prompt" not in body


async def test_callable_continue_prompt_gets_count_max_text_and_prompt(
    driver: str, router, chat
) -> None:
    server = serve(router, *THREE_ROUNDS)
    calls: list[tuple[Any, ...]] = []

    def prompt(count: int, max_count: int, so_far: str, original: str) -> str:
        calls.append((count, max_count, so_far, original))
        return f"go on ({count}/{max_count})"

    run = await drive(driver, chat, PROMPT, max_tokens=6, max_continues=4, continue_prompt=prompt)
    assert run.ok().text == THREE_ROUNDS_TEXT
    assert calls == [
        (1, 4, "Once upon a time, a fox", PROMPT),
        (2, 4, "Once upon a time, a fox found a key under", PROMPT),
    ]
    assert server.messages[1][-1] == {"role": "user", "content": "go on (1/4)"}
    assert server.messages[2][-1] == {"role": "user", "content": "go on (2/4)"}


async def test_string_continue_prompt_is_sent(router, chat) -> None:
    server = serve(router, *THREE_ROUNDS)
    chat.complete(PROMPT, continue_prompt="Please continue.")
    assert server.messages[1][-1] == {"role": "user", "content": "Please continue."}
    assert server.messages[2][-1] == {"role": "user", "content": "Please continue."}


async def test_every_round_uses_the_callers_options(driver: str, router, chat) -> None:
    server = serve(router, *THREE_ROUNDS)
    run = await drive(
        driver, chat, PROMPT, max_tokens=6, temperature=0.2, system="Be terse.", seed=7
    )
    run.ok()
    for body in server.bodies:
        assert (body["max_tokens"], body["temperature"], body["seed"]) == (6, 0.2, 7)
        assert body["model"] == "test-model"
        assert body["messages"][0] == {"role": "system", "content": "Be terse."}
        assert [m["role"] for m in body["messages"]].count("system") == 1
        assert body.get("stream", False) is run.streamed


# -- 3. seams --------------------------------------------------------------------------------


async def test_repeated_tail_is_dropped(driver: str, router, chat) -> None:
    serve(
        router,
        Turn("The cat sat on the warm", "length"),
        Turn("on the warm mat and slept.", "stop"),
    )
    run = await drive(driver, chat, PROMPT)
    assert run.ok().text == "The cat sat on the warm mat and slept."
    check_stream_invariants(run)


async def test_short_accidental_overlap_is_kept(driver: str, router, chat) -> None:
    serve(router, Turn("He ate a", "length"), Turn(" a pie, then another.", "stop"))
    run = await drive(driver, chat, PROMPT)
    assert run.ok().text == "He ate a a pie, then another."
    check_stream_invariants(run)


async def test_repeat_spanning_many_deltas_is_trimmed_live(stream_driver: str, router, chat):
    first = "It was a dark and stormy night; the rain fell in torrents"
    serve(
        router,
        Turn(first, "length", piece=4),
        Turn("the rain fell in torrents, except at occasional intervals.", "stop", piece=2),
    )
    run = await drive(stream_driver, chat, PROMPT)
    result = run.ok()
    assert result.text == first + ", except at occasional intervals."
    check_stream_invariants(run)
    deltas = [c.delta for c in run.chunks if c.delta]
    assert "".join(deltas) == result.text
    assert "torrents" not in "".join(deltas)[len(first) :]  # the repeat never reached the caller


async def test_stream_chunks_before_the_end_are_not_done(stream_driver: str, router, chat):
    serve(router, *THREE_ROUNDS)
    run = await drive(stream_driver, chat, PROMPT)
    run.ok()
    assert all(not c.done and c.finish_reason is None for c in run.chunks[:-1])
    assert len([c for c in run.chunks if c.delta]) > 3  # rounds arrive as many small deltas


@pytest.mark.parametrize(
    ("previous", "new", "expected"),
    [
        ("The cat sat on the warm", "on the warm mat", " mat"),
        ("The cat sat on the warm", " warm mat", " warm mat"),  # 5 chars: kept
        ("The cat sat on the warm", "e warm mat", " mat"),  # exactly MIN_OVERLAP
        ("He ate a", " a pie", " a pie"),
        ("", "anything at all", "anything at all"),
        ("abc", "", ""),
        ("same text here", "same text here", ""),
        ("abcdef abcdef", "abcdef abcdef!", "!"),  # the longest repeat wins
        ("unrelated start", "completely different", "completely different"),
        ("x" * 1000 + "tail words", "tail words go on", " go on"),
    ],
)
def test_trim_seam_examples(previous: str, new: str, expected: str) -> None:
    assert trim_seam(previous, new) == expected


def test_min_overlap_and_window_constants() -> None:
    assert MIN_OVERLAP == 6
    previous = "0123456789" * 100  # 1000 chars: only the last SEAM_WINDOW are searched
    assert trim_seam(previous, previous[-SEAM_WINDOW:] + "!") == "!"


def _feed(previous: str, new: str, sizes: Callable[[], int]) -> str:
    trimmer = SeamTrimmer(previous)
    out: list[str] = []
    i = 0
    while i < len(new):
        n = sizes()
        out.append(trimmer.feed(new[i : i + n]))
        i += n
    out.append(trimmer.flush())
    return "".join(out)


def _random_case(rng: random.Random) -> tuple[str, str]:
    alphabet = "ab c.\n"  # small: many accidental partial matches
    previous = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 80)))
    fresh = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
    kind = rng.randrange(4)
    if kind == 0 and previous:  # a true repeat of the tail, of any length
        repeat = previous[-rng.randint(1, len(previous)) :]
        return previous, repeat + fresh
    if kind == 1 and previous:  # a piece from the middle of the previous text
        a = rng.randrange(len(previous))
        return previous, previous[a : rng.randint(a, len(previous))] + fresh
    if kind == 2:
        return previous, fresh
    return previous, previous + fresh


@pytest.mark.parametrize("seed", range(8))
def test_seam_trimmer_gives_the_same_answer_however_the_text_arrives(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(250):
        previous, new = _random_case(rng)
        whole = trim_seam(previous, new)
        assert _feed(previous, new, lambda: 1) == whole, (previous, new)
        assert _feed(previous, new, lambda: rng.randint(1, 7)) == whole, (previous, new)
        assert new.endswith(whole)  # only ever a prefix is dropped
        dropped = len(new) - len(whole)
        assert dropped == 0 or (dropped >= MIN_OVERLAP and previous.endswith(new[:dropped]))


def test_seam_trimmer_holds_a_possible_repeat_until_it_is_decided() -> None:
    trimmer = SeamTrimmer("the rain fell in torrents")
    assert trimmer.feed("in tor") == ""  # still a possible repeat
    assert trimmer.feed("rents, ") == ", "  # decided: the repeat is dropped
    assert trimmer.feed("except") == "except"  # after the decision, text passes through
    assert trimmer.flush() == ""


def test_seam_trimmer_releases_held_text_on_flush() -> None:
    trimmer = SeamTrimmer("the rain fell in torrents")
    assert trimmer.feed(" fell") == ""
    assert trimmer.flush() == " fell"  # not a repeat of the end after all


# -- 4. out of rounds ------------------------------------------------------------------------


ALWAYS_LENGTH = (
    Turn("Alpha beta", "length", usage=(5, 2)),
    Turn(" gamma delta", "length", usage=(8, 2)),
    Turn(" epsilon zeta", "length", usage=(11, 2)),
)
ALWAYS_LENGTH_TEXT = "Alpha beta gamma delta epsilon zeta"


async def test_max_continues_exhausted_raises_with_the_partial(driver: str, router, chat):
    server = serve(router, *ALWAYS_LENGTH)
    events: list[ContinueProgress] = []
    run = await drive(driver, chat, PROMPT, max_continues=2, on_progress=events.append)
    error = run.failed()
    assert len(server.bodies) == 3  # never more than 1 + max_continues requests
    assert error.continues == 2
    assert error.partial_result.text == ALWAYS_LENGTH_TEXT
    assert error.partial_result.truncated is True
    assert error.partial_result.continues == 2
    assert error.partial_result.usage == Usage(24, 6, 30)
    assert error.get_final_text() == ALWAYS_LENGTH_TEXT
    assert "max_continues" in str(error)
    assert events[-1].done and events[-1].truncated and events[-1].round == 3
    check_stream_invariants(run)


async def test_max_continues_exhausted_without_ensure_complete_returns_truncated(
    driver: str, router, chat
) -> None:
    serve(router, *ALWAYS_LENGTH)
    run = await drive(driver, chat, PROMPT, max_continues=2, ensure_complete=False)
    result = run.ok()
    assert result.text == ALWAYS_LENGTH_TEXT
    assert (result.truncated, result.continues, result.finish_reason) == (True, 2, "length")
    check_stream_invariants(run)


async def test_return_partial_does_not_silence_exhaustion(driver: str, router, chat):
    serve(router, *ALWAYS_LENGTH)
    called: list[Any] = []
    run = await drive(
        driver,
        chat,
        PROMPT,
        max_continues=2,
        on_error="return_partial",
        on_error_callback=lambda e, p: called.append(e),
    )
    assert run.failed().continues == 2
    assert called == []  # running out of rounds is not a request error


async def test_max_continues_zero_never_continues(driver: str, router, chat) -> None:
    server = serve(router, Turn("Cut", "length"))
    run = await drive(driver, chat, PROMPT, max_continues=0, ensure_complete=False)
    result = run.ok()
    assert (result.text, result.continues, result.truncated) == ("Cut", 0, True)
    assert len(server.bodies) == 1


async def test_ensure_complete_false_and_answer_finishes(driver: str, router, chat) -> None:
    serve(router, *THREE_ROUNDS)
    run = await drive(driver, chat, PROMPT, ensure_complete=False)
    assert (run.ok().truncated, run.ok().continues) == (False, 2)


# -- 5. stalls -------------------------------------------------------------------------------


@pytest.mark.parametrize("stalled", ["", "   ", "Alpha beta"], ids=["empty", "blank", "repeat"])
async def test_a_round_adding_nothing_stops_and_raises(
    driver: str, stalled: str, router, chat
) -> None:
    server = serve(router, Turn("Alpha beta", "length"), Turn(stalled, "length"))
    run = await drive(driver, chat, PROMPT, max_continues=5)
    error = run.failed()
    assert len(server.bodies) == 2  # no third request
    assert error.partial_result.text.strip() == "Alpha beta"
    assert error.partial_result.truncated is True
    assert error.continues == 1
    assert "added nothing" in str(error)


async def test_a_round_adding_nothing_returns_truncated_without_ensure_complete(
    driver: str, router, chat
) -> None:
    server = serve(router, Turn("Alpha beta", "length"), Turn("", "length"))
    run = await drive(driver, chat, PROMPT, ensure_complete=False)
    result = run.ok()
    assert (result.text, result.truncated, result.continues) == ("Alpha beta", True, 1)
    assert len(server.bodies) == 2
    check_stream_invariants(run)


async def test_an_empty_first_round_cut_off_is_still_continued(driver: str, router, chat):
    serve(router, Turn("", "length"), Turn("Now the answer.", "stop"))
    run = await drive(driver, chat, PROMPT)
    assert (run.ok().text, run.ok().continues) == ("Now the answer.", 1)


# -- 6. errors in a later round --------------------------------------------------------------


async def test_a_failed_continuation_raises_with_the_partial(driver: str, router, make_chat):
    chat = make_chat(max_retries=0)
    serve(router, Turn("Alpha beta", "length", usage=(5, 2)), Turn(status=500))
    run = await drive(driver, chat, PROMPT)
    error = run.failed()
    assert error.continues == 0  # no continuation round was completed
    assert error.partial_result.text == "Alpha beta"
    assert error.partial_result.truncated is True
    assert error.partial_result.usage == usage(5, 2)
    assert isinstance(error.cause, ServerError) and error.cause.status_code == 500
    assert error.__cause__ is error.cause
    check_stream_invariants(run)
    if run.streamed:
        assert run.stream_result is not None and run.stream_result.text == "Alpha beta"


async def test_continues_counts_the_rounds_actually_done(driver: str, router, make_chat):
    chat = make_chat(max_retries=0)
    serve(router, *ALWAYS_LENGTH[:2], Turn(status=503))
    run = await drive(driver, chat, PROMPT)
    error = run.failed()
    assert error.continues == 1
    assert error.partial_result.continues == 1
    assert error.partial_result.text == "Alpha beta gamma delta"
    assert isinstance(error.cause, ServerError) and error.cause.status_code == 503


async def test_failed_continuation_is_retried_like_any_request(driver: str, router, make_chat):
    chat = make_chat(max_retries=1)
    server = serve(router, Turn("Alpha beta", "length"), Turn(status=500), Turn(" end.", "stop"))
    run = await drive(driver, chat, PROMPT)
    assert run.ok().text == "Alpha beta end."
    assert len(server.bodies) == 3
    assert server.messages[1] == server.messages[2]


async def test_return_partial_returns_the_truncated_partial(driver: str, router, make_chat):
    chat = make_chat(max_retries=0)
    serve(router, Turn("Alpha beta", "length", usage=(5, 2)), Turn(status=500))
    run = await drive(driver, chat, PROMPT, on_error="return_partial")
    result = run.ok()
    assert (result.text, result.truncated, result.continues) == ("Alpha beta", True, 0)
    assert result.usage == usage(5, 2)
    check_stream_invariants(run)


async def test_error_callback_result_is_used(driver: str, router, make_chat) -> None:
    chat = make_chat(max_retries=0)
    serve(router, Turn("Alpha beta", "length"), Turn(status=500))
    seen: list[tuple[BaseException, ChatResult]] = []
    replacement = ChatResult(text="Plan B.", finish_reason="stop")

    def callback(error: BaseException, partial: ChatResult) -> ChatResult:
        seen.append((error, partial))
        return replacement

    run = await drive(driver, chat, PROMPT, on_error_callback=callback)
    assert run.ok() == replacement
    [(error, partial)] = seen
    assert isinstance(error, ServerError)
    assert (partial.text, partial.truncated, partial.continues) == ("Alpha beta", True, 0)


@pytest.mark.parametrize("on_error", ["raise", "return_partial"])
async def test_error_callback_returning_none_falls_back_to_on_error(
    driver: str, on_error: str, router, make_chat
) -> None:
    chat = make_chat(max_retries=0)
    serve(router, Turn("Alpha beta", "length"), Turn(status=500))
    seen: list[BaseException] = []
    run = await drive(
        driver,
        chat,
        PROMPT,
        on_error=on_error,
        on_error_callback=lambda error, partial: seen.append(error),
    )
    assert len(seen) == 1
    if on_error == "raise":
        assert run.failed().partial_result.text == "Alpha beta"
    else:
        assert (run.ok().text, run.ok().truncated) == ("Alpha beta", True)


@pytest.mark.parametrize("on_error", ["raise", "return_partial"])
async def test_first_request_error_propagates_unwrapped(
    driver: str, on_error: str, router, make_chat
) -> None:
    chat = make_chat(max_retries=0)
    server = serve(router, Turn(status=401))
    seen: list[Any] = []
    run = await drive(
        driver,
        chat,
        PROMPT,
        on_error=on_error,
        on_error_callback=lambda error, partial: seen.append(error),
    )
    error = run.failed(AuthenticationError)
    assert type(error) is AuthenticationError and error.status_code == 401
    assert seen == []
    assert len(server.bodies) == 1


# -- 7. a stream cut mid-way -----------------------------------------------------------------


@pytest.mark.parametrize("on_error", ["raise", "return_partial"])
async def test_stream_cut_in_a_later_round_keeps_what_was_streamed(
    stream_driver: str, on_error: str, router, chat
) -> None:
    serve(
        router,
        Turn("Alpha beta", "length", usage=(5, 2)),
        Turn(" gamma delta eps", "length", cut=True),
    )
    run = await drive(stream_driver, chat, PROMPT, on_error=on_error)
    if on_error == "raise":
        error = run.failed()
        assert isinstance(error.cause, ChatStreamInterruptedError)
        partial = error.partial_result
        assert error.continues == 0
        assert run.stream_result is not None and run.stream_result.text == partial.text
    else:
        partial = run.ok()
    assert partial.text == "Alpha beta gamma delta eps"
    assert partial.truncated is True
    assert partial.interrupted is True
    assert run.deltas == partial.text
    check_stream_invariants(run)


async def test_stream_cut_in_the_first_round_propagates(stream_driver: str, router, chat):
    serve(router, Turn("Alpha be", "length", cut=True))
    run = await drive(stream_driver, chat, PROMPT)
    error = run.failed(ChatStreamInterruptedError)
    assert error.partial_result.text == "Alpha be"


async def test_stream_cut_while_a_repeat_is_undecided_still_shows_the_kept_text(
    stream_driver: str, router, chat
) -> None:
    # " the" is a substring of the previous tail, so the trimmer holds it; the cut then comes.
    serve(router, Turn("The story ends with the", "length"), Turn(" the", "length", cut=True))
    run = await drive(stream_driver, chat, PROMPT, on_error="return_partial")
    result = run.ok()
    assert result.text == "The story ends with the the"
    assert run.deltas == result.text


# -- 8. strategies ---------------------------------------------------------------------------


async def test_prefill_sends_the_partial_as_the_last_assistant_message(
    driver: str, router, chat
) -> None:
    server = serve(router, *THREE_ROUNDS)
    run = await drive(driver, chat, PROMPT, strategy="prefill")
    assert run.ok().text == THREE_ROUNDS_TEXT
    user = {"role": "user", "content": PROMPT}
    assert server.messages[1] == [user, {"role": "assistant", "content": "Once upon a time, a fox"}]
    assert server.messages[2] == [
        user,
        {"role": "assistant", "content": "Once upon a time, a fox found a key under"},
    ]
    assert all(m["content"] != DEFAULT_CONTINUE_PROMPT for ms in server.messages for m in ms)


async def test_vllm_prefill_asks_to_continue_the_final_message(driver: str, router, make_chat):
    chat = make_chat(provider="vllm")
    server = serve(router, *THREE_ROUNDS)
    run = await drive(driver, chat, PROMPT, extra={"top_k": 5})
    assert run.ok().text == THREE_ROUNDS_TEXT
    first, *later = server.bodies
    assert "continue_final_message" not in first and "add_generation_prompt" not in first
    assert first["top_k"] == 5
    for body in later:
        assert body["continue_final_message"] is True
        assert body["add_generation_prompt"] is False
        assert body["top_k"] == 5  # the caller's extra fields are kept
        assert body["messages"][-1]["role"] == "assistant"
        assert "prefix" not in body["messages"][-1]


async def test_deepseek_prefill_marks_the_assistant_message_as_prefix(
    driver: str, router, make_chat
) -> None:
    chat = make_chat(provider="deepseek")
    server = serve(router, *THREE_ROUNDS)
    run = await drive(driver, chat, PROMPT)
    assert run.ok().text == THREE_ROUNDS_TEXT
    assert server.messages[1] == [
        {"role": "user", "content": PROMPT},
        {"role": "assistant", "content": "Once upon a time, a fox", "prefix": True},
    ]
    assert "continue_final_message" not in server.bodies[1]


async def test_auto_picks_prefill_for_a_deepseek_url(driver: str, make_chat) -> None:
    url = "https://api.deepseek.com/v1"
    chat = make_chat(base_url=url)
    server = Server(list(THREE_ROUNDS))
    with respx.mock(using="httpx", assert_all_called=False) as mock:
        mock.post(f"{url}/chat/completions").mock(side_effect=server)
        run = await drive(driver, chat, PROMPT)
    assert run.ok().text == THREE_ROUNDS_TEXT
    assert server.messages[1][-1] == {
        "role": "assistant",
        "content": "Once upon a time, a fox",
        "prefix": True,
    }


async def test_auto_picks_prompt_for_a_generic_url(driver: str, router, chat) -> None:
    server = serve(router, *THREE_ROUNDS)
    run = await drive(driver, chat, PROMPT, strategy="auto")
    run.ok()
    assert server.messages[1][-1] == {"role": "user", "content": DEFAULT_CONTINUE_PROMPT}


async def test_explicit_prompt_strategy_wins_over_the_provider(router, make_chat) -> None:
    chat = make_chat(provider="deepseek")
    server = serve(router, *THREE_ROUNDS)
    chat.complete(PROMPT, strategy="prompt")
    assert server.messages[1][-2:] == [
        {"role": "assistant", "content": "Once upon a time, a fox"},
        {"role": "user", "content": DEFAULT_CONTINUE_PROMPT},
    ]


@pytest.mark.parametrize(
    ("provider", "strategy"),
    [
        ("anthropic", "prefill"),
        ("vllm", "prefill"),
        ("deepseek", "prefill"),
        ("openai", "prompt"),
        ("llamacpp", "prefill"),
        ("qwen", "prompt"),
        ("generic", "prompt"),
    ],
)
def test_auto_strategy_per_provider(provider: str, strategy: str) -> None:
    machine = Continuation(
        [{"role": "user", "content": "hi"}], ContinueSettings(), provider=provider
    )
    assert machine.strategy == strategy


# -- 9. delays -------------------------------------------------------------------------------


async def test_continue_delay_before_each_continuation_only(driver: str, router, chat, clock):
    server = serve(router, *THREE_ROUNDS, clock=clock)
    run = await drive(driver, chat, PROMPT, continue_delay=0.5)
    run.ok()
    assert clock.sleeps == [0.5, 0.5]
    assert server.sleeps_at_request == [0, 1, 2]  # each sleep comes right before its round


async def test_continue_delay_is_not_applied_to_a_single_round(driver: str, router, chat, clock):
    serve(router, Turn("Done.", "stop"))
    (await drive(driver, chat, PROMPT, continue_delay=0.5)).ok()
    assert clock.sleeps == []


@pytest.mark.parametrize("delay", [(1.0, 2.0), [1.0, 2.0]])
async def test_continue_delay_range(driver: str, delay: Any, router, chat, clock) -> None:
    serve(router, *THREE_ROUNDS)
    (await drive(driver, chat, PROMPT, continue_delay=delay)).ok()
    assert len(clock.sleeps) == 2
    assert all(1.0 <= s <= 2.0 for s in clock.sleeps)


def test_continue_delay_range_uses_the_random_source() -> None:
    settings = ContinueSettings(continue_delay=(1.0, 3.0))
    machine = Continuation([{"role": "user", "content": "hi"}], settings, rand=lambda: 0.25)
    machine.start()
    step = machine.on_result(ChatResult(text="abc", finish_reason="length"))
    assert not isinstance(step, ChatResult)
    assert step.delay == 1.5 and step.index == 1


# -- 10. finish reason aliases ---------------------------------------------------------------


async def test_max_tokens_finish_reason_counts_as_length(driver: str, router, chat) -> None:
    server = serve(
        router, Turn("Alpha beta", "max_tokens"), Turn(" gamma.", "end_turn", usage=(9, 2))
    )
    run = await drive(driver, chat, PROMPT)
    result = run.ok()
    assert (result.text, result.continues, result.finish_reason) == ("Alpha beta gamma.", 1, "stop")
    assert len(server.bodies) == 2
    check_stream_invariants(run)


@pytest.mark.parametrize("finish", ["tool_calls", "content_filter", None])
async def test_other_finish_reasons_do_not_continue(driver: str, finish: Any, router, chat):
    server = serve(router, Turn("Alpha beta", finish))
    run = await drive(driver, chat, PROMPT)  # a stream without finish_reason ends at [DONE]
    result = run.ok()
    assert (result.continues, result.truncated) == (0, False)
    assert len(server.bodies) == 1


# -- 11. history -----------------------------------------------------------------------------


def _history() -> ChatHistory:
    h = ChatHistory(system="Be brief.")
    h.add_user("Hi")
    h.add_assistant("Hello! How can I help?")
    return h


async def test_history_is_sent_but_never_changed(driver: str, router, chat) -> None:
    history = _history()
    before = history.to_dict()
    server = serve(router, *THREE_ROUNDS)
    run = await drive(driver, chat, PROMPT, history=history)
    result = run.ok()
    assert history.to_dict() == before
    head = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello! How can I help?"},
        {"role": "user", "content": PROMPT},
    ]
    assert server.messages[0] == head
    assert server.messages[1] == [
        *head,
        {"role": "assistant", "content": "Once upon a time, a fox"},
        {"role": "user", "content": DEFAULT_CONTINUE_PROMPT},
    ]

    history.append_result(result)
    assert len(history) == 3
    assert history.get_messages()[-1] == {"role": "assistant", "content": THREE_ROUNDS_TEXT}
    meta = history.metadata(-1)
    assert (meta["continues"], meta["truncated"]) == (2, False)
    assert meta["usage"] == result.usage.to_dict()
    assert DEFAULT_CONTINUE_PROMPT not in json.dumps(history.to_dict())


async def test_history_is_unchanged_when_continuation_fails(driver: str, router, make_chat):
    chat = make_chat(max_retries=0)
    history = _history()
    before = history.to_dict()
    serve(router, Turn("Alpha beta", "length"), Turn(status=500))
    run = await drive(driver, chat, PROMPT, history=history)
    run.failed()
    assert history.to_dict() == before


async def test_original_prompt_for_the_callable_comes_from_the_last_user_turn(router, chat):
    serve(router, *THREE_ROUNDS)
    seen: list[str] = []

    def prompt(count: int, max_count: int, so_far: str, original: str) -> str:
        seen.append(original)
        return "continue"

    history = _history()
    chat.complete(
        [{"role": "user", "content": [{"type": "text", "text": "Part A"}]}],
        history=history,
        continue_prompt=prompt,
    )
    assert seen == ["Part A", "Part A"]


# -- 12. tool calls and reasoning ------------------------------------------------------------


async def test_tool_calls_and_reasoning_of_every_round_are_kept(driver: str, router, chat):
    serve(
        router,
        Turn(
            "Let me check the",
            "length",
            reasoning="First I think. ",
            tool_calls=[("call_1", "lookup", '{"q": "weather"}')],
        ),
        Turn(
            " weather and time.",
            "tool_calls",
            reasoning="Then I think more.",
            tool_calls=[("call_2", "clock", '{"tz": "UTC"}')],
        ),
    )
    run = await drive(driver, chat, PROMPT)
    result = run.ok()
    assert result.text == "Let me check the weather and time."
    assert result.reasoning == "First I think. Then I think more."
    assert result.tool_calls == [
        ToolCall("call_1", "lookup", '{"q": "weather"}'),
        ToolCall("call_2", "clock", '{"tz": "UTC"}'),
    ]
    assert (result.finish_reason, result.continues, result.truncated) == ("tool_calls", 1, False)
    check_stream_invariants(run)
    if run.streamed:
        reasoning = "".join(c.reasoning for c in run.chunks)
        assert reasoning == "First I think. Then I think more."


async def test_no_usage_reported_stays_unreported(driver: str, router, chat) -> None:
    serve(router, Turn("Alpha", "length", usage=None), Turn(" beta.", "stop", usage=None))
    events: list[ContinueProgress] = []
    run = await drive(driver, chat, PROMPT, on_progress=events.append)
    assert run.ok().usage == Usage()
    assert [e.tokens for e in events] == [None, None]


async def test_stream_usage_is_summed_when_include_usage_is_on(stream_driver: str, router, chat):
    server = serve(router, *THREE_ROUNDS)
    run = await drive(stream_driver, chat, PROMPT)
    assert run.ok().usage == Usage(53, 15, 68)
    assert all(b["stream_options"] == {"include_usage": True} for b in server.bodies)


# -- 13. validation --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [
        {"max_continues": -1},
        {"max_continues": "x"},
        {"max_continues": 1.5},
        {"max_continues": True},
        {"strategy": "bogus"},
        {"on_error": "bogus"},
        {"temperature": 5},
        {"no_such_option": 1},
    ],
    ids=repr,
)
async def test_bad_options_are_rejected_before_any_request(
    driver: str, options: dict[str, Any], router, chat
) -> None:
    server = serve(router, Turn("never sent"))
    run = await drive(driver, chat, PROMPT, **options)
    run.failed(ValidationError)
    assert server.bodies == []


@pytest.mark.parametrize("driver_name", STREAM_DRIVERS)
def test_stream_drivers_validate_when_called_not_when_iterated(driver_name: str, chat) -> None:
    with pytest.raises(ValidationError, match="max_continues"):
        getattr(chat, driver_name)(PROMPT, max_continues=-1)


def test_split_options_separates_settings_from_chat_options() -> None:
    settings, rest = split_options({"max_continues": 2, "strategy": "prefill", "max_tokens": 9})
    assert (settings.max_continues, settings.strategy) == (2, "prefill")
    assert rest == {"max_tokens": 9}
    defaults, _ = split_options({})
    assert defaults == ContinueSettings()
    assert defaults.max_continues == 5
    assert (defaults.ensure_complete, defaults.on_error) == (True, "raise")


# -- the pure machine ------------------------------------------------------------------------


def test_machine_first_error_is_raised_as_is() -> None:
    machine = Continuation([{"role": "user", "content": "hi"}], ContinueSettings())
    machine.start()
    error = ServerError("boom", status_code=500)
    with pytest.raises(ServerError) as info:
        machine.on_error(error)
    assert info.value is error


def test_machine_never_touches_the_messages_it_was_given() -> None:
    messages = [{"role": "user", "content": "hi"}]
    machine = Continuation(messages, ContinueSettings(strategy="prefill"))
    first = machine.start()
    step = machine.on_result(ChatResult(text="abc", finish_reason="length"))
    assert messages == [{"role": "user", "content": "hi"}]
    assert first.messages == messages and first.index == 0 and first.delay == 0.0
    assert not isinstance(step, ChatResult)
    assert step.messages == [*messages, {"role": "assistant", "content": "abc"}]


@pytest.mark.parametrize(
    "options",
    [
        {"continue_delay": -0.5},
        {"continue_delay": "1"},
        {"continue_delay": (2.0, 1.0)},
        {"continue_delay": (1.0, 2.0, 3.0)},
        {"continue_delay": (-1.0, 1.0)},
        {"continue_prompt": 123},
        {"on_progress": "print"},
        {"on_error_callback": 42},
    ],
    ids=repr,
)
async def test_bad_continuation_settings_are_rejected_before_any_request(
    driver: str, options: dict[str, Any], router, chat
) -> None:
    server = serve(router, Turn("Alpha beta", "length"), Turn(" gamma.", "stop"))
    run = await drive(driver, chat, PROMPT, **options)
    run.failed(ValidationError)
    assert server.bodies == []


async def test_a_cut_stream_round_marks_the_partial_interrupted(stream_driver: str, router, chat):
    serve(router, Turn("Alpha beta", "length"), Turn(" gamma", "length", cut=True))
    run = await drive(stream_driver, chat, PROMPT, on_error="return_partial")
    assert (run.ok().text, run.ok().interrupted, run.ok().truncated) == (
        "Alpha beta gamma",
        True,
        True,
    )


async def test_closing_a_continuing_stream_early_releases_it(stream_driver: str, router, chat):
    server = serve(router, *THREE_ROUNDS)
    if stream_driver == "complete_stream":
        it = chat.complete_stream(PROMPT)
        first = next(it)
        it.close()
        assert list(it) == []
    else:
        ait = await chat.acomplete_stream(PROMPT)
        first = await ait.__anext__()
        await ait.aclose()
        assert [c async for c in ait] == []
    assert first.delta and not first.done
    assert len(server.bodies) == 1  # no further round is started
    assert router.calls.last.response.is_closed


async def test_a_cut_round_keeps_its_reasoning_in_the_partial(stream_driver: str, router, chat):
    serve(
        router,
        Turn("Alpha beta gamma", "length", reasoning="first thoughts"),
        Turn(" delta epsilon", "length", reasoning="second thoughts", cut=True),
    )
    run = await drive(stream_driver, chat, PROMPT, on_error="return_partial")
    partial = run.ok()
    assert partial.truncated and partial.interrupted
    assert partial.reasoning == "first thoughtssecond thoughts"
    assert partial.text.startswith("Alpha beta gamma")


async def test_return_raw_keeps_every_round(driver: str, router, chat):
    serve(router, Turn("Alpha beta", "length"), Turn(" gamma.", "stop"))
    result = (await drive(driver, chat, PROMPT, return_raw=True)).ok()
    assert result.continues == 1
    assert result.raw is not None and len(result.raw["rounds"]) == 2
    assert all(r for r in result.raw["rounds"])


async def test_without_return_raw_there_is_no_raw(driver: str, router, chat):
    serve(router, Turn("Alpha beta", "length"), Turn(" gamma.", "stop"))
    assert (await drive(driver, chat, PROMPT)).ok().raw is None
