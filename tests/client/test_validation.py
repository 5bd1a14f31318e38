"""Bad input is refused before any request, as a ValidationError naming the field, on every path.

Plus ``max_completion_tokens`` (OpenAI's reasoning models refuse ``max_tokens``), and a
hypothesis suite: any options, messages or history input either is refused with a
``ValidationError`` or gives a body that is strict JSON.
"""

from __future__ import annotations

import contextlib
import json
import math
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lexilux_nb.client.chat import Chat
from lexilux_nb.client.errors import ValidationError
from lexilux_nb.client.history import ChatHistory
from lexilux_nb.client.models import FunctionTool, ToolChoice
from lexilux_nb.client.options import OPTION_NAMES, ChatParams

from .scenario import PATHS, Scenario, run_path

BAD = [
    ({"stop": 5}, "stop"),
    ({"stop": {"a": 1}}, "stop"),
    ({"tools": 5}, "tools"),
    ({"tools": "get_weather"}, "tools"),
    ({"tools": [{"type": "function", "function": {}}]}, "tools[0]"),
    ({"tools": [FunctionTool("")]}, "tools[0]"),
    ({"tool_choice": 5}, "tool_choice"),
    ({"tool_choice": ""}, "tool_choice"),
    ({"tool_choice": ToolChoice("function")}, "ToolChoice"),
    ({"logit_bias": [1, 2]}, "logit_bias"),
    ({"logit_bias": {"50256": math.inf}}, "logit_bias"),
    ({"logit_bias": {"50256": 1.5}}, "logit_bias"),
    ({"logit_bias": {"50256": 101}}, "logit_bias"),
    ({"logit_bias": {"50256": -101}}, "logit_bias"),
    ({"logit_bias": {"50256": True}}, "logit_bias"),
    ({"logit_bias": {"hello": 1}}, "logit_bias"),
    ({"response_format": "json"}, "response_format"),
    ({"response_format": {"type": "yaml"}}, "response_format"),
    ({"response_format": {"type": "json_schema"}}, "json_schema"),
    ({"extra": {"top_k": math.nan}}, "extra"),
    ({"extra": {"top_k": math.inf}}, "extra"),
    ({"extra": {"ids": {1, 2}}}, "extra"),
    ({"extra": {1: "x"}}, "extra"),
    ({"reasoning": "hgh"}, "reasoning"),
    ({"reasoning": "HIGH"}, "reasoning"),
    ({"reasoning": {"effort": "extreme"}}, "reasoning"),
    ({"reasoning": {"budget": 100}}, "reasoning"),
    ({"reasoning": {"budget_tokens": -1}}, "budget_tokens"),
    ({"reasoning": 3}, "reasoning"),
    ({"max_completion_tokens": 0}, "max_completion_tokens"),
    ({"max_completion_tokens": 2.5}, "max_completion_tokens"),
    ({"user": 5}, "user"),
    ({"parallel_tool_calls": "yes"}, "parallel_tool_calls"),
    ({"seed": True}, "seed"),
    ({"include_usage": "no"}, "include_usage"),
    ({"return_raw": None}, "return_raw"),
    ({"model": 5}, "model"),
    ({"history": [{"role": "user", "content": "x"}]}, "history"),
    ({"params": ChatParams(logit_bias={"1": 500})}, "logit_bias"),
]


@pytest.fixture
def route(router):
    return router.post("/chat/completions").mock(side_effect=Scenario(text="ok").responder())


async def run_any(path: str, chat: Chat, messages: Any, **options: Any) -> Exception | None:
    """Every public way in: the four paths, and continuation (plain and streamed)."""
    if path in PATHS:
        return (await run_path(path, chat, messages, **options)).error
    try:
        if path == "complete":
            chat.complete(messages, **options)
        elif path == "acomplete":
            await chat.acomplete(messages, **options)
        elif path == "complete_stream":
            list(chat.complete_stream(messages, **options))
    except Exception as exc:
        return exc
    return None


ALL_PATHS = (*PATHS, "complete", "acomplete", "complete_stream")


@pytest.mark.parametrize(("options", "field"), BAD, ids=lambda v: str(v)[:50])
@pytest.mark.parametrize("path", ALL_PATHS)
async def test_bad_options_are_refused_before_any_request(options, field, path, chat, route):
    error = await run_any(path, chat, "hi", **options)

    assert isinstance(error, ValidationError), repr(error)
    assert field in str(error)
    assert not route.called


