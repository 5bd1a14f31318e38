"""The ``text/markdown`` part of our outputs, rendered by real renderers in Chromium, runs nothing.

JupyterLab renders current-session outputs as trusted: no sanitiser, raw HTML on, script tags
run (marked, then MathJax on the result); a control notebook proves it, by running a raw payload.
A cell displays each hostile markdown part on its own (answers, footers, history transcripts,
cut-off fences); the same parts are also rendered by markdown-it and mistune with raw HTML on
into static pages. A second notebook produces the parts the real way: ``%%chat`` cells against a
server whose answers and model names are hostile, then ``%chat_history``, the ``ChatHistory``
reprs of the hostile corpus histories and their ``.md`` exports, each output's ``text/markdown``
part shown alone (JupyterLab would otherwise pick the HTML part). Nothing may run, no dialog,
no global set, no ``javascript:`` link, no event handler, no ``<img>``/``<iframe>``/``<script>``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from markdown_it import MarkdownIt

from lexilux_nb import ChatHistory, ChatResult
from lexilux_nb.engine import Outcome
from lexilux_nb.markup.escape import inert_markdown
from lexilux_nb.notebook.views import answer_bundle
from lexilux_nb.testing import RecordedRequest, Reply
from tests.markup.corpus import (
    ESCAPE_XSS_CASES,
    HOSTILE_FIELDS,
    HOSTILE_HISTORIES,
    mistune_render,
    nested_open_fences_history,
)

from .conftest import launch_lab, write_notebook
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
    parts.append(nested_open_fences_history()._repr_markdown_())
    parts.append(ChatResult(text="```\n<img src=x onerror=alert('result')>")._repr_markdown_())
    parts.append("\n\n---\n\n".join(parts[-40:]))  # concatenated, as a transcript would be
    return parts


PARTS = markdown_parts()

INERT_OUTPUTS = (
    "() => { const inert = " + INERT + ";\n"
    "const out = {areas: 0, bad: [], xss: null};\n"
    "document.querySelectorAll('.jp-Notebook .jp-OutputArea').forEach((area, k) => {\n"
    "    area.setAttribute('data-inert-scan', String(k));\n"
    "    const found = inert(`[data-inert-scan='${k}']`);\n"
    "    out.areas++; out.bad.push(...found.bad); out.xss = found.xss; });\n"
    "return out; }"
)
""":data:`INERT` over every cell's output area (``INERT`` alone looks at the first one only)."""


def cell_answers() -> list[tuple[str, str]]:
    """``(answer, model name)`` pairs the server sends, in order: every scripted payload under a
    hostile model name (its footer), cut-off fences, and a few escape cases."""
    answers = [(SCRIPTED[i % len(SCRIPTED)], f) for i, f in enumerate(HOSTILE_FIELDS)]
    answers += [
        ("Sure, the page:\n\n```html\n<p>cut off", "m"),
        ("Fixed:\n\n```\n<img src=x onerror=\"window.__xss='cell'\">\n```", "m"),
        ("~~~\n<script>window.__xss='tilde'</script>", "</em><svg onload=alert('model')>"),
        ("Look: `<img src=x onerror=alert(1)>` and *more*", "m*`<b>`*\n\n```"),
    ]
    answers += [(case, "m") for case in ESCAPE_XSS_CASES[::6]]
    return answers


CELL_ANSWERS = cell_answers()

CELLS_SETUP = """%load_ext lexilux_nb
import json
from IPython.display import display
from IPython.utils.capture import capture_output
from lexilux_nb import ChatHistory

ip = get_ipython()
shown = []


def markdown_only(run):
    \"\"\"Run a magic, then show only the text/markdown part of each of its outputs.\"\"\"
    with capture_output(stdout=False, stderr=False, display=True) as cap:
        run()
    parts = [o.data["text/markdown"] for o in cap.outputs if "text/markdown" in o.data]
    assert parts, [o.data for o in cap.outputs]
    for part in parts:
        display({"text/markdown": part}, raw=True)
    shown.extend(parts)
"""

