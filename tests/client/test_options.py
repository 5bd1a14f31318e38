"""Options: only what the caller set is sent, each lands in its field, bad ones are refused."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from lexilux_nb.client.errors import ValidationError
from lexilux_nb.client.models import FunctionTool, ToolChoice
from lexilux_nb.client.options import ChatParams

from .scenario import PATHS, Scenario, run_path

WEATHER = FunctionTool(
    name="get_weather",
    description="Weather for a city",
    parameters={"type": "object", "properties": {"city": {"type": "string"}}},
)
WEATHER_WIRE = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


@pytest.fixture
def route(router):
    return router.post("/chat/completions").mock(side_effect=Scenario(text="ok").responder())


def sent_body(route) -> dict[str, Any]:
    return json.loads(route.calls.last.request.content)


def test_nothing_but_model_and_messages_is_sent_by_default(chat, route):
    chat("hi")

    assert sent_body(route) == {
        "model": "test-model",
        "messages": [{"role": "user", "content": "hi"}],
    }


def test_stream_adds_only_stream_and_usage_request(chat, route):
    list(chat.stream("hi"))

    assert sent_body(route) == {
        "model": "test-model",
        "messages": [{"role": "user", "content": "hi"}],
        "stream": True,
        "stream_options": {"include_usage": True},
    }


def test_include_usage_false_omits_stream_options(chat, route):
    list(chat.stream("hi", include_usage=False))

    body = sent_body(route)
    assert body["stream"] is True
    assert "stream_options" not in body


async def test_include_usage_default_for_async_stream(chat, route):
    async for _ in chat.astream("hi"):
        pass

    assert sent_body(route)["stream_options"] == {"include_usage": True}


def test_include_usage_is_not_sent_without_stream(chat, route):
    chat("hi", include_usage=True)

    assert "stream_options" not in sent_body(route)
    assert "stream" not in sent_body(route)


OPTION_FIELDS = [
    ({"temperature": 0.7}, {"temperature": 0.7}),
    ({"temperature": 0}, {"temperature": 0}),
    ({"top_p": 0.9}, {"top_p": 0.9}),
    ({"max_tokens": 64}, {"max_tokens": 64}),
    ({"stop": "END"}, {"stop": ["END"]}),
    ({"stop": ["a", "b"]}, {"stop": ["a", "b"]}),
    ({"stop": ("x",)}, {"stop": ["x"]}),
    ({"presence_penalty": -1.5}, {"presence_penalty": -1.5}),
    ({"frequency_penalty": 2}, {"frequency_penalty": 2}),
    ({"logit_bias": {"50256": -100}}, {"logit_bias": {"50256": -100}}),
    ({"user": "user-42"}, {"user": "user-42"}),
    ({"n": 2}, {"n": 2}),
    ({"seed": 1234}, {"seed": 1234}),
    ({"seed": 0}, {"seed": 0}),
    (
        {"response_format": {"type": "json_object"}},
        {"response_format": {"type": "json_object"}},
    ),
    ({"tools": [WEATHER]}, {"tools": [WEATHER_WIRE]}),
    ({"tools": [WEATHER_WIRE]}, {"tools": [WEATHER_WIRE]}),
    (
        {"tools": [FunctionTool(name="noop")]},
        {"tools": [{"type": "function", "function": {"name": "noop"}}]},
    ),
    (
        {"tools": [FunctionTool(name="strict_fn", strict=True)]},
        {"tools": [{"type": "function", "function": {"name": "strict_fn", "strict": True}}]},
    ),
    ({"tool_choice": "auto"}, {"tool_choice": "auto"}),
    ({"tool_choice": "none"}, {"tool_choice": "none"}),
    ({"tool_choice": "required"}, {"tool_choice": "required"}),
    ({"tool_choice": ToolChoice("required")}, {"tool_choice": "required"}),
    (
        {"tool_choice": ToolChoice("function", "get_weather")},
        {"tool_choice": {"type": "function", "function": {"name": "get_weather"}}},
    ),
    (
        {"tool_choice": "get_weather"},
        {"tool_choice": {"type": "function", "function": {"name": "get_weather"}}},
    ),
    (
        {"tool_choice": {"type": "function", "function": {"name": "f"}}},
        {"tool_choice": {"type": "function", "function": {"name": "f"}}},
    ),
    ({"parallel_tool_calls": False}, {"parallel_tool_calls": False}),
    ({"parallel_tool_calls": True}, {"parallel_tool_calls": True}),
    ({"extra": {"top_k": 40, "repeat_penalty": 1.1}}, {"top_k": 40, "repeat_penalty": 1.1}),
]


@pytest.mark.parametrize(("options", "fields"), OPTION_FIELDS, ids=lambda v: str(v)[:40])
def test_each_option_maps_to_its_body_field(options, fields, chat, route):
    chat("hi", **options)

    body = sent_body(route)
    expected = {"model": "test-model", "messages": [{"role": "user", "content": "hi"}], **fields}
    assert body == expected


@pytest.mark.parametrize("path", PATHS)
async def test_options_are_sent_the_same_on_every_path(path, chat, route):
    options = {"temperature": 0.2, "max_tokens": 10, "stop": "\n", "tools": [WEATHER]}

    outcome = await run_path(path, chat, "hi", **options)

    assert outcome.error is None
    body = sent_body(route)
    assert body["temperature"] == 0.2
    assert body["max_tokens"] == 10
    assert body["stop"] == ["\n"]
    assert body["tools"] == [WEATHER_WIRE]


def test_params_are_sent_and_individual_options_override_them(chat, route):
    params = ChatParams(temperature=0.1, top_p=0.5, max_tokens=100, extra={"top_k": 10, "a": 1})

    chat("hi", params=params, temperature=0.9, extra={"a": 2, "b": 3})

    body = sent_body(route)
    assert body["temperature"] == 0.9
    assert body["top_p"] == 0.5
    assert body["max_tokens"] == 100
    assert body["top_k"] == 10
    assert body["a"] == 2
    assert body["b"] == 3
    assert params.temperature == 0.1  # the caller's params object is untouched
    assert params.extra == {"top_k": 10, "a": 1}


def test_per_call_model_overrides_the_default(chat, route):
    chat("hi", model="other-model")

    assert sent_body(route)["model"] == "other-model"


def test_model_given_only_per_call(make_chat, route):
    chat = make_chat(model=None)

    chat("hi", model="m2")

    assert sent_body(route)["model"] == "m2"


def test_extra_is_not_mutated_and_tools_dicts_are_not_mutated(chat, route):
    extra = {"nested": {"k": [1, 2]}}
    tool = {"type": "function", "function": {"name": "f"}}
    extra_before, tool_before = json.dumps(extra), json.dumps(tool)

    chat("hi", extra=extra, tools=[tool])

    assert json.dumps(extra) == extra_before
    assert json.dumps(tool) == tool_before
    assert sent_body(route)["nested"] == {"k": [1, 2]}


BAD_OPTIONS = [
    ({"temperature": -0.1}, "temperature"),
    ({"temperature": 2.1}, "temperature"),
    ({"temperature": "x"}, "temperature"),
    ({"temperature": math.nan}, "temperature"),
    ({"temperature": True}, "temperature"),
    ({"top_p": 1.5}, "top_p"),
    ({"top_p": -0.5}, "top_p"),
    ({"max_tokens": 0}, "max_tokens"),
    ({"max_tokens": -1}, "max_tokens"),
    ({"max_tokens": True}, "max_tokens"),
    ({"max_tokens": 1.5}, "max_tokens"),
    ({"max_tokens": "10"}, "max_tokens"),
    ({"presence_penalty": 2.5}, "presence_penalty"),
    ({"presence_penalty": -2.5}, "presence_penalty"),
    ({"frequency_penalty": 2.5}, "frequency_penalty"),
    ({"frequency_penalty": -2.5}, "frequency_penalty"),
    ({"n": 0}, "n"),
    ({"seed": 1.5}, "seed"),
    ({"stop": ""}, "stop"),
    ({"stop": []}, "stop"),
    ({"stop": [""]}, "stop"),
    ({"stop": ["ok", 3]}, "stop"),
    ({"extra": {"model": "sneaky"}}, "extra"),
    ({"extra": {"messages": []}}, "extra"),
    ({"extra": {"stream": True}}, "extra"),
    ({"extra": ["not", "a", "dict"]}, "extra"),
    ({"tools": ["get_weather"]}, "tools"),
    ({"temprature": 0.5}, "temprature"),
    ({"params": {"temperature": 0.5}}, "params"),
    ({"system": 42}, "system"),
    ({"params": ChatParams(temperature=3)}, "temperature"),
]


@pytest.mark.parametrize(("options", "name"), BAD_OPTIONS, ids=lambda v: str(v)[:40])
def test_bad_option_is_refused_before_any_request(options, name, chat, route):
    with pytest.raises(ValidationError) as info:
        chat("hi", **options)

    assert name in str(info.value)
    assert not route.called


@pytest.mark.parametrize("path", PATHS)
async def test_bad_option_is_refused_on_every_path(path, chat, route):
    outcome = await run_path(path, chat, "hi", max_tokens=0)

    assert isinstance(outcome.error, ValidationError)
    assert "max_tokens" in str(outcome.error)
    assert not route.called


def test_stream_validates_when_called_not_when_iterated(chat, route):
    with pytest.raises(ValidationError, match="top_p"):
        chat.stream("hi", top_p=2)
    with pytest.raises(ValidationError, match="top_p"):
        chat.astream("hi", top_p=2)
    assert not route.called


def test_missing_model_is_refused(make_chat, route):
    chat = make_chat(model=None)

    with pytest.raises(ValidationError, match="model"):
        chat("hi")
    assert not route.called


def test_validation_error_is_also_a_value_error(chat, route):
    with pytest.raises(ValueError):
        chat("hi", temperature=9)


def test_unknown_option_names_the_option_and_mentions_extra(chat, route):
    with pytest.raises(ValidationError) as info:
        chat("hi", top_k=40)

    assert "top_k" in str(info.value)
    assert "extra" in str(info.value)
    assert not route.called


def test_prepare_builds_the_request_without_sending(chat, route):
    req = chat.prepare("hi", stream=True, temperature=0.3)

    assert req.url == "https://llm.test/v1/chat/completions"
    assert req.body["temperature"] == 0.3
    assert req.body["stream"] is True
    assert req.stream is True
    assert not route.called
