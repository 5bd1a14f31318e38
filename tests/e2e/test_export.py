"""Our real outputs exported to HTML by nbconvert, sanitised and not, opened in Chromium.

Sanitised is what JupyterLab's "Save and Export Notebook As › HTML" gives by default (its
"Sanitize HTML output" box is ticked): nbconvert picks each output's ``text/html`` (it ranks above
``text/markdown``), strips ``style`` and every attribute but ``class``/``id``, and escapes every
tag outside its allowlist into visible text. Either way the page must read as rendered markdown:
no CSS or tag text, headings, lists, table rows and code still structured.
"""

from __future__ import annotations

import re

import nbformat
import pytest
from nbconvert import HTMLExporter
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from lexilux_nb import ChatHistory, ChatResult
from lexilux_nb.client.models import ToolCall
from lexilux_nb.client.toolstate import ToolActivity
from lexilux_nb.client.transport import PreparedRequest
from lexilux_nb.context.prompt import Composed
from lexilux_nb.engine import Outcome
from lexilux_nb.notebook.config import Endpoint, Setting
from lexilux_nb.notebook.preview import request_preview
from lexilux_nb.notebook.progress import ContinuationBar
from lexilux_nb.notebook.tool_view import ToolItems
from lexilux_nb.notebook.views import answer_bundle

from .conftest import RICH, SHOTS, THEMES
from .probes import INERT

pytestmark = pytest.mark.e2e

TAG_TEXT = re.compile(r"</?[a-z][a-z0-9]*(\s[^<>]*)?/?>", re.I)
CSS_TEXT = re.compile(
    r"--jp-|var\(|color-mix|lexilux-|\b(?:display|margin|padding|border(?:-[a-z]+)?|background"
    r"|font-(?:size|weight|family)|line-height|overflow(?:-x)?|white-space|text-align)\s*:",
    re.I,
)


def bundles() -> list[dict[str, str]]:
    """The outputs a notebook keeps: answers, the progress line, the history's reprs."""
    rich = answer_bundle(Outcome(ChatResult(text=RICH), "complete", 0.4, "e2e-model"))
    themes = answer_bundle(
        Outcome(
            ChatResult(text=THEMES, reasoning="First I *look* at the moon."),
            "complete",
            0.1,
            "e2e-model",
        )
    )
    story = ChatResult(text="Wave 1 rolled in.", continues=2, truncated=True)
    continued = answer_bundle(Outcome(story, "interrupted", 2.0, "e2e-model"))
    continued["text/html"] = (
        ContinuationBar.final_html(None, story) + continued["text/html"]  # type: ignore[arg-type]
    )
    history = ChatHistory(system="Be brief.")
    history.add_user("Show me the markdown demo.")
    history.add_assistant(RICH, model="e2e-model")
    shown = {
        "text/html": history._repr_html_(),
        "text/markdown": history._repr_markdown_(),
        "text/plain": repr(history),
    }
    tools = ToolItems()
    call = ToolCall("c1", "tide_at", '{"port": "Brest"}')
    tools.update(ToolActivity(call, "done", result="06:12 (high)", seconds=0.2))
    used = answer_bundle(
        Outcome(ChatResult(text="High tide at 06:12."), "complete", 0.3, "e2e-model"),
        tools=tools,
    )
    sent = Composed("In [1]:\nports = ['Brest']\nWhen is high tide?", sent=["1 previous cell(s)"])
    context = sent.bundle()
    assert context is not None
    request = PreparedRequest(
        "http://127.0.0.1:9/v1/chat/completions",
        {"Authorization": "Bearer sk-export-SECRET-1"},
        {"model": "e2e-model", "messages": [{"role": "user", "content": "When is high tide?"}]},
        stream=True,
    )
    endpoint = Endpoint(
        Setting("http://127.0.0.1:9/v1", "test"),
        Setting("sk-export-SECRET-1", "test", secret=True),
        Setting("e2e-model", "test"),
    )
    dry = request_preview(request, endpoint)
    dry.pop("application/json")
    return [rich, themes, continued, shown, used, context, dry]


def export(tmp_path, sanitize: bool) -> str:
    nb = new_notebook(cells=[new_markdown_cell("Notes written by hand.")])
    for i, bundle in enumerate(bundles()):
        cell = new_code_cell(f"%%chat\nquestion {i}", execution_count=i + 1)
        cell.outputs = [new_output("display_data", data=bundle)]
        nb.cells.append(cell)
    body, _ = HTMLExporter(sanitize_html=sanitize).from_notebook_node(
        nbformat.from_dict(nb.dict() if hasattr(nb, "dict") else nb)
    )
    path = tmp_path / f"export-{'sanitised' if sanitize else 'plain'}.html"
    path.write_text(body, encoding="utf-8")
    return path.as_uri()