CELLS = [
    CELLS_SETUP,
    *(  # one %%chat per hostile answer, 20 per cell (JupyterLab shows at most 50 outputs)
        f"for i in range({start}, {min(start + 20, len(CELL_ANSWERS))}):\n"
        "    markdown_only(lambda: ip.run_cell_magic('chat', '', f'hostile {i}'))"
        for start in range(0, len(CELL_ANSWERS), 20)
    ),
    "markdown_only(lambda: ip.run_line_magic('chat_history', ''))",
    "ip.run_line_magic('chat_history', '--save all.md')\n"
    "display({'text/markdown': open('all.md', encoding='utf-8').read()}, raw=True)",
    """for name, turns in json.load(open('histories.json', encoding='utf-8')).items():
    h = ChatHistory(system="<script>window.__xss='system'</script>")
    for role, content, meta in turns:
        h.add_message(role, content, **meta)
    ip.user_ns['h'] = h
    markdown_only(lambda: ip.run_line_magic('chat_history', 'h'))
    display({'text/markdown': h._repr_markdown_()}, raw=True)
    h.save('h.md')
    display({'text/markdown': open('h.md', encoding='utf-8').read()}, raw=True)""",
    "print('done', len(shown))",
]

CONTROL = (  # the same way of showing a part, with a raw payload: it must run
    "from IPython.display import display\n"
    "display({'text/markdown': '<img src=x onerror=\"window.__control = 1\">'}, raw=True)"
)


def hostile_script(request: RecordedRequest) -> Reply:
    users = [str(m.get("content") or "") for m in request.messages if m.get("role") == "user"]
    last = users[-1] if users else ""
    if last.startswith("hostile "):
        text, model = CELL_ANSWERS[int(last.split()[1])]
        return Reply(text=text, model=model)
    return Reply(text="Echo: <img src=x onerror=alert('echo')>")


@pytest.fixture(scope="module")
def lab(servers, tmp_path_factory):
    main, _ = servers
    main.default = hostile_script
    root = tmp_path_factory.mktemp("parts")
    (root / "parts.json").write_text(json.dumps(PARTS), encoding="utf-8")
    show = (  # JupyterLab shows at most 50 outputs per cell
        "import json\nfrom IPython.display import display\n\n"
        "for part in json.load(open('parts.json', encoding='utf-8'))[{start}:{start} + 40]:\n"
        "    display({{'text/markdown': part}}, raw=True)"
    )
    cells = [show.format(start=start) for start in range(0, len(PARTS), 40)]
    write_notebook(root / "parts.ipynb", cells)
    histories = {name: [list(t) for t in turns] for name, turns in HOSTILE_HISTORIES.items()}
    (root / "histories.json").write_text(json.dumps(histories), encoding="utf-8")
    write_notebook(root / "cells.ipynb", CELLS)
    write_notebook(root / "control.ipynb", [CONTROL])
    with launch_lab(root, main.base_url) as info:
        yield {**info, "notebook": "parts.ipynb"}


def open_alone(browser: Any, lab: dict[str, str], name: str) -> Any:
    """Like :func:`open_notebook`, in a fresh workspace of its own, so only this notebook is
    open (the default workspace restores the ones opened before, whose cells would count)."""
    page = browser.new_context(viewport={"width": 1280, "height": 1000}).new_page()
    page.dialogs = []
    page.on("dialog", lambda dialog: (page.dialogs.append(dialog.message), dialog.dismiss()))
    workspace = f"{lab['base']}/lab/workspaces/{Path(name).stem}"
    page.goto(f"{workspace}/tree/{name}?reset&token={lab['token']}")
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
    page.wait_for_function("() => document.body.innerText.includes('| Idle')", timeout=60_000)
    news = page.get_by_role("button", name="No")
    if news.count():
        news.first.click()
    assert page.locator(".jp-NotebookPanel").count() == 1
    return page


