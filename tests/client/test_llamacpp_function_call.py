"""llama-cpp-python's ``chatml-function-calling`` answers each call twice: in ``tool_calls`` and in
the legacy ``function_call``; it is one call (a second, id-less copy breaks the tool loop)."""

from __future__ import annotations

import json

import httpx

from lexilux_nb import Chat

CALL = {
    "id": "call__0_add",
    "type": "function",
    "function": {"name": "add", "arguments": '{"a": 2}'},
}
MESSAGE = {
    "role": "assistant",
    "content": None,
    "tool_calls": [CALL],
    "function_call": {"name": "add:", "arguments": '{"a": 2}'},
}


def _completion(request: httpx.Request) -> httpx.Response:
    if json.loads(request.content).get("stream"):
        chunks = [
            {"choices": [{"index": 0, "delta": {"role": "assistant"}}]},
            {
                "choices": [
                    {
                        "index": 0,
                        "delta": {
                            "function_call": {"name": "add", "arguments": '{"a": 2}'},
                            "tool_calls": [{"index": 0, **CALL}],
                        },
                    }
                ]
            },
            {"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]},
        ]
        body = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"
        return httpx.Response(200, text=body, headers={"content-type": "text/event-stream"})
    answer = {"choices": [{"index": 0, "message": MESSAGE, "finish_reason": "tool_calls"}]}
    return httpx.Response(200, json=answer)


def _chat() -> Chat:
    return Chat(
        base_url="http://127.0.0.1:9/v1",
        model="m",
        max_retries=0,
        http_client=httpx.Client(transport=httpx.MockTransport(_completion)),
    )


def test_one_call_not_two_when_not_streamed() -> None:
    with _chat() as chat:
        result = chat("add")
    assert [(c.id, c.name) for c in result.tool_calls] == [("call__0_add", "add")]


def test_one_call_not_two_when_streamed() -> None:
    with _chat() as chat:
        stream = chat.stream("add")
        list(stream)
    assert [(c.id, c.name, c.arguments) for c in stream.result.tool_calls] == [
        ("call__0_add", "add", '{"a": 2}')
    ]


def test_an_assistant_message_that_only_calls_tools_is_sent_with_empty_content() -> None:
    """llama-cpp-python's server answers ``content: null`` with HTTP 500 (it wants a str)."""
    history = [
        {"role": "user", "content": "add"},
        {"role": "assistant", "content": None, "tool_calls": [CALL]},
        {"role": "tool", "tool_call_id": "call__0_add", "content": "2"},
    ]
    with Chat(base_url="http://127.0.0.1:9/v1", model="m", provider="llamacpp") as chat:
        sent = chat.prepare(history).body["messages"]
    assert sent[1]["content"] == "" and sent[1]["tool_calls"] == [CALL]
    with Chat(base_url="http://127.0.0.1:9/v1", model="m", provider="openai") as chat:
        assert chat.prepare(history).body["messages"][1]["content"] is None  # others: as given
