"""Failed chats: a short, readable error with a hint, and the API key never shown."""

from __future__ import annotations

import re
import socket
import sys
from typing import Any

import pytest

from lexilux_nb.notebook.errors import ChatCellError
from lexilux_nb.testing import Reply

WRONG_KEY = "sk-wrong-SECRET-1234"
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def ok(ran: Any) -> Any:
    assert ran.error is None, f"{ran.error!r}\n{ran.stdout}\n{ran.stderr}"
    return ran


def rendered(error: BaseException) -> str:
    assert isinstance(error, ChatCellError), repr(error)
    return ANSI.sub("", "\n".join(error._render_traceback_()))


def assert_short(text: str) -> None:
    assert "Traceback" not in text
    assert ".py" not in text
    assert 'File "' not in text
    assert "site-packages" not in text
    assert len(text.splitlines()) <= 3
    assert len(text) < 600


def assert_key_nowhere(key: str, ran: Any, shell: Any) -> None:
    fragments = {key, key[3:-4]}  # the key and its unmasked middle
    shown = [ran.everything, str(ran.error), repr(ran.error)]
    if ran.error is not None:
        shown.append(rendered(ran.error))
    for value in [*shell.user_ns.values(), getattr(sys, "last_value", None)]:
        try:
            shown.append(repr(value))
        except Exception:
            continue
    magics = shell.magics_manager.registry["ChatMagics"]
    shown.append(repr(magics._chat))
    for text in shown:
        for fragment in fragments:
            assert fragment not in text


