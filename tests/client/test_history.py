"""Tests for ChatHistory: construction, copies, metadata, rounds, truncation, exports."""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from lexilux_nb.client import tokens as tokens_module
from lexilux_nb.client.errors import ValidationError
from lexilux_nb.client.history import ChatHistory, plain_text
from lexilux_nb.client.models import ChatResult, ToolCall, Usage
from lexilux_nb.client.tokens import estimate_tokens

from .conftest import tool_history

XSS = "<script>alert('x')</script>"


def words(text: str) -> int:
    """A deterministic counter: one token per whitespace-separated word."""
    return len(text.split())


# -- construction ------------------------------------------------------------------------------


def test_from_messages_str_is_one_user_message() -> None:
    h = ChatHistory.from_messages("hello", system="be brief")
    assert h.get_messages() == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "hello"},
    ]


def test_from_messages_list_of_str_are_user_messages_like_chat() -> None:
    h = ChatHistory.from_messages(["q1", "q2", {"role": "assistant", "content": "a"}])
    assert [m["role"] for m in h] == ["user", "user", "assistant"]
    assert [m["content"] for m in h] == ["q1", "q2", "a"]


def test_from_messages_leading_system_dict_becomes_system() -> None:
    h = ChatHistory.from_messages(
        [{"role": "system", "content": "S"}, {"role": "user", "content": "hi"}]
    )
    assert h.system == "S"
    assert len(h) == 1
    assert h.get_messages()[0] == {"role": "system", "content": "S"}


def test_conflicting_system_prompts_are_rejected() -> None:
    with pytest.raises(ValidationError, match="system"):
        ChatHistory.from_messages([{"role": "system", "content": "A"}], system="B")


def test_bad_role_error_names_index_role_and_accepted_roles() -> None:
    with pytest.raises(ValidationError) as info:
        ChatHistory.from_messages(
            [{"role": "user", "content": "x"}, {"role": "bot", "content": ""}]
        )
    text = str(info.value)
    assert "message 1" in text
    assert "'bot'" in text
    for role in ("system", "developer", "user", "assistant", "tool"):
        assert role in text


def test_bad_role_is_also_a_value_error() -> None:
    with pytest.raises(ValueError):
        ChatHistory().add_message("narrator", "once upon a time")


def test_bad_dict_after_str_is_named_by_index() -> None:
    with pytest.raises(ValidationError, match="message 1"):
        ChatHistory.from_messages(["x", {"role": "bot", "content": "y"}])


def test_from_messages_rejects_non_sequence() -> None:
    with pytest.raises(ValidationError, match="int"):
        ChatHistory.from_messages(42)


def test_bad_content_type_and_tool_without_id_are_rejected() -> None:
    with pytest.raises(ValidationError, match="content"):
        ChatHistory(messages=[{"role": "user", "content": 5}])
    with pytest.raises(ValidationError, match="tool_call_id"):
        ChatHistory(messages=[{"role": "tool", "content": "r"}])


def test_constructor_and_from_messages_do_not_mutate_input() -> None:
    source: list[dict[str, Any]] = [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]
    h = ChatHistory.from_messages(source)
    source[0]["content"][0]["text"] = "changed"
    assert h[0]["content"][0]["text"] == "hi"


# -- copies --------------------------------------------------------------------------------------


def test_get_messages_returns_copies() -> None:
    h = ChatHistory(system="S")
    h.add_user([{"type": "text", "text": "hi"}])
    out = h.get_messages()
    out[0]["content"] = "hacked"
    out[1]["content"][0]["text"] = "hacked"
    out.append({"role": "user", "content": "extra"})
    assert h.system == "S"
    assert h.get_messages() == [
        {"role": "system", "content": "S"},
        {"role": "user", "content": [{"type": "text", "text": "hi"}]},
    ]


def test_get_messages_has_no_metadata_keys() -> None:
    h = ChatHistory()
    h.add_user("hi", source="test")
    h.append_result(ChatResult(text="ok", model="m", finish_reason="stop"))
    assert h.get_messages() == [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "ok"},
    ]


def test_get_messages_without_system() -> None:
    h = ChatHistory(system="S", messages=[{"role": "user", "content": "x"}])
    assert h.get_messages(include_system=False) == [{"role": "user", "content": "x"}]


