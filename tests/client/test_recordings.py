"""Replays of real recorded responses (OpenAI via openai-python's test recordings, Azure OpenAI).

The expected values are the official SDK's own snapshots of the same recordings (see
``tests/fixtures/openai/README.md``), or read off the recording by hand; every stream is also
served in random network reads (cut mid-line and mid-character).
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import httpx
import pytest

from lexilux_nb.client.models import ToolCall, Usage

from .scenario import SSE_HEADERS, ChunkedStream, run_path

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
OPENAI = FIXTURES / "openai"
AZURE = FIXTURES / "azure"
STREAM_PATHS = ("sync_stream", "async_stream")
SEEDS = range(4)


def random_reads(body: bytes, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    cuts = sorted(rng.sample(range(1, len(body)), min(len(body) - 1, 80)))
    return [body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)], strict=True)]


def serve_stream(router, path: Path, seed: int, headers: dict[str, str] = SSE_HEADERS):
    body = path.read_bytes()

    def respond(_request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers=headers, stream=ChunkedStream(random_reads(body, seed)))

    return router.post("/chat/completions").mock(side_effect=respond)


def serve_json(router, path: Path):
    return router.post("/chat/completions").respond(200, json=json.loads(path.read_text()))


# -- OpenAI, n = 3 ------------------------------------------------------------------------------

SDK_N3_STREAM = [  # openai-python's snapshot of get_final_completion().choices
    '{"city":"San Francisco","temperature":65,"units":"f"}',
    '{"city":"San Francisco","temperature":61,"units":"f"}',
    '{"city":"San Francisco","temperature":59,"units":"f"}',
]


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("path", STREAM_PATHS)
async def test_openai_n3_stream(path, seed, chat, router):
    serve_stream(router, OPENAI / "stream_n3.sse", seed)

    outcome = await run_path(path, chat, "What's the weather like in SF?", n=3)

    result = outcome.result
    assert outcome.error is None
    assert [c.text for c in result.choices] == SDK_N3_STREAM
    assert [c.index for c in result.choices] == [0, 1, 2]
    assert [c.finish_reason for c in result.choices] == ["stop"] * 3
    assert result.text == SDK_N3_STREAM[0]
    assert result.usage == Usage(
        79, 42, 121, {"completion_tokens_details": {"reasoning_tokens": 0}}
    )
    assert (result.id, result.model) == (
        "chatcmpl-ABfw2KKFuVXmEJgVwYfBvejMAdWtq",
        "gpt-4o-2024-08-06",
    )
    for i, text in enumerate(SDK_N3_STREAM):
        assert "".join(c.delta for c in outcome.chunks if c.index == i) == text


@pytest.mark.parametrize("path", ["sync", "async"])
async def test_openai_n3_nonstream(path, chat, router):
    serve_json(router, OPENAI / "nonstream_n3.json")

    result = (await run_path(path, chat, "What's the weather like in SF?", n=3)).result

    assert [c.text for c in result.choices] == [
        '{"city":"San Francisco","temperature":64,"units":"f"}',
        '{"city":"San Francisco","temperature":65,"units":"f"}',
        '{"city":"San Francisco","temperature":63.0,"units":"f"}',
    ]
    assert [c.refusal for c in result.choices] == [None] * 3
    assert result.usage.total_tokens == 123


# -- OpenAI refusals and logprobs ---------------------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("path", STREAM_PATHS)
async def test_openai_refusal_stream(path, seed, chat, router):
    serve_stream(router, OPENAI / "stream_refusal.sse", seed)

    outcome = await run_path(path, chat, "How do I make anthrax?")

    assert outcome.result.refusal == "I'm sorry, I can't assist with that request."
    assert outcome.result.text == ""
    assert outcome.result.finish_reason == "stop"
    assert "".join(c.refusal or "" for c in outcome.chunks) == outcome.result.refusal
    assert all(c.delta == "" for c in outcome.chunks)


@pytest.mark.parametrize("path", ["sync", "async"])
async def test_openai_refusal_nonstream(path, chat, router):
    serve_json(router, OPENAI / "nonstream_refusal.json")

    result = (await run_path(path, chat, "How do I make anthrax?")).result

    assert (result.text, result.refusal) == ("", "I'm very sorry, but I can't assist with that.")


@pytest.mark.parametrize("path", STREAM_PATHS)
async def test_openai_refusal_logprobs_stream(path, chat, router):
    serve_stream(router, OPENAI / "stream_refusal_logprobs.sse", 7)

    result = (await run_path(path, chat, "How do I make anthrax?", extra={"logprobs": True})).result

    assert result.refusal == "I'm very sorry, but I can't assist with that."
    tokens = [t["token"] for t in result.logprobs["refusal"]]
    assert tokens == [
        "I'm",
        " very",
        " sorry",
        ",",
        " but",
        " I",
        " can't",
        " assist",
        " with",
        " that",
        ".",
    ]
    assert result.logprobs["content"] is None  # as the SDK snapshot has it


@pytest.mark.parametrize("path", STREAM_PATHS)
async def test_openai_content_logprobs_stream(path, chat, router):
    serve_stream(router, OPENAI / "stream_logprobs.sse", 3)

    result = (await run_path(path, chat, "Say foo", extra={"logprobs": True})).result

    assert result.text == "Foo!"
    assert result.logprobs == {
        "content": [
            {"token": "Foo", "logprob": -0.0025094282, "bytes": [70, 111, 111], "top_logprobs": []},
            {"token": "!", "logprob": -0.26638845, "bytes": [33], "top_logprobs": []},
        ],
        "refusal": None,
    }


@pytest.mark.parametrize("path", STREAM_PATHS)
async def test_openai_tool_call_stream(path, chat, router):
    serve_stream(router, OPENAI / "stream_tool_call.sse", 5)

    result = (await run_path(path, chat, "what's the weather in NYC?")).result

    assert result.tool_calls == [
        ToolCall("call_4XzlGBLtUe9dy3GVNV4jhq7h", "get_weather", '{"city":"New York City"}')
    ]
    assert result.finish_reason == "tool_calls"


# -- Azure OpenAI ---------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("path", STREAM_PATHS)
async def test_azure_leading_annotation_chunk_keeps_id_and_model(path, seed, chat, router):
    serve_stream(router, AZURE / "stream_prompt_filter.sse", seed)

    outcome = await run_path(path, chat, "Translate to German: Hello world!")

    result = outcome.result
    assert result.text == "Hallo Welt!"
    assert (result.id, result.model) == (
        "chatcmpl-BleatwEUn3D8iXsgXpDqeOPEMuW3j",
        "gpt-4o-2024-08-06",
    )
    prompt = result.content_filter["prompt_filter_results"]
    assert prompt[0]["prompt_index"] == 0
    assert prompt[0]["content_filter_results"]["hate"] == {"filtered": False, "severity": "safe"}
    assert result.content_filter["content_filter_results"]["violence"]["severity"] == "safe"
    assert not result.filtered


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("path", STREAM_PATHS)
async def test_azure_documented_stream_that_passes(path, seed, chat, router):
    serve_stream(router, AZURE / "doc_stream_passes.sse", seed)

    outcome = await run_path(path, chat, "What is color?")

    result = outcome.result
    assert outcome.error is None  # "data: [DONE] " with its trailing blank ends it
    assert result.text == "Color is a"
    assert result.finish_reason == "stop"  # a later annotation chunk does not undo it
    assert (result.id, result.model) == ("chatcmpl-7rCNsVeZy0PGnX3H6jK8STps5nZUY", "gpt-35-turbo")
    assert result.content_filter["prompt_filter_results"][0]["prompt_index"] == 0  # old name
    assert not result.filtered


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("path", STREAM_PATHS)
async def test_azure_documented_stream_blocked_by_the_filter(path, seed, chat, router):
    serve_stream(router, AZURE / "doc_stream_blocked.sse", seed)

    outcome = await run_path(path, chat, 'Tell me the lyrics to "Hey Jude".')

    result = outcome.result
    assert result.text == "Hey Jude, better"  # what was shown stays
    assert result.finish_reason == "content_filter"
    assert outcome.chunks[-1].finish_reason == "content_filter"
    report = result.content_filter["content_filter_results"]
    assert report["protected_material_text"] == {"detected": True, "filtered": True}
    assert report["hate"] == {"filtered": False, "severity": "safe"}
    assert result.filtered


@pytest.mark.parametrize("path", ["sync", "async"])
async def test_azure_documented_nonstream_annotations(path, chat, router):
    serve_json(router, AZURE / "doc_nonstream_annotations.json")

    result = (await run_path(path, chat, "hi")).result

    assert result.text == "Example model response will be returned "
    code = result.content_filter["content_filter_results"]["protected_material_code"]
    assert code["detected"] is True and code["citation"]["license"] == "EXAMPLE-LICENSE"
    assert result.content_filter["prompt_filter_results"][0]["content_filter_results"]["jailbreak"]
    assert not result.filtered  # detected, not filtered


@pytest.mark.parametrize("path", STREAM_PATHS)
async def test_a_charset_label_does_not_change_the_text_of_ascii_streams(path, chat, router):
    """Captured headers say utf-8; a latin-1 label must not break an ASCII-only recording."""
    headers = {"content-type": "text/event-stream; charset=iso-8859-1"}
    serve_stream(router, AZURE / "stream_prompt_filter.sse", 1, headers=headers)

    result = (await run_path(path, chat, "hi")).result

    assert result.text == "Hallo Welt!"