BAD_MESSAGES = [
    ([{"role": ["user"], "content": "x"}], "role"),
    ([{"role": {"user": 1}, "content": "x"}], "role"),
    ([{"role": "user", "content": [{"type": "text", "text": "x", "detail": math.nan}]}], "nan"),
    ([{"role": "user", "content": [{"type": "text", "text": math.nan}]}], "text"),
    ([{"role": "user", "content": [{"text": "no type"}]}], "type"),
    ([{"role": "user", "content": ["bare string"]}], "content part 0"),
    ([{"role": "user", "content": "x", "name": 5}], "name"),
    ([{"role": "tool", "content": "x", "tool_call_id": 5}], "tool_call_id"),
    ([{"role": "user", "content": "x", "weight": math.inf}], "inf"),
    ([{"role": "assistant", "content": None, "tool_calls": [{"function": "f"}]}], "function"),
    (
        [
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [{"name": "f", "arguments": {math.nan}}],
            }
        ],
        "tool call",
    ),
]


@pytest.mark.parametrize(("messages", "needle"), BAD_MESSAGES, ids=lambda v: str(v)[:50])
@pytest.mark.parametrize("path", ALL_PATHS)
async def test_bad_messages_are_refused_before_any_request(messages, needle, path, chat, route):
    error = await run_any(path, chat, messages)

    assert isinstance(error, ValidationError), repr(error)
    assert needle in str(error)
    assert not route.called


def test_a_bad_message_never_enters_a_history():
    history = ChatHistory().add_user("kept")
    for messages, _needle in BAD_MESSAGES:
        with pytest.raises(ValidationError):
            history.add_message(messages[0])
        with pytest.raises(ValidationError):
            ChatHistory(messages=messages)
    assert history.get_messages() == [{"role": "user", "content": "kept"}]


def test_logit_bias_is_sent_with_token_ids_as_strings(chat, route):
    chat("hi", logit_bias={50256: -100, "198": 5})

    assert json.loads(route.calls.last.request.content)["logit_bias"] == {"50256": -100, "198": 5}


@pytest.mark.parametrize("effort", ["none", "minimal", "low", "medium", "high", "xhigh", "max"])
def test_every_documented_effort_is_accepted(effort, make_chat, route):
    make_chat(provider="openai", model="o3-mini")("hi", reasoning=effort)

    assert json.loads(route.calls.last.request.content)["reasoning_effort"] == effort


# -- max_completion_tokens ----------------------------------------------------------------------


def sent(route) -> dict[str, Any]:
    return json.loads(route.calls.last.request.content)


@pytest.mark.parametrize(
    ("provider", "model", "options", "expected"),
    [
        ("openai", "o3-mini", {"max_tokens": 50}, {"max_completion_tokens": 50}),
        ("openai", "o1", {"max_tokens": 50}, {"max_completion_tokens": 50}),
        ("openai", "gpt-5-mini", {"max_tokens": 50}, {"max_completion_tokens": 50}),
        ("openai", "gpt-4o", {"max_tokens": 50, "reasoning": "low"}, {"max_completion_tokens": 50}),
        ("openai", "gpt-4o", {"max_tokens": 50}, {"max_tokens": 50}),  # not a reasoning request
        ("openai", "gpt-4o", {"max_tokens": 50, "reasoning": False}, {"max_tokens": 50}),
        (
            "openai",
            "o3",
            {"max_tokens": 50, "max_completion_tokens": 80},
            {"max_completion_tokens": 80},
        ),
        ("openai", "gpt-4o", {"max_completion_tokens": 80}, {"max_completion_tokens": 80}),
        ("generic", "o3-mini", {"max_tokens": 50}, {"max_tokens": 50}),  # another server's "o3"
        ("generic", "m", {"max_completion_tokens": 80}, {"max_completion_tokens": 80}),
        (
            "vllm",
            "m",
            {"max_tokens": 5, "max_completion_tokens": 8},
            {"max_tokens": 5, "max_completion_tokens": 8},
        ),
    ],
)
def test_the_token_cap_goes_by_the_name_the_model_takes(
    provider, model, options, expected, make_chat, route
):
    make_chat(provider=provider, model=model)("hi", **options)

    body = sent(route)
    assert {k: body[k] for k in ("max_tokens", "max_completion_tokens") if k in body} == expected


