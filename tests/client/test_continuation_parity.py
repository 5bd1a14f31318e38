"""One state machine, four drivers: the same scripted replies give the same outcome everywhere.

Each case plays one list of :class:`Turn` replies through ``complete``, ``acomplete``,
``complete_stream`` and ``acomplete_stream`` and checks that every driver

* returns the expected result (text, finish_reason, usage, tool_calls, reasoning, continues,
  truncated), or raises the expected exception class with the same partial text and continues;
* sent the same messages, round by round, and slept the same continuation delays;
* reported the same progress events;
* for streams: exactly one ``done`` chunk, last, and deltas that join to the final text (the
  seam trimmed live, nothing duplicated ever emitted).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from lexilux_nb.client.continuation import DEFAULT_CONTINUE_PROMPT, ContinueProgress
from lexilux_nb.client.errors import (
    AuthenticationError,
    ChatIncompleteResponseError,
    ChatStreamInterruptedError,
    ServerError,
    ValidationError,
)
from lexilux_nb.client.models import ChatResult, ToolCall, Usage

from .test_continuation import (
    DRIVERS,
    PROMPT,
    STREAM_DRIVERS,
    Run,
    Server,
    Turn,
    check_stream_invariants,
    drive,
)

FALLBACK = ChatResult(text="Fallback answer.", finish_reason="stop")


@dataclass
class Case:
    turns: list[Turn]
    options: dict[str, Any] = field(default_factory=dict)
    chat: dict[str, Any] = field(default_factory=dict)  # Chat(...) keyword arguments
    # success: the expected result fields; failure: the expected error
    text: str | None = None
    finish_reason: str | None = "stop"
    usage: Usage = field(default_factory=Usage)
    tool_calls: list[ToolCall] = field(default_factory=list)
    reasoning: str | None = None
    continues: int = 0
    truncated: bool = False
    error: type[Exception] | None = None
    cause: type[Exception] | None = None
    requests: int | None = None  # how many requests should reach the server
    replaced: bool = False  # on_error_callback substituted its own result
    progress_done: bool = True  # the last progress event reports the end
    sleeps: list[float] = field(default_factory=list)

    def expected(self) -> tuple[Any, ...]:
        if self.error is not None:
            continues = self.continues if self.error is ChatIncompleteResponseError else None
            return ("error", self.error, self.text, continues, self.cause)
        return (
            "ok",
            self.text,
            self.finish_reason,
            self.usage,
            self.tool_calls,
            self.reasoning,
            self.continues,
            self.truncated,
        )


def signature(run: Run) -> tuple[Any, ...]:
    """Comparable across drivers: the result's fields, or the error and its partial."""
    if run.error is not None:
        error = run.error
        partial = getattr(error, "partial_result", None)
        cause = getattr(error, "cause", None)
        return (
            "error",
            type(error),
            None if partial is None else partial.text,
            getattr(error, "continues", None),
            None if cause is None else type(cause),
        )
    result = run.ok()
    return (
        "ok",
        result.text,
        result.finish_reason,
        result.usage,
        result.tool_calls,
        result.reasoning,
        result.continues,
        result.truncated,
    )


def u(prompt: int, completion: int) -> Usage:
    return Usage(prompt, completion, prompt + completion)


LENGTH3 = [
    Turn("Alpha beta", "length", usage=(5, 2)),
    Turn(" gamma delta", "length", usage=(8, 2)),
    Turn(" epsilon zeta", "length", usage=(11, 2)),
]
FAILING = [Turn("Alpha beta", "length", usage=(5, 2)), Turn(status=500)]

