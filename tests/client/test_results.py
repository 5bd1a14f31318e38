"""Parsing a ``chat.completion`` into a ``ChatResult``."""

from __future__ import annotations

import pytest

from lexilux_nb.client.models import ChatResult, ToolCall, Usage

from .scenario import PATHS, Scenario, run_path


def completion(message: dict, finish_reason="stop", **extra) -> dict:
    return {
        "id": "cmpl-1",
        "object": "chat.completion",
        "model": "served-model",
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
        **extra,
    }


@pytest.fixture
def serve(router):
    def serve(body: dict):
        return router.post("/chat/completions").respond(200, json=body)

    return serve


@pytest.mark.parametrize(
    ("sent", "normalised"),
    [
        ("stop", "stop"),
        ("length", "length"),
        ("max_tokens", "length"),
        ("tool_calls", "tool_calls"),
        ("content_filter", "content_filter"),
        (None, None),
    ],
)
def test_finish_reason_is_normalised(sent, normalised, chat, serve):
    serve(completion({"role": "assistant", "content": "x"}, finish_reason=sent))

    assert chat("hi").finish_reason == normalised


def test_reported_zero_usage_stays_zero(chat, serve):
    usage = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
    serve(completion({"role": "assistant", "content": ""}, usage=usage))

    result = chat("hi")

    assert result.usage.input_tokens == 0
    assert result.usage.output_tokens == 0
    assert result.usage.total_tokens == 0
    assert result.usage.reported


def test_missing_usage_is_none_not_zero(chat, serve):
    serve(completion({"role": "assistant", "content": "x"}))

    usage = chat("hi").usage

    assert usage == Usage(None, None, None, {})
    assert not usage.reported


def test_usage_details_are_kept(chat, serve):
    usage = {
        "prompt_tokens": 100,
        "completion_tokens": 20,
        "total_tokens": 120,
        "prompt_tokens_details": {"cached_tokens": 64},
        "completion_tokens_details": {"reasoning_tokens": 12},
    }
    serve(completion({"role": "assistant", "content": "x"}, usage=usage))

    result = chat("hi")

    assert result.usage == Usage(
        100,
        20,
        120,
        {
            "prompt_tokens_details": {"cached_tokens": 64},
            "completion_tokens_details": {"reasoning_tokens": 12},
        },
    )


def test_total_is_computed_when_missing(chat, serve):
    serve(
        completion(
            {"role": "assistant", "content": "x"},
            usage={"prompt_tokens": 3, "completion_tokens": 4},
        )
    )

    assert chat("hi").usage.total_tokens == 7


@pytest.mark.parametrize("field", ["reasoning_content", "reasoning"])
def test_reasoning_under_either_name(field, chat, serve):
    serve(completion({"role": "assistant", "content": "42", field: "I counted."}))

    result = chat("hi")

    assert result.reasoning == "I counted."
    assert result.has_reasoning
    assert result.text == "42"


def test_no_reasoning_is_none(chat, serve):
    serve(completion({"role": "assistant", "content": "42"}))

    result = chat("hi")

    assert result.reasoning is None
    assert not result.has_reasoning


def test_tool_calls_are_parsed(chat, serve):
    calls = [
        {"id": "c1", "type": "function", "function": {"name": "f", "arguments": '{"a": 1}'}},
        {"id": "c2", "type": "function", "function": {"name": "g", "arguments": ""}},
    ]
    serve(
        completion(
            {"role": "assistant", "content": None, "tool_calls": calls}, finish_reason="tool_calls"
        )
    )

    result = chat("hi")

    assert result.tool_calls == [ToolCall("c1", "f", '{"a": 1}'), ToolCall("c2", "g", "")]
    assert result.tool_calls[0].get_arguments() == {"a": 1}
    assert result.tool_calls[1].get_arguments() == {}
    assert result.text == ""
    assert result.has_tool_calls
    assert result.finish_reason == "tool_calls"


def test_tool_call_arguments_sent_as_an_object_become_json_text(chat, serve):
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": {"a": [1]}}}
    serve(completion({"role": "assistant", "content": None, "tool_calls": [call]}))

    (parsed,) = chat("hi").tool_calls

    assert parsed.get_arguments() == {"a": [1]}
    assert parsed.arguments == '{"a": [1]}'


def test_empty_reasoning_field_is_no_reasoning(chat, serve):
    serve(completion({"role": "assistant", "content": "x", "reasoning_content": ""}))

    assert chat("hi").reasoning is None


def test_empty_reasoning_content_falls_back_to_reasoning(chat, serve):
    message = {"role": "assistant", "content": "x", "reasoning_content": "", "reasoning": "r"}
    serve(completion(message))

    assert chat("hi").reasoning == "r"


def test_id_and_model_come_from_the_response(chat, serve):
    serve(completion({"role": "assistant", "content": "x"}))

    result = chat("hi")

    assert (result.id, result.model) == ("cmpl-1", "served-model")
    assert not result.interrupted


def test_text_from_content_parts(chat, serve):
    parts = [{"type": "text", "text": "Hello, "}, {"type": "text", "text": "world"}]
    serve(completion({"role": "assistant", "content": parts}))

    assert chat("hi").text == "Hello, world"


def test_return_raw_keeps_the_raw_body(chat, serve):
    body = completion({"role": "assistant", "content": "x"}, system_fingerprint="fp_1")
    serve(body)

    assert chat("hi", return_raw=True).raw == body
    assert chat("hi").raw is None


@pytest.mark.parametrize("path", PATHS)
async def test_str_of_a_result_is_its_text(path, chat, router):
    router.post("/chat/completions").mock(side_effect=Scenario(text="Plain *text*").responder())

    outcome = await run_path(path, chat, "hi")

    assert str(outcome.result) == "Plain *text*"
    assert f"{outcome.result}" == "Plain *text*"


def test_result_to_dict_has_no_raw():
    result = ChatResult(text="t", raw={"big": "payload"})

    assert "raw" not in result.to_dict()
    assert result.to_dict()["text"] == "t"