@pytest.mark.parametrize("path", PATHS)
async def test_max_completion_tokens_on_every_path(path, make_chat, route):
    chat = make_chat(provider="openai", model="o4-mini")

    await run_path(path, chat, "hi", max_tokens=30)

    assert sent(route)["max_completion_tokens"] == 30
    assert "max_tokens" not in sent(route)


@pytest.mark.parametrize("streamed", [False, True])
def test_continuation_treats_max_completion_tokens_like_max_tokens(streamed, make_chat, router):
    replies = [
        Scenario(text="The first half", finish_reason="length"),
        Scenario(text=" and the end."),
    ]

    def respond(request: httpx.Request) -> httpx.Response:
        return replies.pop(0).responder()(request)

    route = router.post("/chat/completions").mock(side_effect=respond)
    chat = make_chat(provider="openai", model="o3-mini")

    if streamed:
        stream = chat.complete_stream("Write.", max_completion_tokens=5)
        list(stream)
        result = stream.result
    else:
        result = chat.complete("Write.", max_completion_tokens=5)

    assert result.text == "The first half and the end."
    assert result.continues == 1
    bodies = [json.loads(c.request.content) for c in route.calls]
    assert [b["max_completion_tokens"] for b in bodies] == [5, 5]
    assert all("max_tokens" not in b for b in bodies)


@pytest.mark.parametrize("path", ["complete", "acomplete", "complete_stream"])
async def test_continuation_refuses_several_choices(path, chat, route):
    error = await run_any(path, chat, "hi", n=3)

    assert isinstance(error, ValidationError) and "n must be 1" in str(error)
    assert not route.called


# -- hypothesis: anything in, a ValidationError or strict JSON out ------------------------------

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    | st.text(max_size=6)
    | st.sampled_from(["auto", "none", "high", "text", "json_object", "function", "user"])
)
values = st.recursive(
    scalars | st.builds(set) | st.just(object()),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.tuples(inner)
        | st.dictionaries(
            st.text(max_size=6)
            | st.integers(0, 5)
            | st.sampled_from(["type", "name", "function", "effort", "json_schema"]),
            inner,
            max_size=3,
        )
        | st.builds(FunctionTool, st.text(max_size=4))
        | st.builds(
            ToolChoice,
            st.sampled_from(["auto", "function", "bogus"]),
            st.none() | st.text(max_size=4),
        )
    ),
    max_leaves=8,
)
OPTION_KEYS = sorted(OPTION_NAMES - {"params", "history"})


def strict_json(body: Any) -> None:
    json.dumps(body, allow_nan=False)  # raises on NaN/inf and on anything JSON cannot carry


@settings(
    max_examples=500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.dictionaries(st.sampled_from(OPTION_KEYS), values, max_size=4))
def test_any_options_are_refused_or_sent_as_strict_json(chat, options):
    try:
        request = chat.prepare("hi", **options)
    except ValidationError:
        return
    strict_json(request.body)


role = st.sampled_from(["system", "developer", "user", "assistant", "tool"]) | values
message_values = st.fixed_dictionaries(
    {"role": role},
    optional={
        "content": values
        | st.lists(st.fixed_dictionaries({"type": st.just("text"), "text": values})),
        "name": values,
        "tool_call_id": values,
        "tool_calls": values,
        "refusal": values,
    },
)
message_lists = st.lists(message_values | st.text(max_size=5) | values, max_size=4)


@settings(
    max_examples=500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(message_lists)
def test_any_messages_are_refused_or_sent_as_strict_json(chat, messages):
    try:
        request = chat.prepare(messages)
    except ValidationError:
        return
    strict_json(request.body)


@settings(max_examples=400, deadline=None)
@given(st.none() | st.text(max_size=5) | values, st.lists(message_values, max_size=4))
def test_history_constructors_refuse_or_round_trip(system, messages):
    for build in (
        lambda: ChatHistory(system, messages),
        lambda: ChatHistory.from_messages(messages, system=system),
        lambda: ChatHistory.from_dict({"system": system, "messages": messages}),
    ):
        try:
            history = build()
        except ValidationError:
            continue
        strict_json(history.get_messages())
        assert ChatHistory.from_json(history.to_json()) == history


@settings(max_examples=300, deadline=None)
@given(values | st.text(max_size=30))
def test_history_loaders_refuse_anything_else_with_a_validation_error(data):
    for load in (ChatHistory.from_messages, ChatHistory.from_dict):
        with contextlib.suppress(ValidationError):
            load(data)
    if isinstance(data, str):
        with contextlib.suppress(ValidationError):
            ChatHistory.from_json(data)
