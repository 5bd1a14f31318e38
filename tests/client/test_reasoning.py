"""Reasoning: ``reasoning=`` mapped per provider, providers detected from URLs, text read back."""

from __future__ import annotations

import json
from typing import Any

import pytest

from lexilux_nb.client.errors import ValidationError
from lexilux_nb.client.protocol import detect_provider

from .scenario import PATHS, Scenario, run_path


@pytest.fixture
def route(router):
    return router.post("/chat/completions").mock(side_effect=Scenario(text="ok").responder())


def sent(route) -> dict[str, Any]:
    return json.loads(route.calls.last.request.content)


FIELDS = (
    "reasoning_effort",
    "thinking",
    "enable_thinking",
    "thinking_budget",
    "chat_template_kwargs",
)


@pytest.mark.parametrize(
    ("provider", "setting", "expected"),
    [
        ("openai", True, {"reasoning_effort": "medium"}),
        ("openai", "high", {"reasoning_effort": "high"}),
        ("openai", {"effort": "low"}, {"reasoning_effort": "low"}),
        ("openai", False, {}),  # OpenAI has no universal "off": nothing is sent
        ("generic", "minimal", {"reasoning_effort": "minimal"}),
        ("deepseek", True, {"thinking": {"type": "enabled"}}),
        ("deepseek", False, {"thinking": {"type": "disabled"}}),
        ("zhipu", False, {"thinking": {"type": "disabled"}}),
        ("qwen", True, {"enable_thinking": True}),
        ("qwen", False, {"enable_thinking": False}),
        (
            "qwen",
            {"budget_tokens": 512},
            {"enable_thinking": True, "thinking_budget": 512},
        ),
        ("anthropic", True, {"thinking": {"type": "enabled", "budget_tokens": 2048}}),
        (
            "anthropic",
            {"budget_tokens": 4096},
            {"thinking": {"type": "enabled", "budget_tokens": 4096}},
        ),
        ("anthropic", False, {"thinking": {"type": "disabled"}}),
        ("vllm", False, {"chat_template_kwargs": {"enable_thinking": False}}),
        ("llamacpp", True, {"chat_template_kwargs": {"enable_thinking": True}}),
    ],
)
def test_reasoning_is_mapped_per_provider(make_chat, route, provider, setting, expected) -> None:
    make_chat(provider=provider)("hi", reasoning=setting)
    body = sent(route)
    assert {k: body[k] for k in FIELDS if k in body} == expected


def test_no_reasoning_option_sends_no_reasoning_field(chat, route) -> None:
    chat("hi")
    assert not set(FIELDS) & set(sent(route))


def test_a_bad_reasoning_value_is_refused_before_sending(chat, route) -> None:
    with pytest.raises(ValidationError, match="reasoning"):
        chat("hi", reasoning=3)
    assert not route.called


@pytest.mark.parametrize(
    ("url", "provider"),
    [
        ("https://api.openai.com/v1", "openai"),
        ("https://api.deepseek.com/v1", "deepseek"),
        ("https://open.bigmodel.cn/api/paas/v4", "zhipu"),
        ("https://dashscope.aliyuncs.com/compatible-mode/v1", "qwen"),
        ("https://api.anthropic.com/v1", "anthropic"),
        ("http://127.0.0.1:8080/v1", "generic"),
    ],
)
def test_provider_is_detected_from_the_url(url: str, provider: str) -> None:
    assert detect_provider(url) == provider


def test_an_explicit_provider_wins_and_unknown_ones_are_refused() -> None:
    assert detect_provider("https://api.openai.com/v1", "dashscope") == "qwen"
    with pytest.raises(ValidationError, match="provider"):
        detect_provider("http://x/v1", "nope")


@pytest.mark.parametrize("field", ["reasoning_content", "reasoning"])
@pytest.mark.parametrize("path", PATHS)
async def test_reasoning_text_is_read_under_either_name(make_chat, router, path, field) -> None:
    scenario = Scenario(text="4", reasoning="2 + 2 is 4.", reasoning_field=field)
    router.post("/chat/completions").mock(side_effect=scenario.responder())
    outcome = await run_path(path, make_chat(), "2 + 2?")
    assert outcome.result is not None, outcome.error
    assert (outcome.result.text, outcome.result.reasoning) == ("4", "2 + 2 is 4.")
