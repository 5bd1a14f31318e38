"""Usage and cost: every turn recorded once at the engine (cells and the panel alike), the cost from
genai-prices in the footer where a price is known, and ``%chat_usage``'s totals per model."""

from __future__ import annotations

import html
import sys
import threading

import pytest

from lexilux_nb import Chat
from lexilux_nb.client import loop_thread
from lexilux_nb.client.models import Usage
from lexilux_nb.engine import usage
from lexilux_nb.engine.usage import LEDGER, Ledger, format_cost, price
from lexilux_nb.notebook.panel import ChatPanel
from lexilux_nb.testing import FakeOpenAIServer, Reply

genai_prices = pytest.importorskip("genai_prices")
PRICED = "gpt-4o-mini"  # a model genai-prices knows


@pytest.fixture(autouse=True)
def _empty_ledger():
    LEDGER.clear()
    yield
    LEDGER.clear()


def expected(model: str, tokens_in: int, tokens_out: int) -> float:
    found = genai_prices.calc_price(
        genai_prices.Usage(input_tokens=tokens_in, output_tokens=tokens_out), model_ref=model
    )
    return float(found.total_price)


# -- prices (pure) ------------------------------------------------------------------------------


def test_price_by_the_endpoint_url_then_by_the_model_name():
    used = Usage(1000, 200)
    assert price(PRICED, used, "https://api.openai.com/v1") == pytest.approx(
        expected(PRICED, 1000, 200)
    )
    assert price(PRICED, used, "http://127.0.0.1:9/v1") == pytest.approx(
        expected(PRICED, 1000, 200)
    )
    assert price(PRICED, used) > price(PRICED, Usage(100, 20))


def test_no_price_for_an_unknown_model_unreported_usage_or_without_the_package(monkeypatch):
    assert price("fake-model", Usage(10, 10)) is None
    assert price(PRICED, Usage()) is None
    assert price(None, Usage(10, 10)) is None
    monkeypatch.setitem(sys.modules, "genai_prices", None)  # as if not installed
    usage._prices.cache_clear()
    try:
        assert price(PRICED, Usage(10, 10)) is None
    finally:
        usage._prices.cache_clear()


def test_format_cost():
    assert format_cost(0) == "$0"
    assert format_cost(0.00004) == "<$0.0001"
    assert format_cost(0.01234) == "$0.0123"
    assert format_cost(1234.5) == "$1,234.50"


def test_the_ledger_adds_up_across_threads_and_counts_unpriced_requests():
    ledger = Ledger()

    def work():
        for _ in range(500):
            ledger.record("a", Usage(2, 1), 0.5)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ledger.record("a", Usage(None, None), None)
    (totals,) = ledger.totals()
    assert (totals.requests, totals.input_tokens, totals.output_tokens) == (2001, 4000, 2000)
    assert totals.cost == pytest.approx(1000.0) and totals.unpriced == 1


# -- in cells -----------------------------------------------------------------------------------


def test_the_footer_shows_tokens_and_the_cost_of_a_priced_model(run, kernel, make_server):
    priced = make_server(model=PRICED)
    priced.queue(Reply(text="Priced answer."))
    ran = run(f"%%chat --base-url {priced.base_url} -m {PRICED} --no-history\nHello")
    assert ran.error is None
    sent = priced.requests[-1]
    assert sent.json["stream_options"] == {"include_usage": True}
    footer = ran.answer["text/plain"], ran.answer["text/html"]
    (totals,) = LEDGER.totals()
    cost = format_cost(expected(PRICED, totals.input_tokens, totals.output_tokens))
    line = f"{totals.input_tokens} → {totals.output_tokens} tokens, {cost}"
    assert html.escape(line) in footer[1]  # escaped like the rest of the footer
    assert "Priced answer." in footer[0]


