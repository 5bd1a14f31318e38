"""How a history is shown: markdown rendered (code highlighted, theme colours) in the HTML part,
and a ``text/markdown`` part that stays inert even when a renderer with raw HTML on reads it."""

from __future__ import annotations

import pytest

from lexilux_nb import ChatHistory
from lexilux_nb.markup.style import EXPORT_SAFE_TAGS
from tests.markup.corpus import (
    HOSTILE_FIELDS,
    HOSTILE_HISTORIES,
    assert_inert,
    mistune_render,
    parse_tags,
    permissive_render,
)

RENDERERS = [permissive_render, mistune_render]


def build(turns: list[tuple[str, str, dict[str, str]]]) -> ChatHistory:
    history = ChatHistory(system="be **brief**")
    for role, content, meta in turns:
        history.add_message(role, content, **meta)
    return history


@pytest.mark.parametrize("name", HOSTILE_HISTORIES)
def test_the_markdown_part_of_a_hostile_history_is_inert(name: str) -> None:
    markdown = build(HOSTILE_HISTORIES[name])._repr_markdown_()
    for render in RENDERERS:
        assert_inert(render(markdown))


@pytest.mark.parametrize("name", HOSTILE_HISTORIES)
def test_the_html_part_of_a_hostile_history_is_inert_and_export_safe(name: str) -> None:
    history = build(HOSTILE_HISTORIES[name])
    for html in (history._repr_html_(), history.to_html(document=True)):
        assert_inert(html, allow_tags=frozenset({"meta"}))
        body = html.split("<body", 1)[-1]
        assert {tag for tag, _ in parse_tags(body)} - {"body"} <= EXPORT_SAFE_TAGS


def test_a_cut_fence_cannot_turn_the_next_answers_code_into_html() -> None:
    markdown = build(HOSTILE_HISTORIES["cut fence then html code"])._repr_markdown_()
    for render in RENDERERS:
        assert "&lt;img src=x onerror=alert(1)&gt;" in render(markdown)  # still shown, as text


@pytest.mark.parametrize("field", HOSTILE_FIELDS)
def test_hostile_model_names_stay_literal_in_both_parts(field: str) -> None:
    history = ChatHistory()
    history.add_user("q")
    history.add_assistant("**bold** answer", model=field)
    markdown = history._repr_markdown_()
    for render in RENDERERS:
        html = render(markdown)
        assert_inert(html)
        assert "<strong>bold</strong>" in html  # the answer's own markdown still renders
    assert_inert(history._repr_html_())


def test_bodies_render_as_markdown_with_highlighted_code() -> None:
    history = ChatHistory()
    history.add_user("Show `x`")
    history.add_assistant("# Title\n\n- one\n\n```python\nmy_list = [1, 2, 3]\n```\n")
    html = history._repr_html_()
    assert "# Title" not in html and "- one" not in html  # not raw markdown
    assert "lexilux-answer" in html  # the answer container and its theme-aware styles
    assert "var(--jp-" in html
    assert "<pre" in html and "my_list" in html
    assert "<span" in html.split("<pre", 1)[1]  # highlighted tokens
    assert 'white-space:pre-wrap;overflow-wrap:anywhere">#' not in html  # not a plain text dump


def test_the_magic_shows_rendered_markdown(server: object, run: object) -> None:
    ran = run("%chat **hello** there")  # type: ignore[operator]
    assert ran.error is None
    (bundle,) = run("%chat_history").bundles  # type: ignore[operator]
    assert "<strong" in bundle["text/html"] or "font-weight" in bundle["text/html"]
    assert "**hello**" not in bundle["text/html"]
    for render in RENDERERS:
        assert_inert(render(bundle["text/markdown"]))
