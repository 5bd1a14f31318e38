"""Tools in a real JupyterLab: the approval widget waits for a click while the cell runs.

The fake server asks for a call of ``bump`` (a notebook function that changes a global) and
answers with whatever tool result it receives. A click on "Run once" runs ``bump`` in the kernel
(a later cell prints the counter); "Deny" sends a denial to the model (the server records it);
the panel asks the same way on its own loop.
"""

from __future__ import annotations

import itertools
import time

import pytest

from lexilux_nb.testing import FakeOpenAIServer, RecordedRequest, Reply

from .conftest import notebook_lab, shot
from .test_browser import busy, cell, run, wait_done

pytestmark = pytest.mark.e2e

CELLS = [
    "%load_ext lexilux_nb",
    'counter = 0\ndef bump(by: int) -> int:\n    "Add to the counter."\n'
    "    global counter\n    counter += by\n    return counter",
    "%%chat --tools bump\nBump the counter please.",
    'print("counter is", counter)',
    "%%chat --tools bump\nBump it again please.",
    'print("counter is", counter)',
    "from lexilux_nb import ChatPanel\n\npanel = ChatPanel(tools=[bump])\npanel",
    'print("counter is", counter)',
    "%%chat --tools bump\nBump once more please.",
    'print("counter is", counter, "messages", len(chat_history))',
]
_ids = itertools.count(1)


def script(request: RecordedRequest) -> Reply:
    last = request.messages[-1] if request.messages else {}
    if last.get("role") == "tool":
        return Reply(text=f"The tool said: {last.get('content')}")
    return Reply(tool_calls=[{"id": f"call_{next(_ids)}", "name": "bump", "arguments": {"by": 2}}])


@pytest.fixture(scope="module")
def fake() -> FakeOpenAIServer:
    server = FakeOpenAIServer(model="e2e-model")
    server.default = script
    with server:
        yield server


@pytest.fixture(scope="module")
def lab(fake, tmp_path_factory):
    with notebook_lab(tmp_path_factory, "tools", CELLS, fake.base_url) as info:
        yield info


def use_theme(page, theme: str) -> None:
    page.evaluate(
        "(theme) => window.jupyterapp.commands.execute('apputils:change-theme', {theme})", theme
    )
    page.wait_for_function(
        "(theme) => document.body.dataset.jpThemeName === theme", arg=theme, timeout=30_000
    )
    time.sleep(0.8)


def output_text(page, index: int) -> str:
    return cell(page, index).locator(".jp-OutputArea").inner_text()


def denials(fake: FakeOpenAIServer) -> list[str]:
    return [
        str(m.get("content"))
        for r in fake.requests
        for m in r.messages
        if m.get("role") == "tool" and "denied" in str(m.get("content"))
    ]


def test_setup(page) -> None:
    for index in (0, 1):
        run(page, index)
        wait_done(page, index)


def test_run_once_runs_the_function_in_the_kernel(page, fake) -> None:
    run(page, 2)
    button = cell(page, 2).get_by_role("button", name="Run once")
    button.wait_for(timeout=30_000)
    assert busy(page, 2)  # the cell waits for the click
    assert '"by": 2' in cell(page, 2).locator("textarea").input_value()
    cell(page, 2).scroll_into_view_if_needed()
    shot(page, "tools-ask-light")
    button.click()
    wait_done(page, 2)
    text = output_text(page, 2)
    assert "The tool said: 2" in text
    assert "bump" in text  # the collapsed tool item
    item = cell(page, 2).locator(".lexilux-tool")
    assert item.count() == 1 and cell(page, 2).locator("details").count() == 0  # export-safe
    assert "bump" in item.locator("div").first.inner_text()
    assert '"by": 2' in item.locator("pre").first.inner_text()  # its arguments, shown
    assert not cell(page, 2).get_by_role("button", name="Run once").count()  # the prompt is gone
    run(page, 3)
    wait_done(page, 3)
    assert "counter is 2" in output_text(page, 3)
    shot(page, "tools-done-light")


def test_deny_is_reported_to_the_model(page, fake) -> None:
    use_theme(page, "JupyterLab Dark")
    run(page, 4)
    deny = cell(page, 4).get_by_role("button", name="Deny")
    deny.wait_for(timeout=30_000)
    cell(page, 4).scroll_into_view_if_needed()
    shot(page, "tools-ask-dark")
    deny.click()
    wait_done(page, 4)
    assert denials(fake), "the server never received the denial"
    assert "denied" in output_text(page, 4)
    run(page, 5)
    wait_done(page, 5)
    assert "counter is 2" in output_text(page, 5)  # bump did not run
    shot(page, "tools-denied-dark")
    use_theme(page, "JupyterLab Light")


def test_the_panel_asks_on_its_own_loop(page, fake) -> None:
    run(page, 6)
    wait_done(page, 6)
    panel = cell(page, 6)
    panel.locator("textarea").first.fill("Bump from the panel.")
    panel.get_by_role("button", name="Send").click()
    button = panel.get_by_role("button", name="Run once")
    button.wait_for(timeout=30_000)
    panel.scroll_into_view_if_needed()
    shot(page, "tools-panel-ask")
    button.click()
    deadline = time.monotonic() + 30
    while "The tool said: 4" not in panel.inner_text():
        assert time.monotonic() < deadline, panel.inner_text()
        time.sleep(0.1)
    run(page, 7)
    wait_done(page, 7)
    assert "counter is 4" in output_text(page, 7)
    shot(page, "tools-panel-done")


def test_stop_during_approval_leaves_the_history_as_it_was(page, fake) -> None:
    run(page, 8)
    cell(page, 8).get_by_role("button", name="Run once").wait_for(timeout=30_000)
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:interrupt-kernel')")
    wait_done(page, 8)
    assert "Interrupted" in output_text(page, 8)
    assert not cell(page, 8).get_by_role("button", name="Run once").count()
    run(page, 9)
    wait_done(page, 9)
    # three recorded tool turns of four messages each; the stopped one added nothing
    assert "counter is 4 messages 12" in output_text(page, 9)
    shot(page, "tools-stopped")