CASES: dict[str, Case] = {
    "one-round": Case(
        [Turn("Short and complete.", "stop", usage=(4, 3))],
        text="Short and complete.",
        usage=u(4, 3),
        requests=1,
    ),
    "three-rounds": Case(
        [
            Turn("Once upon a time, a fox", "length", usage=(10, 6)),
            Turn(" found a key under", "length", usage=(18, 5)),
            Turn(" a stone. The end.", "stop", usage=(25, 4)),
        ],
        options={"max_tokens": 6, "continue_delay": 0.25},
        text="Once upon a time, a fox found a key under a stone. The end.",
        usage=u(53, 15),
        continues=2,
        requests=3,
        sleeps=[0.25, 0.25],
    ),
    "overlap-over-many-deltas": Case(
        [
            Turn("The night was dark and the rain fell in torrents", "length", piece=5),
            Turn("the rain fell in torrents, except at intervals.", "stop", piece=2),
        ],
        text="The night was dark and the rain fell in torrents, except at intervals.",
        usage=u(20, 10),
        continues=1,
    ),
    "overlap-exactly-min": Case(
        [Turn("The cat sat on the warm", "length", piece=1), Turn("e warm mat.", "stop")],
        text="The cat sat on the warm mat.",
        usage=u(20, 10),
        continues=1,
    ),
    "short-overlap-kept": Case(
        [Turn("He ate a", "length"), Turn(" a pie.", "stop", piece=1)],
        text="He ate a a pie.",
        usage=u(20, 10),
        continues=1,
    ),
    "unicode": Case(
        [
            Turn("Größe: 🦊 läuft über die Brücke", "length", piece=2),
            Turn("über die Brücke — 终于到了。", "stop", piece=1),
        ],
        text="Größe: 🦊 läuft über die Brücke — 终于到了。",
        usage=u(20, 10),
        continues=1,
    ),
    "max_tokens-alias": Case(
        [Turn("Alpha beta", "max_tokens"), Turn(" gamma.", "stop")],
        text="Alpha beta gamma.",
        usage=u(20, 10),
        continues=1,
    ),
    "tools-and-reasoning": Case(
        [
            Turn(
                "Let me check",
                "length",
                reasoning="Think one. ",
                tool_calls=[("call_1", "lookup", '{"q": "weather"}')],
                usage=(10, 8),
            ),
            Turn(
                " the weather.",
                "tool_calls",
                reasoning="Think two.",
                tool_calls=[("call_2", "clock", '{"tz": "UTC"}')],
                usage=(20, 9),
            ),
        ],
        text="Let me check the weather.",
        finish_reason="tool_calls",
        usage=u(30, 17),
        tool_calls=[
            ToolCall("call_1", "lookup", '{"q": "weather"}'),
            ToolCall("call_2", "clock", '{"tz": "UTC"}'),
        ],
        reasoning="Think one. Think two.",
        continues=1,
    ),
    "no-usage": Case(
        [Turn("Alpha", "length", usage=None), Turn(" beta.", "stop", usage=None)],
        text="Alpha beta.",
        continues=1,
    ),
    "prefill": Case(
        [Turn("Alpha beta", "length"), Turn(" gamma.", "stop")],
        options={"strategy": "prefill"},
        text="Alpha beta gamma.",
        usage=u(20, 10),
        continues=1,
    ),
    "vllm": Case(
        [Turn("Alpha beta", "length"), Turn(" gamma.", "stop")],
        chat={"provider": "vllm"},
        text="Alpha beta gamma.",
        usage=u(20, 10),
        continues=1,
    ),
    "deepseek": Case(
        [Turn("Alpha beta", "length"), Turn(" gamma.", "stop")],
        chat={"provider": "deepseek"},
        text="Alpha beta gamma.",
        usage=u(20, 10),
        continues=1,
    ),
    "exhausted-raises": Case(
        LENGTH3,
        options={"max_continues": 2},
        error=ChatIncompleteResponseError,
        text="Alpha beta gamma delta epsilon zeta",
        continues=2,
        requests=3,
    ),
    "exhausted-return-partial-still-raises": Case(
        LENGTH3,
        options={"max_continues": 2, "on_error": "return_partial"},
        error=ChatIncompleteResponseError,
        text="Alpha beta gamma delta epsilon zeta",
        continues=2,
        requests=3,
    ),
    "exhausted-not-ensured": Case(
        LENGTH3,
        options={"max_continues": 2, "ensure_complete": False},
        text="Alpha beta gamma delta epsilon zeta",
        finish_reason="length",
        usage=u(24, 6),
        continues=2,
        truncated=True,
        requests=3,
    ),
    "stall-raises": Case(
        [Turn("Alpha beta", "length"), Turn("", "length"), Turn("never", "stop")],
        error=ChatIncompleteResponseError,
        text="Alpha beta",
        continues=1,
        requests=2,
    ),
    "stall-returns": Case(
        [Turn("Alpha beta", "length"), Turn("Alpha beta", "length"), Turn("never", "stop")],
        options={"ensure_complete": False},
        text="Alpha beta",
        finish_reason="length",
        usage=u(20, 10),
        continues=1,
        truncated=True,
        requests=2,
    ),
    "failure-raises": Case(
        FAILING,
        error=ChatIncompleteResponseError,
        cause=ServerError,
        text="Alpha beta",
        continues=0,
        requests=2,
    ),
    "failure-after-a-continuation": Case(
        [*LENGTH3[:2], Turn(status=502)],
        error=ChatIncompleteResponseError,
        cause=ServerError,
        text="Alpha beta gamma delta",
        continues=1,
        requests=3,
    ),
    "failure-returns-partial": Case(
        FAILING,
        options={"on_error": "return_partial"},
        text="Alpha beta",
        finish_reason="length",
        usage=u(5, 2),
        truncated=True,
        requests=2,
        progress_done=False,  # progress reports finished rounds; the failed one is not
    ),
    "failure-callback": Case(
        FAILING,
        options={"on_error_callback": lambda error, partial: FALLBACK},
        text="Fallback answer.",
        replaced=True,
        progress_done=False,
    ),
    "failure-callback-none": Case(
        FAILING,
        options={"on_error_callback": lambda error, partial: None},
        error=ChatIncompleteResponseError,
        cause=ServerError,
        text="Alpha beta",
    ),
    "first-request-401": Case(
        [Turn(status=401)],
        options={"on_error": "return_partial"},
        error=AuthenticationError,
        requests=1,
    ),
    "invalid-option": Case(
        [Turn("never sent")],
        options={"max_continues": -1},
        error=ValidationError,
        requests=0,
    ),
}


