"""JupyterLab in headless Chromium: what a person sees, checked in the page's DOM.

The tests run the notebook's cells in order, one per test, like a person working top to bottom.
"""

from __future__ import annotations

import time

import pytest

from .conftest import STORY, shot

pytestmark = pytest.mark.e2e


def cell(page, index: int):
    return page.locator(".jp-Notebook .jp-Cell").nth(index)


def prompt(page, index: int) -> str:
    return cell(page, index).locator(".jp-InputPrompt").inner_text()


def run(page, index: int) -> None:
    """Run one cell and wait until JupyterLab shows it as started."""
    before = prompt(page, index)
    cell(page, index).locator(".jp-InputArea-editor").click()
    page.keyboard.press("Shift+Enter")
    deadline = time.monotonic() + 15
    while prompt(page, index) == before:
        assert time.monotonic() < deadline, f"cell {index} did not start"
        time.sleep(0.02)


def busy(page, index: int) -> bool:
    return "*" in prompt(page, index)


def wait_done(page, index: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while busy(page, index):
        assert time.monotonic() < deadline, f"cell {index} still running"
        time.sleep(0.05)


SNAPSHOT = """([index, selector]) => {
    const cell = document.querySelectorAll('.jp-Notebook .jp-Cell')[index];
    const node = cell && cell.querySelector(selector);
    return node ? node.innerHTML : null;
}"""


def watch(
    page, index: int, selector: str, timeout: float = 60, shoot: str = "", shoot_at: int = 3
) -> list[str]:
    """Distinct innerHTML of ``selector`` in a cell's output while the cell runs.

    With ``shoot``, a screenshot is taken mid-way (at the ``shoot_at``-th distinct state).
    """
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while True:
        html = page.evaluate(SNAPSHOT, [index, selector])  # one read: widgets come and go
        if html is not None and (not seen or seen[-1] != html):
            seen.append(html)
            if shoot and len(seen) == shoot_at:
                shot(page, shoot)
        if not busy(page, index):
            return seen
        assert time.monotonic() < deadline, f"cell {index} still running"
        time.sleep(0.04)


def test_load_extension(page) -> None:
    run(page, 0)
    wait_done(page, 0)
    assert not cell(page, 0).locator(".jp-OutputArea-output[data-mime-type*='error']").count()


def test_chat_answer_streams_progressively_and_renders_markdown(page) -> None:
    run(page, 1)
    partials = watch(page, 1, ".lexilux-answer", shoot="streaming", shoot_at=12)
    growing = [p for p in partials if "Tide" in p or "sea" in p]
    assert len(set(growing)) >= 3, f"expected several partial renders, saw {len(set(growing))}"
    final = cell(page, 1).locator(".jp-OutputArea .lexilux-answer").last
    assert final.locator("[role=heading][aria-level='2']").inner_text() == "Tide tables"
    assert final.locator("li").count() == 3
    assert final.locator("[role=cell]").first.inner_text() == "Brest"
    assert final.locator("span[style*='line-through']").inner_text() == "never"
    highlighted = final.locator("pre span[style]")
    assert highlighted.count() > 3, "code block is highlighted"
    cell(page, 1).scroll_into_view_if_needed()
    shot(page, "answer")


def test_chat_complete_shows_rounds_and_stitches_without_seams(page) -> None:
    run(page, 2)
    states = watch(page, 2, ".widget-hbox", shoot="progress")  # the progress bar and its label
    rounds = {s.split("continuing: round")[1][:8] for s in states if "continuing: round" in s}
    assert len(rounds) >= 3, f"progress should advance through rounds, saw {rounds}"
    output = cell(page, 2).locator(".jp-OutputArea")
    assert "complete ·" in output.locator(".lexilux-progress").inner_text()
    text = output.locator(".lexilux-answer > div").first.inner_text()
    assert " ".join(text.split()) == STORY  # every overlapping repeat was dropped at the seams
    for i in range(1, 9):
        assert text.count(f"Wave {i} ") == 1


def test_unsafe_model_output_runs_nothing(page) -> None:
    run(page, 3)
    wait_done(page, 3)
    output = cell(page, 3).locator(".jp-OutputArea")
    assert "Inert:" in output.inner_text()
    assert output.locator("img").count() == 0
    assert output.locator("script").count() == 0
    assert output.locator("a[href^='javascript']").count() == 0
    assert output.locator("[onerror]").count() == 0
    time.sleep(0.5)
    assert page.evaluate("window.__xss") is None
    assert page.dialogs == []  # type: ignore[attr-defined]


def test_panel_streams_stops_and_shares_the_history(page, servers) -> None:
    main, _ = servers
    run(page, 4)
    wait_done(page, 4)
    panel = cell(page, 4)
    box = panel.locator(".widget-textarea textarea")
    box.wait_for(timeout=30_000)
    box.fill("Hello from the panel")
    panel.locator("button", has_text="Send").click()
    page.wait_for_function(
        "() => [...document.querySelectorAll('.jp-Cell .widget-html-content')]"
        ".some(n => n.innerHTML.includes('<strong>hears</strong>'))",
        timeout=30_000,
    )
    panel.scroll_into_view_if_needed()
    shot(page, "panel")

    box.fill("Keep talking")
    panel.locator("button", has_text="Send").click()
    page.wait_for_function(  # the answer streams into the panel's live view
        "() => (document.querySelectorAll('.jp-Notebook .jp-Cell')[4]"
        ".querySelector('.lexilux-live')?.innerText || '').includes('panel20')",
        timeout=30_000,
    )
    clicked = time.monotonic()
    panel.locator("button", has_text="Stop").click()
    page.wait_for_function(  # the stopped answer lands in the transcript, marked so
        "() => (document.querySelectorAll('.jp-Notebook .jp-Cell')[4]"
        ".querySelector('.lexilux-transcript')?.innerText || '').includes('stopped')",
        timeout=5_000,
    )
    assert time.monotonic() - clicked < 2.0  # includes the browser round trip
    assert "panel399" not in panel.inner_text()
    transcript = panel.locator(".lexilux-transcript").inner_text()
    assert transcript.count("stopped") == 1 and "panel20" in transcript  # one footer, kept

    run(page, 5)
    wait_done(page, 5)
    sent = main.requests[-1].messages
    assert {"role": "user", "content": "Hello from the panel"} in sent
    assert {"role": "assistant", "content": "The panel **hears** you."} in sent
    kept = [m for m in sent if str(m.get("content")).startswith("panel0 panel1")]
    assert len(kept) == 1 and "panel399" not in kept[0]["content"]  # the stopped partial


def test_error_shows_a_short_readable_message(page) -> None:
    run(page, 6)
    wait_done(page, 6)
    text = cell(page, 6).locator(".jp-OutputArea").inner_text()
    assert "AuthenticationError" in text and "401" in text
    assert "Traceback" not in text and "site-packages" not in text


def test_rerunning_a_cell_replaces_its_turn(page, servers) -> None:
    main, _ = servers
    run(page, 1)  # JupyterLab sends the cell id: the turn is replaced, not appended
    wait_done(page, 1)
    assert main.requests[-1].messages == [{"role": "user", "content": "Show me the markdown demo."}]
    run(page, 5)  # the follow-up still sees one markdown turn, then the panel's
    wait_done(page, 5)
    users = [m["content"] for m in main.requests[-1].messages if m["role"] == "user"]
    assert users.count("Show me the markdown demo.") == 1


def test_interrupt_stops_the_stream_and_keeps_the_partial_answer(page) -> None:
    run(page, 7)
    page.wait_for_function(
        "() => (document.querySelectorAll('.jp-Notebook .jp-Cell')[7]"
        ".querySelector('.lexilux-answer')?.innerText || '').includes('panel20')",
        timeout=30_000,
    )
    clicked = time.monotonic()
    page.locator(
        "jp-button[data-command='notebook:interrupt-kernel'], "
        "button[data-command='notebook:interrupt-kernel']"
    ).first.click()
    wait_done(page, 7, timeout=10)
    assert time.monotonic() - clicked < 3.0  # includes the browser and kernel round trips
    output = cell(page, 7).locator(".jp-OutputArea").inner_text()
    assert "panel20" in output and "panel399" not in output
    answer = cell(page, 7).locator(".lexilux-answer").last.inner_text()
    assert answer.rstrip().endswith("stopped")  # the footer says it once
    error = cell(page, 7).locator("[data-mime-type='application/vnd.jupyter.stderr']")
    lines = [line for line in error.inner_text().splitlines() if line.strip()]
    assert 1 <= len(lines) <= 3, lines  # a short message, no traceback
    assert "Interrupted" in lines[0] and "_chat" in " ".join(lines)
    cell(page, 7).scroll_into_view_if_needed()
    shot(page, "interrupt")


def test_answers_survive_save_and_reload(page) -> None:
    page.keyboard.press("Escape")
    page.keyboard.press("Control+s")
    time.sleep(1.5)
    page.reload()
    page.wait_for_selector(".jp-Notebook .jp-Cell .lexilux-answer", timeout=60_000)
    assert cell(page, 1).locator(".lexilux-answer [role=cell]").first.inner_text() == "Brest"
    continued = cell(page, 2).locator(".lexilux-answer")
    continued.filter(has_text="Wave 8").wait_for(timeout=30_000)  # outputs render one by one
    assert "Wave 8" in continued.inner_text()
    unsafe = cell(page, 3).locator(".jp-OutputArea")
    assert unsafe.locator("img, script, a[href^='javascript']").count() == 0
    assert page.evaluate("window.__xss") is None
