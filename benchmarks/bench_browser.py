"""What each live-view update costs the browser as the answer grows, measured in JupyterLab.

A fake server streams 20 KB and 100 KB markdown answers (a code block in every section) at about
1,000 chunks a second into ``%%chat`` in real JupyterLab, shown by headless Chromium. While the
cell runs, Chromium's own counters (DevTools ``Performance.getMetrics``: ``TaskDuration``, the
main thread's busy time, and ``LayoutCount``) are read every 200 ms beside the number of updates
the page received (a ``MutationObserver`` on the output area counts its callbacks). The busy time
per update in the first quarter of the answer is compared with the last quarter: a view whose
per-update cost grows with the answer (the whole-HTML view re-parses everything) shows a growing
ratio; the appending view (``live_append=true``, the default) should stay flat. Both views run
side by side in one session; the appending view's own handler time (``window.__lexiluxLive``) is
reported too.

Run: ``python benchmarks/bench_browser.py`` (about two minutes; needs the test extra and Debian's
chromium, which ``make test`` installs).
"""

from __future__ import annotations

import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_live import CODE, answer, chunks  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402

from lexilux_nb.testing import FakeOpenAIServer, Reply  # noqa: E402
from tests.e2e.conftest import CHROMIUM, launch_lab, open_notebook, write_notebook  # noqa: E402

OBSERVE = """(index) => {
    const cell = document.querySelectorAll('.jp-Notebook .jp-Cell')[index];
    const area = cell.querySelector('.jp-Cell-outputArea');
    window.__updates = 0;
    window.__lexiluxLive = [];
    if (window.__observer) window.__observer.disconnect();
    window.__observer = new MutationObserver(() => { window.__updates += 1; });
    window.__observer.observe(area, {childList: true, subtree: true, characterData: true});
}"""
SAMPLE = """(index) => {
    const cell = document.querySelectorAll('.jp-Notebook .jp-Cell')[index];
    const area = cell.querySelector('.jp-Cell-outputArea');
    return [window.__updates, area.innerText.length];
}"""


def run_cell(page: Any, cdp: Any, index: int) -> list[tuple[float, int, int]]:
    """Run cell ``index``; samples of (busy ms, updates, characters shown) until it finishes."""
    cells = page.locator(".jp-Notebook .jp-Cell")
    cells.nth(index).locator(".jp-InputArea-editor").click()
    before = cells.nth(index).locator(".jp-InputPrompt").inner_text()
    page.keyboard.press("Shift+Enter")
    samples = []
    started = time.monotonic()
    while cells.nth(index).locator(".jp-InputPrompt").inner_text() == before:
        time.sleep(0.02)  # JupyterLab has not started it yet
    while True:
        metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
        updates, shown = page.evaluate(SAMPLE, index)
        samples.append((metrics["TaskDuration"] * 1000, updates, shown))
        prompt = cells.nth(index).locator(".jp-InputPrompt").inner_text()
        if re.fullmatch(r"\[\d+\]:", prompt.strip()):  # done: numbered, not [*] or queued
            return samples
        if time.monotonic() - started > 120:
            raise TimeoutError("the cell did not finish in 120 s")
        time.sleep(0.2)


def per_update(samples: list[tuple[float, int, int]], size: int) -> tuple[float, float]:
    """Busy ms per update over the first and the last quarter of the answer."""

    def window(low: float, high: float) -> float:
        inside = [s for s in samples if low * size <= s[2] <= high * size]
        if len(inside) < 2:
            return float("nan")
        busy = inside[-1][0] - inside[0][0]
        updates = inside[-1][1] - inside[0][1]
        return busy / updates if updates else float("nan")

    return window(0.0, 0.25), window(0.75, 1.0)


def main() -> None:
    sizes = (20_000, 100_000)
    views = (("appending", 2), ("whole HTML", 4))  # the cell that runs each view
    rows = []
    cells = [
        "%load_ext lexilux_nb",
        "%chat_config live_append=true",
        "%%chat --no-history\nGo.",
        "%chat_config live_append=false",
        "%%chat --no-history\nGo.",
    ]
    with FakeOpenAIServer(model="bench-model") as server, tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_notebook(root / "bench.ipynb", cells)
        with launch_lab(root, server.base_url) as lab, sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            page = open_notebook(browser, lab, "bench.ipynb")
            cdp = page.context.new_cdp_session(page)
            cdp.send("Performance.enable")
            run_cell(page, cdp, 0)
            for size in sizes:
                text = answer(size, CODE)
                for view, index in views:
                    run_cell(page, cdp, index - 1)
                    page.evaluate(OBSERVE, index)
                    server.queue(Reply(chunks=chunks(text, size // 5), delay=0.001))
                    samples = run_cell(page, cdp, index)
                    first, last = per_update(samples, size)
                    handler = page.evaluate("() => (window.__lexiluxLive || []).map((e) => e.ms)")
                    rows.append((size, view, samples[-1][1], first, last, handler))
            browser.close()
    print(
        "| answer | live view | updates seen | busy ms / update, first quarter "
        "| last quarter | growth | view handler ms (median, last) |"
    )
    print("|---|---|---:|---:|---:|---:|---:|")
    for size, view, updates, first, last, handler in rows:
        own = (
            f"{statistics.median(handler):.2f}, {statistics.median(handler[-20:]):.2f}"
            if handler
            else "–"
        )
        cells = [f"{size // 1000} KB", view, str(updates), f"{first:.2f}", f"{last:.2f}"]
        print("| " + " | ".join([*cells, f"{last / first:.1f}×", own]) + " |")


if __name__ == "__main__":
    main()