def test_indexing_and_iteration_return_copies() -> None:
    h = ChatHistory.from_messages(["q", "a"])
    h[0]["content"] = "changed"
    for message in h:
        message["content"] = "changed"
    assert [m["content"] for m in h.get_messages()] == ["q", "a"]


def test_metadata_returns_copy() -> None:
    h = ChatHistory().add_user("q", tags=["a"])
    h.metadata(0)["tags"].append("b")
    assert h.metadata(0)["tags"] == ["a"]


def test_clone_is_deep() -> None:
    h = tool_history()
    c = h.clone()
    assert c == h
    c.add_user("more")
    c.set_metadata(0, note="x")
    c.system = "other"
    assert len(h) == 8
    assert "note" not in h.metadata(0)
    assert h.system == "sys"


# -- adding --------------------------------------------------------------------------------------


def test_add_methods_stamp_iso_utc_timestamps() -> None:
    h = ChatHistory().add_user("q")
    stamp = datetime.fromisoformat(h.metadata(0)["timestamp"])
    assert stamp.utcoffset() is not None
    assert stamp.utcoffset().total_seconds() == 0  # type: ignore[union-attr]


def test_explicit_timestamp_is_kept_and_metadata_is_stored() -> None:
    h = ChatHistory().add_user("q", timestamp="2024-01-01T00:00:00+00:00", source="cli")
    assert h.metadata(0) == {"timestamp": "2024-01-01T00:00:00+00:00", "source": "cli"}


def test_add_assistant_accepts_toolcall_wire_dict_and_flat_dict() -> None:
    h = ChatHistory()
    h.add_assistant(
        None,
        tool_calls=[
            ToolCall("a", "f", '{"x": 1}'),
            {"id": "b", "type": "function", "function": {"name": "g", "arguments": "{}"}},
            {"id": "c", "name": "h", "arguments": {"y": 2}},
        ],
    )
    calls = h[0]["tool_calls"]
    assert calls[0] == {
        "id": "a",
        "type": "function",
        "function": {"name": "f", "arguments": '{"x": 1}'},
    }
    assert calls[1]["function"]["name"] == "g"
    assert calls[2] == {
        "id": "c",
        "type": "function",
        "function": {"name": "h", "arguments": '{"y": 2}'},
    }
    assert h[0]["content"] is None


def test_add_assistant_rejects_bad_tool_call() -> None:
    with pytest.raises(ValidationError, match="tool calls"):
        ChatHistory().add_assistant(None, tool_calls=["not a call"])  # type: ignore[list-item]


def test_add_message_dict_and_role_forms() -> None:
    h = ChatHistory()
    h.add_message({"role": "developer", "content": "rules"}, origin="x")
    h.add_message("user", "hi")
    assert h.get_messages() == [
        {"role": "developer", "content": "rules"},
        {"role": "user", "content": "hi"},
    ]
    assert h.metadata(0)["origin"] == "x"


def test_add_tool_result_serialises_non_text_content() -> None:
    h = ChatHistory().add_tool_result("call_9", {"ok": True}, name="fn")
    assert h[0] == {
        "role": "tool",
        "tool_call_id": "call_9",
        "content": '{"ok": true}',
        "name": "fn",
    }


def test_append_result_adds_one_message_with_metadata() -> None:
    result = ChatResult(
        text="answer",
        finish_reason="length",
        usage=Usage(10, 5, 15),
        tool_calls=[ToolCall("c1", "f", "{}")],
        reasoning="thinking...",
        model="gpt-x",
        continues=2,
        truncated=True,
        interrupted=False,
    )
    h = ChatHistory().add_user("q")
    h.append_result(result, note="n")
    assert len(h) == 2
    assert h[1] == {
        "role": "assistant",
        "content": "answer",
        "tool_calls": [ToolCall("c1", "f", "{}").to_dict()],
    }
    meta = h.metadata(1)
    assert meta["model"] == "gpt-x"
    assert meta["finish_reason"] == "length"
    assert meta["usage"] == {
        "input_tokens": 10,
        "output_tokens": 5,
        "total_tokens": 15,
        "details": {},
    }
    assert (meta["continues"], meta["truncated"], meta["interrupted"]) == (2, True, False)
    assert meta["reasoning"] == "thinking..."
    assert meta["note"] == "n"
    assert "timestamp" in meta


