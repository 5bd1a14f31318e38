"""``%%chat_map`` over a DataFrame in real JupyterLab: the progress bar advances while the rows
are answered, the new column arrives, and the stop button keeps the rows already answered."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from lexilux_nb.testing import FakeOpenAIServer
from lexilux_nb.testing.replies import echo_reply

from .conftest import _require, notebook_lab, open_notebook, shot

pytestmark = pytest.mark.e2e

CELLS = [
    "%load_ext lexilux_nb\nimport pandas as pd\n"
    "df = pd.DataFrame({'text': [f'ticket {i}' for i in range(45)]})\n"
    "big = pd.DataFrame({'text': [f'row {i}' for i in range(60)]})",
    "%%chat_map -i df -o label --concurrency 1\nClassify: {text}",
    "print(int(df['label'].notna().sum()), df['label'][0])",
    "%%chat_map -i big -o label --concurrency 2\n{text}",
    "print('answered', int(big['label'].notna().sum()))",
]


@pytest.fixture(scope="module")
def server() -> Iterator[FakeOpenAIServer]:
    _require()
    with FakeOpenAIServer(model="e2e-model") as fake:
        fake.default = lambda req: replace(echo_reply(req), latency=0.25)
        yield fake


@pytest.fixture(scope="module")
def lab(server: FakeOpenAIServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with notebook_lab(tmp_path_factory, "map", CELLS, server.base_url) as info:
        yield info


def run_cell(page: Any, index: int) -> None:
    cell = page.locator(".jp-Notebook .jp-Cell").nth(index)
    cell.click()
    # not awaited: the command's promise settles only when the cell has finished
    page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-cell'); }")


def wait_done(page: Any, index: int, timeout: float = 90) -> Any:
    cell = page.locator(".jp-Notebook .jp-Cell").nth(index)
    deadline = time.monotonic() + timeout
    while True:
        prompt = cell.locator(".jp-InputPrompt").inner_text().strip()
        if prompt not in ("[ ]:", "[*]:", ""):
            return cell
        assert time.monotonic() < deadline, f"cell {index} still running"
        time.sleep(0.1)


def bar_width(cell: Any) -> float | None:
    bar = cell.locator(".progress-bar")
    if not bar.count():
        return None
    style = bar.first.get_attribute("style") or ""
    for part in style.split(";"):
        key, _, value = part.partition(":")
        if key.strip() in ("width", "height") and value.strip().endswith("%"):
            return float(value.strip()[:-1])
    return None


def test_the_bar_advances_the_column_arrives_and_a_stop_keeps_rows(
    browser: Any, lab: Any, server: FakeOpenAIServer
) -> None:
    page = open_notebook(browser, lab, lab["notebook"])
    try:
        run_cell(page, 0)
        wait_done(page, 0)
        started = time.monotonic()
        run_cell(page, 1)
        cell = page.locator(".jp-Notebook .jp-Cell").nth(1)
        seen: list[float] = []
        styles: list[str] = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            bar = cell.locator(".progress-bar")
            styles.append(
                f"{time.monotonic() - started:.1f}s {len(server.requests)} "
                + (bar.first.get_attribute("style") or "" if bar.count() else "-")
            )
            width = bar_width(cell)
            if width is not None and 0 < width < 100 and not any(0 < w < 100 for w in seen):
                shot(page, "map_progress_midway")
            if width is not None:
                seen.append(width)
            if width == 100:
                break
            time.sleep(0.1)
        assert any(0 < w < 100 for w in seen), (seen, styles)  # shown part way
        assert seen[-1] == 100
        done = wait_done(page, 1)
        assert "45/45 done" in done.inner_text()
        shot(page, "map_progress_done")
        run_cell(page, 2)
        out = wait_done(page, 2).locator(".jp-OutputArea").inner_text()
        assert "45 Echo: Classify: ticket 0" in out

        before = len(server.requests)
        run_cell(page, 3)
        deadline = time.monotonic() + 30
        while len(server.requests) - before < 8 and time.monotonic() < deadline:
            time.sleep(0.05)
        page.evaluate("() => { window.jupyterapp.commands.execute('kernelmenu:interrupt'); }")
        stopped = wait_done(page, 3)
        text = stopped.inner_text()
        assert "Interrupted" in text and "written to big['label']" in text
        assert "Traceback" not in text
        shot(page, "map_interrupted")
        run_cell(page, 4)
        answered = wait_done(page, 4).locator(".jp-OutputArea").inner_text()
        count = int(answered.split()[-1])
        assert 4 <= count < 60
    finally:
        page.context.close()
