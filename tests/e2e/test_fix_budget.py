"""``%chat_fix`` and the budget meter in JupyterLab, in Chromium: the fixed code arrives as a new
cell below (visible, not run) and an oversized prompt is warned about, or refused unsent, in
cells and in the chat panel."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from lexilux_nb.testing import FakeOpenAIServer, RecordedRequest, Reply

from .conftest import _require, notebook_lab, shot
from .test_browser import cell, run, wait_done

pytestmark = pytest.mark.e2e

FIXED = "values = [1, 2, 3]\nfixed_mean = sum(values) / len(values)"
ANSWER = f"The list was empty:\n\n```python\n{FIXED}\n```\n\nNow it has values."
CELLS = [
    "%load_ext lexilux_nb",
    "report = 'lorem ipsum dolor sit amet ' * 400\n%chat_config context_window=500",
    "%%chat --no-history\nSummarise {report} in one line.",
    "%chat_config budget=refuse",
    "%%chat --no-history\nSummarise {report} again.",
    "%chat_config budget=warn\nfrom lexilux_nb import ChatPanel\npanel = ChatPanel()\npanel",
    "values = []\nmean = sum(values) / len(values)",
    "%chat_fix",
]


def script(request: RecordedRequest) -> Reply:
    last = request.last_user_text
    if last.startswith("This notebook cell failed."):
        return Reply(text=ANSWER, delay=0.02)
    return Reply(text="A one-line summary.", delay=0.02)


@pytest.fixture(scope="module")
def servers() -> Iterator[FakeOpenAIServer]:
    _require()
    with FakeOpenAIServer(model="e2e-model") as server:
        server.default = script
        yield server


@pytest.fixture(scope="module")
def lab(servers, tmp_path_factory):
    with notebook_lab(tmp_path_factory, "fix", CELLS, servers.base_url) as info:
        yield info


def chats(server: FakeOpenAIServer) -> list[RecordedRequest]:
    return [r for r in server.requests if r.path.endswith("/chat/completions")]


def output_text(page, index: int) -> str:
    return cell(page, index).locator(".jp-OutputArea").inner_text()


def test_an_oversized_prompt_is_warned_about_before_its_answer(page, servers) -> None:
    for index in (0, 1):
        run(page, index)
        wait_done(page, index)
    run(page, 2)
    wait_done(page, 2)
    shown = output_text(page, 2)
    assert "Budget: this prompt is about" in shown and "window of 500" in shown
    assert "{report}" in shown
    assert shown.index("Budget:") < shown.index("A one-line summary.")
    assert len(chats(servers)) == 1
    cell(page, 2).scroll_into_view_if_needed()
    shot(page, "budget-warning")


def test_with_budget_refuse_the_server_receives_nothing(page, servers) -> None:
    run(page, 3)
    wait_done(page, 3)
    before = len(servers.requests)
    run(page, 4)
    wait_done(page, 4)
    assert "not sent: this prompt is about" in output_text(page, 4)
    assert len(servers.requests) == before  # not even a GET: the window is the setting
    cell(page, 4).scroll_into_view_if_needed()
    shot(page, "budget-refused")


def test_the_panel_warns_about_an_oversized_prompt_and_sends_it(page, servers) -> None:
    run(page, 5)
    wait_done(page, 5)
    panel = cell(page, 5)
    before = len(chats(servers))
    panel.locator("textarea").first.fill("Summarise {report} from the panel.")
    panel.get_by_role("button", name="Send").click()
    deadline = time.monotonic() + 30
    while "A one-line summary." not in panel.inner_text():
        assert time.monotonic() < deadline, panel.inner_text()
        time.sleep(0.2)
    status = panel.locator(".widget-html", has_text="Budget:").last
    status.wait_for(timeout=10_000)
    text = status.inner_text()
    assert "this prompt is about" in text and "window of 500" in text
    assert "Clear the history" in text  # the panel's own advice, not the cell options
    assert len(chats(servers)) == before + 1
    width = panel.evaluate("c => [c.scrollWidth, c.clientWidth]")
    assert width[0] <= width[1] + 1, width  # the long warning wraps inside the cell
    panel.scroll_into_view_if_needed()
    shot(page, "budget-panel")


def test_chat_fix_inserts_the_fixed_code_as_a_new_cell_not_run(page, servers) -> None:
    run(page, 6)
    wait_done(page, 6)
    assert "ZeroDivisionError" in output_text(page, 6)
    cells_before = page.locator(".jp-Notebook .jp-Cell").count()
    run(page, 7)
    wait_done(page, 7)
    assert "Now it has values." in output_text(page, 7)
    page.wait_for_function(
        f"() => document.querySelectorAll('.jp-Notebook .jp-Cell').length > {cells_before}",
        timeout=30_000,
    )
    inserted = cell(page, 8)
    source = inserted.locator(".jp-InputArea-editor .cm-content").inner_text()
    assert source == FIXED
    assert inserted.locator(".jp-InputPrompt").inner_text().strip() in ("[ ]:", "")  # not run
    assert inserted.locator(".jp-OutputArea-output").count() == 0
    prompt = chats(servers)[-1].messages[-1]["content"]
    assert "mean = sum(values) / len(values)" in prompt and "ZeroDivisionError" in prompt
    inserted.scroll_into_view_if_needed()
    shot(page, "chat-fix-inserted")
