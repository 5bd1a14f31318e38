"""Messages: every accepted input shape, system placement, history, and no mutation."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from lexilux_nb.client.errors import ValidationError
from lexilux_nb.client.history import ChatHistory

from .scenario import PATHS, Scenario

TOOL_CALL = {
    "id": "call_1",
    "type": "function",
    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
}


@pytest.fixture
def route(router):
    return router.post("/chat/completions").mock(side_effect=Scenario(text="ok").responder())


def sent_messages(route) -> list[dict[str, Any]]:
    return json.loads(route.calls.last.request.content)["messages"]


def make_history() -> ChatHistory:
    return ChatHistory(
        system="You are terse.",
        messages=[
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello."},
        ],
    )


def test_a_string_is_one_user_message(chat, route):
    chat("What is 2+2?")

    assert sent_messages(route) == [{"role": "user", "content": "What is 2+2?"}]


def test_a_list_of_strings_is_one_user_message_each(chat, route):
    chat(["first", "second"])

    assert sent_messages(route) == [
        {"role": "user", "content": "first"},
        {"role": "user", "content": "second"},
    ]


def test_a_dict_is_one_message(chat, route):
    chat({"role": "user", "content": "as a dict", "name": "alice"})

    assert sent_messages(route) == [{"role": "user", "content": "as a dict", "name": "alice"}]


def test_multimodal_content_parts_are_sent_as_given(chat, route):
    messages = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is in this picture?"},
                {
                    "type": "image_url",
                    "image_url": {"url": "data:image/png;base64,iVBORw0KGgo=", "detail": "low"},
                },
            ],
        }
    ]
    before = copy.deepcopy(messages)

    chat(messages)

    assert sent_messages(route) == before
    assert messages == before


def test_assistant_tool_calls_with_null_content_and_tool_reply(chat, route):
    messages = [
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": None, "tool_calls": [TOOL_CALL]},
        {"role": "tool", "tool_call_id": "call_1", "content": '{"temp": 21}'},
    ]

    chat(messages)

    sent = sent_messages(route)
    assert sent == messages
    assert sent[1]["content"] is None


def test_per_call_system_goes_first(chat, route):
    chat(["a", "b"], system="Be brief.")

    assert sent_messages(route) == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "a"},
        {"role": "user", "content": "b"},
    ]


def test_per_call_system_goes_before_history_turns_and_replaces_its_system(chat, route):
    history = make_history()

    chat.chat_with_history(history, "And now?", system="Override.")

    assert sent_messages(route) == [
        {"role": "system", "content": "Override."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello."},
        {"role": "user", "content": "And now?"},
    ]


def test_history_without_message_is_sent_as_is(chat, route):
    history = make_history()

    chat.chat_with_history(history)

    assert sent_messages(route) == [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello."},
    ]


def test_history_with_message_appends_one_user_turn(chat, route):
    history = make_history()

    chat.chat_with_history(history, "Next question")

    sent = sent_messages(route)
    assert sent[-1] == {"role": "user", "content": "Next question"}
    assert [m["role"] for m in sent] == ["system", "user", "assistant", "user"]
    assert sum(1 for m in sent if m["content"] == "Next question") == 1


def test_history_ending_with_a_user_turn_is_not_duplicated(chat, route):
    history = ChatHistory(messages=[{"role": "user", "content": "only once"}])

    chat.chat_with_history(history)

    assert sent_messages(route) == [{"role": "user", "content": "only once"}]


def test_a_history_can_be_the_messages_argument(chat, route):
    chat(make_history())

    assert [m["role"] for m in sent_messages(route)] == ["system", "user", "assistant"]


def test_history_option_on_a_plain_call(chat, route):
    chat("third", history=make_history())

    assert [m["content"] for m in sent_messages(route)] == [
        "You are terse.",
        "Hi",
        "Hello.",
        "third",
    ]


@pytest.mark.parametrize("path", PATHS)
async def test_history_is_sent_the_same_on_every_path(path, chat, route):
    history = make_history()
    snapshot = (history.system, history.get_messages())
    method = {
        "sync": chat.chat_with_history,
        "sync_stream": chat.stream_with_history,
        "async": chat.achat_with_history,
        "async_stream": chat.astream_with_history,
    }[path]

    result = method(history, "Q")
    if path == "sync_stream":
        list(result)
    elif path == "async":
        await result
    elif path == "async_stream":
        async for _ in result:
            pass

    assert [m["content"] for m in sent_messages(route)] == ["You are terse.", "Hi", "Hello.", "Q"]
    assert (history.system, history.get_messages()) == snapshot


def test_history_and_messages_are_never_mutated(chat, route):
    history = ChatHistory(
        system="sys",
        messages=[
            {"role": "user", "content": "Weather?"},
            {"role": "assistant", "content": None, "tool_calls": [copy.deepcopy(TOOL_CALL)]},
            {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
        ],
    )
    messages = [{"role": "user", "content": [{"type": "text", "text": "more"}]}]
    history_before = (history.system, history.get_messages(), len(history))
    messages_before = copy.deepcopy(messages)

    chat(messages, history=history, system="other")
    list(chat.stream(messages, history=history))

    assert (history.system, history.get_messages(), len(history)) == history_before
    assert messages == messages_before


def test_sent_messages_are_copies_not_the_callers_objects(chat, route):
    message = {"role": "user", "content": "hi"}
    req = chat.prepare([message])

    req.body["messages"][0]["content"] = "changed"

    assert message == {"role": "user", "content": "hi"}


BAD_MESSAGES = [
    ([{"role": "wizard", "content": "hi"}], "role"),
    ([{"content": "no role"}], "role"),
    ([{"role": "tool", "content": "result"}], "tool_call_id"),
    ([{"role": "user"}], "content"),
    ([{"role": "user", "content": 42}], "content"),
    ([42], "message 0"),
    (42, "messages"),
    ([], "no messages"),
]


@pytest.mark.parametrize(("messages", "needle"), BAD_MESSAGES, ids=lambda v: str(v)[:30])
def test_bad_messages_are_refused_before_any_request(messages, needle, chat, route):
    with pytest.raises(ValidationError) as info:
        chat(messages)

    assert needle in str(info.value)
    assert not route.called


def test_empty_history_without_message_is_refused(chat, route):
    with pytest.raises(ValidationError):
        chat.chat_with_history(ChatHistory())
    assert not route.called


def test_tool_call_objects_and_flat_dicts_are_sent_in_wire_form(chat, route):
    from lexilux_nb.client.models import ToolCall

    chat(
        [
            {"role": "user", "content": "weather?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    ToolCall("c1", "get_weather", '{"city": "Brest"}'),
                    {"id": "c2", "name": "get_tide", "arguments": {"port": "Brest"}},
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "rain"},
            {"role": "tool", "tool_call_id": "c2", "content": "high"},
        ]
    )
    calls = sent_messages(route)[1]["tool_calls"]
    assert calls == [
        {
            "id": "c1",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city": "Brest"}'},
        },
        {
            "id": "c2",
            "type": "function",
            "function": {"name": "get_tide", "arguments": '{"port": "Brest"}'},
        },
    ]


def test_tool_calls_on_a_user_message_are_refused(chat, route):
    with pytest.raises(ValidationError, match="tool_calls"):
        chat([{"role": "user", "content": "x", "tool_calls": []}])
    assert not route.called
