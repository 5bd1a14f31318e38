"""Where endpoint, key and model come from: line > %chat_config/%config > LEXILUX_* > OPENAI_*."""

from __future__ import annotations

from typing import Any

import pytest
from IPython.core.error import UsageError


def ok(ran: Any) -> Any:
    assert ran.error is None, f"{ran.error!r}\n{ran.stdout}\n{ran.stderr}"
    return ran


def config_rows(ran: Any) -> dict[str, tuple[str, str]]:
    """``%chat_config`` output (its plain-text table) as {name: (value, source)}."""
    rows = {}
    text = ran.bundles[-1]["text/plain"] if ran.bundles else ran.stdout
    title, blank, head, *lines = text.splitlines()
    assert title == "lexilux_nb settings" and blank == ""
    starts = [head.index(word) for word in ("setting", "value", "from")]
    assert head.split() == ["setting", "value", "from"]
    for line in lines:
        name = line[: starts[1]].strip()
        rows[name] = (line[starts[1] : starts[2]].strip(), line[starts[2] :].strip())
    return rows


def test_model_precedence(server: Any, run: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LEXILUX_MODEL")
    monkeypatch.setenv("OPENAI_MODEL", "openai-env-model")
    ok(run("%chat hi"))
    assert server.requests[-1].model == "openai-env-model"

    monkeypatch.setenv("LEXILUX_MODEL", "lexilux-env-model")
    ok(run("%chat hi"))
    assert server.requests[-1].model == "lexilux-env-model"

    ok(run('%config ChatMagics.model = "config-model"'))
    ok(run("%chat hi"))
    assert server.requests[-1].model == "config-model"

    ok(run("%chat_config model=chat-config-model"))
    ok(run("%chat hi"))
    assert server.requests[-1].model == "chat-config-model"

    ok(run("%chat -m line-model hi"))
    assert server.requests[-1].model == "line-model"

    ok(run("%chat_config model=none"))  # back to the environment
    ok(run("%chat hi"))
    assert server.requests[-1].model == "lexilux-env-model"


def test_base_url_precedence(
    server: Any, run: Any, make_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    openai_env, lexilux_env, configured, line = (make_server() for _ in range(4))
    monkeypatch.setenv("OPENAI_BASE_URL", openai_env.base_url)
    monkeypatch.delenv("LEXILUX_BASE_URL")
    ok(run("%chat hi"))
    monkeypatch.setenv("LEXILUX_BASE_URL", lexilux_env.base_url)
    ok(run("%chat hi"))
    ok(run(f'%config ChatMagics.base_url = "{configured.base_url}"'))
    ok(run("%chat hi"))
    ok(run(f"%chat --base-url {line.base_url} hi"))
    assert [len(s.requests) for s in (openai_env, lexilux_env, configured, line)] == [1, 1, 1, 1]
    assert server.requests == []


def test_chat_config_base_url(server: Any, run: Any, make_server: Any) -> None:
    other = make_server()
    ok(run(f"%chat_config base_url={other.base_url}"))
    ok(run("%chat hi"))
    assert len(other.requests) == 1
    assert server.requests == []


def test_api_key_precedence(server: Any, run: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    def sent_key() -> str:
        header: str = server.requests[-1].headers.get("authorization", "")
        return header.removeprefix("Bearer ")

    ok(run("%chat hi"))
    assert sent_key() == ""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai-0000000001")
    ok(run("%chat hi"))
    assert sent_key() == "sk-openai-0000000001"
    monkeypatch.setenv("LEXILUX_API_KEY", "sk-lexilux-000000002")
    ok(run("%chat hi"))
    assert sent_key() == "sk-lexilux-000000002"
    monkeypatch.setenv("TEAM_KEY", "sk-team-000000000003")
    ok(run("%chat_config api_key_env=TEAM_KEY"))
    ok(run("%chat hi"))
    assert sent_key() == "sk-team-000000000003"
    monkeypatch.setenv("OTHER_KEY", "sk-other-00000000004")
    ok(run("%chat --api-key-env OTHER_KEY hi"))
    assert sent_key() == "sk-other-00000000004"


def test_chat_config_shows_values_sources_and_a_masked_key(
    server: Any, run: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-123456789")
    monkeypatch.delenv("LEXILUX_MODEL")
    monkeypatch.setenv("OPENAI_MODEL", "gpt-test")
    ran = ok(run("%chat_config"))
    assert "sk-secret-123456789" not in ran.everything
    assert "secret-12345" not in ran.everything
    rows = config_rows(ran)
    assert rows["base_url"] == (server.base_url, "environment ($LEXILUX_BASE_URL)")
    assert rows["api_key"] == ("sk-…6789", "environment ($OPENAI_API_KEY)")
    assert rows["model"] == ("gpt-test", "environment ($OPENAI_MODEL)")
    for name in ("system", "temperature", "max_tokens", "max_continues", "timeout", "history"):
        assert name in rows
    assert rows["max_continues"] == ("5", "default")
    assert rows["history"] == ("'chat_history'", "default")
    assert rows["max_retries"] == ("2", "default")
    assert "ChatMagics" not in ran.everything  # sources are said in the user's terms


def test_chat_config_shows_configured_values(
    server: Any, run: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MY_KEY", "sk-mine-abcdefgh1234")
    ok(run("%chat_config model=set-model api_key_env=MY_KEY temperature=0.25 max_continues=2"))
    ran = ok(run("%chat_config"))
    rows = config_rows(ran)
    assert rows["model"] == ("set-model", "%chat_config")
    assert rows["api_key"][0] == "sk-…1234"
    assert "MY_KEY" in rows["api_key"][1]
    assert rows["temperature"][0] == "0.25"
    assert rows["max_continues"][0] == "2"
    assert "sk-mine-abcdefgh1234" not in ran.everything


def test_chat_config_without_anything_set(run: Any) -> None:
    ran = ok(run("%chat_config"))  # no server: nothing configured, nothing started
    rows = config_rows(ran)
    assert rows["api_key"][0] == "(not set)"
    assert rows["model"] == ("smollm2", "embedded model")  # the model actually in use
    assert rows["base_url"][0].startswith("embedded model SmolLM2-135M-Instruct")
    assert rows["base_url"][1] == "no endpoint configured"


def test_chat_config_names_the_embedded_model_when_another_is_asked(run: Any) -> None:
    ok(run("%chat_config model=gpt-4o-mini"))
    rows = config_rows(ok(run("%chat_config")))
    assert rows["model"] == ("smollm2", "embedded model (asked for: gpt-4o-mini)")


def test_chat_config_says_what_it_set(run: Any, magics: Any) -> None:
    ran = ok(run("%chat_config temperature=0.3 stream=off"))
    assert ran.stdout.strip() == "set temperature = 0.3 (was None); stream = False (was True)"


def test_chat_config_provenance(server: Any, run: Any) -> None:
    ok(run("%config ChatMagics.max_tokens = 99"))
    ok(run("%chat_config temperature=0.3"))
    rows = config_rows(ok(run("%chat_config")))
    assert rows["max_tokens"] == ("99", "config (%config or ipython_config.py)")
    assert rows["temperature"] == ("0.3", "%chat_config")
    assert rows["top_p" if "top_p" in rows else "stream"][1] == "default"


def test_chat_config_in_a_notebook_is_a_titled_table(server: Any, run: Any, kernel: Any) -> None:
    ran = ok(run("%chat_config"))
    html = ran.bundles[-1]["text/html"]
    assert "lexilux_nb settings" in html and "<table" in html and "<style" not in html
    assert "<th" in html and ">from<" in html


def test_chat_config_sets_typed_values(server: Any, run: Any, magics: Any) -> None:
    ok(
        run(
            "%chat_config temperature=0.5 max_tokens=64 stream=false interpolate=no "
            "timeout=12 update_interval=0.2 history=notes"
        )
    )
    assert magics.temperature == 0.5
    assert magics.max_tokens == 64
    assert magics.stream is False
    assert magics.interpolate is False
    assert magics.timeout == 12.0
    assert magics.update_interval == 0.2
    assert magics.history == "notes"
    ok(run("%chat hi {x}"))
    sent = server.requests[-1].json
    assert sent["temperature"] == 0.5
    assert sent["max_tokens"] == 64
    assert "stream" not in sent
    assert sent["messages"][-1]["content"] == "hi {x}"


def test_configured_defaults_are_overridden_by_the_line(server: Any, run: Any) -> None:
    ok(run("%chat_config temperature=0.7 max_tokens=30"))
    ok(run("%chat -t 0 --max-tokens 3 hi"))
    sent = server.requests[-1].json
    assert sent["temperature"] == 0
    assert sent["max_tokens"] == 3


def test_configured_system_prompt(server: Any, run: Any) -> None:
    ok(run('%chat_config system="Be brief."'))
    ok(run("%chat hi"))
    assert server.requests[-1].messages[0] == {"role": "system", "content": "Be brief."}
    ok(run("%chat -s 'Be verbose.' hi"))
    assert server.requests[-1].messages[0] == {"role": "system", "content": "Be verbose."}


def test_configured_history_name(server: Any, run: Any, shell: Any) -> None:
    ok(run("%chat_config history=project"))
    ok(run("%chat hi"))
    assert len(shell.user_ns["project"]) == 2
    assert "chat_history" not in shell.user_ns


def test_percent_config_sets_the_same_traits(server: Any, run: Any, magics: Any) -> None:
    ok(run("%config ChatMagics.temperature = 0.9"))
    ok(run('%config ChatMagics.system = "from config"'))
    assert magics.temperature == 0.9
    ok(run("%chat hi"))
    sent = server.requests[-1].json
    assert sent["temperature"] == 0.9
    assert sent["messages"][0] == {"role": "system", "content": "from config"}


@pytest.mark.parametrize(
    "line",
    [
        "%chat_config bogus=1",
        "%chat_config model",
        "%chat_config temperature=abc",
        "%chat_config max_tokens=1.5",
        "%chat_config api_key=sk-typed-in-000000",
        "%chat_config system='unclosed",
        "%chat_config stream=ture",
        "%chat_config timeout=nan",
        "%chat_config timeout=inf",
        "%chat_config timeout=0",
        "%chat_config temperature=5",
        "%chat_config temperature=nan",
        "%chat_config max_tokens=0",
        "%chat_config max_continues=-1",
        "%chat_config base_url=localhost:8000",
        "%chat_config provider=opanai",
        "%chat_config history=not-a-name",
    ],
)
def test_chat_config_rejects_bad_settings(run: Any, magics: Any, line: str) -> None:
    before = {name: getattr(magics, name) for name in ("model", "temperature", "max_tokens")}
    ran = run(line)
    assert isinstance(ran.error, UsageError)
    assert "%chat_config" in str(ran.error)
    assert {name: getattr(magics, name) for name in before} == before


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ("%chat_config stream=ture", "stream takes true or false, got 'ture'"),
        ("%chat_config timeout=nan", "timeout must be a finite number"),
        ("%chat_config temperature=5", "between 0 and 2"),
        ("%chat_config modle=x", "did you mean model?"),
        ("%chat_config temprature=0.1", "did you mean temperature?"),
    ],
)
def test_chat_config_errors_name_the_problem(run: Any, line: str, words: str) -> None:
    ran = run(line)
    assert isinstance(ran.error, UsageError)
    assert words in str(ran.error)


def test_chat_config_keys_are_the_configurable_traits(magics: Any) -> None:
    assert set(magics.setting_names()) == set(magics.trait_names(config=True))
    assert magics.setting_names()[:3] == ["base_url", "api_key_env", "model"]


def test_api_key_is_not_configurable(run: Any) -> None:
    ran = run("%chat_config api_key=sk-typed-in-000000")
    assert isinstance(ran.error, UsageError)
    assert "api_key_env" in str(ran.error)


# -- the shared client ----------------------------------------------------------------------------


def test_the_client_is_shared_across_cells(server: Any, run: Any, magics: Any) -> None:
    ok(run("%chat one"))
    first = magics._chat
    assert first is not None
    ok(run("%chat two"))
    ok(run("%chat -m another-model three"))
    ok(run("%chat_config model=configured temperature=0.3"))
    ok(run("%chat four"))
    assert magics._chat is first
    assert server.requests[-1].model == "configured"


def test_the_client_is_rebuilt_when_the_endpoint_changes(
    server: Any, run: Any, magics: Any, make_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    ok(run("%chat one"))
    first = magics._chat
    other = make_server()
    ok(run(f"%chat_config base_url={other.base_url}"))
    ok(run("%chat two"))
    second = magics._chat
    assert second is not first
    assert second.base_url == other.base_url
    assert len(other.requests) == 1
    monkeypatch.setenv("LEXILUX_API_KEY", "sk-new-key-00000000")
    ok(run("%chat three"))
    assert magics._chat is not second
    assert magics._chat.api_key == "sk-new-key-00000000"
    third = magics._chat
    ok(run("%chat_config timeout=30"))
    ok(run("%chat four"))
    assert magics._chat is not third
    fourth = magics._chat
    ok(run("%chat five"))
    assert magics._chat is fourth


def test_a_line_base_url_does_not_replace_the_shared_client_for_good(
    server: Any, run: Any, magics: Any, make_server: Any
) -> None:
    other = make_server()
    ok(run(f"%chat --base-url {other.base_url} one"))
    ok(run("%chat two"))
    assert magics._chat.base_url == server.base_url
    assert len(other.requests) == 1
    assert len(server.requests) == 1