@pytest.fixture
def locked(make_server: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A server that wants ``sk-right``, configured through the environment."""
    server = make_server(api_key="sk-right-key-00000")
    monkeypatch.setenv("LEXILUX_BASE_URL", server.base_url)
    monkeypatch.setenv("LEXILUX_MODEL", "fake-model")
    return server


def test_wrong_key_is_a_short_error_with_a_hint(
    locked: Any, run: Any, shell: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEXILUX_API_KEY", WRONG_KEY)
    ran = run("%%chat\nhello")
    text = rendered(ran.error)
    assert text.startswith("ChatError: ")
    assert "401" in text
    assert "API key" in text  # the hint
    assert_short(text)
    assert text in ANSI.sub("", ran.stdout + ran.stderr)
    assert_key_nowhere(WRONG_KEY, ran, shell)
    assert len(locked.requests) == 1  # an auth error is not retried
    assert locked.requests[0].headers["authorization"] == f"Bearer {WRONG_KEY}"


def test_wrong_key_in_the_notebook(
    locked: Any, run: Any, shell: Any, kernel: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEXILUX_API_KEY", WRONG_KEY)
    ran = run("%%chat\nhello")
    assert "401" in rendered(ran.error)
    assert_key_nowhere(WRONG_KEY, ran, shell)
    assert not [b for b in ran.bundles if "text/html" in b]  # no answer shown
    # the live view was blanked in place
    live_ids = {o.transient.get("display_id") for o in ran.outputs if not o.update}
    blanked = [o for o in ran.outputs if o.update and o.data == {"text/plain": ""}]
    assert blanked and blanked[-1].transient["display_id"] in live_ids


def test_wrong_key_via_api_key_env(
    locked: Any, run: Any, shell: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEAM_KEY", WRONG_KEY)
    ran = run("%chat --api-key-env TEAM_KEY hello")
    assert "401" in rendered(ran.error)
    assert_key_nowhere(WRONG_KEY, ran, shell)


def test_the_right_key_works(locked: Any, run: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-right-key-00000")
    ok(run("%chat hello"))


def test_no_key_hint(locked: Any, run: Any) -> None:
    ran = run("%chat hello")
    text = rendered(ran.error)
    assert "401" in text
    assert "no API key was sent" in text
    assert "LEXILUX_API_KEY" in text
    assert_short(text)


def test_a_key_echoed_by_the_server_is_masked(
    server: Any, run: Any, shell: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEXILUX_API_KEY", WRONG_KEY)
    body = {"error": {"message": f"key {WRONG_KEY} is not allowed here", "type": "x"}}
    server.queue(Reply(status=400, error_body=body))
    ran = run("%%chat\nhello")
    text = rendered(ran.error)
    assert "400" in text
    assert "is not allowed here" in text
    assert "sk-…1234" in text
    assert_key_nowhere(WRONG_KEY, ran, shell)


def test_a_key_echoed_in_a_stream_error_event_is_masked(
    server: Any, run: Any, shell: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEXILUX_API_KEY", WRONG_KEY)
    server.queue(Reply(text="partial answer then trouble", error_event_after=2))
    ran = run("%%chat\nhello")
    assert isinstance(ran.error, ChatCellError)
    assert_short(rendered(ran.error))
    assert_key_nowhere(WRONG_KEY, ran, shell)
    assert len(shell.user_ns["chat_history"]) == 0


def test_dry_run_never_shows_the_key(
    server: Any, run: Any, shell: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEXILUX_API_KEY", WRONG_KEY)
    ran = ok(run("%chat --dry-run hello"))
    assert_key_nowhere(WRONG_KEY, ran, shell)
    assert "sk-…1234" in ran.everything


def test_the_key_is_masked_after_a_successful_chat(
    server: Any, run: Any, shell: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEXILUX_API_KEY", WRONG_KEY)
    ran = ok(run("%chat -o out hello"))
    assert_key_nowhere(WRONG_KEY, ran, shell)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_connection_refused_names_the_url(server: Any, run: Any, shell: Any) -> None:
    url = f"http://127.0.0.1:{_closed_port()}/v1"
    ran = run(f"%chat --base-url {url} hello")  # two quick retries first (~1.5 s)
    text = rendered(ran.error)
    assert url in text
    assert "is that server running" in text
    assert "given with --base-url" in text  # the fix fits what the user did: no "use --base-url"
    assert "use --base-url" not in text and "LEXILUX_BASE_URL" not in text
    assert_short(text)
    assert server.requests == []
    assert len(shell.user_ns["chat_history"]) == 0


def test_connection_refused_from_the_environment_says_so(
    server: Any, run: Any, monkeypatch: Any
) -> None:
    url = f"http://127.0.0.1:{_closed_port()}/v1"
    monkeypatch.setenv("LEXILUX_BASE_URL", url)
    text = rendered(run("%chat --no-history hello").error)
    assert url in text and "from environment ($LEXILUX_BASE_URL)" in text
    assert_short(text)


def test_a_base_url_without_a_model_names_the_fix(server: Any, run: Any, monkeypatch: Any) -> None:
    monkeypatch.delenv("LEXILUX_MODEL")
    text = rendered(run(f"%chat --base-url {server.base_url} hello").error)
    assert "no model for" in text and "-m MODEL" in text and "%chat_config model=" in text
    assert "LEXILUX_MODEL" not in text
    assert server.requests == []


def test_model_not_found_hint(server: Any, run: Any) -> None:
    server.queue(Reply(status=404, error_body={"error": {"message": "no such model"}}))
    ran = run("%chat -m missing-model hello")
    text = rendered(ran.error)
    assert "404" in text
    assert "no such model" in text
    assert "'missing-model'" in text
    assert_short(text)


def test_rate_limit_hint(server: Any, run: Any) -> None:
    for _ in range(3):
        server.queue(Reply(status=429, headers={"Retry-After": "0"}))
    ran = run("%chat hello")
    text = rendered(ran.error)
    assert "429" in text
    assert "rate limit" in text
    assert_short(text)


def test_a_bad_base_url_is_a_short_error(server: Any, run: Any) -> None:
    ran = run("%chat --base-url ftp://example.invalid/v1 hello")
    text = rendered(ran.error)
    assert "http://" in text
    assert_short(text)


def test_the_cell_fails_so_run_all_stops(server: Any, run: Any) -> None:
    server.queue(Reply(status=400))
    ran = run("%chat hello")
    assert not ran.result.success
    assert isinstance(ran.result.error_in_exec, ChatCellError)
    assert ran.error.__cause__ is None
    assert ran.error.__suppress_context__ is True
