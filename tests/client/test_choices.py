"""Several choices (``n > 1``), refusals, content parts and legacy calls through all four paths.

Every scenario is served streamed (in random network reads) and not; the four paths must give
the same result, each choice as the OpenAI API reference describes it.
"""

from __future__ import annotations

import json

import pytest

from lexilux_nb.client.history import ChatHistory
from lexilux_nb.client.models import ToolCall

from .scenario import PATHS, assert_same_outcome, run_all_paths, run_path
from .wire_scenario import Answer, Wire, choice_summary

WIRES = {
    "n3-text": Wire(
        [
            Answer('{"city": "Paris", "temp": 21}'),
            Answer('{"city": "Paris", "temp": 19}', finish_reason="length"),
            Answer("Paris is sunny today."),
        ]
    ),
    "n2-tools-and-text": Wire(
        [
            Answer(
                tool_calls=[("call_a", "get_weather", '{"city": "Rome"}')],
                finish_reason="tool_calls",
            ),
            Answer("I would call a tool.", reasoning="Maybe a tool helps."),
        ]
    ),
    "refusal": Wire([Answer(refusal="I'm sorry, I can't help with that.")]),
    "refusal-n2": Wire([Answer("Sure: 42."), Answer(refusal="I can't assist with that.")]),
    "content-parts": Wire([Answer("Typed parts, joined as deltas are.", as_parts=True)]),
    "content-parts-n2": Wire(
        [Answer("first answer", as_parts=True), Answer("second answer", as_parts=True)]
    ),
    "logprobs": Wire([Answer("Foo bar!", logprobs=True)]),
    "logprobs-n2": Wire([Answer("one two", logprobs=True), Answer("three", logprobs=True)]),
    "refusal-logprobs": Wire([Answer(refusal="I'm very sorry.", logprobs=True)]),
    "legacy-function-call": Wire(
        [Answer(function_call=("get_time", '{"tz": "UTC"}'), finish_reason="function_call")]
    ),
    "no-usage-n2": Wire([Answer("a b c"), Answer("d e")], usage=None),
}


def summaries(result) -> list[dict]:
    return [choice_summary(c) for c in result.choices]


@pytest.mark.parametrize("name", list(WIRES))
async def test_every_path_gives_every_choice(name, chat, router):
    wire = WIRES[name]
    route = router.post("/chat/completions").mock(side_effect=wire.responder())

    outcomes = await run_all_paths(chat, "hi", n=len(wire.answers))

    assert_same_outcome(outcomes)
    for path, outcome in outcomes.items():
        assert outcome.error is None, (path, outcome.error)
        result = outcome.result
        assert summaries(result) == wire.expected(), path
        assert choice_summary(result) == wire.expected()[0]  # the result is choice 0
        assert (result.id, result.model) == (wire.id, wire.model)
        assert all((c.id, c.model) == (wire.id, wire.model) for c in result.choices)
        assert result.usage.total_tokens == (wire.usage or {}).get("total_tokens")
    assert [json.loads(c.request.content)["n"] for c in route.calls] == [len(wire.answers)] * 4


@pytest.mark.parametrize("name", list(WIRES))
@pytest.mark.parametrize("path", ["sync_stream", "async_stream"])
async def test_streamed_chunks_carry_their_choice(name, path, chat, router):
    wire = WIRES[name]
    router.post("/chat/completions").mock(side_effect=wire.responder())

    outcome = await run_path(path, chat, "hi")

    assert outcome.error is None, outcome.error
    chunks = outcome.chunks
    assert [c.done for c in chunks].count(True) == 1 and chunks[-1].done
    for i, expected in enumerate(wire.expected()):
        mine = [c for c in chunks if not c.done and c.index == i]
        assert "".join(c.delta for c in mine) == expected["text"]
        assert "".join(c.refusal or "" for c in mine) == (expected["refusal"] or "")
        assert "".join(c.reasoning for c in mine) == (expected["reasoning"] or "")
    assert chunks[-1].finish_reason == wire.expected()[0]["finish_reason"]
    assert chunks[-1].tool_calls == wire.expected()[0]["tool_calls"]
    assert all(c.delta or c.reasoning_content or c.refusal or c.done for c in chunks)


async def test_n3_is_not_garbled_into_one_text(chat, router):
    """The defect seen on a real n=3 stream: every choice's deltas merged into one text."""
    wire = WIRES["n3-text"]
    router.post("/chat/completions").mock(side_effect=wire.responder())

    result = (await run_path("sync_stream", chat, "hi", n=3)).result

    assert result.text == '{"city": "Paris", "temp": 21}'
    assert result.finish_reason == "stop"  # choice 0's, not the last choice's "length"
    assert [c.finish_reason for c in result.choices] == ["stop", "length", "stop"]


@pytest.mark.parametrize("path", PATHS)
async def test_a_refusal_is_not_an_empty_answer(path, chat, router):
    router.post("/chat/completions").mock(side_effect=WIRES["refusal"].responder())

    result = (await run_path(path, chat, "hi")).result

    assert result.text == ""
    assert result.refusal == "I'm sorry, I can't help with that."
    assert result.finish_reason == "stop"


@pytest.mark.parametrize("path", PATHS)
async def test_a_refusal_is_recorded_as_the_assistant_turn(path, chat, router):
    router.post("/chat/completions").mock(side_effect=WIRES["refusal"].responder())
    history = ChatHistory().add_user("hi")

    history.append_result((await run_path(path, chat, history)).result)

    last = history[-1]
    assert last["role"] == "assistant"
    assert last["refusal"] == "I'm sorry, I can't help with that."
    assert last["content"] == ""
    chat("again", history=history)  # the recorded turn is a valid message to send back
    sent = json.loads(router.calls.last.request.content)["messages"]
    assert sent[1] == {"role": "assistant", "content": "", "refusal": last["refusal"]}


@pytest.mark.parametrize("path", PATHS)
async def test_legacy_function_call_becomes_a_tool_call(path, chat, router):
    router.post("/chat/completions").mock(side_effect=WIRES["legacy-function-call"].responder())

    result = (await run_path(path, chat, "hi")).result

    assert result.tool_calls == [ToolCall("", "get_time", '{"tz": "UTC"}')]
    assert result.finish_reason == "tool_calls"
    assert result.tool_calls[0].get_arguments() == {"tz": "UTC"}


@pytest.mark.parametrize("path", PATHS)
async def test_a_tool_finish_reason_without_calls_keeps_the_servers_word(path, chat, router):
    router.post("/chat/completions").mock(
        side_effect=Wire([Answer("no call here", finish_reason="function_call")]).responder()
    )

    result = (await run_path(path, chat, "hi")).result

    assert result.tool_calls == []
    assert result.finish_reason == "function_call"  # never "tool_calls" with no calls


async def test_choices_of_a_choice_are_empty_and_usage_is_on_the_result(chat, router):
    router.post("/chat/completions").mock(side_effect=WIRES["n3-text"].responder())

    result = chat("hi", n=3)

    assert len(result.choices) == 3
    assert all(c.choices == [] for c in result.choices)
    assert all(not c.usage.reported for c in result.choices)
    assert result.usage.total_tokens == 21
    assert result.to_dict()["choices"][2]["text"] == "Paris is sunny today."
