"""Every ``%%chat`` option reaches the request the fake server receives."""

from __future__ import annotations

import json
from typing import Any

import pytest
from IPython.core.error import UsageError

from lexilux_nb import ChatHistory, ChatResult
from lexilux_nb.markup.style import EXPORT_SAFE_TAGS
from lexilux_nb.notebook.errors import ChatCellError
from lexilux_nb.testing import Reply
from tests.markup.corpus import parse_tags


def body(server: Any) -> dict[str, Any]:
    assert server.requests, "no request was sent"
    sent: dict[str, Any] = server.requests[-1].json
    return sent


def ok(ran: Any) -> Any:
    assert ran.error is None, f"{ran.error!r}\n{ran.stdout}\n{ran.stderr}"
    return ran


def test_plain_request(server: Any, run: Any) -> None:
    ok(run("%%chat\nhello there"))
    sent = body(server)
    assert sent["model"] == "fake-model"
    assert sent["messages"] == [{"role": "user", "content": "hello there"}]
    assert sent["stream"] is True
    for key in ("temperature", "top_p", "max_tokens", "stop", "reasoning_effort"):
        assert key not in sent


def test_model(server: Any, run: Any) -> None:
    ok(run("%%chat -m other-model\nhi"))
    assert body(server)["model"] == "other-model"
    ok(run("%chat --model third-model hi"))
    assert body(server)["model"] == "third-model"


def test_system_prompt_is_sent_first(server: Any, run: Any, shell: Any) -> None:
    ok(run("%%chat\nfirst"))
    ok(run('%%chat -s "Be brief."\nsecond'))
    messages = body(server)["messages"]
    assert messages[0] == {"role": "system", "content": "Be brief."}
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    assert messages[-1]["content"] == "second"
    ok(run("%chat --system 'Answer in French.' third"))
    assert body(server)["messages"][0] == {"role": "system", "content": "Answer in French."}
    history = shell.user_ns["chat_history"]
    assert all(m["role"] != "system" for m in history)  # the system prompt is per call


@pytest.mark.parametrize(
    ("options", "field", "expected"),
    [
        ("-t 0.3", "temperature", 0.3),
        ("--temperature 1.5", "temperature", 1.5),
        ("-t 0", "temperature", 0),
        ("--max-tokens 12", "max_tokens", 12),
        ("--top-p 0.5", "top_p", 0.5),
        ("--stop END", "stop", ["END"]),
        ("--stop END --stop '###'", "stop", ["END", "###"]),
    ],
)
def test_sampling_options(server: Any, run: Any, options: str, field: str, expected: Any) -> None:
    ok(run(f"%%chat {options}\nhi"))
    assert body(server)[field] == expected


def test_sampling_options_in_the_line_form(server: Any, run: Any) -> None:
    ok(run("%chat -t 0.2 --top-p 0.9 --max-tokens 40 --stop STOP what's up"))
    sent = body(server)
    assert (sent["temperature"], sent["top_p"], sent["max_tokens"]) == (0.2, 0.9, 40)
    assert sent["stop"] == ["STOP"]
    assert sent["messages"][-1]["content"] == "what's up"


@pytest.mark.parametrize(
    ("options", "expected"),
    [("--reasoning", "medium"), ("--reasoning high", "high"), ("--reasoning low", "low")],
)
def test_reasoning_maps_to_reasoning_effort(
    server: Any, run: Any, options: str, expected: str
) -> None:
    ok(run(f"%%chat {options}\nthink"))
    assert body(server)["reasoning_effort"] == expected


def test_reasoning_off_sends_nothing_to_a_generic_server(server: Any, run: Any) -> None:
    ok(run("%%chat --reasoning off\nhi"))
    assert "reasoning_effort" not in body(server)


def test_reasoning_flag_without_effort_in_the_line_form(server: Any, run: Any) -> None:
    ok(run("%chat --reasoning why is the sky blue"))
    sent = body(server)
    assert sent["reasoning_effort"] == "medium"
    assert sent["messages"][-1]["content"] == "why is the sky blue"
    ok(run("%chat --reasoning high explain"))
    assert body(server)["reasoning_effort"] == "high"
    assert body(server)["messages"][-1]["content"] == "explain"


