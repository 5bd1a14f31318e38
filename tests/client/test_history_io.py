"""Saving and loading: a save never loses a file, odd text is escaped (and said so), round trips
hold for messages of every shape."""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lexilux_nb.client import history_io
from lexilux_nb.client.history import ChatHistory, SaveWarning
from lexilux_nb.client.models import ChatResult, ToolCall

from .conftest import tool_history

LONE = "\ud83d"  # half of a UTF-16 pair, as a server's broken JSON escape gives it
ODD = f"bad {LONE} text \udfff and fine 😀"
FORMATS = [".json", ".md", ".html", ".txt"]


def odd_history() -> ChatHistory:
    history = tool_history()
    history.add_user(ODD)
    history.append_result(ChatResult(text=f"answer {LONE}", model=f"model{LONE}"))
    return history


@pytest.mark.parametrize("suffix", FORMATS)
def test_odd_text_over_an_existing_file_saves_and_says_so(tmp_path: Path, suffix: str) -> None:
    target = tmp_path / f"chat{suffix}"
    tool_history().save(target)
    with pytest.warns(SaveWarning, match=r"\d+ character\(s\)"):
        odd_history().save(target)
    text = target.read_text(encoding="utf-8")  # valid UTF-8, whole
    assert "fine 😀" in text
    if suffix == ".json":
        loaded = ChatHistory.load(target)
        assert loaded.get_messages() == odd_history().get_messages()  # lossless
    else:
        assert "\ufffd" in text
    assert [p.name for p in tmp_path.iterdir()] == [target.name]  # no temporary file left


def test_the_warning_counts_the_characters(tmp_path: Path) -> None:
    history = ChatHistory()
    history.add_user(f"{LONE}{LONE}{LONE}")
    with pytest.warns(SaveWarning, match="3 character") as caught:
        history.save(tmp_path / "h.txt")
    assert "U+FFFD" in str(caught[0].message) and ".json" in str(caught[0].message)
    with pytest.warns(SaveWarning, match="3 character.*escapes"):
        history.save(tmp_path / "h.json")
    assert ChatHistory.load(tmp_path / "h.json").get_last_user_message() == LONE * 3


def test_clean_text_saves_without_a_warning(tmp_path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for suffix in FORMATS:
            tool_history().save(tmp_path / f"h{suffix}")


def test_to_json_text_always_encodes_and_loads_back() -> None:
    history = odd_history()
    text = history.to_json()
    text.encode("utf-8")  # no surrogate left in the text
    assert ChatHistory.from_json(text) == history


def test_to_json_with_a_path_saves_atomically(tmp_path: Path) -> None:
    target = tmp_path / "h.json"
    text = tool_history().to_json(target)
    assert target.read_text(encoding="utf-8") == text
    assert ChatHistory.load(target) == ChatHistory.from_json(text)
    assert ChatHistory.load(target).get_messages() == tool_history().get_messages()


class _Boom(Exception):
    pass


@pytest.mark.parametrize("suffix", FORMATS)
def test_a_failure_while_writing_leaves_the_old_file_intact(
    tmp_path: Path, suffix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / f"chat{suffix}"
    tool_history().save(target)
    old = target.read_bytes()

    def fail(*args: Any) -> None:  # the disk fills up, the process is interrupted, ...
        raise _Boom("disk full")

    monkeypatch.setattr(os, "fsync", fail)
    with pytest.raises(_Boom):
        odd_history().save(target)
    assert target.read_bytes() == old
    assert [p.name for p in tmp_path.iterdir()] == [target.name]
    monkeypatch.undo()
    with pytest.warns(SaveWarning):
        odd_history().save(target)
    if suffix == ".json":
        assert ChatHistory.load(target).get_messages() == odd_history().get_messages()


def test_an_interrupt_during_the_rename_keeps_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "chat.json"
    tool_history().save(target)
    old = target.read_bytes()

    def interrupted(*args: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(history_io.os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        odd_history().save(target)
    assert target.read_bytes() == old
    assert [p.name for p in tmp_path.iterdir()] == [target.name]


def test_a_save_keeps_the_files_permissions(tmp_path: Path) -> None:
    target = tmp_path / "h.json"
    target.write_text("{}")
    target.chmod(0o640)
    tool_history().save(target)
    assert target.stat().st_mode & 0o777 == 0o640


def test_paths_with_a_tilde_are_expanded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    saved = tool_history().save("~/my chats.json")
    assert saved == tmp_path / "my chats.json"
    assert ChatHistory.load("~/my chats.json").get_messages() == tool_history().get_messages()


def test_saving_into_a_missing_directory_is_a_clear_oserror(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        tool_history().save(tmp_path / "missing" / "h.json")


# -- round trips under hypothesis --------------------------------------------------------------

texts = st.text(st.characters(codec=None, exclude_categories=()), max_size=20)
keys = st.text(st.characters(codec="utf-8"), min_size=1, max_size=8)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | texts,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=3),
    max_leaves=6,
)
parts = st.lists(
    st.one_of(
        st.builds(lambda t: {"type": "text", "text": t}, texts),
        st.builds(
            lambda u: {"type": "image_url", "image_url": {"url": f"https://x.test/{u}"}},
            st.text("abc", max_size=4),
        ),
    ),
    min_size=1,
    max_size=3,
)
contents = texts | parts
calls = st.lists(
    st.builds(
        lambda i, n, a: ToolCall(f"call_{i}", n or "f", json.dumps({"a": a})),
        st.integers(0, 99),
        st.text("abcxyz_", max_size=6),
        texts,
    ),
    min_size=1,
    max_size=2,
)
messages = st.one_of(
    st.builds(lambda c: {"role": "user", "content": c}, contents),
    st.builds(lambda c: {"role": "assistant", "content": c}, contents),
    st.builds(lambda c: {"role": "assistant", "content": None, "tool_calls": c}, calls),
    st.builds(
        lambda c, r: {"role": "assistant", "content": c, "refusal": r}, st.none() | texts, texts
    ),
    st.builds(
        lambda c, i, n: {"role": "tool", "tool_call_id": f"call_{i}", "content": c, "name": n},
        contents,
        st.integers(0, 99),
        st.text("abc", min_size=1, max_size=4),
    ),
    st.builds(lambda c: {"role": "developer", "content": c}, texts),
)
histories = st.builds(
    lambda system, pairs: ChatHistory.from_dict(
        {
            "system": system,
            "messages": [m for m, _ in pairs],
            "metadata": [meta for _, meta in pairs],
        }
    ),
    st.none() | texts,
    st.lists(st.tuples(messages, st.dictionaries(keys, json_values, max_size=3)), max_size=6),
)


def _same_text(value: Any) -> Any:
    """JSON joins a high and a low surrogate that happen to be adjacent into one character."""
    return json.loads(json.dumps(value))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories)
def test_json_round_trip(history: ChatHistory) -> None:
    again = ChatHistory.from_json(history.to_json())
    assert again.to_dict() == _same_text(history.to_dict())
    assert ChatHistory.from_dict(history.to_dict()) == history
    assert ChatHistory.from_json(again.to_json()) == again  # stable from then on


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories, st.sampled_from(FORMATS))
def test_every_format_saves_any_history(
    tmp_path_factory: pytest.TempPathFactory, history: ChatHistory, suffix: str
) -> None:
    target = tmp_path_factory.mktemp("save") / f"h{suffix}"
    target.write_text("the old file")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SaveWarning)
        history.save(target)
    text = target.read_text(encoding="utf-8")
    if suffix == ".json":
        assert ChatHistory.load(target).to_dict() == _same_text(history.to_dict())
    else:
        assert text != "the old file" or not history