def test_append_result_tool_calls_only_has_none_content_and_no_reasoning_key() -> None:
    h = ChatHistory().append_result(ChatResult(text="", tool_calls=[ToolCall("c", "f")]))
    assert h[0]["content"] is None
    assert "reasoning" not in h.metadata(0)
    assert h.get_last_assistant_message() == ""


def test_last_user_and_assistant_messages() -> None:
    h = ChatHistory()
    assert h.get_last_user_message() is None
    assert h.get_last_assistant_message() is None
    h.add_user("first").add_assistant("reply")
    h.add_user(
        [
            {"type": "text", "text": "look at "},
            {"type": "image_url", "image_url": {"url": "u"}},
            {"type": "text", "text": "this"},
        ]
    )
    assert h.get_last_user_message() == "look at this"  # text parts concatenate, as deltas do
    assert h.get_last_assistant_message() == "reply"


# -- sequence protocol ---------------------------------------------------------------------------


def test_len_bool_and_system_alone_is_falsy() -> None:
    h = ChatHistory(system="S")
    assert len(h) == 0
    assert not h
    h.add_user("x")
    assert h
    assert len(h) == 1


def test_slicing_returns_history_with_system_and_metadata() -> None:
    h = tool_history()
    part = h[2:4]
    assert isinstance(part, ChatHistory)
    assert part.system == "sys"
    assert [m["role"] for m in part] == ["user", "assistant"]
    assert part.metadata(0) == h.metadata(2)
    assert h[-1]["content"] == "third answer"
    with pytest.raises(IndexError):
        h[99]


def test_equality_includes_metadata_and_system() -> None:
    a = ChatHistory.from_messages(["q", "a"], system="S")
    b = ChatHistory.from_messages(["q", "a"], system="S")
    assert a == b
    b.set_metadata(1, model="m")
    assert a != b
    c = ChatHistory.from_messages(["q", "a"], system="T")
    assert a != c
    assert a != [{"role": "user", "content": "q"}]


def test_pop_and_clear() -> None:
    h = ChatHistory(system="S").add_user("q").add_assistant("a")
    assert h.pop() == {"role": "assistant", "content": "a"}
    assert len(h) == 1
    h.clear()
    assert len(h) == 0
    assert h.system == "S"
    with pytest.raises(IndexError):
        h.pop()


def test_set_metadata_merges_and_checks_index() -> None:
    h = ChatHistory().add_user("q", a=1)
    h.set_metadata(-1, b=2)
    assert h.metadata(0)["a"] == 1
    assert h.metadata(0)["b"] == 2
    with pytest.raises(IndexError):
        h.set_metadata(3, c=3)


# -- serialisation -------------------------------------------------------------------------------


def test_json_round_trip_keeps_system_messages_and_metadata() -> None:
    h = tool_history()
    h.append_result(ChatResult(text="x", model="m", usage=Usage(1, 2, 3)))
    h.add_user([{"type": "image_url", "image_url": {"url": "http://img"}}])
    data = json.loads(h.to_json())
    assert data["format"] == "lexilux_nb.history"
    assert data["version"] == 1
    back = ChatHistory.from_json(h.to_json())
    assert back == h
    assert back.metadata(len(h) - 2)["usage"]["total_tokens"] == 3


def test_round_trip_keeps_a_system_message_stored_as_first_message() -> None:
    h = ChatHistory().add_message("system", "mid-conversation system")
    back = ChatHistory.from_dict(h.to_dict())
    assert back.system is None
    assert back == h


def test_from_dict_accepts_bare_list() -> None:
    h = ChatHistory.from_dict(
        [{"role": "system", "content": "S"}, {"role": "user", "content": "q"}]
    )
    assert h.system == "S"
    assert h.get_messages(include_system=False) == [{"role": "user", "content": "q"}]


@pytest.mark.parametrize(
    "data",
    [
        {"format": "something-else", "messages": []},
        {"format": "lexilux_nb.history", "version": 99, "messages": []},
        {"messages": [{"role": "user", "content": "q"}], "metadata": []},
        {"messages": "nope"},
        "just a string",
    ],
)
def test_from_dict_rejects_bad_data(data: object) -> None:
    with pytest.raises(ValidationError):
        ChatHistory.from_dict(data)