def test_param_values_are_json_when_they_parse(server: Any, run: Any) -> None:
    ok(
        run(
            "%%chat --param seed=7 --param user=alice --param logprobs=true "
            '--param \'response_format={"type": "json_object"}\' --param ratio=0.5 '
            "--param 'note=two words' --param empty=\nhi"
        )
    )
    sent = body(server)
    assert sent["seed"] == 7
    assert sent["user"] == "alice"
    assert sent["logprobs"] is True
    assert sent["response_format"] == {"type": "json_object"}
    assert sent["ratio"] == 0.5
    assert sent["note"] == "two words"
    assert sent["empty"] == ""


def test_param_may_not_replace_reserved_fields(server: Any, run: Any) -> None:
    ran = run("%%chat --param model=evil\nhi")
    assert isinstance(ran.error, ChatCellError)
    assert "model" in str(ran.error)
    assert server.requests == []


def test_base_url_sends_to_that_server(server: Any, run: Any, make_server: Any) -> None:
    other = make_server()
    ok(run(f"%%chat --base-url {other.base_url}\nhi"))
    assert len(other.requests) == 1
    assert server.requests == []
    ok(run("%%chat\nagain"))
    assert len(server.requests) == 1
    assert len(other.requests) == 1


def test_api_key_env_names_the_variable_holding_the_key(
    server: Any, run: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEXILUX_API_KEY", "sk-default-key-0000")
    monkeypatch.setenv("MY_TEAM_KEY", "sk-team-key-12345678")
    ok(run("%%chat --api-key-env MY_TEAM_KEY\nhi"))
    assert server.requests[-1].headers["authorization"] == "Bearer sk-team-key-12345678"
    ok(run("%%chat\nhi"))
    assert server.requests[-1].headers["authorization"] == "Bearer sk-default-key-0000"


def test_no_stream_sends_a_plain_request(server: Any, run: Any, shell: Any) -> None:
    ran = ok(run("%%chat --no-stream\nhello"))
    sent = body(server)
    assert "stream" not in sent
    assert "stream_options" not in sent
    assert server.requests[-1].headers.get("accept") == "application/json"
    assert shell.user_ns["_chat"].text == "Echo: hello"
    assert "Echo: hello" in ran.stdout
    assert len(shell.user_ns["chat_history"]) == 2


def test_no_history_sends_only_the_prompt(server: Any, run: Any, shell: Any) -> None:
    ok(run("%%chat\nremember 42"))
    history = shell.user_ns["chat_history"]
    before = history.clone()
    ok(run("%%chat --no-history\nwhat did I say?"))
    assert body(server)["messages"] == [{"role": "user", "content": "what did I say?"}]
    assert shell.user_ns["chat_history"] is history
    assert history == before
    assert shell.user_ns["_chat"].text == "Echo: what did I say?"


def test_no_history_does_not_create_a_history(server: Any, run: Any, shell: Any) -> None:
    ok(run("%chat --no-history hi"))
    assert "chat_history" not in shell.user_ns


def test_history_option_uses_a_separate_variable(server: Any, run: Any, shell: Any) -> None:
    ok(run("%%chat\nin the default"))
    ok(run("%%chat -H side\nfirst on the side"))
    assert body(server)["messages"] == [{"role": "user", "content": "first on the side"}]
    ok(run("%%chat --history side\nsecond on the side"))
    assert [m["content"] for m in body(server)["messages"]] == [
        "first on the side",
        "Echo: first on the side",
        "second on the side",
    ]
    side = shell.user_ns["side"]
    assert isinstance(side, ChatHistory)
    assert len(side) == 4
    assert len(shell.user_ns["chat_history"]) == 2


def test_new_clears_the_history_first(server: Any, run: Any, shell: Any) -> None:
    ok(run("%%chat\none"))
    ok(run("%%chat\ntwo"))
    history = shell.user_ns["chat_history"]
    history.system = "kept system prompt"
    ok(run("%%chat --new\nthree"))
    assert body(server)["messages"] == [
        {"role": "system", "content": "kept system prompt"},
        {"role": "user", "content": "three"},
    ]
    assert shell.user_ns["chat_history"] is history
    assert [m["content"] for m in history] == ["three", "Echo: three"]


def test_new_with_a_named_history(server: Any, run: Any, shell: Any) -> None:
    ok(run("%%chat -H notes\none"))
    ok(run("%%chat\nin the default"))
    ok(run("%%chat -H notes --new\nfresh"))
    assert [m["content"] for m in shell.user_ns["notes"]] == ["fresh", "Echo: fresh"]
    assert len(shell.user_ns["chat_history"]) == 2


def test_out_binds_the_result(server: Any, run: Any, shell: Any) -> None:
    ok(run("%%chat -o answer\nhello"))
    answer = shell.user_ns["answer"]
    assert isinstance(answer, ChatResult)
    assert answer.text == "Echo: hello"
    assert answer.finish_reason == "stop"
    assert answer is shell.user_ns["_chat"]
    ok(run("%chat --out second hi again"))
    assert shell.user_ns["second"].text == "Echo: hi again"
    assert shell.user_ns["answer"].text == "Echo: hello"


# -- --format: the persisted bundle (widget path) -------------------------------------------


def test_format_markdown_is_the_default(server: Any, run: Any, kernel: Any) -> None:
    server.queue(Reply(text="Some **bold** text"))
    answer = ok(run("%%chat\nhi")).answer
    assert "<strong>bold</strong>" in answer["text/html"]
    assert answer["text/markdown"].startswith("Some **bold** text")
    assert answer["text/plain"] == "Some **bold** text"


def test_format_text_shows_the_answer_verbatim(server: Any, run: Any, kernel: Any) -> None:
    server.queue(Reply(text="Some **bold** text"))
    answer = ok(run("%%chat --format text\nhi")).answer
    assert "<strong>" not in answer["text/html"]
    assert "**bold**" in answer["text/html"]
    assert answer["text/markdown"].startswith("```text\nSome **bold** text\n```")
    assert answer["text/plain"] == "Some **bold** text"


def test_format_code_unwraps_a_fenced_answer(server: Any, run: Any, kernel: Any) -> None:
    server.queue(Reply(text="```python\nprint('hi')\n```"))
    answer = ok(run("%%chat --format code\nwrite code")).answer
    assert answer["text/markdown"].startswith("```\nprint('hi')\n```")
    assert "<pre" in answer["text/html"]
    assert answer["text/plain"] == "```python\nprint('hi')\n```"


def test_format_json_pretty_prints(server: Any, run: Any, kernel: Any) -> None:
    server.queue(Reply(text='{"a": 1, "b": [1, 2]}'))
    answer = ok(run("%%chat --format json\ngive json")).answer
    pretty = json.dumps({"a": 1, "b": [1, 2]}, indent=2)
    assert answer["text/markdown"].startswith(f"```json\n{pretty}\n```")
    assert answer["text/plain"] == '{"a": 1, "b": [1, 2]}'


def test_format_json_falls_back_to_text_when_not_json(server: Any, run: Any, kernel: Any) -> None:
    server.queue(Reply(text="not json at all"))
    answer = ok(run("%%chat --format json\ngive json")).answer
    assert answer["text/markdown"].startswith("```text\nnot json at all\n```")


def test_formats_give_different_bundles(server: Any, run: Any, kernel: Any) -> None:
    server.default = Reply(text='{"k": "v"}')
    seen = {}
    for fmt in ("markdown", "text", "code", "json"):
        seen[fmt] = ok(run(f"%%chat --no-history --format {fmt}\nx")).answer["text/markdown"]
    assert len(set(seen.values())) == 4


# -- --dry-run --------------------------------------------------------------------------------


def _dry_run_json(ran: Any) -> dict[str, Any]:
    shown = [b for b in ran.bundles if "application/json" in b]
    assert len(shown) == 1, ran.bundles
    data: dict[str, Any] = shown[0]["application/json"]
    readable, _, as_json = shown[0]["text/plain"].partition("The request as JSON:\n")
    assert readable.startswith("Dry run: nothing was sent.")
    assert json.loads(as_json) == data
    assert {t for t, _ in parse_tags(shown[0]["text/html"])} <= EXPORT_SAFE_TAGS  # exports cleanly
    for message in data["body"]["messages"]:  # who says what, as text, before the JSON
        assert f"[{message['role']}]\n{message['content']}\n" in readable
    return data


def test_dry_run_shows_the_exact_request_and_sends_nothing(
    server: Any, run: Any, shell: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEXILUX_API_KEY", "sk-dry-SECRET-98765")
    ok(run("%%chat\nearlier"))
    server.clear()
    history = shell.user_ns["chat_history"].clone()
    cell = "%%chat -s sys -t 0.4 --max-tokens 9 --stop X --param seed=3 --reasoning high\nnow"
    ran = ok(run(cell.replace("%%chat", "%%chat --dry-run")))
    assert server.requests == []
    assert shell.user_ns["chat_history"] == history
    shown = _dry_run_json(ran)
    assert shown["url"] == server.base_url + "/chat/completions"
    assert shown["headers"]["Authorization"] == "sk-…8765"
    assert "sk-dry-SECRET-98765" not in ran.everything
    assert "SECRET" not in ran.everything
    ok(run(cell))
    assert shown["body"] == body(server)
    assert shown["body"]["messages"] == [
        {"role": "system", "content": "sys"},
        {"role": "user", "content": "earlier"},
        {"role": "assistant", "content": "Echo: earlier"},
        {"role": "user", "content": "now"},
    ]


def test_dry_run_follows_no_stream(server: Any, run: Any) -> None:
    shown = _dry_run_json(ok(run("%%chat --dry-run --no-stream\nhi")))
    assert "stream" not in shown["body"]
    assert shown["headers"]["Accept"] == "application/json"
    ok(run("%%chat --no-stream\nhi"))
    assert shown["body"] == body(server)


def test_dry_run_follows_the_configured_provider(server: Any, run: Any) -> None:
    ok(run("%chat_config provider=deepseek"))
    shown = _dry_run_json(ok(run("%%chat --dry-run --reasoning\nhi")))
    ok(run("%%chat --reasoning\nhi"))
    assert shown["body"] == body(server)
    assert shown["body"]["thinking"] == {"type": "enabled"}


def test_dry_run_with_new_does_not_clear_the_history(server: Any, run: Any, shell: Any) -> None:
    ok(run("%%chat\nkeep me"))
    shown = _dry_run_json(ok(run("%%chat --new --dry-run\nfresh start")))
    assert shown["body"]["messages"] == [{"role": "user", "content": "fresh start"}]
    assert len(shell.user_ns["chat_history"]) == 2
    assert server.pending == 0 and len(server.requests) == 1


def test_dry_run_with_the_embedded_model_starts_nothing(run: Any) -> None:
    from lexilux_nb.local import local_server

    ran = ok(run("%%chat --dry-run -s 'Be brief.'\nhello there"))  # no endpoint configured
    shown = _dry_run_json(ran)
    assert shown["body"]["model"] == "smollm2"
    assert shown["url"].startswith("(the embedded model")
    assert not local_server().running
    html = next(b for b in ran.bundles if "application/json" in b)["text/html"]
    assert "Dry run" in html and "hello there" in html and "<script" not in html
    text = next(b for b in ran.bundles if "application/json" in b)["text/plain"]
    assert "of a 4,096-token window" in text  # the context the embedded server allocates


def test_dry_run_without_a_key_shows_no_authorization(server: Any, run: Any) -> None:
    shown = _dry_run_json(ok(run("%chat --dry-run hi")))
    assert "Authorization" not in shown["headers"]
    assert server.requests == []


# -- bad options ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cell", "needle"),
    [
        ("%%chat -t hot\nhi", "-t/--temperature"),
        ("%%chat --format xml\nhi", "--format"),
        ("%%chat -o 1bad\nhi", "-o/--out"),
        ("%%chat -H not-a-name\nhi", "-H/--history"),
        ("%%chat --max-tokens many\nhi", "--max-tokens"),
        ("%%chat --param novalue\nhi", "--param"),
        ("%%chat --reasoning extreme\nhi", "--reasoning"),
        ("%%chat --bogus\nhi", "--bogus"),
        ("%%chat -s 'unclosed\nhi", "could not read"),
        ("%chat --max-tokens", "--max-tokens"),
        ("%%chat_complete --max-continues lots\nhi", "--max-continues"),
    ],
)
def test_bad_options_raise_usage_error_with_the_usage(
    server: Any, run: Any, cell: str, needle: str
) -> None:
    ran = run(cell)
    assert isinstance(ran.error, UsageError)
    message = str(ran.error)
    assert needle in message
    magic = "%chat_complete" if "chat_complete" in cell else "%chat"
    assert f"{magic} [-m MODEL]" in message  # the usage line
    assert "UsageError" in ran.stderr
    assert "Traceback" not in ran.stdout + ran.stderr
    assert server.requests == []


@pytest.mark.parametrize("cell", ["%chat", "%chat -t 0.2", "%%chat\n", "%%chat -m x\n   \n"])
def test_a_missing_prompt_is_a_usage_error(server: Any, run: Any, cell: str) -> None:
    ran = run(cell)
    assert isinstance(ran.error, UsageError)
    assert "prompt" in str(ran.error) or "body is empty" in str(ran.error)  # IPython's own check
    assert server.requests == []


def test_out_of_range_values_fail_before_sending(server: Any, run: Any, shell: Any) -> None:
    ran = run("%%chat -t 5\nhi")
    assert isinstance(ran.error, ChatCellError)
    assert "temperature" in str(ran.error)
    assert server.requests == []
    assert len(shell.user_ns.get("chat_history") or []) == 0


# -- the line form keeps the prompt exactly -----------------------------------------------------


@pytest.mark.parametrize(
    ("line", "prompt"),
    [
        ('%chat what\'s "this"?', 'what\'s "this"?'),
        ("%chat it's O'Reilly's book", "it's O'Reilly's book"),
        ('%chat -t 0.2 -s "be brief" it\'s "fine"', 'it\'s "fine"'),
        ("%chat -- -t is not an option here", "-t is not an option here"),
        ("%chat say  two   spaces", "say  two   spaces"),
        ("%chat 'quoted' start", "'quoted' start"),
        ("%chat a\\nb \\t tab", "a\\nb \\t tab"),
    ],
)
def test_line_form_keeps_quotes_and_apostrophes(
    server: Any, run: Any, line: str, prompt: str
) -> None:
    ok(run(line))
    assert body(server)["messages"][-1] == {"role": "user", "content": prompt}


def test_line_form_options_before_the_prompt(server: Any, run: Any) -> None:
    ok(run('%chat -t 0.2 -s "be brief" it\'s "fine"'))
    sent = body(server)
    assert sent["temperature"] == 0.2
    assert sent["messages"][0] == {"role": "system", "content": "be brief"}


def test_cell_form_sends_the_body_stripped_of_surrounding_blank_lines(
    server: Any, run: Any
) -> None:
    ok(run("%%chat\n\n  line one\n    indented two\n\n"))
    assert body(server)["messages"][-1]["content"] == "line one\n    indented two"


@pytest.mark.parametrize(
    ("line", "prompt"),
    [
        ("%chat what is the capital of France?", "what is the capital of France?"),
        ("%chat -t 0.1 why? and how?", "why? and how?"),
        ("%chat_complete is {x} odd?", "is 3 odd?"),
    ],
)
def test_line_form_question_ending_in_a_question_mark(
    server: Any, run: Any, shell: Any, line: str, prompt: str
) -> None:
    shell.user_ns["x"] = 3
    ok(run(line))  # not IPython's `name?` help syntax
    assert body(server)["messages"][-1]["content"] == prompt


def test_magic_help_still_works(server: Any, run: Any) -> None:
    ran = ok(run("%chat?"))
    assert server.requests == []
    assert "--max-tokens" in ran.stdout + "".join(str(b) for b in ran.bundles)
