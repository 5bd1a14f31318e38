"""The ``text/markdown`` part of our outputs, rendered by real renderers in Chromium, runs nothing.

JupyterLab renders current-session outputs as trusted: no sanitiser, raw HTML on, script tags
run (marked, then MathJax on the result). A cell displays each hostile markdown part on its own
(answers, footers, history transcripts, cut-off fences); the same parts are also rendered by
markdown-it and mistune with raw HTML on into static pages. Nothing may run, no ``javascript:``
link, no event handler, no ``<img>``/``<iframe>``/``<script>`` element.
"""

from __future__ import annotations

import json
import time

import pytest
from markdown_it import MarkdownIt

from lexilux_nb import ChatHistory, ChatResult
from lexilux_nb.engine import Outcome
from lexilux_nb.markup.escape import inert_markdown
from lexilux_nb.notebook.views import answer_bundle
from tests.markup.corpus import ESCAPE_XSS_CASES, HOSTILE_FIELDS, mistune_render

from .conftest import launch_lab, open_notebook, run_all, write_notebook
from .probes import INERT

pytestmark = pytest.mark.e2e

SCRIPTED = [
    "<script>window.__xss = 'script'</script>",
    "<img src=x onerror=\"window.__xss = 'img'\">",
    "[click](javascript:window.__xss='link')",
    "[click](&#106;avascript:window.__xss='entity')",
    "$\\href{javascript:window.__xss='mathjax'}{tex link}$",
    "$$\\href{javascript:alert('mathjax block')}{x}$$",
    "```\n<svg onload=\"window.__xss='svg'\">",
]


def markdown_parts() -> list[str]:
    parts = [inert_markdown(src) for src in [*ESCAPE_XSS_CASES, *SCRIPTED]]
    for i, field in enumerate(HOSTILE_FIELDS):
        answer = SCRIPTED[i % len(SCRIPTED)]
        outcome = Outcome(ChatResult(text=answer), "complete", 3.0, field)
        parts.append(answer_bundle(outcome)["text/markdown"])
    history = ChatHistory(system="<script>window.__xss='system'</script>")
    history.add_user("Give me the page")
    history.add_assistant("Sure:\n\n```\n<p>cut off", model=HOSTILE_FIELDS[0])
    history.add_user("again")
    history.add_assistant("Fixed:\n\n```\n<img src=x onerror=\"window.__xss='history'\">\n```")
    history.add_assistant(
        None,
        tool_calls=[{"id": f, "function": {"name": f, "arguments": "{}"}} for f in HOSTILE_FIELDS],
    )
    history.add_tool_result("call", "</code><img src=x onerror=alert('tool')>", name="t<b>")
    parts.append(history._repr_markdown_())
    parts.append(ChatResult(text="```\n<img src=x onerror=alert('result')>")._repr_markdown_())
    parts.append("\n\n---\n\n".join(parts[-40:]))  # concatenated, as a transcript would be
    return parts


PARTS = markdown_parts()


@pytest.fixture(scope="module")
def lab(servers, tmp_path_factory):
    main, _ = servers
    root = tmp_path_factory.mktemp("parts")
    (root / "parts.json").write_text(json.dumps(PARTS), encoding="utf-8")
    show = (  # JupyterLab shows at most 50 outputs per cell
        "import json\nfrom IPython.display import display\n\n"
        "for part in json.load(open('parts.json', encoding='utf-8'))[{start}:{start} + 40]:\n"
        "    display({{'text/markdown': part}}, raw=True)"
    )
    cells = [show.format(start=start) for start in range(0, len(PARTS), 40)]
    write_notebook(root / "parts.ipynb", cells)
    with launch_lab(root, main.base_url) as info:
        yield {**info, "notebook": "parts.ipynb"}


def test_jupyterlab_renders_every_markdown_part_inert(browser, lab) -> None:
    page = open_notebook(browser, lab, lab["notebook"])
    try:
        run_all(page)
        page.wait_for_function(
            "(n) => document.querySelectorAll('.jp-OutputArea-output.jp-RenderedMarkdown')"
            ".length === n",
            arg=len(PARTS),
            timeout=60_000,
        )
        time.sleep(2.0)  # MathJax typesets after the markdown is in the page
        outputs = page.locator(".jp-OutputArea-output.jp-RenderedMarkdown")
        assert outputs.locator("mjx-container").count() >= 2  # the TeX payloads were typeset
        found = page.evaluate(INERT, ".jp-OutputArea")
        assert found == {"bad": [], "xss": None}
        assert page.dialogs == []
    finally:
        page.context.close()


@pytest.mark.parametrize("renderer", ["markdown-it", "mistune"])
def test_static_renderers_with_raw_html_render_every_part_inert(browser, renderer: str) -> None:
    if renderer == "markdown-it":
        md = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])
        md.validateLink = lambda url: True  # type: ignore[method-assign]
        render = md.render
    else:
        render = mistune_render
    body = "".join(f"<section>{render(part)}</section>" for part in PARTS)
    page = browser.new_context().new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.route("**/*", lambda route: route.abort())  # nothing may load
    try:
        page.set_content(f"<!DOCTYPE html><html><body>{body}</body></html>")
        time.sleep(0.5)
        assert page.locator("section").count() == len(PARTS)
        assert page.evaluate(INERT, "body") == {"bad": [], "xss": None}
        assert dialogs == []
    finally:
        page.context.close()