def test_from_json_invalid_json_is_validation_error() -> None:
    with pytest.raises(ValidationError, match="JSON"):
        ChatHistory.from_json("{not json")


def test_save_and_load_json(tmp_path: Path) -> None:
    h = tool_history()
    h.set_metadata(1, rating=5)
    path = h.save(tmp_path / "chat.json")
    loaded = ChatHistory.load(path)
    assert loaded == h
    assert loaded.metadata(1)["rating"] == 5
    assert loaded.system == "sys"


@pytest.mark.parametrize("suffix", [".md", ".html", ".txt"])
def test_save_other_formats_writes_escaped_or_plain_text(tmp_path: Path, suffix: str) -> None:
    h = ChatHistory().add_user(XSS).add_assistant("fine")
    path = h.save(tmp_path / f"chat{suffix}")
    text = path.read_text(encoding="utf-8")
    assert "fine" in text
    if suffix == ".html":
        assert "<script>" not in text
        assert text.startswith("<!DOCTYPE html>")


def test_save_unknown_extension_names_accepted_ones(tmp_path: Path) -> None:
    with pytest.raises(ValidationError) as info:
        ChatHistory().add_user("q").save(tmp_path / "chat.pdf")
    for ext in (".json", ".md", ".html", ".txt"):
        assert ext in str(info.value)
    assert not (tmp_path / "chat.pdf").exists()


def test_load_rejects_non_json(tmp_path: Path) -> None:
    path = ChatHistory().add_user("q").save(tmp_path / "chat.md")
    with pytest.raises(ValidationError, match="json"):
        ChatHistory.load(path)


# -- rounds --------------------------------------------------------------------------------------


def test_rounds_group_tool_calls_with_their_user_turn() -> None:
    rounds = tool_history().rounds()
    assert [[m["role"] for m in r] for r in rounds] == [
        ["user", "assistant"],
        ["user", "assistant", "tool", "assistant"],
        ["user", "assistant"],
    ]


def test_leading_assistant_greeting_is_its_own_round() -> None:
    h = ChatHistory(
        messages=[{"role": "assistant", "content": "Hello!"}, {"role": "user", "content": "hi"}]
    )
    assert [len(r) for r in h.rounds()] == [1, 1]
    assert "2 rounds" in repr(h)


def test_get_last_n_rounds() -> None:
    h = tool_history()
    last2 = h.get_last_n_rounds(2)
    assert last2.system == "sys"
    assert last2[0]["content"] == "weather please"
    assert len(last2) == 6
    assert h.get_last_n_rounds(10) == h
    assert len(h.get_last_n_rounds(0)) == 0
    with pytest.raises(ValidationError):
        h.get_last_n_rounds(-1)


def test_remove_last_round_with_two_identical_rounds_removes_by_position() -> None:
    turn = [{"role": "user", "content": "same"}, {"role": "assistant", "content": "reply"}]
    h = ChatHistory.from_messages(turn + turn)
    h.set_metadata(0, marker="first")
    removed = h.remove_last_round()
    assert removed == [
        {"role": "user", "content": "same"},
        {"role": "assistant", "content": "reply"},
    ]
    assert len(h) == 2
    assert h.metadata(0) == {"marker": "first"}
    assert h.metadata(1) == {}
    h.remove_last_round()
    assert len(h) == 0
    assert h.remove_last_round() == []


def test_remove_last_round_removes_tool_messages_too() -> None:
    h = tool_history()
    h.remove_last_round()
    removed = h.remove_last_round()
    assert [m["role"] for m in removed] == ["user", "assistant", "tool", "assistant"]
    assert len(h) == 2


# -- tokens and truncation -----------------------------------------------------------------------


def test_count_tokens_with_custom_counter_includes_system_and_tool_calls() -> None:
    h = ChatHistory(system="a b c")
    h.add_user("one two")
    h.add_assistant(None, tool_calls=[ToolCall("i", "fn", "{}")])
    # system 3 + user 2 + tool call text "fn {}" 2, no overhead for custom counters
    assert h.count_tokens(words) == 7