@pytest.fixture(scope="module", params=[True, False], ids=["sanitised", "unsanitised"])
def exported(request, browser, tmp_path_factory):
    url = export(tmp_path_factory.mktemp("export"), request.param)
    context = browser.new_context(viewport={"width": 1100, "height": 1400})
    page = context.new_page()
    requested: list[str] = []

    def offline(route):  # the template links CDN scripts: nothing leaves the machine
        requested.append(route.request.url)
        return route.abort() if not route.request.url.startswith("file:") else route.continue_()

    page.route("**/*", offline)
    page.goto(url)
    page.wait_for_load_state("load")
    yield page, request.param
    name = "sanitised" if request.param else "unsanitised"
    page.screenshot(path=str(SHOTS / f"export-{name}.png"), full_page=True)
    context.close()


def outputs_text(page) -> str:
    texts = page.locator(".jp-OutputArea-output").all_inner_texts()
    assert len(texts) == 7
    return "\n".join(texts)


def test_no_tag_or_css_text_shows(exported) -> None:
    page, _ = exported
    text = outputs_text(page)
    assert not TAG_TEXT.search(text), TAG_TEXT.search(text)
    assert not CSS_TEXT.search(text), CSS_TEXT.search(text)
    assert "Tide tables" in text and "Brest" in text and "my_list = [1, 2, 3]" in text


def test_structure_survives(exported) -> None:
    page, sanitised = exported
    outputs = page.locator(".jp-OutputArea-output")
    answer = outputs.nth(0)
    heading = answer.locator("div > strong", has_text="Tide tables")
    assert heading.count() == 1 and heading.evaluate("s => s.parentElement.innerText") == (
        "Tide tables"
    )
    assert answer.locator("ul > li").count() == 3
    rows = answer.locator(".lexilux-table > div > div").all_inner_texts()
    assert (
        [" ".join(r.split()) for r in rows][:2] == ["Port | High tide", "Brest | 06:12"]
        if (sanitised)
        else ["Port High tide", "Brest 06:12"]
    )
    code = outputs.nth(1).locator("pre", has_text="my_list = [1, 2, 3]")
    assert code.count() == 1 and code.locator("span").count() > 5
    assert outputs.nth(1).locator("blockquote", has_text="Reasoning").count() == 1
    assert "still cut at the token limit" in outputs.nth(2).inner_text()
    assert outputs.nth(3).locator("pre, div", has_text="Tide tables").count() >= 1  # history
    tool = outputs.nth(4).locator(".lexilux-tool")
    assert (
        "tide_at" in tool.inner_text()
        and '"port": "Brest"' in tool.locator("pre").first.inner_text()
    )
    assert "06:12 (high)" in tool.locator("pre").nth(1).inner_text()
    context = outputs.nth(5).locator(".lexilux-context")
    assert "Context sent: 1 previous cell(s)" in context.inner_text()
    assert "ports = ['Brest']" in context.locator("pre").inner_text()
    dry = outputs.nth(6)
    assert "The request as JSON" in dry.inner_text() and '"model": "e2e-model"' in dry.inner_text()
    assert "SECRET" not in dry.inner_text()
    styled = page.locator(".jp-OutputArea-output [style]").count()
    assert (styled == 0) if sanitised else (styled > 50)


def test_styles_are_kept_unless_sanitised(exported) -> None:
    page, sanitised = exported
    pre = page.locator(".jp-OutputArea-output pre.lexilux-code").first
    assert (pre.get_attribute("style") is None) == sanitised
    if not sanitised:  # its own style: code scrolls inside the block
        assert pre.evaluate("p => getComputedStyle(p).overflowX") == "auto"
    cells = page.locator(".jp-OutputArea-output .lexilux-table span")
    display = cells.first.evaluate("c => getComputedStyle(c).display")
    assert (display == "table-cell") == (not sanitised)
    headings = page.locator("[role=heading][aria-level='2']").count()
    assert (headings == 0) if sanitised else (headings >= 1)  # the sanitiser drops ARIA too


def test_export_runs_nothing(exported) -> None:
    page, _ = exported
    found = page.evaluate(INERT, ".jp-Notebook, main, body")
    assert found["xss"] is None
    assert [b for b in found["bad"] if not b.startswith(("<script>", "<meta>", "<link>"))] == []