@pytest.mark.parametrize("name", list(CASES))
async def test_all_four_drivers_agree(name: str, router, make_chat, clock) -> None:
    case = CASES[name]
    chat = make_chat(max_retries=0, **case.chat)
    route = router.post("/chat/completions")
    runs: dict[str, Run] = {}
    sent: dict[str, list[list[dict[str, Any]]]] = {}
    slept: dict[str, list[float]] = {}
    progress: dict[str, list[ContinueProgress]] = {}
    for driver in DRIVERS:
        server = Server(case.turns)
        route.side_effect = server
        clock.sleeps.clear()
        events: list[ContinueProgress] = []
        runs[driver] = await drive(driver, chat, PROMPT, on_progress=events.append, **case.options)
        sent[driver] = server.messages
        slept[driver] = list(clock.sleeps)
        progress[driver] = events
        check_stream_invariants(runs[driver], replaced=case.replaced)

    for driver, run in runs.items():
        assert signature(run) == case.expected(), driver
        assert sent[driver] == sent["complete"], f"{driver} sent other messages"
        assert slept[driver] == case.sleeps, driver
        assert progress[driver] == progress["complete"], f"{driver} reported other progress"
    if case.requests is not None:
        assert len(sent["complete"]) == case.requests
    if case.error is None and case.progress_done:
        assert progress["complete"][-1].done
        assert progress["complete"][-1].text == case.text
        assert progress["complete"][-1].truncated == case.truncated


@pytest.mark.parametrize("name", ["three-rounds", "prefill", "vllm", "deepseek"])
async def test_round_bodies_match_between_plain_and_streamed(name: str, router, make_chat):
    """Apart from the stream switches, a streamed round sends exactly the plain round's body."""
    case = CASES[name]
    chat = make_chat(**case.chat)
    route = router.post("/chat/completions")
    bodies: dict[str, list[dict[str, Any]]] = {}
    for driver in DRIVERS:
        server = Server(case.turns)
        route.side_effect = server
        (await drive(driver, chat, PROMPT, **case.options)).ok()
        bodies[driver] = [
            {k: v for k, v in b.items() if k not in ("stream", "stream_options")}
            for b in server.bodies
        ]
    for driver in DRIVERS:
        assert bodies[driver] == bodies["complete"], driver
    continuation = bodies["complete"][1]
    if name == "three-rounds":
        assert continuation["messages"][-1] == {"role": "user", "content": DEFAULT_CONTINUE_PROMPT}
    else:
        assert continuation["messages"][-1]["role"] == "assistant"


@pytest.mark.parametrize("on_error", ["raise", "return_partial"])
async def test_stream_drivers_agree_on_a_round_cut_mid_way(
    on_error: str, router, make_chat
) -> None:
    chat = make_chat(max_retries=0)
    route = router.post("/chat/completions")
    turns = [
        Turn("Alpha beta", "length", usage=(5, 2)),
        Turn(" gamma delta", "length", usage=(8, 2)),
        Turn(" epsilon ze", "length", cut=True, piece=2),
    ]
    runs: dict[str, Run] = {}
    for driver in STREAM_DRIVERS:
        route.side_effect = Server(turns)
        runs[driver] = await drive(driver, chat, PROMPT, on_error=on_error)
        check_stream_invariants(runs[driver])
    text = "Alpha beta gamma delta epsilon ze"
    if on_error == "raise":
        expected: tuple[Any, ...] = (
            "error",
            ChatIncompleteResponseError,
            text,
            1,
            ChatStreamInterruptedError,
        )
    else:
        expected = ("ok", text, "length", u(13, 4), [], None, 1, True)
    for driver, run in runs.items():
        assert signature(run) == expected, driver
        assert run.deltas == text, driver