def test_default_counter_estimate_adds_overhead(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tokens_module, "_tiktoken_encoder", lambda: None)
    h = ChatHistory(system="x" * 8).add_user("y" * 9)
    assert estimate_tokens("y" * 9) == 3
    assert h.count_tokens() == (2 + 4) + (3 + 4)


def test_count_tokens_does_not_crash_on_none_and_list_content() -> None:
    h = ChatHistory()
    h.add_assistant(None, tool_calls=[ToolCall("i", "f")])
    h.add_user([{"type": "image_url", "image_url": {"url": "http://x"}}])
    assert h.count_tokens() > 0


def test_truncate_by_rounds_keeps_most_recent_whole_rounds() -> None:
    h = tool_history()
    # round costs come from the same text the history counts (content plus tool calls)
    costs = [sum(words(plain_text(m)) for m in r) for r in h.rounds()]
    budget = 1 + costs[-1] + costs[-2]
    t = h.truncate_by_rounds(budget, counter=words)
    assert t.system == "sys"
    assert t == h.get_last_n_rounds(2)
    assert t.count_tokens(words) <= budget


def test_truncate_that_would_split_a_tool_round_drops_the_whole_round() -> None:
    h = tool_history()
    costs = [sum(words(plain_text(m)) for m in r) for r in h.rounds()]
    # enough for the last round plus part of the tool round, but not all of it
    budget = 1 + costs[-1] + costs[-2] - 1
    t = h.truncate_by_rounds(budget, counter=words)
    assert [m["role"] for m in t] == ["user", "assistant"]
    assert all(m["role"] != "tool" for m in t)
    assert t[0]["content"] == "three"


def test_truncate_without_system_and_with_tiny_budget() -> None:
    h = tool_history()
    # the last round ("three", "third answer") costs 3 words; the system is not counted
    assert len(h.truncate_by_rounds(2, counter=words, keep_system=False)) == 0
    t = h.truncate_by_rounds(3, counter=words, keep_system=False)
    assert t.system is None
    assert t.get_messages() == [
        {"role": "user", "content": "three"},
        {"role": "assistant", "content": "third answer"},
    ]
    # with the system kept (1 word) the same budget no longer fits the round
    empty = h.truncate_by_rounds(3, counter=words)
    assert len(empty) == 0
    assert empty.system == "sys"
    with pytest.raises(ValidationError):
        h.truncate_by_rounds(-5)


def test_truncate_does_not_modify_original() -> None:
    h = tool_history()
    before = h.clone()
    h.truncate_by_rounds(3, counter=words)
    assert h == before


# -- exports and display -------------------------------------------------------------------------


