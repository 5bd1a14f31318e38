"""lexilux_nb.markup.highlight: Pygments lexers, JupyterLab's code palette."""

from __future__ import annotations

import re
from html import unescape

import pytest
from pygments.token import Comment, Keyword, Name, Number, String, Token

from lexilux_nb.markup.highlight import highlight_code, token_style
from lexilux_nb.markup.style import TOKEN_PALETTE

from .corpus import assert_inert, parse_tags

SAMPLES = {
    "python": (
        "import os\n\n@decorator\nclass Tide(Base):\n"
        '    """Doc."""\n    def f(self, x=1.5):\n'
        "        # a comment\n"
        "        return [x, None, 'a\\n', f\"{x}\"] if x and True else len(x)\n"
    ),
    "javascript": "const a = {b: 1, 'c': `t${x}`}; // note\nfunction f() { return a?.b ?? 2; }\n",
    "json": '{"key": [1, 2.5, true, null, "s"]}\n',
    "html": '<div class="x" onclick="y">&amp; text</div>\n<!-- c -->\n',
    "bash": 'for f in *.txt; do echo "$f" | grep -c x; done  # count\n',
    "sql": "SELECT id, name FROM users WHERE age > 21 ORDER BY name;\n",
    "diff": "--- a\n+++ b\n@@ -1 +1 @@\n-old\n+new\n",
}


PALETTE = dict(item.split(":", 1) for item in TOKEN_PALETTE.split(";"))


def resolved(css: str) -> str:
    """A token's style with the answer box's palette applied (what the browser computes)."""
    return re.sub(r"var\((--lx-[a-z]+)\)", lambda m: PALETTE[m.group(1)], css)


def spans(html: str) -> list[tuple[str, str]]:
    """(resolved style, text) of every token span."""
    return [
        (resolved(css), unescape(text))
        for css, text in re.findall(r'<span style="([^"]*)">(.*?)</span>', html, re.S)
    ]


def text_of(html: str) -> str:
    """The text inside the ``<code>`` element."""
    inner = html.split("<code", 1)[1].split(">", 1)[1].rsplit("</code>", 1)[0]
    return unescape(re.sub(r"<[^>]+>", "", inner))


@pytest.mark.parametrize("lang", sorted(SAMPLES))
def test_every_colour_comes_from_the_theme(lang: str) -> None:
    html = highlight_code(SAMPLES[lang], lang)
    found = spans(html)
    assert len(found) >= 3, html
    for css, _ in found:  # palette colours, resolved: the theme's own editor colours
        for colour in re.findall(r"(?:^|;)color:([^;]*)", css):
            assert colour.startswith(("var(--jp-mirror-editor-", "color-mix(in srgb,var(--jp-")), (
                colour
            )


@pytest.mark.parametrize("lang", sorted(SAMPLES))
def test_the_text_is_the_code_exactly(lang: str) -> None:
    html = highlight_code(SAMPLES[lang], lang)
    assert text_of(html) == SAMPLES[lang]
    assert_inert(html)


def test_a_list_literal_keeps_its_names_in_the_text_colour() -> None:
    html = highlight_code("my_list = [1, 2, 3]\n", "python")
    assert html.split("<code", 1)[1].split(">", 1)[1].startswith("my_list ")  # unwrapped
    numbers = [text for style, text in spans(html) if "number-color" in style]
    assert numbers == ["1", "2", "3"]
    assert any("operator-color" in style for style, _ in spans(html))


def test_runs_of_one_style_share_a_span_and_whitespace_joins_them() -> None:
    html = highlight_code("x = 'a' 'b'  # one\n", "python")
    strings = [text for style, text in spans(html) if "string-color" in style]
    assert strings == ["'a' 'b'  "]  # three tokens, one span


def test_punctuation_takes_the_text_colour_as_in_a_code_cell() -> None:
    html = highlight_code("f(a, [b])\n", "python")
    assert all("(" not in text and "[" not in text for _, text in spans(html))


def test_the_palette_is_set_once_on_the_answer_box() -> None:
    from lexilux_nb.markup.style import wrap_answer

    html = wrap_answer(highlight_code("x = 1\n", "python"))
    assert html.count("--lx-n:") == 1 and "var(--lx-n)" in html
    assert "--lx-" not in highlight_code("x = 1\n", "python").split("<code", 1)[0]


def test_the_live_form_uses_short_classes_that_jupyterlab_colours() -> None:
    html = highlight_code("def f(x):\n    return 1\n", "python", classes=True)
    assert html.startswith('<div class="highlight lexilux-code"><pre>')
    assert '<span class="k">def</span>' in html and "style=" not in html
    assert text_of(html) == "def f(x):\n    return 1\n"
    assert_inert(html)


def test_code_is_escaped() -> None:
    html = highlight_code("x = '<script>' & y\n", "python")
    assert "<script>" not in html and "&lt;script&gt;" in html and "&amp;" in html


def test_streaming_errors_are_not_boxed() -> None:
    html = highlight_code("s = 'unterminated\n", "python")
    assert "border" not in html.split("<code", 1)[1]
    assert text_of(html) == "s = 'unterminated\n"


def test_token_styles_fall_back_to_the_nearest_ancestor() -> None:
    assert token_style(Keyword.Reserved) == token_style(Keyword)
    assert token_style(String.Doc) == token_style(String)
    assert token_style(Number.Integer.Long) == token_style(Number)
    assert "italic" in token_style(Comment.Single)
    assert token_style(Name.Variable) == "" and token_style(Token) == ""


@pytest.mark.parametrize("lang", ["", "nosuchlang", "text", 'py"><x', "a b"])
def test_unknown_or_invalid_languages_are_plain(lang: str) -> None:
    html = highlight_code("x = <1>\n", lang)
    assert "<span" not in html and "&lt;1&gt;" in html
    classes = [attrs.get("class") for tag, attrs in parse_tags(html) if tag == "code"]
    assert classes in ([None], ["language-nosuchlang"], ["language-text"])


def test_highlight_false_is_plain() -> None:
    assert "<span" not in highlight_code("x = 1\n", "python", highlight=False)