def test_an_unknown_model_shows_tokens_and_no_cost(run, kernel, server):
    server.queue(Reply(text="Answer."))
    ran = run("%%chat --no-history\nHello")
    shown = ran.answer["text/html"]
    assert "→" in shown and "tokens ·" in shown and "$" not in shown


def test_chat_usage_totals_per_model_for_cells(run, kernel, server, make_server):
    other = make_server(model="other-model")
    server.queue(Reply(text="one"), Reply(text="two"))
    run("%%chat --no-history\nfirst")
    run("%%chat --no-history\nsecond")
    run(f"%%chat --base-url {other.base_url} -m other-model --no-history\nthird")
    server.queue(Reply(status=400))
    failed = run("%%chat --no-history\nfourth")
    assert failed.error is not None

    ran = run("%chat_usage")

    table = {t.model: t for t in LEDGER.totals()}
    assert table["fake-model"].requests == 3 and table["other-model"].requests == 1
    reported = [r for r in server.requests if r.path.endswith("/chat/completions")]
    assert len(reported) == 3
    text = ran.bundles[-1]["text/plain"]
    assert "fake-model" in text and "other-model" in text and "total" in text
    shown = ran.bundles[-1]["text/html"]
    assert "<table>" in shown and "unknown" in shown and "<script" not in shown


def test_chat_usage_escapes_model_names_and_clears(run, kernel, make_server):
    hostile = make_server(model="<img src=x onerror=alert(1)>")
    run(f"%%chat --base-url {hostile.base_url} -m '<img src=x onerror=alert(1)>' --no-history\nhi")
    shown = run("%chat_usage").bundles[-1]["text/html"]
    assert "<img" not in shown and "&lt;img src=x onerror=alert(1)&gt;" in shown
    cleared = run("%chat_usage --clear")
    assert "cleared" in cleared.stdout and LEDGER.totals() == []
    assert "no requests yet" in run("%chat_usage").bundles[-1]["text/plain"]
    assert "takes --clear" in str(run("%chat_usage --bogus").error)


def test_in_a_terminal_chat_usage_is_a_text_table(run, server):
    server.queue(Reply(text="x"))
    run("%chat --no-history hello")
    shown = run("%chat_usage").bundles[-1]
    assert set(shown) == {"text/plain"} and "fake-model" in shown["text/plain"]


# -- the panel counts too -------------------------------------------------------------------------


def test_panel_turns_are_recorded_in_the_same_ledger(server: FakeOpenAIServer):
    chat = Chat(base_url=server.base_url, model="panel-model", max_retries=0)
    panel = ChatPanel("conv", chat, namespace={})
    try:
        server.queue(Reply(text="from the panel"))
        panel.input.value = "hello"
        panel.send.click()
        assert panel.wait(5.0)
    finally:
        panel.close()
        loop_thread.submit(chat.aclose()).result(timeout=5)
    (totals,) = LEDGER.totals()
    assert totals.model == "panel-model" and totals.requests == 1
    assert totals.input_tokens > 0 and totals.output_tokens == 3  # "from", " the", " panel"


# -- in a real kernel ------------------------------------------------------------------------


def test_in_a_kernel_chat_usage_shows_the_cells_requests():
    from .kernel_client import execute, running_kernel

    with running_kernel(model=PRICED) as (client, server):
        server.queue(Reply(text="First."), Reply(text="Second answer."))
        execute(client, "%%chat\nHello")
        execute(client, "%%chat\nAgain")
        reply, outputs = execute(client, "%chat_usage")
    assert reply["status"] == "ok"
    (table,) = [o for o in outputs if o["type"] == "display_data"]
    plain = table["data"]["text/plain"]
    row = next(line for line in plain.splitlines() if line.startswith(PRICED)).split()
    assert row[1] == "2" and int(row[2]) > 0
    assert row[3] == "3"  # "First." is one token, "Second answer." two (the fake server's count)
    assert row[4].startswith(("$", "<$"))
    assert "<table>" in table["data"]["text/html"]
