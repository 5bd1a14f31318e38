"""A DataFrame and a figure referenced in ``%%chat``, in real JupyterLab and Chromium: the fake
server receives the table as text and the figure as an image part; the cell shows what was sent
in a collapsed item, with a placeholder for the image, never base64."""

from __future__ import annotations

import base64
import io
import time
from typing import Any

import pytest

from lexilux_nb.testing import FakeOpenAIServer, Reply

from .conftest import _require, notebook_lab, run_all, shot

pytestmark = pytest.mark.e2e

ANSWER = "Two ports; the line rises, then falls."
CELLS = [
    "%load_ext lexilux_nb",
    "import pandas as pd\nimport matplotlib.pyplot as plt\n%matplotlib inline\n"
    "df = pd.DataFrame({'port': ['Brest', 'Cádiz'], 'high': ['06:12', '07:40']})\n"
    "fig, ax = plt.subplots()\nax.plot([1, 3, 2]);",
    "%%chat --no-history\nSummarise {df} and describe {fig}.",
]


@pytest.fixture(scope="module")
def server() -> Any:
    _require()
    with FakeOpenAIServer(model="e2e-model") as made:
        made.default = lambda request: Reply(text=ANSWER)
        yield made


@pytest.fixture(scope="module")
def lab(server: Any, tmp_path_factory: Any) -> Any:
    with notebook_lab(tmp_path_factory, "context", CELLS, server.base_url) as info:
        yield info


def test_a_dataframe_and_a_figure_reach_the_model_and_the_cell_shows_the_context(
    page: Any, server: Any
) -> None:
    from PIL import Image

    run_all(page)
    chat_cell = page.locator(".jp-Notebook .jp-Cell").nth(2)
    deadline = time.monotonic() + 60
    while ANSWER not in chat_cell.inner_text():
        assert time.monotonic() < deadline, chat_cell.inner_text()
        time.sleep(0.2)

    content = server.requests[-1].messages[-1]["content"]
    assert [p["type"] for p in content] == ["text", "image_url", "text"]
    assert content[0]["text"].startswith("Summarise\nDataFrame: 2 rows × 2 columns")
    assert "| Brest | 06:12 |" in content[0]["text"] and "| Cádiz | 07:40 |" in content[0]["text"]
    assert content[0]["text"].endswith("| Cádiz | 07:40 |\nand describe ")
    assert content[2]["text"] == "."
    png = base64.b64decode(content[1]["image_url"]["url"].split(",", 1)[1])
    assert Image.open(io.BytesIO(png)).size == (640, 480)

    item = chat_cell.locator(".lexilux-context")
    assert item.count() == 1 and chat_cell.locator("details").count() == 0  # export-safe
    title = item.locator("div").first.inner_text()
    assert "Context sent: {df}: DataFrame" in title and "{fig}: [image 640×480 PNG" in title
    html = chat_cell.inner_html()
    assert "base64" not in html and "iVBOR" not in html
    pre = item.locator("pre")
    assert pre.is_visible()
    assert "| Brest | 06:12 |" in pre.inner_text() and "[image 640×480 PNG" in pre.inner_text()
    box = pre.evaluate("p => [p.clientHeight, p.scrollHeight, getComputedStyle(p).overflowY]")
    assert box[0] < box[1] and box[2] == "auto"  # a long context scrolls in a bounded box
    chat_cell.scroll_into_view_if_needed()
    shot(page, "context-sent")
