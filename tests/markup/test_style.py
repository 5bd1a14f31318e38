"""lexilux_nb.markup.style, and every HTML output as nbconvert's sanitiser leaves it.

``nbconvert.filters.clean_html`` is what JupyterLab's "Save and Export Notebook As › HTML" runs
(its "Sanitize HTML output" box is ticked by default) and ``HTMLExporter(sanitize_html=True)``:
it strips ``style``, keeps ``class``/``id``, and *escapes* any tag outside its allowlist into
visible text. Each output must come through with the same tags and the same text.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

import pytest
from nbconvert.filters import clean_html

from lexilux_nb import ChatHistory, ChatResult
from lexilux_nb.client.models import ToolCall
from lexilux_nb.client.toolstate import ToolActivity
from lexilux_nb.context.prompt import Composed
from lexilux_nb.engine import Outcome
from lexilux_nb.markup import style
from lexilux_nb.markup.html import render_markdown
from lexilux_nb.notebook.progress import ContinuationBar
from lexilux_nb.notebook.tool_view import ToolItems
from lexilux_nb.notebook.views import answer_bundle

from .corpus import parse_tags

RICH = """## Tide tables

The sea keeps **time**, `inline code` and a [link](https://example.com):

- high tide twice a day
- ~~never~~ always

1. one
2. two\\
   with a hard break

| Port | High tide |
|---|--:|
| Brest | 06:12 |

> A quote.

---

```python
my_list = [1, 2, 3]  # <b>comment</b>
```
"""


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def text_of(html: str) -> str:
    parser = _Text()
    parser.feed(html)
    return re.sub(r"\s+", " ", "".join(parser.parts)).strip()


def outputs() -> dict[str, str]:
    """Every kind of HTML output we persist, with hostile bits in it."""
    result = ChatResult(text=RICH, reasoning="First *think* <b>hard</b>.", continues=2)
    truncated = ChatResult(text="cut", truncated=True)
    history = ChatHistory(system="Be brief <b>.")
    history.add_user("Hi <img src=x>")
    history.add_assistant(RICH, model="m<odel>")
    history.add_tool_result("call_1", {"ok": True}, name="lookup")
    tools = ToolItems()
    call = ToolCall("c1", "look<up>", '{"q": "<b>x</b>"}')
    tools.update(ToolActivity(call, "done", result="<img src=x> found", seconds=0.2))
    tools.update(ToolActivity(ToolCall("c2", "bad", "{not json"), "failed", result="boom"))
    sent = Composed("In [1]:\n<b>value</b> = 42\nWhat is it?", sent=["1 previous cell(s) <1>"])
    return {
        "tool items": answer_bundle(
            Outcome(ChatResult(text="Found."), "complete", 0.3, "m"), tools=tools
        )["text/html"],
        "context sent": (sent.bundle() or {})["text/html"],
        "answer": answer_bundle(Outcome(result, "complete", 0.3, "e2e-model"))["text/html"],
        "interrupted": answer_bundle(Outcome(result, "interrupted", 1.0, "m"))["text/html"],
        "format text": answer_bundle(
            Outcome(ChatResult(text="<b>x</b>"), "complete", 1.0, "m"), "text"
        )["text/html"],
        "progress": ContinuationBar.final_html(Any, result),  # type: ignore[arg-type]
        "progress truncated": ContinuationBar.final_html(Any, truncated),  # type: ignore[arg-type]
        "history": history._repr_html_(),
        "empty history": ChatHistory()._repr_html_(),
        "markdown": render_markdown(RICH),
    }


@pytest.mark.parametrize("name", sorted(outputs()))
def test_nbconverts_sanitiser_keeps_every_tag_and_all_the_text(name: str) -> None:
    html = outputs()[name]
    cleaned = clean_html(html)
    assert [t for t, _ in parse_tags(cleaned)] == [t for t, _ in parse_tags(html)]
    assert text_of(cleaned) == text_of(html)  # nothing escaped into visible tag text
    assert "style=" not in cleaned  # what is left is bare, structured HTML
    assert cleaned.count("&lt;") == html.count("&lt;")  # no tag turned into text


@pytest.mark.parametrize("name", sorted(outputs()))
def test_outputs_use_export_safe_tags_and_no_stylesheet(name: str) -> None:
    html = outputs()[name]
    assert "<style" not in html
    assert {t for t, _ in parse_tags(html)} <= style.EXPORT_SAFE_TAGS


def test_the_sanitiser_really_escapes_what_we_avoid() -> None:
    """The premise: these tags would show as text in a sanitised export."""
    for tag in ("p", "h2", "th", "details", "s", "br", "style"):
        assert f"&lt;{tag}&gt;" in clean_html(f"<{tag}>x</{tag}>")
    assert clean_html('<span style="color:red" class="c">x</span>') == '<span class="c">x</span>'


def test_colours_come_from_the_theme() -> None:
    for name, html in outputs().items():
        for value in re.findall(r"(?:color|background):([^;\"']*)", html):
            allowed = ("var(--jp-", "var(--lx-", "color-mix(", "none", "inherit")
            assert value.startswith(allowed), (name, value)  # --lx-: the palette, from the theme
        assert all(c.startswith(("var(--jp-", "color-mix(")) for c in style.TOKEN_COLOURS.values())


def test_constants_fit_in_any_quoted_attribute() -> None:
    for name in dir(style):
        if name.startswith("_"):
            continue
        value = getattr(style, name)
        values = value.values() if isinstance(value, dict) else [value]
        for v in values:
            if isinstance(v, str):
                assert '"' not in v and "'" not in v, name


def test_building_blocks_escape_their_text() -> None:
    assert "&lt;b&gt;" in style.footer_html("<b>")
    assert "&lt;b&gt;" in style.note_html("<b>")
    assert "&lt;b&gt;" in style.status_html("<b>", error=True)
    assert style.ERROR in style.status_html("x", error=True)
    assert style.MUTED in style.status_html("x")
    assert style.bubble_style("user") != style.bubble_style("assistant")
    assert style.bubble_style("tool") == style.BUBBLE["other"]


def test_reasoning_block_is_export_safe_and_details_is_for_live_views() -> None:
    block = style.reasoning_block("<div>x</div>")
    assert {t for t, _ in parse_tags(block)} <= style.EXPORT_SAFE_TAGS
    assert "Reasoning" in text_of(block)
    folded = style.reasoning_details("<div>x</div>")
    assert folded.startswith('<details class="lexilux-reasoning"><summary>Reasoning</summary>')
    assert " open" in style.reasoning_details("x", opened=True)