def odd_history() -> ChatHistory:
    h = ChatHistory(system=f"sys {XSS}")
    h.add_user(
        [
            {"type": "text", "text": f"see {XSS}"},
            {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
        ]
    )
    h.add_assistant(None, tool_calls=[ToolCall("c1", "lookup", json.dumps({"q": XSS}))], model=XSS)
    h.add_tool_result("c1", XSS)
    h.add_assistant(f"answer & {XSS}")
    return h


def test_to_html_escapes_everything_and_shows_tool_calls() -> None:
    out = odd_history().to_html()
    assert "<script>" not in out
    assert "&lt;script&gt;" in out
    assert "[image: https://example.com/cat.png]" in out
    assert "<pre" in out
    assert "lookup" in out
    assert "&quot;q&quot;" in out  # tool arguments pretty-printed as JSON, escaped


def test_repr_html_is_escaped_and_compact() -> None:
    h = odd_history()
    out = h._repr_html_()
    assert "<script>" not in out
    assert "DOCTYPE" not in out
    assert len(out) <= len(h.to_html(document=True))


def test_repr_markdown_escapes_raw_html() -> None:
    out = odd_history()._repr_markdown_()
    outside_fences = re.sub(r"```.*?```", "", out, flags=re.S)
    assert "<script" not in outside_fences
    assert "&lt;script>" in out
    assert "answer &amp; " in out
    assert "[image: https://example.com/cat.png]" in out


def test_repr_markdown_fence_cannot_be_closed_by_tool_output() -> None:
    h = ChatHistory().add_tool_result("c", "```\n<img src=x onerror=alert(1)>\n```")
    out = h._repr_markdown_()
    assert "````\n```" in out  # a longer fence wraps the backticks inside


def test_to_markdown_is_inert_to_text_raw_and_neither_crashes() -> None:
    h = odd_history()
    md = h.to_markdown()
    txt = h.to_text()
    assert "answer &amp; &lt;script>alert('x')&lt;/script>" in md  # inert since issue 17
    assert "· &lt;script>" in md  # the model name too
    assert f"answer & {XSS}" in txt
    assert "**Assistant**" in md
    assert "[tool call lookup (c1)]" in txt
    assert "[image: https://example.com/cat.png]" in txt


def test_data_url_images_are_shortened() -> None:
    payload = "A" * 5000
    h = ChatHistory().add_user(
        [{"type": "image_url", "image_url": {"url": f"data:image/png;base64,{payload}"}}]
    )
    for out in (h.to_text(), h.to_markdown(), h.to_html()):
        assert payload not in out
        assert "[image PNG, 4 KB]" in out  # the history views' placeholder (no size: not a PNG)


def test_empty_history_exports() -> None:
    h = ChatHistory()
    assert h.to_text() == ""
    assert h.to_markdown() == ""
    assert "empty" in h._repr_markdown_()
    assert "empty" in h._repr_html_()


def test_repr_is_short() -> None:
    h = tool_history()
    h.system = "You are a very helpful assistant with many rules"
    text = repr(h)
    assert text.startswith("ChatHistory(system='You are")
    assert "…" in text
    assert text.endswith("8 messages, 3 rounds)")
    assert repr(ChatHistory.from_messages("q")) == "ChatHistory(1 message, 1 round)"


# -- utilities -----------------------------------------------------------------------------------


def test_merge_concatenates_and_prefers_own_system() -> None:
    a = ChatHistory(system="A").add_user("q1", n=1)
    b = ChatHistory(system="B").add_assistant("a1", n=2)
    m = a.merge(b)
    assert m.system == "A"
    assert [x["content"] for x in m] == ["q1", "a1"]
    assert m.metadata(1)["n"] == 2
    assert len(a) == 1
    assert ChatHistory().merge(b).system == "B"
    assert len(a.merge(["x", "y"])) == 3


def test_filter_by_role() -> None:
    f = tool_history().filter_by_role("user", "tool")
    assert f.system == "sys"
    assert [m["role"] for m in f] == ["user", "user", "tool", "user"]
    with pytest.raises(ValidationError, match="accepted roles"):
        tool_history().filter_by_role("robot")


def test_search_case_and_tool_calls() -> None:
    h = tool_history()
    hits = h.search("ANSWER")
    assert [i for i, _ in hits] == [1, 7]
    assert h.search("ANSWER", case_sensitive=True) == []
    assert [i for i, _ in h.search("get_weather")] == [3]  # found in tool call name
    hits[0][1]["content"] = "mutated"
    assert h[1]["content"] == "first answer"
    with pytest.raises(ValidationError):
        h.search("")


def test_statistics() -> None:
    h = ChatHistory(system="abc")
    h.add_user("hello")
    h.append_result(ChatResult(text="hi", usage=Usage(10, 2, 12)))
    h.add_user("again")
    h.append_result(ChatResult(text="yo", usage=Usage(20, None, 22)))
    stats = h.statistics()
    assert stats["messages"] == 4
    assert stats["by_role"] == {"user": 2, "assistant": 2}
    assert stats["rounds"] == 2
    assert stats["characters"] == 3 + 5 + 2 + 5 + 2
    assert stats["estimated_tokens"] == h.count_tokens()
    assert stats["usage"]["input_tokens"] == 30
    assert stats["usage"]["output_tokens"] == 2
    assert stats["usage"]["total_tokens"] == 34


def test_system_setter_validates_and_is_emitted_first() -> None:
    h = ChatHistory.from_messages("q")
    h.system = "new"
    assert h.get_messages()[0] == {"role": "system", "content": "new"}
    h.system = None
    assert h.get_messages()[0]["role"] == "user"
    with pytest.raises(ValidationError):
        h.system = 3  # type: ignore[assignment]


def test_messages_passed_as_system_get_a_helpful_error() -> None:
    with pytest.raises(ValidationError, match="messages="):
        ChatHistory([{"role": "user", "content": "q"}])  # type: ignore[arg-type]