def run_cells(page: Any, timeout: float = 90) -> None:
    """:func:`run_all`, reading the prompts' ``textContent`` (cells scrolled out of view are not
    rendered, and their ``innerText`` is empty)."""
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
    read = (
        "() => [...document.querySelectorAll('.jp-Notebook .jp-InputPrompt')]"
        ".map((e) => e.textContent)"
    )
    deadline = time.monotonic() + timeout
    while True:
        prompts = [p.strip() for p in page.evaluate(read)]
        if prompts and all(p not in ("[ ]:", "[*]:", "") for p in prompts):
            return
        assert time.monotonic() < deadline, f"cells still running: {prompts}"
        time.sleep(0.3)


def test_the_way_parts_are_shown_would_run_a_raw_payload(browser, lab) -> None:
    """The control: without our escaping, JupyterLab's markdown renderer runs script."""
    page = open_alone(browser, lab, "control.ipynb")
    try:
        run_cells(page)
        page.wait_for_function("() => window.__control === 1", timeout=30_000)
    finally:
        page.context.close()


def test_chat_cells_history_and_md_exports_render_inert_in_jupyterlab(browser, lab) -> None:
    page = open_alone(browser, lab, "cells.ipynb")
    try:
        run_cells(page, timeout=240)
        page.wait_for_function(  # textContent: the cell may be scrolled away (not rendered)
            "() => [...document.querySelectorAll('.jp-Notebook .jp-OutputArea')].pop()"
            ".textContent.includes('done')",
            timeout=30_000,
        )
        last = page.locator(".jp-Notebook .jp-OutputArea").last
        errors = page.locator(
            ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']"
        )
        assert errors.count() == 0, errors.all_text_contents()
        shown = int(last.text_content().split()[-1])
        # each answer, %chat_history, and per corpus history: %chat_history, the repr and its .md
        assert shown == len(CELL_ANSWERS) + 1 + len(HOSTILE_HISTORIES)
        rendered = page.locator(".jp-OutputArea-output.jp-RenderedMarkdown")
        expected = shown + 1 + 2 * len(HOSTILE_HISTORIES)  # + all.md, + each repr and .md
        page.wait_for_function(
            "(n) => document.querySelectorAll('.jp-OutputArea-output.jp-RenderedMarkdown')"
            ".length === n",
            arg=expected,
            timeout=60_000,
        )
        time.sleep(2.0)  # MathJax typesets after the markdown is in the page
        text = " ".join(rendered.all_text_contents())
        for visible in ("onerror", "window.__xss", "svg onload", "cut off", "javascript:"):
            assert visible in text  # the payloads are shown, as text
        assert rendered.locator("strong", has_text="Assistant").count() >= 3  # still markdown
        assert page.evaluate(INERT_OUTPUTS) == {"areas": len(CELLS), "bad": [], "xss": None}
        assert page.dialogs == []
    finally:
        page.context.close()


def test_jupyterlab_renders_every_markdown_part_inert(browser, lab) -> None:
    page = open_alone(browser, lab, lab["notebook"])
    try:
        run_cells(page)
        page.wait_for_function(
            "(n) => document.querySelectorAll('.jp-OutputArea-output.jp-RenderedMarkdown')"
            ".length === n",
            arg=len(PARTS),
            timeout=60_000,
        )
        time.sleep(2.0)  # MathJax typesets after the markdown is in the page
        outputs = page.locator(".jp-OutputArea-output.jp-RenderedMarkdown")
        assert outputs.locator("mjx-container").count() >= 2  # the TeX payloads were typeset
        found = page.evaluate(INERT_OUTPUTS)
        assert found == {"areas": len(range(0, len(PARTS), 40)), "bad": [], "xss": None}
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
