"""``%chat_history``: list, show, pop, clear, save and load the histories in the namespace."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from IPython.core.error import UsageError

from lexilux_nb import ChatHistory


def ok(ran: Any) -> Any:
    assert ran.error is None, f"{ran.error!r}\n{ran.stdout}\n{ran.stderr}"
    return ran


@pytest.fixture
def chatted(server: Any, run: Any, shell: Any) -> ChatHistory:
    """Two rounds in ``chat_history`` and one in ``notes``."""
    ok(run("%chat first question"))
    ok(run("%chat second question"))
    ok(run("%chat -H notes a note"))
    history: ChatHistory = shell.user_ns["chat_history"]
    return history


def test_list_without_histories(run: Any) -> None:
    ran = ok(run("%chat_history --list"))
    assert "no chat histories yet" in ran.stdout


def test_list(chatted: ChatHistory, run: Any, shell: Any) -> None:
    shell.user_ns["_private"] = ChatHistory()
    ran = ok(run("%chat_history --list"))
    lines = ran.stdout.strip().splitlines()
    assert lines == ["chat_history: 4 messages, 2 rounds", "notes: 2 messages, 1 rounds"]


@pytest.mark.parametrize("line", ["", "--show", "chat_history", "chat_history --show"])
def test_show_displays_the_history(chatted: ChatHistory, run: Any, line: str) -> None:
    ran = ok(run(f"%chat_history {line}"))
    (bundle,) = ran.bundles
    assert bundle["text/plain"] == "ChatHistory(4 messages, 2 rounds)"
    for text in ("first question", "Echo: second question"):
        assert text in bundle["text/html"]
        assert text in bundle["text/markdown"]
    assert "a note" not in bundle["text/html"]


def test_show_a_named_history(chatted: ChatHistory, run: Any) -> None:
    (bundle,) = ok(run("%chat_history notes")).bundles
    assert "a note" in bundle["text/html"]
    assert "first question" not in bundle["text/html"]


def test_pop_removes_the_last_round(chatted: ChatHistory, run: Any, shell: Any) -> None:
    ran = ok(run("%chat_history --pop"))
    assert "removed 2 message(s) from chat_history" in ran.stdout
    assert shell.user_ns["chat_history"] is chatted
    assert [m["content"] for m in chatted] == ["first question", "Echo: first question"]
    ok(run("%chat_history --pop"))
    ran = ok(run("%chat_history --pop"))
    assert "removed 0 message(s)" in ran.stdout
    assert len(chatted) == 0


def test_pop_then_chat_continues_from_the_shorter_history(
    chatted: ChatHistory, run: Any, server: Any
) -> None:
    ok(run("%chat_history --pop"))
    ok(run("%chat third question"))
    assert [m["content"] for m in server.requests[-1].messages] == [
        "first question",
        "Echo: first question",
        "third question",
    ]


def test_clear_keeps_the_system_prompt(chatted: ChatHistory, run: Any, shell: Any) -> None:
    chatted.system = "stay"
    ran = ok(run("%chat_history --clear"))
    assert "chat_history cleared" in ran.stdout
    assert len(chatted) == 0
    assert chatted.system == "stay"
    assert len(shell.user_ns["notes"]) == 2
    ok(run("%chat_history notes --clear"))
    assert len(shell.user_ns["notes"]) == 0


def test_save_json_and_load_into_another_name(
    chatted: ChatHistory, run: Any, shell: Any, tmp_path: Path
) -> None:
    chatted.system = "You are helpful."
    path = tmp_path / "conversation.json"
    ran = ok(run(f"%chat_history --save {path}"))
    assert f"saved chat_history to {path}" in ran.stdout
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data  # valid JSON
    ran = ok(run(f"%chat_history restored --load {path}"))
    assert "loaded 4 messages into restored" in ran.stdout
    restored = shell.user_ns["restored"]
    assert isinstance(restored, ChatHistory)
    assert restored is not chatted
    assert restored == chatted
    assert restored.system == "You are helpful."
    assert restored.metadata(1)["model"] == "fake-model"


def test_a_loaded_history_is_used_by_the_next_chat(
    chatted: ChatHistory, run: Any, server: Any, tmp_path: Path
) -> None:
    path = tmp_path / "saved.json"
    ok(run(f"%chat_history --save {path}"))
    ok(run(f"%chat_history elsewhere --load {path}"))
    ok(run("%chat -H elsewhere go on"))
    assert [m["content"] for m in server.requests[-1].messages][-2:] == [
        "Echo: second question",
        "go on",
    ]


def test_load_without_a_name_replaces_the_default(
    chatted: ChatHistory, run: Any, shell: Any, tmp_path: Path
) -> None:
    path = tmp_path / "notes.json"
    ok(run(f"%chat_history notes --save {path}"))
    ok(run(f"%chat_history --load {path}"))
    assert [m["content"] for m in shell.user_ns["chat_history"]] == ["a note", "Echo: a note"]


def test_save_markdown(chatted: ChatHistory, run: Any, tmp_path: Path) -> None:
    path = tmp_path / "conversation.md"
    ok(run(f"%chat_history --save {path}"))
    text = path.read_text(encoding="utf-8")
    for content in ("first question", "Echo: first question", "second question"):
        assert content in text
    assert "**User**" in text and "**Assistant**" in text


@pytest.mark.parametrize("suffix", ["html", "txt"])
def test_save_other_formats(chatted: ChatHistory, run: Any, tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"conversation.{suffix}"
    ok(run(f"%chat_history --save {path}"))
    assert "second question" in path.read_text(encoding="utf-8")


def test_save_to_a_path_with_spaces(chatted: ChatHistory, run: Any, tmp_path: Path) -> None:
    path = tmp_path / "my chats" / "a b.json"
    path.parent.mkdir()
    ok(run(f'%chat_history --save "{path}"'))
    assert path.is_file()


@pytest.mark.parametrize(
    "spelled",
    ['--save "{p}" ', "--save '{p}'", '--save="{p}"', "--save='{p}'", 'chat_history --save "{p}"'],
)
def test_quoted_paths_with_spaces_save_and_load(
    chatted: ChatHistory, run: Any, shell: Any, tmp_path: Path, spelled: str
) -> None:
    path = tmp_path / "my chats" / "it's a b.json" if "'{p}'" not in spelled else None
    path = path or tmp_path / "my chats" / "a  b.json"  # two spaces survive the split
    path.parent.mkdir()
    ran = ok(run("%chat_history " + spelled.format(p=path)))
    assert f"saved chat_history to {path}" in ran.stdout
    load = spelled.replace("--save", "restored --load").replace("chat_history restored", "restored")
    ok(run("%chat_history " + load.format(p=path)))
    assert shell.user_ns["restored"] == chatted


def test_a_tilde_path_is_the_home_directory(
    chatted: ChatHistory, run: Any, shell: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    ran = ok(run('%chat_history --save "~/my chats.json"'))
    assert (tmp_path / "my chats.json").is_file()
    assert str(tmp_path / "my chats.json") in ran.stdout
    ok(run("%chat_history again --load '~/my chats.json'"))
    assert shell.user_ns["again"] == chatted


def test_an_unbalanced_quote_is_a_usage_error(chatted: ChatHistory, run: Any) -> None:
    ran = run('%chat_history --save "oops.json')
    assert isinstance(ran.error, UsageError)
    assert "quotation" in str(ran.error)


def test_odd_characters_are_saved_with_a_notice(
    chatted: ChatHistory, run: Any, tmp_path: Path
) -> None:
    chatted.add_assistant("half a pair: \ud83d")
    path = tmp_path / "h.md"
    path.write_text("old", encoding="utf-8")
    ran = ok(run(f"%chat_history --save {path}"))
    assert "note: 1 character(s)" in ran.stdout and "U+FFFD" in ran.stdout
    assert "half a pair: \ufffd" in path.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("line", "needle"),
    [
        ("missing", "no chat history named 'missing'"),
        ("missing --pop", "no chat history named 'missing'"),
        ("--save {tmp}/x.pdf", ".pdf"),
        ("--load {tmp}/absent.json", "absent.json"),
        ("--load {tmp}/x.md", ".json"),
        ("--save {tmp}/no/such/dir/x.json", "x.json"),
        ("--clear --pop", "one action at a time"),
        ("1bad", "Python variable name"),
        ("number", "not a ChatHistory"),
        ("--bogus", "unrecognized"),
    ],
)
def test_errors_are_usage_errors(
    chatted: ChatHistory, run: Any, shell: Any, tmp_path: Path, line: str, needle: str
) -> None:
    shell.user_ns["number"] = 3
    before = chatted.clone()
    ran = run("%chat_history " + line.format(tmp=tmp_path))
    assert isinstance(ran.error, UsageError)
    assert needle in str(ran.error)
    assert chatted == before
    assert "Traceback" not in ran.stdout + ran.stderr


def test_load_a_corrupt_file(run: Any, tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text("{not json", encoding="utf-8")
    ran = run(f"%chat_history --load {path}")
    assert isinstance(ran.error, UsageError)
    assert "JSON" in str(ran.error)


def test_history_magic_uses_the_configured_default(server: Any, run: Any, shell: Any) -> None:
    ok(run("%chat_config history=project"))
    ok(run("%chat hello"))
    (bundle,) = ok(run("%chat_history")).bundles
    assert "hello" in bundle["text/html"]
    ok(run("%chat_history --clear"))
    assert len(shell.user_ns["project"]) == 0
