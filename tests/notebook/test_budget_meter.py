"""The budget meter in cells: a prompt that will not fit the context window is warned about (the
largest parts named) or refused before anything is sent; the window is the setting, else what the
server reports (asked once, only for a large prompt)."""

from __future__ import annotations

import pytest

from lexilux_nb.context import budget
from lexilux_nb.testing import Reply

from .kernel_client import execute, running_kernel

BIG = "lorem ipsum dolor sit amet " * 400  # ~10,800 characters: over 2,000 tokens either way
# a {value} sends at most context_max_chars (4,000) of it: still over 800 tokens either way


@pytest.fixture(autouse=True)
def _no_cached_windows():
    budget.forget_windows()
    yield
    budget.forget_windows()


def chats(server):
    return [r for r in server.requests if r.path.endswith("/chat/completions")]


def test_a_prompt_over_the_window_setting_is_warned_about_and_sent(shell, run, kernel, server):
    shell.user_ns["report"] = BIG
    run("%chat_config context_window=500")
    server.queue(Reply(text="Summary."))
    ran = run("%%chat\nSummarise {report} in one line.")
    assert ran.error is None
    shown = ran.answer["text/html"]
    assert "Budget: this prompt is about" in shown and "window of 500" in shown
    assert "Largest parts: {report} " in shown
    assert shown.index("Budget:") < shown.index("Summary.")  # said before the answer
    assert len(chats(server)) == 1
    assert not [r for r in server.requests if r.path.endswith("/models")]  # the setting wins


def test_budget_refuse_sends_nothing(shell, run, server):
    shell.user_ns["report"] = BIG
    run("%chat_config context_window=500 budget=refuse")
    ran = run("%%chat\nSummarise {report}.")
    assert "not sent: this prompt is about" in str(ran.error)
    assert "{report}" in str(ran.error)
    assert server.requests == []
    assert "chat_history" not in shell.user_ns or len(shell.user_ns["chat_history"]) == 0


def test_a_prompt_that_fits_and_budget_off_say_nothing(shell, run, server):
    shell.user_ns["report"] = BIG
    server.queue(Reply(text="a"), Reply(text="b"))
    run("%chat_config context_window=50000")
    assert "Budget" not in run("%chat --no-history {report}").everything
    run("%chat_config context_window=10 budget=off")
    assert "Budget" not in run("%chat --no-history {report}").everything
    assert len(chats(server)) == 2


def test_the_answer_reserve_max_tokens_counts(shell, run, server):
    run("%chat_config context_window=600")
    server.queue(Reply(text="a"), Reply(text="b"))
    prompt = "word " * 300  # about 375 tokens by the heuristic, fewer with tiktoken
    assert "Budget" not in run(f"%chat --no-history {prompt}").everything
    warned = run(f"%chat --no-history --max-tokens 590 {prompt}").everything
    assert "plus 590 for the answer (max_tokens)" in warned


def test_the_window_the_server_reports_is_used_and_asked_for_once(shell, run, make_server):
    reporting = make_server(context_window=1500)
    shell.user_ns["report"] = BIG
    line = f"%chat --base-url {reporting.base_url} -m fake-model --no-history"
    first = run(f"{line} {BIG}")  # typed out: all of it is sent
    second = run(f"{line} {BIG}")
    for ran in (first, second):
        assert "window of 1,500" in ran.everything
    assert [r.path for r in reporting.requests if r.method == "GET"] == ["/v1/models"]


def test_a_small_prompt_never_asks_for_the_window(run, make_server):
    reporting = make_server(context_window=10)
    run(f"%chat --base-url {reporting.base_url} -m fake-model --no-history hello")
    assert [r.path for r in reporting.requests] == ["/v1/chat/completions"]


def test_the_settings_are_validated(run):
    assert "positive number of tokens" in str(run("%chat_config context_window=0").error)
    assert "budget" in str(run("%chat_config budget=sometimes").error)
    assert run("%chat_config context_window=none").error is None


def test_in_a_kernel_the_warning_comes_before_the_answer_and_refusal_sends_nothing():
    with running_kernel() as (client, server):
        execute(client, f"report = {BIG!r}\n%chat_config context_window=500")
        server.queue(Reply(text="Short summary."))
        reply, outputs = execute(client, "%%chat\nSummarise {report}.")
        assert reply["status"] == "ok"
        final = [o for o in outputs if o["type"] == "display_data" and "text/html" in o["data"]]
        assert "Budget: this prompt is about" in final[-1]["data"]["text/markdown"]
        sent_before = len(chats(server))
        execute(client, "%chat_config budget=refuse")
        refused, _ = execute(client, "%%chat\nSummarise {report} again.")
        assert refused["status"] == "error" and "not sent" in refused["evalue"]
        assert len(chats(server)) == sent_before == 1


# -- the dry run shows the estimate --------------------------------------------------------------


def dry_budget(ran) -> str:
    lines = [b["text/plain"] for b in ran.bundles if "Dry run" in b.get("text/plain", "")]
    assert len(lines) == 1, ran.everything
    found = [line for line in lines[0].splitlines() if "Budget" in line]
    assert len(found) == 1, lines[0]
    return found[0]


def test_the_dry_run_estimates_and_compares_with_the_window_setting(shell, run, server):
    shell.user_ns["report"] = BIG
    run("%chat_config context_window=50000")
    line = dry_budget(run("%%chat --dry-run\nSummarise {report}."))
    total = int(line.split("about ")[1].split(" tokens")[0].replace(",", ""))
    assert 800 < total < 1200  # a {value} sends at most 4,000 characters of it
    assert "({report} " in line and "of a 50,000-token window" in line
    run("%chat_config context_window=500 budget=refuse")
    line = dry_budget(run("%%chat --dry-run\nSummarise {report}."))
    assert line.startswith("ℹ Budget (refused on a real run): this prompt is about")
    assert "Largest parts: {report}" in line
    assert server.requests == []  # nothing sent, and no window asked for (the setting wins)


def test_the_dry_run_asks_a_server_for_its_window_only_for_a_large_prompt(run, make_server):
    reporting = make_server(context_window=1500)
    line = f"%chat --base-url {reporting.base_url} -m fake-model --no-history --dry-run"
    assert "small enough for any model" in dry_budget(run(f"{line} hello"))
    assert reporting.requests == []
    warned = dry_budget(run(f"{line} {BIG}"))
    assert "sent with a warning on a real run" in warned and "window of 1,500" in warned
    assert [r.path for r in reporting.requests] == ["/v1/models"]  # never the prompt itself
